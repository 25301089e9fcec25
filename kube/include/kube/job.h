/*
 * kube/job.h - the worker Job kwq creates and reads: building its JSON from
 * a few settings (pure, no I/O), reading a Job and its pods from the API's
 * answers into plain structs, and the API calls on both (kube/http.h).
 *
 * The Job is a work-queue Job (completions unset) of kwq-worker pods. Its
 * shape needs Kubernetes 1.26 (podFailurePolicy beta, on by default) and
 * uses nothing newer, so a 1.26 API server with strict field validation
 * takes it (spec.podReplacementPolicy, 1.28+, is left out: with a
 * podFailurePolicy the newer servers default it to Failed anyway).
 */
#ifndef KUBE_JOB_H
#define KUBE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct kube_client;
struct kwq_error;

/* A Job name: a DNS-1123 label, as the job-name label on its pods must be. */
#define KUBE_JOB_NAME_MAX 63

/* Added to the worker's --grace + --kill-grace for the pod's grace period, s. */
#define KUBE_JOB_GRACE_MARGIN_S 10

/* What kwq puts on every Job and pod it makes, and its own annotations. */
#define KUBE_JOB_LABEL_NAME      "app.kubernetes.io/name"
#define KUBE_JOB_LABEL_MANAGED   "app.kubernetes.io/managed-by"
#define KUBE_JOB_ANN_QUEUE       "kwq.dev/queue"
#define KUBE_JOB_ANN_PREDECESSOR "kwq.dev/predecessor"
#define KUBE_JOB_CONTAINER       "worker"
#define KUBE_JOB_DEFAULT_READY   "/var/run/kwq/busy"
#define KUBE_JOB_DEFAULT_SECRET  "kwq-redis"

/* Requests and limits of the worker container; NULL leaves one out. */
struct kube_job_resources {
    const char *cpu_request;    /* Kubernetes quantity: "500m", "2" */
    const char *cpu_limit;      /* quantity */
    const char *memory_request; /* quantity: "256Mi", "1G" */
    const char *memory_limit;   /* quantity */
};

/*
 * The settings of one worker Job. Strings are borrowed; the durations are
 * the worker's own options (docs/kwq-worker.md) and are passed to it as
 * KWQ_* variables, so the pod runs exactly what `--dry-run` shows.
 */
struct kube_job_spec {
    const char *name;              /* Job name (kube_job_check_name) */
    const char *queue;             /* KWQ_QUEUE */
    const char *image;             /* the worker image */
    const char *const *handler;    /* HANDLER [ARG]...: the container's args after "--" */
    size_t nhandler;               /* words in handler, >= 1 */
    uint32_t parallelism;          /* spec.parallelism (0 pauses the Job) */
    uint32_t concurrency;          /* KWQ_CONCURRENCY, >= 1 */
    uint64_t lease_ms;             /* KWQ_LEASE */
    uint64_t timeout_ms;           /* KWQ_TIMEOUT; 0 = none */
    uint64_t grace_ms;             /* KWQ_GRACE */
    uint64_t kill_grace_ms;        /* KWQ_KILL_GRACE */
    bool stream;                   /* KWQ_STREAM=true */
    const char *redis_secret;      /* Secret with keys url and password (optional) */
    const char *ready_file;        /* KWQ_READY_FILE; NULL = KUBE_JOB_DEFAULT_READY */
    struct kube_job_resources res; /* requests and limits */
    const char *const *labels;     /* "key=value" each, added to the Job and its pods */
    size_t nlabels;                /* entries in labels */
    uint32_t backoff_limit;        /* spec.backoffLimit */
    uint64_t ttl_s;                /* spec.ttlSecondsAfterFinished */
    uint64_t active_deadline_s;    /* spec.activeDeadlineSeconds; 0 = none */
    const char *predecessor;       /* the Job this one follows in a chain, or NULL */
};

/*
 * The pod's terminationGracePeriodSeconds for a worker with these grace
 * periods: ceil((grace + kill grace) / 1 s) + KUBE_JOB_GRACE_MARGIN_S, so
 * that SIGKILL never comes before the worker has stopped its handlers and
 * given their tasks back.
 */
uint64_t kube_job_grace_period_s(uint64_t grace_ms, uint64_t kill_grace_ms);

/*
 * Check a Job name: 1 to 63 characters of [a-z0-9-], starting and ending
 * with a letter or digit. KWQ_EINVAL with one line in err otherwise.
 */
int kube_job_check_name(const char *name, struct kwq_error *err);

/*
 * Check one "key=value" label: a key of an optional DNS-subdomain prefix
 * and '/', then a name of 1 to 63 characters of [A-Za-z0-9._-] that starts
 * and ends alphanumeric; a value of 0 to 63 such characters. The two labels
 * kwq sets itself are refused too. KWQ_EINVAL with one line otherwise.
 */
int kube_job_check_label(const char *kv, struct kwq_error *err);

/*
 * The name of the Job that follows name in a chain: "NAME" -> "NAME-2",
 * "NAME-2" -> "NAME-3", ... (a trailing "-N", N >= 2, is counted up). The
 * base is cut, never below one character, so that the result stays within
 * KUBE_JOB_NAME_MAX. buf must hold KUBE_JOB_NAME_MAX + 1 bytes; it may be name itself. Returns 0,
 * or KWQ_EINVAL for a name kube_job_check_name refuses.
 */
int kube_job_successor_name(const char *name, char *buf, size_t len, struct kwq_error *err);

/*
 * Build the Job as JSON text (indented by two spaces when pretty, else
 * compact) into *ret, the caller's to free(). Every setting is checked
 * first: KWQ_EINVAL with one line in err (a bad name, label, quantity, an
 * empty queue, image or handler, concurrency 0), KWQ_ENOMEM.
 */
int kube_job_build(const struct kube_job_spec *s, bool pretty, char **ret, struct kwq_error *err);

/* What kube_job_render makes: the Job, or a suspended CronJob whose jobTemplate is that Job. */
enum kube_job_kind { KUBE_JOB_AS_JOB, KUBE_JOB_AS_CRONJOB };

/* Its text: compact JSON (for the API), indented JSON, or YAML (both for people and files). */
enum kube_job_format { KUBE_JOB_JSON, KUBE_JOB_JSON_PRETTY, KUBE_JOB_YAML };

/*
 * The never-firing schedule of the CronJob form; the CronJob is created
 * suspended and serves only as the template of `kubectl create job NAME
 * --from=cronjob/CRONJOB`.
 */
#define KUBE_CRONJOB_SCHEDULE "0 0 1 1 *"

/*
 * kube_job_build, in any kind and format. The CronJob form has the Job's
 * name, labels and annotations, schedule KUBE_CRONJOB_SCHEDULE, suspend
 * true, concurrencyPolicy Forbid, and the Job's labels, annotations and spec
 * as its jobTemplate; a predecessor is refused there (KWQ_EINVAL).
 */
int kube_job_render(const struct kube_job_spec *s, enum kube_job_kind kind,
                    enum kube_job_format fmt, char **ret, struct kwq_error *err);

/* ---- Reading what the API answers ------------------------------------------------------- */

/* One entry of status.conditions; strings owned, NULL when absent. */
struct kube_job_condition {
    char *type;    /* "Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended" */
    char *status;  /* "True", "False", "Unknown" */
    char *reason;  /* "PodFailurePolicy", "BackoffLimitExceeded", ... */
    char *message; /* the controller's sentence */
};

/* A Job as kwq reads it. Strings owned (kube_job_status_done), NULL when absent. */
struct kube_job_status {
    char *name;                       /* metadata.name */
    char *uid;                        /* metadata.uid */
    char *resource_version;           /* metadata.resourceVersion */
    char *created;                    /* metadata.creationTimestamp, RFC 3339 */
    char *completed;                  /* status.completionTime (success only) */
    char *queue;                      /* annotation KUBE_JOB_ANN_QUEUE */
    char *predecessor;                /* annotation KUBE_JOB_ANN_PREDECESSOR */
    char *selector;                   /* spec.selector.matchLabels as "k=v,k=v" */
    int64_t parallelism;              /* spec.parallelism (-1 when absent) */
    int64_t active;                   /* status.active (absent = 0) */
    int64_t ready;                    /* status.ready (-1 when absent) */
    int64_t succeeded;                /* status.succeeded */
    int64_t failed;                   /* status.failed */
    int64_t terminating;              /* status.terminating, 1.28+ (-1 when absent) */
    size_t uncounted_succeeded;       /* uids in uncountedTerminatedPods.succeeded */
    size_t uncounted_failed;          /* uids in uncountedTerminatedPods.failed */
    struct kube_job_condition *conds; /* status.conditions in order */
    size_t nconds;                    /* entries in conds */
    bool complete;                    /* condition Complete is True */
    bool failed_job;                  /* condition Failed is True */
    bool success_criteria_met;        /* condition SuccessCriteriaMet is True (1.31+) */
    bool failure_target;              /* condition FailureTarget is True */
};

/*
 * Read a Job object (a cJSON tree, as in kube_response.json) into st.
 * Returns 0, KWQ_EPROTO when it is not a Job (no metadata.name; err says
 * so), KWQ_ENOMEM. st is zeroed first and holds nothing on error.
 */
int kube_job_status_parse(const struct cJSON *job, struct kube_job_status *st,
                          struct kwq_error *err);

/* Free what st holds and zero it. st may be NULL. */
void kube_job_status_done(struct kube_job_status *st);

/* True once the Job is over: Complete or Failed. */
bool kube_job_finished(const struct kube_job_status *st);

/*
 * True while changing parallelism still has an effect: no pod has
 * succeeded (succeeded, or uids uncounted yet) and no Complete, Failed,
 * SuccessCriteriaMet or FailureTarget condition is True. After that the
 * controller starts no pod, so new work needs a successor Job.
 */
bool kube_job_scalable(const struct kube_job_status *st);

/* One pod of a Job. Strings owned, NULL when absent. */
struct kube_pod {
    char *name;      /* metadata.name */
    char *phase;     /* "Pending", "Running", "Succeeded", "Failed", "Unknown" */
    char *node;      /* spec.nodeName */
    bool ready;      /* condition Ready is True */
    bool deleting;   /* metadata.deletionTimestamp is set */
    bool terminated; /* the worker container has terminated: exit_code is valid */
    int exit_code;   /* its exit code */
    char *reason;    /* its reason ("Completed", "Error", "OOMKilled") */
};

/* Pods, in the API's order. */
struct kube_pod_list {
    struct kube_pod *pods; /* n entries */
    size_t n;              /* pods */
};

/*
 * Read a PodList (cJSON tree) into list. The container read is the one
 * named KUBE_JOB_CONTAINER, else the first. Returns 0, KWQ_EPROTO (no
 * items array), KWQ_ENOMEM; list holds nothing on error.
 */
int kube_pod_list_parse(const struct cJSON *podlist, struct kube_pod_list *list,
                        struct kwq_error *err);

/* Free what list holds and zero it. list may be NULL. */
void kube_pod_list_done(struct kube_pod_list *list);

/* ---- API calls (blocking on the client's loop: kube_call) ------------------------------- */

/*
 * Each works in the client's namespace, returns err->code (the codes of
 * kube_call in kube/http.h: KWQ_ENOTFOUND for a Job that is not there,
 * KWQ_ESTATE for one that already exists, ...) and, for a Job answer, reads
 * it into *st (zeroed first, the caller's to kube_job_status_done).
 */

/* POST the Job json (kube_job_build). */
int kube_job_create(struct kube_client *k, const char *json, struct kube_job_status *st,
                    struct kwq_error *err);

/* POST the CronJob json (kube_job_render with KUBE_JOB_AS_CRONJOB). */
int kube_cronjob_create(struct kube_client *k, const char *json, struct kwq_error *err);

/* GET the Job called name. */
int kube_job_get(struct kube_client *k, const char *name, struct kube_job_status *st,
                 struct kwq_error *err);

/*
 * Set spec.parallelism with a merge patch; st->parallelism is what the
 * server stored (read back from its answer).
 */
int kube_job_set_parallelism(struct kube_client *k, const char *name, uint32_t parallelism,
                             struct kube_job_status *st, struct kwq_error *err);

/* DELETE the Job, its pods with it (propagationPolicy Background). */
int kube_job_delete(struct kube_client *k, const char *name, struct kwq_error *err);

/*
 * Whether the Secret name exists in the client's namespace: 0 when it does
 * or when kwq may not tell (403: reading Secrets is often not granted),
 * KWQ_ENOTFOUND when it does not, other codes as kube_call. The Secret's
 * data is read and dropped, never kept or shown.
 */
int kube_job_secret_check(struct kube_client *k, const char *name, struct kwq_error *err);

/*
 * List the pods of job (read before): selected by its spec.selector, i.e.
 * controller-uid=UID on 1.26 and batch.kubernetes.io/controller-uid=UID
 * from 1.27 (whose pods also keep the unprefixed label), so a Job deleted
 * and made again under the same name never lends its pods.
 */
int kube_job_pods(struct kube_client *k, const struct kube_job_status *job,
                  struct kube_pod_list *list, struct kwq_error *err);

/* A kwq Job of the namespace and the Job it follows (KUBE_JOB_ANN_PREDECESSOR), as listed. */
struct kube_job_link {
    char *name;        /* metadata.name */
    char *predecessor; /* NULL when it follows none */
};

/*
 * List the Jobs labelled KUBE_JOB_LABEL_MANAGED=kwq with their predecessors
 * (the links of successor chains) into *ret (n of them; free with
 * kube_job_links_free). Needs `list` on jobs.
 */
int kube_job_links(struct kube_client *k, struct kube_job_link **ret, size_t *n,
                   struct kwq_error *err);

void kube_job_links_free(struct kube_job_link *l, size_t n);

#endif /* KUBE_JOB_H */
