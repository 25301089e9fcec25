/*
 * cmd_scale.c - `kwq scale` and `kwq autoscale`: a worker Job's parallelism
 * matched to its queue by the one scaler (scaler.h) with the Kubernetes
 * backend (kube_scale.h). scale takes one step and exits; autoscale keeps
 * stepping, woken by the queue itself, until the queue is sealed and
 * drained. Both make a successor Job when the Job can no longer start pods
 * (a pod succeeded, or it finished) while work is waiting.
 */
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/scale.h"
#include "kwq/util.h"

#include "cli.h"
#include "kube/http.h"
#include "kube/job.h"
#include "kube_cli.h"
#include "kube_scale.h"
#include "scaler.h"

struct scale_cfg {
    const char *job;           /* --job */
    uint64_t min;              /* --min */
    uint64_t max;              /* --max */
    uint64_t per_worker;       /* --tasks-per-worker */
    uint64_t hold_ms;          /* --hold (autoscale) */
    uint64_t retry_ms;         /* --redis-retry */
    struct kube_cli_opts kube; /* API server and namespace */
};

#define S(field) offsetof(struct scale_cfg, field)
static const struct kwq_opt opts[] = {
    {"job", 'j', "KWQ_JOB", KWQ_OPT_STR, NULL, 0, 0, "NAME", "the worker Job to scale (required)",
     S(job)},
    {"min", 0, "KWQ_MIN_WORKERS", KWQ_OPT_UINT, "0", 0, KWQ_SCALE_MAX_WORKERS, "N",
     "at least N pods while the queue is not drained", S(min)},
    {"max", 'P', "KWQ_MAX_WORKERS", KWQ_OPT_UINT, "10", 1, KWQ_SCALE_MAX_WORKERS, "N",
     "at most N pods at once", S(max)},
    {"tasks-per-worker", 0, "KWQ_TASKS_PER_WORKER", KWQ_OPT_UINT, "10", 1, 1000000, "N",
     "one pod per N pending or leased tasks (the scaling rule)", S(per_worker)},
    {"hold", 0, "KWQ_SCALE_HOLD", KWQ_OPT_DURATION, "3s", 0, 3600000, "DUR",
     "autoscale: lower only after the backlog stayed lower for DUR", S(hold_ms)},
    CLI_REDIS_RETRY_OPT(struct scale_cfg, retry_ms),
    KUBE_CLI_OPTS(struct scale_cfg, kube),
};
#undef S

static const struct cli_spec scale_spec = {
    .name = "scale",
    .usage = "--job NAME [options]",
    .description =
        "Set the parallelism of the worker Job NAME once, by the scaling rule:\n"
        "ceil((pending + leased) / --tasks-per-worker) pods, between --min and --max. It raises\n"
        "freely and lowers only as far as the pods that hold a task (Ready pods): the Job\n"
        "controller removes idle (NotReady) pods first. A Job that can no longer start pods (one\n"
        "of them succeeded, or it finished) is left alone; when work is waiting, its successor\n"
        "NAME-2 (then NAME-3, ...) is made with the same pod template instead. On a sealed,\n"
        "drained queue a paused Job (parallelism 0) gets one pod, which sees the drain and\n"
        "completes the Job. Exit 0, 5 when\n"
        "the Job does not exist, 69 when Redis or the API server stays unavailable, 78 for\n"
        "credentials, permissions or an invalid setting.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

static const struct cli_spec autoscale_spec = {
    .name = "autoscale",
    .usage = "--job NAME [options]",
    .description =
        "Keep the parallelism of the worker Job NAME matched to its queue until the queue is\n"
        "sealed and drained, as 'kwq scale' does once: woken by the queue itself (its wake\n"
        "list, no 30 s polling), it reacts to a change of depth within a second, lowers only\n"
        "after the backlog stayed lower for --hold, and follows the Job's successors. At the\n"
        "drain a paused Job (parallelism 0) gets one pod, which sees the drain and completes\n"
        "the Job. A line on\n"
        "stderr tells each change. Exit 0 once the queue is drained, 75 on SIGINT/SIGTERM, and\n"
        "as 'kwq scale' on errors.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* ---- Shared set-up ------------------------------------------------------------------------- */

struct scale_run {
    struct scale_cfg cfg;
    struct kwq_scale_rule rule;
    struct ev_loop *loop;
    struct kube_client *k;
    struct kwq_client *c;
    struct kube_scale *b;
    char url[1024]; /* the Redis URL, when it came from a running 'kwq local-redis' */
};

static int setup(struct scale_run *s, const struct cli_spec *spec, int argc, char **argv)
{
    struct kwq_error err = {0};
    bool done = false;
    int optind_ = 0, rc;

    memset(s, 0, sizeof(*s));
    rc = cli_parse(spec, &s->cfg, argc, argv, &optind_, &done);
    if (done)
        return rc;
    if (optind_ < argc)
        return cli_usage_error(spec->name, "unexpected argument '%s'", argv[optind_]);
    if (!s->cfg.job)
        return cli_usage_error(spec->name, "give the Job to scale: --job NAME");
    if (kube_job_check_name(s->cfg.job, &err) < 0)
        return cli_usage_error(spec->name, "%s", err.msg);
    s->rule.min = (uint32_t)s->cfg.min;
    s->rule.max = (uint32_t)s->cfg.max;
    s->rule.tasks_per_worker = (uint32_t)s->cfg.per_worker;
    if (kwq_scale_rule_check(&s->rule, &err) < 0)
        return cli_usage_error(spec->name, "%s", err.msg);
    rc = cli_open(&s->c);
    if (rc != 0)
        return rc;
    s->loop = ev_default_loop(EVFLAG_AUTO);
    rc = kube_cli_open(&s->cfg.kube, s->loop, &s->k);
    if (rc != 0)
        return rc;
    s->b = kube_scale_new(s->loop, s->k, s->cfg.job);
    if (!s->b)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    return 0;
}

static void teardown(struct scale_run *s)
{
    kube_scale_free(s->b);
    kube_client_free(s->k);
    kwq_client_free(s->c);
}

/* "pending 40, leased 3, ready 2" for the lines that tell a change. */
static void backlog_words(const struct scaler_obs *o, char *buf, size_t len)
{
    (void)snprintf(buf, len, "pending %llu, leased %llu, ready %u", (unsigned long long)o->pending,
                   (unsigned long long)o->leased, o->workers.busy);
}

/*
 * A drained queue completes a Job only through a pod that sees the drain and
 * exits 0: a paused Job (parallelism 0) that can still start pods would stay
 * paused for ever. One pod is enough. Returns an exit code.
 */
static int wake_for_drain(struct scale_run *s, const struct kube_job_status *job)
{
    struct kube_job_status st;
    struct kwq_error err = {0};

    if (job->parallelism != 0 || !kube_job_scalable(job))
        return KWQ_EXIT_OK;
    if (kube_job_set_parallelism(s->k, job->name, 1, &st, &err) < 0)
        return kube_cli_fail(&err, NULL);
    kube_job_status_done(&st);
    if (!cli.quiet)
        (void)fprintf(stderr,
                      "kwq: Job %s: parallelism 0 -> 1: one pod sees the drain, so the Job "
                      "completes\n",
                      job->name);
    return KWQ_EXIT_OK;
}

/* ---- kwq scale: one step ------------------------------------------------------------------ */

static int scale_once(struct scale_run *s)
{
    struct kwq_stats st;
    struct kube_job_status job;
    struct kwq_error err = {0};
    struct scaler_hold hold = {0};
    struct scaler_obs o = {0};
    struct scaler_decision d;
    char words[128];
    int rc = kwq_stats(s->c, cli.queue, &st);

    if (rc < 0)
        return cli_fail(s->c, rc, "cannot read the queue");
    rc = kube_job_get(s->k, s->cfg.job, &job, &err);
    if (rc == KWQ_ENOTFOUND)
        return cli_error(KWQ_EXIT_NOTFOUND,
                         "Job %s does not exist in namespace %s; create it with 'kwq job create "
                         "%s ...'",
                         s->cfg.job, kube_client_namespace(s->k), s->cfg.job);
    if (rc < 0)
        return kube_cli_fail(&err, NULL);
    o.pending = st.pending;
    o.leased = st.leased;
    o.drained = st.drained;
    o.workers.running = job.active > 0 ? (uint32_t)job.active : 0;
    o.workers.busy = job.ready > 0 ? (uint32_t)job.ready : 0;
    o.workers.setpoint = job.parallelism > 0 ? (uint32_t)job.parallelism : 0;
    o.workers.frozen = !kube_job_scalable(&job);
    d = scaler_decide(&s->rule, &o, &hold, 0, kwq_monotonic_ms());
    backlog_words(&o, words, sizeof(words));
    switch (d.verdict) {
    case SCALER_APPLY:
        kube_job_status_done(&job);
        rc = kube_job_set_parallelism(s->k, s->cfg.job, d.setpoint, &job, &err);
        if (rc < 0)
            return kube_cli_fail(&err, NULL);
        (void)printf("Job %s: parallelism %u -> %u (%s)\n", s->cfg.job, o.workers.setpoint,
                     d.setpoint, words);
        break;
    case SCALER_FROZEN:
        if (o.pending == 0) {
            (void)printf("Job %s can no longer start pods (%s); nothing waits for one\n",
                         s->cfg.job, kube_job_finished(&job) ? "finished" : "a pod succeeded");
            break;
        }
        rc = kube_scale_observe_now(s->b, &err);
        if (rc == 0)
            rc = kube_scale_successor_now(s->b, d.target ? d.target : 1, &err);
        if (rc < 0) {
            kube_job_status_done(&job);
            return kube_cli_fail(&err, "cannot make a successor Job");
        }
        (void)printf("Job %s can no longer start pods: made its successor %s with parallelism "
                     "%u (%s)\n",
                     s->cfg.job, kube_scale_name(s->b), d.target ? d.target : 1, words);
        break;
    case SCALER_DONE:
        (void)printf("queue '%s' is sealed and drained: Job %s needs no pods\n", cli.queue,
                     s->cfg.job);
        rc = wake_for_drain(s, &job);
        break;
    case SCALER_KEEP:
    case SCALER_HOLD:
        (void)printf("Job %s: parallelism stays %u (%s)\n", s->cfg.job, o.workers.setpoint, words);
        break;
    }
    kube_job_status_done(&job);
    return rc;
}

int cmd_scale(int argc, char **argv)
{
    struct scale_run s;
    int rc = setup(&s, &scale_spec, argc, argv);

    if (rc == 0 && s.b)
        rc = scale_once(&s);
    teardown(&s);
    return cli_stdout_finish(rc);
}

/* ---- kwq autoscale: the loop -------------------------------------------------------------- */

struct auto_run {
    struct scale_run *s;
    struct scaler *sc;
    bool succ_busy;      /* a successor is being made */
    uint64_t succ_retry; /* no new attempt before this (monotonic ms) */
    bool drained;        /* the scaler ended on the drain */
    int exit;            /* the exit code, once ended */
};

static void on_successor(void *arg, const struct kwq_error *err)
{
    struct auto_run *a = arg;

    a->succ_busy = false;
    if (err->code != 0) {
        a->succ_retry = kwq_monotonic_ms() + 2000;
        cli_note("cannot make a successor Job yet: %s", err->msg);
        return;
    }
    if (!cli.quiet)
        (void)fprintf(stderr, "kwq: Job %s follows: its predecessor can no longer start pods\n",
                      kube_scale_name(a->s->b));
}

static void on_step(void *arg, const struct scaler_obs *o, const struct scaler_decision *d)
{
    struct auto_run *a = arg;
    char words[128];

    backlog_words(o, words, sizeof(words));
    if (d->verdict == SCALER_APPLY && !cli.quiet)
        (void)fprintf(stderr, "kwq: Job %s: parallelism %u -> %u (%s)\n", kube_scale_name(a->s->b),
                      o->workers.setpoint, d->setpoint, words);
    if (d->verdict == SCALER_FROZEN && o->pending > 0 && !a->succ_busy &&
        kwq_monotonic_ms() >= a->succ_retry) {
        a->succ_busy =
            kube_scale_successor(a->s->b, d->target ? d->target : 1, on_successor, a) == 0;
    }
}

static void on_end(void *arg, enum scaler_end why, const struct kwq_error *err)
{
    struct auto_run *a = arg;

    a->drained = why == SCALER_END_DRAINED;
    switch (why) {
    case SCALER_END_DRAINED:
        if (!cli.quiet)
            (void)fprintf(stderr,
                          "kwq: queue '%s' is sealed and drained: Job %s completes as its "
                          "workers exit\n",
                          cli.queue, kube_scale_name(a->s->b));
        a->exit = KWQ_EXIT_OK;
        break;
    case SCALER_END_SIGNAL:
    case SCALER_END_STOPPED:
    case SCALER_END_ONCE:
        a->exit = KWQ_EXIT_INTERRUPTED;
        break;
    case SCALER_END_ERROR:
        a->exit = kube_cli_fail(err, NULL);
        break;
    }
    ev_break(a->s->loop, EVBREAK_ALL);
}

static int autoscale(struct scale_run *s)
{
    struct auto_run a = {.s = s, .exit = KWQ_EXIT_SOFTWARE};
    struct scaler_cfg sc = {0};
    struct kwq_error err = {0};

    kwq_client_opts_init(&sc.redis);
    sc.redis.url = cli_redis_url(s->url, sizeof(s->url));
    sc.redis.password_file = cli.password_file;
    sc.queue = cli.queue;
    sc.rule = s->rule;
    sc.backend = kube_scale_backend(s->b);
    sc.hold_ms = s->cfg.hold_ms;
    sc.retry_ms = s->cfg.retry_ms;
    sc.catch_signals = true;
    sc.on_step = on_step;
    sc.on_end = on_end;
    sc.arg = &a;
    if (scaler_start(s->loop, &sc, &a.sc, &err) < 0)
        return cli_error(KWQ_EXIT_USAGE, "%s", err.msg);
    (void)ev_run(s->loop, 0);
    /* A successor request may still be in flight: let it finish before freeing. */
    while (a.succ_busy)
        (void)ev_run(s->loop, EVRUN_ONCE);
    scaler_free(a.sc);
    if (a.drained && kube_scale_observe_now(s->b, &err) == 0)
        a.exit = wake_for_drain(s, kube_scale_job(s->b));
    else if (a.drained && err.code != KWQ_ENOTFOUND)
        a.exit = kube_cli_fail(&err, NULL);
    return a.exit;
}

int cmd_autoscale(int argc, char **argv)
{
    struct scale_run s;
    int rc = setup(&s, &autoscale_spec, argc, argv);

    if (rc == 0 && s.b)
        rc = autoscale(&s);
    teardown(&s);
    return rc;
}
