/*
 * cmd_run.c - `kwq run`: a whole job. Read and check the input, get a Redis
 * (--redis, a running `kwq local-redis`, or a private redis-server for a
 * local run), enqueue, seal, run the workers scaled by the one scaler,
 * gather the results on stdout, print a summary. The workers are
 * kwq-worker processes here (--local, runner.c) or the pods of a Job
 * (--kube, kube_run.c); the options, the rule and the exit codes are the
 * same.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/scale.h"

#include "cli.h"
#include "enqueue.h"
#include "job_shape.h"
#include "kube/http.h"
#include "kube_cli.h"
#include "kube_run.h"
#include "local.h"
#include "progpath.h"
#include "runner.h"

#define KUBE_DEFAULT_MAX   10    /* pods at once when --max is not given */
#define KUBE_DEFAULT_LEASE 30000 /* the worker's own default lease, ms */

struct run_cfg {
    bool local;                 /* --local */
    bool kube;                  /* --kube */
    const char *job;            /* --job NAME (--kube) */
    bool keep_job;              /* --keep-job (--kube) */
    uint64_t max;               /* -P / --max workers, 0 = CPUs */
    uint64_t min;               /* --min workers */
    uint64_t per_worker;        /* --tasks-per-worker */
    uint64_t concurrency;       /* --concurrency */
    uint64_t lease_ms;          /* --lease */
    bool stream;                /* --stream */
    const char *input;          /* --input FILE or - */
    const char *results;        /* --results raw|json|none */
    const char *output;         /* --output FILE */
    bool null;                  /* --null */
    bool json;                  /* --json */
    uint64_t delay_ms;          /* --delay */
    uint64_t timeout_ms;        /* --timeout */
    uint64_t max_attempts;      /* --max-attempts */
    uint64_t max_item;          /* --max-item */
    uint64_t max_input;         /* --max-input */
    uint64_t retry_ms;          /* --redis-retry */
    struct job_shape shape;     /* the Job's pods (--kube) */
    struct kube_cli_opts kopts; /* the API server (--kube) */
};

#define R(field) offsetof(struct run_cfg, field)
static const struct kwq_opt opts[] = {
    {"local", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "run the workers as processes on this machine", R(local)},
    {"kube", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "run the workers as the pods of a Kubernetes Job", R(kube)},
    {"job", 'j', "KWQ_JOB", KWQ_OPT_STR, NULL, 0, 0, "NAME",
     "--kube: the Job's name [default: kwq-QUEUE]", R(job)},
    {"keep-job", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "--kube: keep the Job when the run succeeded (its ttl removes it)", R(keep_job)},
    {"max", 'P', "KWQ_MAX_WORKERS", KWQ_OPT_UINT, NULL, 1, KWQ_SCALE_MAX_WORKERS, "N",
     "at most N workers at once [default: the number of CPUs]", R(max)},
    {"min", 0, "KWQ_MIN_WORKERS", KWQ_OPT_UINT, "1", 0, KWQ_SCALE_MAX_WORKERS, "N",
     "at least N workers while the queue is not drained", R(min)},
    {"tasks-per-worker", 0, "KWQ_TASKS_PER_WORKER", KWQ_OPT_UINT, "10", 1, 1000000, "N",
     "one worker per N pending or leased tasks (the scaling rule)", R(per_worker)},
    {"concurrency", 'c', "KWQ_CONCURRENCY", KWQ_OPT_UINT, "1", 1, 1024, "N",
     "tasks each worker runs at once", R(concurrency)},
    {"lease", 0, "KWQ_LEASE", KWQ_OPT_DURATION, NULL, 1000, 3600000, "DUR",
     "lease length (default: the worker's)", R(lease_ms)},
    {"stream", 0, "KWQ_STREAM", KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "one long-lived handler per worker, tasks as NDJSON lines (docs/kwq-worker.md)", R(stream)},
    {"input", 'i', NULL, KWQ_OPT_STR, NULL, 0, 0, "FILE",
     "enqueue the items of FILE ('-' for stdin) first", R(input)},
    {"results", 0, NULL, KWQ_OPT_STR, "raw", 0, 0, "FMT",
     "write gathered results as raw, json (NDJSON) or none", R(results)},
    {"output", 'o', NULL, KWQ_OPT_STR, NULL, 0, 0, "FILE",
     "write results to FILE instead of stdout", R(output)},
    CLI_REDIS_RETRY_OPT(struct run_cfg, retry_ms),
    ENQUEUE_ITEM_OPTS(struct run_cfg),
    JOB_SHAPE_OPTS(struct run_cfg, shape),
    KUBE_CLI_OPTS(struct run_cfg, kopts),
};
#undef R

static const struct cli_spec spec = {
    .name = "run",
    .usage = "--local|--kube [options] [--input FILE|-] -- HANDLER [ARG...]",
    .description =
        "Run a whole job. With --input, read and check every item, then enqueue them; then seal\n"
        "the queue and start kwq-worker processes (the program the Kubernetes pods run) that\n"
        "run HANDLER once per item, the item on its stdin, without a shell. Their number follows\n"
        "the scaling rule: ceil((pending + leased) / --tasks-per-worker), between --min and\n"
        "--max. Results (each handler's stdout) are written as tasks finish; progress and a\n"
        "summary go to stderr. Exit 0 when every task is done, 3 when some were dead-lettered,\n"
        "75 when interrupted (Ctrl-C: workers release their tasks; twice: they are killed), 78\n"
        "when HANDLER or kwq-worker cannot be run or Redis refuses the password or user or is\n"
        "a replica, 69 when Redis stays unreachable for --redis-retry (kwq and its workers ride\n"
        "out a shorter outage or a restart) or the private redis-server dies.\n"
        "Without --redis or KWQ_REDIS_URL, kwq uses a running 'kwq local-redis', else starts\n"
        "a private redis-server for this run and stops it at the end. A sealed queue that has\n"
        "drained (a finished run) is unsealed for new input.\n"
        "With --kube the workers are the pods of the Job --job (made as 'kwq job create' makes\n"
        "it, from --image, which must hold HANDLER), its parallelism set by the same rule; the\n"
        "pods read Redis from the Secret --redis-secret, and kwq needs --redis to reach the\n"
        "same Redis. The Job is deleted when the run succeeded (not with --keep-job), and on\n"
        "Ctrl-C, so that its pods give their tasks back. Exit codes as above; 78 also when the\n"
        "Job failed because a worker could not run HANDLER.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
    .stop_at_arg = true,
};

/* ---- Checks before anything starts ---------------------------------------------------- */

static int check_programs(char **handler, char *worker, size_t len)
{
    const char *env = getenv("KWQ_WORKER_BIN");
    char path[4096];
    int rc = progpath_find(handler[0], path, sizeof(path));

    if (rc < 0)
        return cli_error(KWQ_EXIT_CONFIG, "handler '%s' %s; give a path or fix PATH", handler[0],
                         rc == -ENOENT
                             ? (strchr(handler[0], '/') ? "does not exist" : "is not in PATH")
                             : "is not an executable file");
    rc = progpath_worker(worker, len);
    if (rc < 0 && env && *env)
        return cli_error(KWQ_EXIT_CONFIG,
                         "KWQ_WORKER_BIN (%s) is not an executable file; fix it or unset it", env);
    if (rc < 0)
        return cli_error(KWQ_EXIT_CONFIG,
                         "kwq-worker not found beside kwq or in PATH; set KWQ_WORKER_BIN to its "
                         "path");
    return 0;
}

static int check_cfg(struct run_cfg *cfg, struct kwq_scale_rule *rule, int nhandler)
{
    struct kwq_error err = {0};
    enum results_format fmt;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cfg->local == cfg->kube)
        return cli_usage_error(spec.name, "'run' needs either --local (worker processes here) or "
                                          "--kube (the pods of a Kubernetes Job)");
    if (nhandler == 0)
        return cli_usage_error(spec.name, "give the handler command after '--', e.g. kwq run "
                                          "--local --input items.txt -- ./handler");
    if (cfg->kube && !cfg->shape.image)
        return cli_usage_error(spec.name, "--kube needs --image IMAGE: the worker image that "
                                          "holds the handler");
    if (!cfg->kube && (cfg->job || cfg->keep_job))
        return cli_usage_error(spec.name, "--job and --keep-job are for --kube");
    if (cfg->null && cfg->json)
        return cli_usage_error(spec.name, "--null and --json cannot be combined");
    if (results_format_parse(cfg->results, &fmt) < 0)
        return cli_usage_error(spec.name, "--results must be raw, json or none, got '%s'",
                               cfg->results);
    rule->max = (uint32_t)(cfg->max    ? cfg->max
                           : cfg->kube ? KUBE_DEFAULT_MAX
                                       : (uint64_t)(cpus > 0 ? cpus : 1));
    rule->min = (uint32_t)cfg->min;
    rule->tasks_per_worker = (uint32_t)cfg->per_worker;
    if (!cfg->max && rule->min > rule->max)
        rule->max = rule->min;
    if (kwq_scale_rule_check(rule, &err) < 0)
        return cli_usage_error(spec.name, "%s", err.msg);
    return 0;
}

/* ---- Steps -------------------------------------------------------------------------------- */

/* Enqueue the input; a finished (sealed, drained) queue is reopened for it first. */
static int put_input(struct kwq_client *c, const struct run_cfg *cfg, const struct input_set *set)
{
    struct enqueue_defaults d = {.delay_ms = cfg->delay_ms,
                                 .timeout_ms = cfg->timeout_ms,
                                 .max_attempts = (uint32_t)cfg->max_attempts};
    struct enqueue_report rep;
    bool drained = false;
    int r = kwq_drained(c, cli.queue, &drained);

    if (r == 0 && drained)
        r = kwq_unseal(c, cli.queue);
    if (r < 0)
        return cli_fail(c, r, NULL);
    r = enqueue_items(c, cli.queue, set, &d, false, &rep);
    if (r < 0)
        return enqueue_fail(c, r, &rep);
    cli_note("queue '%s': %zu added, %zu duplicate%s", cli.queue, rep.added, rep.duplicates,
             rep.duplicates == 1 ? "" : "s");
    return 0;
}

static void summary(const struct runner_summary *s, bool failed)
{
    char done[32], rate[32];
    double secs = (double)s->ms / 1000.0;

    if (cli.quiet)
        return;
    (void)fprintf(
        stderr,
        "kwq: %s: %s done, %llu failed attempts, %llu dead-lettered in %.1fs (%s/s, "
        "up to %u worker%s)\n",
        s->interrupted ? "interrupted" : (failed ? "stopped" : "finished"),
        cli_num(s->done, done, sizeof(done)), (unsigned long long)s->failed,
        (unsigned long long)s->dead, secs,
        cli_num(secs > 0 ? (uint64_t)((double)s->done / secs) : s->done, rate, sizeof(rate)),
        s->peak_workers, s->peak_workers == 1 ? "" : "s");
}

/* ---- Dead letters of a private Redis -------------------------------------------------- */

#define DEAD_SHOWN       5 /* dead letters printed */
#define DEAD_ERROR_LINES 3 /* last lines of each one's stderr tail */

/* The last lines of a stderr tail, each as "kwq:     LINE". */
static void print_last_lines(const char *s, size_t n)
{
    const char *start[DEAD_ERROR_LINES];
    size_t len[DEAD_ERROR_LINES], k = cli_last_lines(s, n, DEAD_ERROR_LINES, start, len);

    for (size_t i = 0; i < k; i++)
        (void)fprintf(stderr, "kwq:     %.*s\n", (int)(len[i] > 200 ? 200 : len[i]), start[i]);
}

/* "task 3: 2 attempts, exit code 2", then the last lines of its stderr. */
static void print_dead_letter(const struct kwq_dead_task *d)
{
    const char *e = d->last_error ? d->last_error : "";
    const char *tail = strstr(e, "; stderr: ");
    size_t what = tail ? (size_t)(tail - e) : strcspn(e, "\n");

    (void)fprintf(stderr, "kwq:   task %s: %u attempt%s, %.*s\n", d->id, d->attempts,
                  d->attempts == 1 ? "" : "s", (int)(what > 200 ? 200 : what),
                  what ? e : "no error recorded");
    if (tail)
        print_last_lines(tail + 10, strlen(tail + 10));
}

/*
 * The run's private Redis is stopped with it, and its dead letters with it:
 * their reasons are printed here, since 'kwq dlq list' cannot show them later.
 */
static void print_dead_letters(struct kwq_client *c, uint64_t dead)
{
    struct kwq_dead_task *list = NULL;
    size_t n = 0;

    if (kwq_dead_list(c, cli.queue, 0, DEAD_SHOWN, &list, &n) < 0) {
        (void)fprintf(stderr, "kwq: cannot read the dead letters: %s\n", kwq_client_errstr(c));
        return;
    }
    (void)fprintf(stderr, "kwq: dead-lettered (the private Redis goes with this run):\n");
    for (size_t i = 0; i < n; i++)
        print_dead_letter(&list[i]);
    if (dead > n)
        (void)fprintf(stderr, "kwq:   and %llu more\n", (unsigned long long)(dead - n));
    kwq_dead_list_free(list, n);
}

static int run_exit(const struct runner_summary *s, bool private_redis)
{
    if (s->interrupted && private_redis)
        return cli_error(KWQ_EXIT_INTERRUPTED,
                         "the run was interrupted; its private Redis is stopped, so the "
                         "unfinished tasks are dropped (use 'kwq local-redis start' to keep "
                         "them)");
    if (s->interrupted)
        return cli_error(KWQ_EXIT_INTERRUPTED,
                         "the run was interrupted; unfinished tasks stay on queue '%s' "
                         "(see 'kwq status')",
                         cli.queue);
    if (s->dead > 0 && private_redis)
        return cli_error(KWQ_EXIT_DEAD,
                         "%llu task%s dead-lettered (reasons above); fix the handler and run "
                         "again ('kwq local-redis start' first keeps dead letters for 'kwq dlq')",
                         (unsigned long long)s->dead, s->dead == 1 ? " was" : "s were");
    if (s->dead > 0)
        return cli_error(KWQ_EXIT_DEAD,
                         "%llu task%s dead-lettered; see 'kwq dlq list', fix the handler, then "
                         "'kwq dlq requeue' and run again",
                         (unsigned long long)s->dead, s->dead == 1 ? " was" : "s were");
    return KWQ_EXIT_OK;
}

struct run_ctx {
    struct run_cfg cfg;              /* options */
    struct runner_cfg rc;            /* for the runner */
    struct input_set set;            /* items read */
    struct local_redis redis;        /* private server, when started */
    struct kwq_client *c;            /* connection */
    FILE *out;                       /* --output, or NULL */
    char url[4200];                  /* Redis URL */
    char worker[4096];               /* kwq-worker path */
    struct kube_run_cfg kc;          /* for the Kubernetes backend (--kube) */
    char job[KUBE_JOB_NAME_MAX + 1]; /* its Job's name */
};

static int get_redis(struct run_ctx *x)
{
    struct kwq_error err = {0};
    const char *url = cli_redis_url(x->url, sizeof(x->url));
    int r;

    if (!url && x->cfg.kube)
        return cli_usage_error(spec.name,
                               "--kube needs --redis URL (or KWQ_REDIS_URL): the Redis "
                               "that kwq and the pods share (the pods read it from "
                               "Secret '%s')",
                               x->cfg.shape.redis_secret);
    if (url) {
        if (url != x->url)
            (void)snprintf(x->url, sizeof(x->url), "%s", url);
        return cli_connect(x->url, &x->c);
    }
    r = local_redis_start_private(&x->redis, &err);
    if (r < 0)
        return cli_error(KWQ_EXIT_UNAVAILABLE, "%s", err.msg);
    (void)snprintf(x->url, sizeof(x->url), "%s", x->redis.url);
    return cli_connect(x->url, &x->c);
}

static int run_job(struct run_ctx *x)
{
    struct runner_summary sum;
    int r;

    if (x->cfg.kube) { /* the API server and the Job's name, before the queue changes */
        r = kube_cli_open(&x->cfg.kopts, x->kc.loop, &x->kc.k);
        if (r == 0)
            r = kube_run_check(&x->kc);
        if (r != 0)
            return r;
    }
    if (x->cfg.input) {
        r = put_input(x->c, &x->cfg, &x->set);
        if (r != 0)
            return r;
    }
    if (runner_interrupted())
        return x->redis.pid > 0
                   ? cli_error(KWQ_EXIT_INTERRUPTED,
                               "interrupted before the workers started; the private Redis is "
                               "stopped, so nothing was run")
                   : cli_error(KWQ_EXIT_INTERRUPTED,
                               "interrupted before the workers started; queue '%s' is not sealed "
                               "and keeps what was enqueued: 'kwq seal', then 'kwq run --local -- "
                               "HANDLER' runs it",
                               cli.queue);
    r = kwq_seal(x->c, cli.queue);
    if (r < 0)
        return cli_fail(x->c, r, "cannot seal the queue");
    x->rc.url = x->url;
    x->rc.redis = x->redis.pid > 0 ? &x->redis : NULL;
    if (x->cfg.kube) {
        x->kc.redis_url = x->url;
        r = kube_run(x->c, &x->kc, &sum);
    } else {
        r = runner_run(x->c, &x->rc, &sum);
    }
    summary(&sum, r != 0);
    if (x->rc.redis && sum.dead > 0 && x->redis.pid > 0)
        print_dead_letters(x->c, sum.dead);
    return r != 0 ? r : run_exit(&sum, x->rc.redis != NULL);
}

/* The Job of --kube, checked before anything is enqueued (the handler is in the image). */
static int prepare_kube(struct run_ctx *x, char **handler)
{
    struct kube_job_spec *s = &x->kc.job;
    struct kwq_error err = {0};
    char *json = NULL;
    size_t n = 0;
    int r;

    if (x->cfg.job)
        (void)snprintf(x->job, sizeof(x->job), "%s", x->cfg.job);
    else
        (void)snprintf(x->job, sizeof(x->job), "kwq-%s", cli.queue);
    if (kube_job_check_name(x->job, &err) < 0)
        return cli_usage_error(spec.name, "%s%s", err.msg,
                               x->cfg.job ? "" : " (made from the queue's name: give --job NAME)");
    while (handler[n])
        n++;
    r = job_shape_spec(&x->cfg.shape, s, &err);
    if (r < 0)
        return cli_usage_error(spec.name, "%s", err.msg);
    s->name = x->job;
    s->queue = cli.queue;
    s->handler = (const char *const *)handler;
    s->nhandler = n;
    s->concurrency = (uint32_t)x->cfg.concurrency;
    s->lease_ms = x->cfg.lease_ms ? x->cfg.lease_ms : KUBE_DEFAULT_LEASE;
    s->stream = x->cfg.stream;
    r = kube_job_build(s, false, &json, &err); /* every setting checked now */
    free(json);
    if (r == KWQ_ENOMEM)
        return cli_error(KWQ_EXIT_SOFTWARE, "%s", err.msg);
    if (r < 0)
        return cli_usage_error(spec.name, "%s", err.msg);
    x->kc.queue = cli.queue;
    x->kc.password_file = cli.password_file;
    x->kc.rule = x->rc.rule;
    x->kc.loop = ev_default_loop(EVFLAG_AUTO);
    x->kc.keep_job = x->cfg.keep_job;
    x->kc.retry_ms = x->cfg.retry_ms;
    x->kc.quiet = cli.quiet;
    return 0;
}

static int prepare(struct run_ctx *x, char **handler)
{
    struct enqueue_source src = {
        .file = x->cfg.input,
        .rules = {.format = x->cfg.json ? INPUT_JSON : (x->cfg.null ? INPUT_NUL : INPUT_LINES),
                  .max_item = (size_t)x->cfg.max_item,
                  .max_input = (size_t)x->cfg.max_input},
    };
    enum results_format fmt = RESULTS_RAW;
    int r = x->cfg.kube ? prepare_kube(x, handler)
                        : check_programs(handler, x->worker, sizeof(x->worker));

    if (r != 0)
        return r;
    cli.max_payload = x->cfg.max_item;
    if (x->cfg.input) {
        r = enqueue_read(spec.name, &src, &x->set);
        if (r != 0)
            return r;
    }
    if (x->cfg.output) {
        x->out = fopen(x->cfg.output, "we");
        if (!x->out)
            return cli_error(KWQ_EXIT_FAILURE, "cannot write %s: %s; check the --output path",
                             x->cfg.output, strerror(errno));
    }
    (void)results_format_parse(x->cfg.results, &fmt);
    x->rc.queue = cli.queue;
    x->rc.worker_bin = x->worker;
    x->rc.handler = handler;
    x->rc.concurrency = x->cfg.concurrency;
    x->rc.lease_ms = x->cfg.lease_ms;
    x->rc.timeout_ms = x->cfg.timeout_ms;
    x->rc.redis_retry_ms = x->cfg.retry_ms;
    x->rc.stream = x->cfg.stream;
    x->rc.password_file = cli.password_file;
    x->rc.log_format = strcmp(cli.log_format, "auto") == 0 ? NULL : cli.log_format;
    x->rc.results = fmt;
    x->rc.out = x->out ? x->out : stdout;
    x->rc.out_name = x->out ? x->cfg.output : "stdout";
    x->rc.quiet = cli.quiet;
    x->kc.results = x->rc.results;
    x->kc.out = x->rc.out;
    x->kc.out_name = x->rc.out_name;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static struct run_ctx x; /* large buffers: not on the stack */
    bool stop;
    int ind, r;

    memset(&x, 0, sizeof(x));
    r = cli_parse(&spec, &x.cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    r = check_cfg(&x.cfg, &x.rc.rule, argc - ind);
    if (r == 0)
        r = prepare(&x, argv + ind);
    runner_catch_signals();
    if (r == 0)
        r = get_redis(&x);
    if (r == 0)
        r = run_job(&x);
    kwq_client_free(x.c);
    kube_client_free(x.kc.k);
    job_shape_done(&x.cfg.shape);
    if (x.redis.pid > 0 || x.redis.private_dir)
        (void)local_redis_stop(&x.redis, NULL);
    if (x.out && fclose(x.out) != 0 && r == 0)
        r = cli_error(KWQ_EXIT_FAILURE, "cannot write %s: %s; check the disk", x.cfg.output,
                      strerror(errno));
    input_set_done(&x.set);
    return r;
}
