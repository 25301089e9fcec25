/*
 * job_build.c - the worker Job as JSON, from a struct kube_job_spec. Pure:
 * the same settings always give the same text, which is what `kwq job
 * create --dry-run` prints and what `kwq job create` sends.
 *
 * Why each part is there (docs/kwq.md "kwq job" has the user's view):
 *   - completions unset, restartPolicy Never: a work-queue Job, whose pods
 *     exit 0 only once the queue is drained;
 *   - podFailurePolicy: exit 8 (queue gone) and 78 (configuration) fail the
 *     Job at once; 69 (Redis unavailable) and 75 (SIGTERM: scale-down,
 *     eviction) and the DisruptionTarget condition are not failures;
 *   - terminationGracePeriodSeconds covers the worker's --grace and
 *     --kill-grace, so a scaled-down worker gives its tasks back in time;
 *   - the readiness probe on the ready file makes idle pods NotReady, which
 *     the controller deletes first when parallelism is lowered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"
#include "kwq/util.h"

#include "job_int.h"
#include "kube/job.h"

#define READY_VOLUME  "kwq-ready" /* the emptyDir that holds an absolute ready file */
#define READY_DIR_MAX 1024        /* bytes of the ready file's directory */
#define TMP_VOLUME    "kwq-tmp"   /* /tmp for handlers, the root filesystem being read-only */

/* A tree under construction; any failed allocation sets oom, checked once at the end. */
struct build {
    bool oom; /* a cJSON allocation failed */
};

static cJSON *obj(struct build *b, cJSON *parent, const char *key)
{
    cJSON *o = cJSON_AddObjectToObject(parent, key);

    b->oom |= !o;
    return o;
}

static cJSON *arr(struct build *b, cJSON *parent, const char *key)
{
    cJSON *a = cJSON_AddArrayToObject(parent, key);

    b->oom |= !a;
    return a;
}

/* The array parent[key], made when it is not there yet. */
static cJSON *arr_of(struct build *b, cJSON *parent, const char *key)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(parent, key);

    return a ? a : arr(b, parent, key);
}

static void str(struct build *b, cJSON *parent, const char *key, const char *v)
{
    b->oom |= !cJSON_AddStringToObject(parent, key, v);
}

static void num(struct build *b, cJSON *parent, const char *key, double v)
{
    b->oom |= !cJSON_AddNumberToObject(parent, key, v);
}

static void flag(struct build *b, cJSON *parent, const char *key, bool v)
{
    b->oom |= !cJSON_AddBoolToObject(parent, key, v);
}

/* Append item to array a (a NULL item, from a failed allocation, counts as OOM). */
static void push(struct build *b, cJSON *a, cJSON *item)
{
    if (!item || !a || !cJSON_AddItemToArray(a, item)) {
        cJSON_Delete(item);
        b->oom = true;
    }
}

static cJSON *new_obj(struct build *b)
{
    cJSON *o = cJSON_CreateObject();

    b->oom |= !o;
    return o;
}

/* ---- Checks --------------------------------------------------------------------------- */

static int check_ready_file(const char *path, struct kwq_error *err)
{
    const char *slash = strrchr(path, '/');

    if (!*path)
        return kwq_error_set(err, KWQ_EINVAL, "--ready-file is empty: give a path, e.g. %s",
                             KUBE_JOB_DEFAULT_READY);
    if (path[strlen(path) - 1] == '/')
        return kwq_error_set(err, KWQ_EINVAL,
                             "--ready-file '%.200s' names a directory: give a "
                             "file's path, e.g. %s",
                             path, KUBE_JOB_DEFAULT_READY);
    if (path[0] == '/' && slash == path)
        return kwq_error_set(err, KWQ_EINVAL,
                             "--ready-file '%.200s' is at the root: kwq mounts an emptyDir on "
                             "its directory; use e.g. %s",
                             path, KUBE_JOB_DEFAULT_READY);
    if (path[0] == '/' && (size_t)(slash - path) >= READY_DIR_MAX)
        return kwq_error_set(err, KWQ_EINVAL, "--ready-file: its directory is over %d bytes",
                             READY_DIR_MAX);
    return 0;
}

static int check_resources(const struct kube_job_resources *r, struct kwq_error *err)
{
    int rc = kube__check_quantity("--cpu", r->cpu_request, err);

    if (rc == 0)
        rc = kube__check_quantity("--cpu-limit", r->cpu_limit, err);
    if (rc == 0)
        rc = kube__check_quantity("--memory", r->memory_request, err);
    if (rc == 0)
        rc = kube__check_quantity("--memory-limit", r->memory_limit, err);
    return rc;
}

static int check_spec(const struct kube_job_spec *s, struct kwq_error *err)
{
    int rc = kube_job_check_name(s->name, err);

    if (rc == 0)
        rc = kwq_queue_name_check(s->queue ? s->queue : "", err);
    if (rc == 0 && (!s->image || !*s->image))
        rc = kwq_error_set(err, KWQ_EINVAL,
                           "no worker image: give --image, e.g. "
                           "registry.example.com/kwq-worker:1.0");
    if (rc == 0 && (s->nhandler == 0 || !s->handler[0] || !*s->handler[0]))
        rc = kwq_error_set(err, KWQ_EINVAL,
                           "no handler: give its command after '--', e.g. -- "
                           "/app/resize --width 800");
    if (rc == 0 && s->concurrency == 0)
        rc = kwq_error_set(err, KWQ_EINVAL, "--concurrency must be at least 1");
    if (rc == 0 && (!s->redis_secret || kube_job_check_name(s->redis_secret, NULL) < 0))
        rc = kwq_error_set(err, KWQ_EINVAL,
                           "--redis-secret '%.100s' is not a Secret name: lower-case letters, "
                           "digits and '-', e.g. %s",
                           s->redis_secret ? s->redis_secret : "", KUBE_JOB_DEFAULT_SECRET);
    if (rc == 0)
        rc = check_ready_file(s->ready_file ? s->ready_file : KUBE_JOB_DEFAULT_READY, err);
    if (rc == 0)
        rc = check_resources(&s->res, err);
    for (size_t i = 0; rc == 0 && i < s->nlabels; i++)
        rc = kube_job_check_label(s->labels[i], err);
    if (rc == 0 && s->predecessor)
        rc = kube_job_check_name(s->predecessor, err);
    return rc;
}

/* ---- Parts ------------------------------------------------------------------------------ */

/* kwq's two labels, then the user's "k=v" ones (checked: each has an '='). */
static void add_labels(struct build *b, cJSON *meta, const struct kube_job_spec *s)
{
    cJSON *l = obj(b, meta, "labels");

    str(b, l, KUBE_JOB_LABEL_NAME, "kwq-worker");
    str(b, l, KUBE_JOB_LABEL_MANAGED, "kwq");
    for (size_t i = 0; l && i < s->nlabels; i++) {
        const char *eq = strchr(s->labels[i], '=');
        char *key = strndup(s->labels[i], (size_t)(eq - s->labels[i]));

        b->oom |= !key;
        if (key) {
            cJSON_DeleteItemFromObjectCaseSensitive(l, key); /* the last one given wins */
            str(b, l, key, eq + 1);
        }
        free(key);
    }
}

static void add_exit_rule(struct build *b, cJSON *rules, const char *action, int lo, int hi)
{
    cJSON *r = new_obj(b), *on, *values;

    str(b, r, "action", action);
    on = obj(b, r, "onExitCodes");
    str(b, on, "containerName", KUBE_JOB_CONTAINER);
    str(b, on, "operator", "In");
    values = arr(b, on, "values"); /* the API wants them ascending */
    push(b, values, cJSON_CreateNumber(lo));
    push(b, values, cJSON_CreateNumber(hi));
    push(b, rules, r);
}

static void add_failure_policy(struct build *b, cJSON *spec)
{
    cJSON *rules = arr(b, obj(b, spec, "podFailurePolicy"), "rules");
    cJSON *r, *conds, *c;

    add_exit_rule(b, rules, "FailJob", KWQ_EXIT_GONE, KWQ_EXIT_CONFIG);
    add_exit_rule(b, rules, "Ignore", KWQ_EXIT_UNAVAILABLE, KWQ_EXIT_INTERRUPTED);
    r = new_obj(b);
    str(b, r, "action", "Ignore");
    conds = arr(b, r, "onPodConditions");
    c = new_obj(b);
    str(b, c, "type", "DisruptionTarget");
    str(b, c, "status", "True");
    push(b, conds, c);
    push(b, rules, r);
}

static void add_env_value(struct build *b, cJSON *env, const char *name, const char *value)
{
    cJSON *e = new_obj(b);

    str(b, e, "name", name);
    str(b, e, "value", value);
    push(b, env, e);
}

static void add_env_duration(struct build *b, cJSON *env, const char *name, uint64_t ms)
{
    char buf[32];

    kwq_format_duration(ms, buf, sizeof(buf));
    add_env_value(b, env, name, buf);
}

static void add_env_secret(struct build *b, cJSON *env, const char *name, const char *secret,
                           const char *key, bool optional)
{
    cJSON *e = new_obj(b), *ref;

    str(b, e, "name", name);
    ref = obj(b, obj(b, e, "valueFrom"), "secretKeyRef");
    str(b, ref, "name", secret);
    str(b, ref, "key", key);
    if (optional)
        flag(b, ref, "optional", true);
    push(b, env, e);
}

static void add_env(struct build *b, cJSON *c, const struct kube_job_spec *s, const char *ready)
{
    cJSON *env = arr(b, c, "env");
    char buf[32];

    add_env_value(b, env, "KWQ_QUEUE", s->queue);
    (void)snprintf(buf, sizeof(buf), "%u", s->concurrency);
    add_env_value(b, env, "KWQ_CONCURRENCY", buf);
    add_env_duration(b, env, "KWQ_LEASE", s->lease_ms);
    add_env_duration(b, env, "KWQ_TIMEOUT", s->timeout_ms);
    add_env_duration(b, env, "KWQ_GRACE", s->grace_ms);
    add_env_duration(b, env, "KWQ_KILL_GRACE", s->kill_grace_ms);
    if (s->stream)
        add_env_value(b, env, "KWQ_STREAM", "true");
    add_env_value(b, env, "KWQ_READY_FILE", ready);
    add_env_secret(b, env, "KWQ_REDIS_URL", s->redis_secret, "url", false);
    add_env_secret(b, env, "KWQ_REDIS_PASSWORD", s->redis_secret, "password", true);
}

static void add_probe(struct build *b, cJSON *c, const char *ready)
{
    cJSON *p = obj(b, c, "readinessProbe");
    cJSON *cmd = arr(b, obj(b, p, "exec"), "command");

    push(b, cmd, cJSON_CreateString("test"));
    push(b, cmd, cJSON_CreateString("-e"));
    push(b, cmd, cJSON_CreateString(ready));
    num(b, p, "periodSeconds", 1);
    num(b, p, "failureThreshold", 1);
}

static void add_quantities(struct build *b, cJSON *res, const char *key, const char *cpu,
                           const char *mem)
{
    cJSON *q;

    if (!cpu && !mem)
        return;
    q = obj(b, res, key);
    if (cpu)
        str(b, q, "cpu", cpu);
    if (mem)
        str(b, q, "memory", mem);
}

/*
 * The restricted Pod Security Standard and a read-only root filesystem:
 * the worker writes only its ready file and handlers get /tmp (both
 * emptyDirs). runAsNonRoot leaves the uid to the image (kwq-worker's is
 * 65532), so an image built FROM it keeps working unchanged.
 */
static void add_security(struct build *b, cJSON *c)
{
    cJSON *sc = obj(b, c, "securityContext"), *drop;

    flag(b, sc, "allowPrivilegeEscalation", false);
    flag(b, sc, "readOnlyRootFilesystem", true);
    drop = arr(b, obj(b, sc, "capabilities"), "drop");
    push(b, drop, cJSON_CreateString("ALL"));
}

static void add_pod_security(struct build *b, cJSON *pod)
{
    cJSON *sc = obj(b, pod, "securityContext");

    flag(b, sc, "runAsNonRoot", true);
    str(b, obj(b, sc, "seccompProfile"), "type", "RuntimeDefault");
}

static void add_volume(struct build *b, cJSON *pod, cJSON *c, const char *name, const char *dir)
{
    cJSON *m = new_obj(b), *v = new_obj(b);

    str(b, m, "name", name);
    str(b, m, "mountPath", dir);
    push(b, arr_of(b, c, "volumeMounts"), m);
    str(b, v, "name", name);
    obj(b, v, "emptyDir");
    push(b, arr_of(b, pod, "volumes"), v);
}

/* The emptyDir for an absolute ready file's directory: mounted in c, listed in pod. */
static void add_ready_volume(struct build *b, cJSON *pod, cJSON *c, const char *ready)
{
    char dir[READY_DIR_MAX];

    if (ready[0] != '/')
        return; /* relative to the container's working directory: nothing to mount */
    (void)snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(ready, '/') - ready), ready);
    add_volume(b, pod, c, READY_VOLUME, dir);
}

static void add_container(struct build *b, cJSON *pod, const struct kube_job_spec *s)
{
    const char *ready = s->ready_file ? s->ready_file : KUBE_JOB_DEFAULT_READY;
    cJSON *c = new_obj(b), *args, *res;

    str(b, c, "name", KUBE_JOB_CONTAINER);
    str(b, c, "image", s->image);
    args = arr(b, c, "args");
    push(b, args, cJSON_CreateString("--"));
    for (size_t i = 0; i < s->nhandler; i++)
        push(b, args, cJSON_CreateString(s->handler[i]));
    add_env(b, c, s, ready);
    add_probe(b, c, ready);
    res = obj(b, c, "resources");
    add_quantities(b, res, "requests", s->res.cpu_request, s->res.memory_request);
    add_quantities(b, res, "limits", s->res.cpu_limit, s->res.memory_limit);
    add_security(b, c);
    push(b, arr(b, pod, "containers"), c);
    add_ready_volume(b, pod, c, ready);
    /* the root filesystem is read-only; a ready file right in /tmp has its emptyDir there */
    if (strncmp(ready, "/tmp/", 5) != 0 || strchr(ready + 5, '/'))
        add_volume(b, pod, c, TMP_VOLUME, "/tmp");
}

static void add_metadata(struct build *b, cJSON *job, const struct kube_job_spec *s)
{
    cJSON *meta = obj(b, job, "metadata"), *ann;

    str(b, meta, "name", s->name);
    add_labels(b, meta, s);
    ann = obj(b, meta, "annotations");
    str(b, ann, KUBE_JOB_ANN_QUEUE, s->queue);
    if (s->predecessor)
        str(b, ann, KUBE_JOB_ANN_PREDECESSOR, s->predecessor);
}

static void add_spec(struct build *b, cJSON *job, const struct kube_job_spec *s)
{
    cJSON *spec = obj(b, job, "spec"), *tmpl, *pod;

    num(b, spec, "parallelism", s->parallelism); /* completions unset: a work queue */
    num(b, spec, "backoffLimit", s->backoff_limit);
    num(b, spec, "ttlSecondsAfterFinished", (double)s->ttl_s);
    if (s->active_deadline_s)
        num(b, spec, "activeDeadlineSeconds", (double)s->active_deadline_s);
    add_failure_policy(b, spec);
    tmpl = obj(b, spec, "template");
    add_labels(b, obj(b, tmpl, "metadata"), s);
    pod = obj(b, tmpl, "spec");
    str(b, pod, "restartPolicy", "Never");
    num(b, pod, "terminationGracePeriodSeconds",
        (double)kube_job_grace_period_s(s->grace_ms, s->kill_grace_ms));
    flag(b, pod, "automountServiceAccountToken", false);
    add_pod_security(b, pod);
    add_container(b, pod, s);
}

/*
 * The Job wrapped as a suspended CronJob: a template that never runs by
 * itself, for `kubectl create job NAME --from=cronjob/CRONJOB`, which
 * copies the jobTemplate's labels, annotations and spec into the new Job.
 * concurrencyPolicy Forbid keeps two worker Jobs off one queue should
 * someone unsuspend it with a real schedule.
 */
static cJSON *wrap_cronjob(struct build *b, cJSON *job)
{
    cJSON *cron = new_obj(b), *meta, *spec, *tmpl, *tmeta;

    meta = cJSON_DetachItemFromObjectCaseSensitive(job, "metadata");
    str(b, cron, "apiVersion", "batch/v1");
    str(b, cron, "kind", "CronJob");
    if (meta)
        b->oom |= !cJSON_AddItemToObject(cron, "metadata", meta);
    spec = obj(b, cron, "spec");
    str(b, spec, "schedule", KUBE_CRONJOB_SCHEDULE);
    flag(b, spec, "suspend", true);
    str(b, spec, "concurrencyPolicy", "Forbid");
    tmpl = obj(b, spec, "jobTemplate");
    tmeta = obj(b, tmpl, "metadata");
    if (meta) {
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
        cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");

        b->oom |= labels && !cJSON_AddItemToObject(tmeta, "labels", cJSON_Duplicate(labels, 1));
        b->oom |= ann && !cJSON_AddItemToObject(tmeta, "annotations", cJSON_Duplicate(ann, 1));
    }
    b->oom |=
        !cJSON_AddItemToObject(tmpl, "spec", cJSON_DetachItemFromObjectCaseSensitive(job, "spec"));
    cJSON_Delete(job);
    return cron;
}

static char *render(const cJSON *v, enum kube_job_format fmt)
{
    switch (fmt) {
    case KUBE_JOB_JSON_PRETTY:
        return kube__json_pretty(v);
    case KUBE_JOB_YAML:
        return kube__json_to_yaml(v);
    case KUBE_JOB_JSON:
    default:
        return cJSON_PrintUnformatted(v);
    }
}

int kube_job_render(const struct kube_job_spec *s, enum kube_job_kind kind,
                    enum kube_job_format fmt, char **ret, struct kwq_error *err)
{
    struct build b = {.oom = false};
    cJSON *job;
    char *text = NULL;
    int rc = check_spec(s, err);

    *ret = NULL;
    if (rc < 0)
        return rc;
    if (kind == KUBE_JOB_AS_CRONJOB && s->predecessor)
        return kwq_error_set(err, KWQ_EINVAL,
                             "a CronJob template has no predecessor: leave out --after");
    job = new_obj(&b);
    str(&b, job, "apiVersion", "batch/v1");
    str(&b, job, "kind", "Job");
    add_metadata(&b, job, s);
    add_spec(&b, job, s);
    if (kind == KUBE_JOB_AS_CRONJOB)
        job = wrap_cronjob(&b, job);
    if (!b.oom)
        text = render(job, fmt);
    cJSON_Delete(job);
    if (!text)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory building the Job");
    *ret = text;
    return 0;
}

int kube_job_build(const struct kube_job_spec *s, bool pretty, char **ret, struct kwq_error *err)
{
    return kube_job_render(s, KUBE_JOB_AS_JOB, pretty ? KUBE_JOB_JSON_PRETTY : KUBE_JOB_JSON, ret,
                           err);
}
