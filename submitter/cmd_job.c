/*
 * cmd_job.c - `kwq job create|status|delete`: the Kubernetes Job whose pods
 * are kwq-worker processes working on one queue. create builds the Job
 * (kube/job.h) from the worker's own settings and POSTs it, or prints it
 * with --dry-run (no cluster needed); status is in job_status.c; delete
 * removes the Job and, in the background, its pods.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "kwq/error.h"
#include "kwq/exit.h"

#include "cli.h"
#include "job_shape.h"
#include "job_status.h"
#include "kube/http.h"
#include "kube/job.h"
#include "kube_cli.h"

struct create_cfg {
    uint64_t parallelism;      /* --parallelism */
    uint64_t concurrency;      /* --concurrency */
    uint64_t lease_ms;         /* --lease */
    uint64_t timeout_ms;       /* --timeout */
    bool stream;               /* --stream */
    struct job_shape shape;    /* the pods: image, Secret, readiness, resources, limits */
    const char *after;         /* --after: the predecessor in a chain */
    bool dry_run;              /* --dry-run */
    bool cronjob;              /* --cronjob */
    const char *output;        /* --output */
    struct kube_cli_opts kube; /* API server and namespace */
};

#define C(field) offsetof(struct create_cfg, field)
static const struct kwq_opt create_opts[] = {
    JOB_SHAPE_OPTS(struct create_cfg, shape),
    {"parallelism", 'P', NULL, KWQ_OPT_UINT, "1", 0, 100000, "N",
     "pods at once (0 creates the Job paused)", C(parallelism)},
    {"concurrency", 'c', NULL, KWQ_OPT_UINT, "1", 1, 10000, "N",
     "tasks each worker runs at once (KWQ_CONCURRENCY)", C(concurrency)},
    {"lease", 0, NULL, KWQ_OPT_DURATION, "30s", 1000, 3600000, "DUR",
     "lease length of the workers (KWQ_LEASE)", C(lease_ms)},
    {"timeout", 't', NULL, KWQ_OPT_DURATION, "1h", 0, 604800000, "DUR",
     "handler time limit when a task sets none, 0 = none (KWQ_TIMEOUT)", C(timeout_ms)},
    {"stream", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "stream mode: one long-lived handler per worker (KWQ_STREAM)", C(stream)},
    {"after", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "JOB",
     "record JOB as this Job's predecessor on the same queue", C(after)},
    {"cronjob", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "make a suspended CronJob NAME whose jobTemplate is the Job instead (for 'kubectl "
     "create job RUN --from=cronjob/NAME')",
     C(cronjob)},
    {"dry-run", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "print the Job (or CronJob) and create nothing (needs no cluster)", C(dry_run)},
    {"output", 'o', NULL, KWQ_OPT_STR, "json", 0, 0, "FMT", "what --dry-run prints: json or yaml",
     C(output)},
    KUBE_CLI_OPTS(struct create_cfg, kube),
};
#undef C

static const struct cli_spec create_spec = {
    .name = "job create",
    .usage = "NAME [options] -- HANDLER [ARG...]",
    .description =
        "Create the Kubernetes Job NAME whose pods run kwq-worker on the queue (--queue): a\n"
        "work-queue Job (completions unset) of --parallelism pods, each running HANDLER for\n"
        "the tasks it leases until the queue is sealed and drained. Exit codes 8 and 78 of a\n"
        "worker fail the Job at once; 69, 75 and evictions are not counted as failures. The\n"
        "workers read the Redis URL and password from the Secret --redis-secret (keys url and\n"
        "password). Needs Kubernetes 1.26 or later. --dry-run prints the Job instead.\n"
        "With --cronjob, NAME is a suspended CronJob that never runs by itself: its jobTemplate\n"
        "is this Job, so 'kubectl create job RUN --from=cronjob/NAME' starts a worker Job RUN\n"
        "of this shape (manifests/ ships one, kwq-worker).",
    .opts = create_opts,
    .nopts = sizeof(create_opts) / sizeof(create_opts[0]),
    .stop_at_arg = true,
};

struct plain_cfg {
    bool json;                 /* status --json */
    struct kube_cli_opts kube; /* API server and namespace */
};

static const struct kwq_opt delete_opts[] = {
    KUBE_CLI_OPTS(struct plain_cfg, kube),
};

static const struct cli_spec delete_spec = {
    .name = "job delete",
    .usage = "NAME [options]",
    .description = "Delete the Job NAME. Its pods are deleted in the background: running workers\n"
                   "get SIGTERM and give their tasks back (nothing is lost), then stop.",
    .opts = delete_opts,
    .nopts = sizeof(delete_opts) / sizeof(delete_opts[0]),
};

static const struct cli_spec job_spec = {
    .name = "job",
    .usage = "create|status|delete NAME [options]",
    .description = "The Kubernetes Job of kwq-worker pods that works on a queue.\n"
                   "  create NAME -- HANDLER...  create the Job (--dry-run: print it)\n"
                   "  status NAME                its counts, conditions and pods (--json)\n"
                   "  delete NAME                delete it and its pods\n"
                   "'kwq job create --help' lists the options of each.",
};

/* ---- create ----------------------------------------------------------------------------- */

/* Split --label's comma list into labels[] (pointing into buf); usage error when too many. */
static int fill_spec(struct create_cfg *cfg, const char *name, char **handler, int n,
                     struct kube_job_spec *s, struct kwq_error *err)
{
    *s = (struct kube_job_spec){
        .name = name,
        .queue = cli.queue,
        .handler = (const char *const *)handler,
        .nhandler = (size_t)n,
        .parallelism = (uint32_t)cfg->parallelism,
        .concurrency = (uint32_t)cfg->concurrency,
        .lease_ms = cfg->lease_ms,
        .timeout_ms = cfg->timeout_ms,
        .stream = cfg->stream,
        .predecessor = cfg->after,
    };
    return job_shape_spec(&cfg->shape, s, err);
}

/* Create the Job from its JSON; say what was made. */
static int create_on_cluster(const struct create_cfg *cfg, const char *name, const char *json)
{
    struct kube_client *k = NULL;
    struct kube_job_status st = {0};
    struct kwq_error err = {0};
    int rc = kube_cli_open(&cfg->kube, ev_default_loop(EVFLAG_AUTO), &k);

    if (rc != 0)
        return rc;
    rc = job_shape_check_secret(k, cfg->shape.redis_secret);
    if (rc != 0) {
        kube_client_free(k);
        return rc;
    }
    if (cfg->cronjob) {
        rc = kube_cronjob_create(k, json, &err);
        if (rc == KWQ_ESTATE)
            rc = cli_error(KWQ_EXIT_FAILURE,
                           "CronJob %s already exists in namespace %s; delete it or choose "
                           "another name",
                           name, kube_client_namespace(k));
        else if (rc < 0)
            rc = kube_cli_fail(&err, "creating the CronJob");
        else if (!cli.quiet)
            (void)printf("cronjob %s created in namespace %s (suspended; start a run with "
                         "'kubectl create job RUN --from=cronjob/%s')\n",
                         name, kube_client_namespace(k), name);
        kube_client_free(k);
        return rc;
    }
    rc = kube_job_create(k, json, &st, &err);
    if (rc == KWQ_ESTATE)
        rc = cli_error(KWQ_EXIT_FAILURE,
                       "Job %s already exists in namespace %s; delete it ('kwq job delete %s') "
                       "or choose another name",
                       name, kube_client_namespace(k), name);
    else if (rc < 0)
        rc = kube_cli_fail(&err, "creating the Job");
    else if (!cli.quiet)
        (void)printf("job %s created in namespace %s (queue %s, parallelism %lld)\n", name,
                     kube_client_namespace(k), cli.queue, (long long)st.parallelism);
    kube_job_status_done(&st);
    kube_client_free(k);
    return rc;
}

static int job_create(int argc, char **argv)
{
    struct create_cfg cfg = {0};
    const char *name = argc > 1 ? argv[1] : NULL;
    struct kube_job_spec spec;
    struct kwq_error err = {0};
    enum kube_job_format fmt;
    char *json = NULL;
    bool stop;
    int ind, rc;

    /* NAME comes first: the options after it end at the handler (stop_at_arg). */
    if (name && name[0] != '-') {
        argv[1] = argv[0];
        argv++;
        argc--;
    } else {
        name = NULL;
    }
    rc = cli_parse(&create_spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return rc;
    if (!name)
        return cli_usage_error(create_spec.name, "give the Job's name first: kwq job create "
                                                 "NAME [options] -- HANDLER...");
    if (kube_job_check_name(name, &err) < 0)
        return cli_usage_error(create_spec.name, "%s", err.msg);
    if (ind >= argc)
        return cli_usage_error(create_spec.name,
                               "give the handler command after '--', e.g. "
                               "kwq job create %s --image IMAGE -- /app/handler",
                               name);
    if (strcmp(cfg.output, "json") == 0)
        fmt = cfg.dry_run ? KUBE_JOB_JSON_PRETTY : KUBE_JOB_JSON;
    else if (strcmp(cfg.output, "yaml") == 0)
        fmt = cfg.dry_run ? KUBE_JOB_YAML : KUBE_JOB_JSON;
    else
        return cli_usage_error(create_spec.name, "--output must be json or yaml, not '%s'",
                               cfg.output);
    rc = fill_spec(&cfg, name, argv + ind, argc - ind, &spec, &err);
    if (rc == 0) {
        rc = kube_job_render(&spec, cfg.cronjob ? KUBE_JOB_AS_CRONJOB : KUBE_JOB_AS_JOB, fmt, &json,
                             &err);
        if (rc == KWQ_ENOMEM)
            rc = cli_error(KWQ_EXIT_SOFTWARE, "%s", err.msg);
        else if (rc < 0)
            rc = cli_usage_error(create_spec.name, "%s", err.msg);
    }
    if (rc == 0 && cfg.dry_run)
        (void)printf("%s%s", json, fmt == KUBE_JOB_YAML ? "" : "\n"); /* YAML ends in one */
    else if (rc == 0)
        rc = create_on_cluster(&cfg, name, json);
    else if (rc < 0)
        rc = rc == KWQ_ENOMEM ? cli_error(KWQ_EXIT_SOFTWARE, "%s", err.msg)
                              : cli_usage_error(create_spec.name, "%s", err.msg);
    free(json);
    job_shape_done(&cfg.shape);
    return rc;
}

/* ---- delete ------------------------------------------------------------------------------ */

static int job_delete(int argc, char **argv)
{
    struct plain_cfg cfg = {0};
    struct kube_client *k = NULL;
    struct kwq_error err = {0};
    bool stop;
    int ind, rc = cli_parse(&delete_spec, &cfg, argc, argv, &ind, &stop);

    if (stop)
        return rc;
    if (ind >= argc)
        return cli_usage_error(delete_spec.name, "give the name of the Job to delete");
    if (argc - ind > 1)
        return cli_usage_error(delete_spec.name, "unexpected argument '%s'", argv[ind + 1]);
    if (kube_job_check_name(argv[ind], &err) < 0)
        return cli_usage_error(delete_spec.name, "%s", err.msg);
    rc = kube_cli_open(&cfg.kube, ev_default_loop(EVFLAG_AUTO), &k);
    if (rc != 0)
        return rc;
    rc = kube_job_delete(k, argv[ind], &err);
    if (rc == KWQ_ENOTFOUND)
        rc = cli_error(KWQ_EXIT_NOTFOUND, "no Job %s in namespace %s", argv[ind],
                       kube_client_namespace(k));
    else if (rc < 0)
        rc = kube_cli_fail(&err, "deleting the Job");
    else if (!cli.quiet)
        (void)printf("job %s deleted; its pods stop in the background\n", argv[ind]);
    kube_client_free(k);
    return rc;
}

/* ---- The command ------------------------------------------------------------------------- */

int cmd_job(int argc, char **argv)
{
    bool stop;
    int ind, rc;

    if (argc > 1 && strcmp(argv[1], "create") == 0)
        return job_create(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "status") == 0)
        return job_status_run(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "delete") == 0)
        return job_delete(argc - 1, argv + 1);
    rc = cli_parse(&job_spec, NULL, argc, argv, &ind, &stop);
    if (stop)
        return rc;
    if (ind >= argc)
        return cli_usage_error(job_spec.name, "give a job command: create, status or delete");
    return cli_usage_error(job_spec.name, "unknown job command '%s' (create, status or delete)",
                           argv[ind]);
}
