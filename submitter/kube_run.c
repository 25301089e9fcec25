/*
 * kube_run.c - `kwq run --kube`: see kube_run.h. One libev loop carries the
 * scaler (its waits on the queue and its requests to the API server), a
 * tick that reads the queue's counts, writes new results and redraws the
 * progress, and, once the queue has drained, the wait for the Job to
 * complete.
 */
#include "kube_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/util.h"

#include "cli.h"
#include "job_shape.h"
#include "kube/http.h"
#include "kube_cli.h"
#include "kube_scale.h"
#include "progress.h"
#include "scaler.h"

#define TICK_S          0.25
#define RESULT_READS    20
#define FINISH_EXTRA_MS 60000 /* after the drain, beyond the pods' grace: wait for Complete */

struct kube_run {
    const struct kube_run_cfg *cfg;
    struct kwq_client *c;     /* counts and results */
    struct kube_scale *b;     /* the Job */
    struct scaler *sc;        /* its scaler */
    ev_timer tick;            /* counts, results, progress; the finish wait */
    struct progress pg;       /* the bar */
    struct kwq_stats st0, st; /* counts at the start, and the latest */
    struct results_feed feed; /* the run's results to the output */
    bool scaling;             /* the scaler runs */
    bool succ_busy;           /* a successor is being made */
    uint64_t succ_retry;      /* no new attempt before this (monotonic ms) */
    bool finishing;           /* the queue drained: waiting for the Job to complete */
    uint64_t finish_end;      /* ... until this (monotonic ms) */
    bool get_busy;            /* a request for the Job is in flight (finishing) */
    bool woke;                /* finishing: a paused Job was given one pod */
    bool over;                /* the run has ended: leave the loop */
    bool job_failed;          /* the Job failed */
    int exit;                 /* exit code once over; 0 = success */
    uint64_t start_ms;        /* monotonic start */
    struct runner_summary *sum;
};

/* ---- Counts, results and progress ---------------------------------------------------------- */

static uint64_t delta(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static void clear_bar(void *arg)
{
    struct kube_run *r = arg;

    progress_clear(&r->pg);
}

static int gather(struct kube_run *r)
{
    int rc = results_feed_step(&r->feed, RESULT_READS);

    r->sum->results = r->feed.written;
    if (rc == KWQ_EIO)
        r->exit = cli_error(KWQ_EXIT_FAILURE, "cannot write the results to %s: %s",
                            r->cfg->out_name, strerror(-r->feed.out_err));
    return rc;
}

static void show(struct kube_run *r, bool force)
{
    const struct kube_job_status *j = kube_scale_job(r->b);
    struct progress_counts pc;

    r->sum->done = delta(r->st.done, r->st0.done);
    r->sum->failed = delta(r->st.failed, r->st0.failed);
    r->sum->dead = delta(r->st.dead, r->st0.dead);
    pc.done = r->sum->done;
    pc.dead = r->sum->dead;
    pc.total = pc.done + pc.dead + r->st.pending + r->st.leased + r->st.delayed;
    pc.workers = j && j->active > 0 ? (uint64_t)j->active : 0;
    if (pc.workers > r->sum->peak_workers)
        r->sum->peak_workers = (uint32_t)pc.workers;
    progress_update(&r->pg, &pc, force);
}

/* ---- The end ------------------------------------------------------------------------------- */

static void end(struct kube_run *r, int code)
{
    if (r->over)
        return;
    r->over = true;
    r->exit = code;
    if (r->scaling)
        scaler_stop(r->sc);
}

/* The exit code a failed Job stands for, from its condition's message. */
static int failed_job_exit(const struct kube_job_status *j, const char **why)
{
    for (size_t i = 0; i < j->nconds; i++) {
        const struct kube_job_condition *c = &j->conds[i];
        const char *m = c->message ? strstr(c->message, "exit code ") : NULL;
        int code;

        if ((strcmp(c->type, "Failed") != 0 && strcmp(c->type, "FailureTarget") != 0) ||
            strcmp(c->status, "True") != 0)
            continue;
        *why = c->message ? c->message : c->reason;
        if (m && sscanf(m, "exit code %d", &code) == 1) {
            if (code == KWQ_EXIT_CONFIG)
                return KWQ_EXIT_CONFIG;
            if (code == KWQ_EXIT_GONE)
                return KWQ_EXIT_GONE;
        }
        return KWQ_EXIT_FAILURE;
    }
    *why = "it failed";
    return KWQ_EXIT_FAILURE;
}

static void job_failed(struct kube_run *r, const struct kube_job_status *j)
{
    const char *why = NULL;
    int code = failed_job_exit(j, &why);

    progress_clear(&r->pg);
    r->job_failed = true;
    if (code == KWQ_EXIT_CONFIG)
        end(r, cli_error(code,
                         "Job %s failed: %s; a worker exited 78: the handler cannot be run or a "
                         "setting is wrong (see the pod's log: 'kubectl logs -n %s job/%s'); no "
                         "task was charged for it",
                         j->name, why, kube_client_namespace(r->cfg->k), j->name));
    else if (code == KWQ_EXIT_GONE)
        end(r, cli_error(code,
                         "Job %s failed: %s; the queue vanished from Redis: enqueue the "
                         "work again",
                         j->name, why));
    else
        end(r,
            cli_error(code, "Job %s failed: %s; see 'kwq job status %s'", j->name, why, j->name));
}

/* ---- The scaler's callbacks ---------------------------------------------------------------- */

static void on_successor(void *arg, const struct kwq_error *err)
{
    struct kube_run *r = arg;

    r->succ_busy = false;
    progress_clear(&r->pg);
    if (err->code != 0) {
        r->succ_retry = kwq_monotonic_ms() + 2000;
        cli_note("cannot make a successor Job yet: %s", err->msg);
        return;
    }
    cli_note("Job %s follows: its predecessor can no longer start pods", kube_scale_name(r->b));
}

static void on_step(void *arg, const struct scaler_obs *o, const struct scaler_decision *d)
{
    struct kube_run *r = arg;
    const struct kube_job_status *j = kube_scale_job(r->b);

    if (d->verdict != SCALER_FROZEN || !j || r->over)
        return;
    if (j->failed_job || j->failure_target) {
        job_failed(r, j);
        return;
    }
    if (o->pending > 0 && !r->succ_busy && kwq_monotonic_ms() >= r->succ_retry)
        r->succ_busy = kube_scale_successor(r->b, d->target ? d->target : 1, on_successor, r) == 0;
}

static void on_retry(void *arg, const struct kwq_error *err)
{
    struct kube_run *r = arg;

    progress_clear(&r->pg);
    cli_note("%s; retrying", err->msg);
}

static void on_end(void *arg, enum scaler_end why, const struct kwq_error *err)
{
    struct kube_run *r = arg;

    r->scaling = false;
    switch (why) {
    case SCALER_END_DRAINED:
        r->finishing = true;
        r->finish_end =
            kwq_monotonic_ms() + FINISH_EXTRA_MS +
            kube_job_grace_period_s(r->cfg->job.grace_ms, r->cfg->job.kill_grace_ms) * 1000;
        break;
    case SCALER_END_SIGNAL:
        r->sum->interrupted = true;
        end(r, KWQ_EXIT_INTERRUPTED);
        break;
    case SCALER_END_STOPPED:
    case SCALER_END_ONCE:
        r->over = true;
        break;
    case SCALER_END_ERROR:
        progress_clear(&r->pg);
        end(r, kube_cli_fail(err, NULL));
        break;
    }
}

/* ---- After the drain: the Job completes ---------------------------------------------------- */

static void on_woken(void *arg, const struct kwq_error *err)
{
    struct kube_run *r = arg;

    r->get_busy = false;
    if (err->code != 0)
        r->woke = false; /* the next tick tries again, within finish_end */
}

static void on_final_get(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct kube_run *r = arg;
    struct kube_job_status st;
    struct kwq_error perr = {0};

    r->get_busy = false;
    if (err->code != 0 || kube_job_status_parse(resp->json, &st, &perr) < 0)
        return; /* the next tick asks again, within finish_end */
    if (st.failed_job) {
        job_failed(r, &st);
    } else if (st.complete) {
        end(r, 0);
    } else if (st.parallelism == 0 && kube_job_scalable(&st) && !r->woke) {
        /* Paused (--min 0 and nothing to do): only a pod that sees the drain completes it. */
        struct scaler_backend be = kube_scale_backend(r->b);

        r->woke = r->get_busy = true;
        be.apply(be.ctx, 1, on_woken, r);
    }
    kube_job_status_done(&st);
}

static void ask_final(struct kube_run *r)
{
    char path[256];

    if (r->get_busy)
        return;
    if (kwq_monotonic_ms() > r->finish_end) {
        progress_clear(&r->pg);
        cli_note("the queue drained, but Job %s did not complete in time; see 'kwq job status "
                 "%s'",
                 kube_scale_name(r->b), kube_scale_name(r->b));
        end(r, 0);
        return;
    }
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s",
                   kube_client_namespace(r->cfg->k), kube_scale_name(r->b));
    r->get_busy = kube_request(r->cfg->k, "GET", path, NULL, NULL, on_final_get, r) == 0;
}

/* ---- The tick ------------------------------------------------------------------------------ */

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kube_run *r = w->data;
    int rc;

    (void)revents;
    if (!r->over) {
        rc = kwq_stats(r->c, r->cfg->queue, &r->st);
        if (rc == 0)
            rc = gather(r);
        if (rc == 0) {
            show(r, false);
        } else if (rc != KWQ_EIO && kwq_err_is_transient(rc)) {
            (void)kwq_client_connect(r->c); /* the scaler rides the outage out and bounds it */
        } else if (rc != KWQ_EIO) {
            progress_clear(&r->pg);
            end(r, cli_fail(r->c, rc, NULL));
        } else {
            end(r, r->exit);
        }
    }
    if (r->finishing && !r->over)
        ask_final(r);
    if (r->over && !r->scaling && !r->succ_busy && !r->get_busy)
        ev_break(loop, EVBREAK_ALL);
}

/* ---- The Job ------------------------------------------------------------------------------- */

static int other_queue(const struct kube_job_status *j)
{
    return cli_error(KWQ_EXIT_CONFIG,
                     "Job %s exists and runs another queue ('%s'); choose another name with --job",
                     j->name, j->queue ? j->queue : "none");
}

int kube_run_check(const struct kube_run_cfg *cfg)
{
    struct kube_job_status st;
    struct kwq_error err = {0};
    int rc = kube_job_get(cfg->k, cfg->job.name, &st, &err);

    if (rc == KWQ_ENOTFOUND)
        return 0;
    if (rc < 0)
        return kube_cli_fail(&err, NULL);
    rc = !st.queue || strcmp(st.queue, cfg->queue) != 0 ? other_queue(&st) : 0;
    kube_job_status_done(&st);
    return rc;
}

/*
 * Make the run's Job. One of that name that can still run this queue is
 * followed; one that cannot (finished, a pod succeeded) gets a successor.
 */
static int make_job(struct kube_run *r, uint32_t parallelism)
{
    const struct kube_run_cfg *cfg = r->cfg;
    struct kube_job_spec spec = cfg->job;
    struct kube_job_status st;
    struct kwq_error err = {0};
    char *json = NULL;
    int rc;

    spec.parallelism = parallelism;
    rc = job_shape_check_secret(cfg->k, spec.redis_secret);
    if (rc != 0)
        return rc;
    rc = kube_job_build(&spec, false, &json, &err);
    if (rc < 0)
        return cli_error(KWQ_EXIT_USAGE, "%s", err.msg);
    rc = kube_job_create(cfg->k, json, &st, &err);
    free(json);
    if (rc == 0) {
        kube_job_status_done(&st);
        cli_note("Job %s created in namespace %s with parallelism %u", spec.name,
                 kube_client_namespace(cfg->k), parallelism);
        return 0;
    }
    if (rc != KWQ_ESTATE)
        return kube_cli_fail(&err, "cannot create the Job");
    rc = kube_scale_observe_now(r->b, &err);
    if (rc < 0)
        return kube_cli_fail(&err, NULL);
    {
        const struct kube_job_status *j = kube_scale_job(r->b);

        if (!j->queue || strcmp(j->queue, cfg->queue) != 0)
            return other_queue(j);
        if (kube_job_scalable(j)) {
            cli_note("Job %s exists and can still start pods: following it", spec.name);
            return 0;
        }
    }
    rc = kube_scale_successor_now(r->b, parallelism, &err);
    if (rc < 0)
        return kube_cli_fail(&err, "cannot make a successor Job");
    cli_note("Job %s exists and can no longer start pods: made its successor %s", spec.name,
             kube_scale_name(r->b));
    return 0;
}

static int start_scaler(struct kube_run *r)
{
    const struct kube_run_cfg *cfg = r->cfg;
    struct scaler_cfg sc = {0};
    struct kwq_error err = {0};

    kwq_client_opts_init(&sc.redis);
    sc.redis.url = cfg->redis_url;
    sc.redis.password_file = cfg->password_file;
    sc.queue = cfg->queue;
    sc.rule = cfg->rule;
    sc.backend = kube_scale_backend(r->b);
    sc.hold_ms = SCALER_HOLD_MS;
    sc.retry_ms = cfg->retry_ms;
    sc.catch_signals = true;
    sc.on_step = on_step;
    sc.on_retry = on_retry;
    sc.on_end = on_end;
    sc.arg = r;
    if (scaler_start(cfg->loop, &sc, &r->sc, &err) < 0)
        return cli_error(KWQ_EXIT_SOFTWARE, "cannot start the scaler: %s", err.msg);
    r->scaling = true;
    return 0;
}

/* After an interruption: the pods must stop and give their tasks back. */
static void stop_pods(struct kube_run *r)
{
    struct kube_job_status st;
    struct kwq_error err = {0};
    const char *name = kube_scale_name(r->b);
    int rc = r->cfg->keep_job ? kube_job_set_parallelism(r->cfg->k, name, 0, &st, &err)
                              : kube_job_delete(r->cfg->k, name, &err);

    if (rc == 0 && r->cfg->keep_job)
        kube_job_status_done(&st);
    if (rc < 0)
        (void)fprintf(stderr, "kwq: cannot stop the pods of Job %s: %s\n", name, err.msg);
    else
        (void)fprintf(stderr,
                      "kwq: Job %s %s: its pods give their tasks back, which stay on queue "
                      "'%s'\n",
                      name, r->cfg->keep_job ? "paused (parallelism 0)" : "deleted", r->cfg->queue);
}

int kube_run(struct kwq_client *c, const struct kube_run_cfg *cfg, struct runner_summary *sum)
{
    struct kube_run r = {.cfg = cfg, .c = c, .sum = sum};
    struct kwq_error err = {0};
    int rc;

    memset(sum, 0, sizeof(*sum));
    r.start_ms = kwq_monotonic_ms();
    progress_init(&r.pg, cfg->quiet, 5000);
    rc = kwq_stats(c, cfg->queue, &r.st0);
    if (rc < 0)
        return cli_fail(c, rc, "cannot read the queue");
    r.st = r.st0;
    results_feed_init(&r.feed, c, cfg->queue, cfg->out, cfg->results, r.st0.server_time_ms);
    r.feed.before_write = clear_bar;
    r.feed.arg = &r;
    r.b = kube_scale_new(cfg->loop, cfg->k, cfg->job.name);
    if (!r.b)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    rc = make_job(&r, kwq_scale_target(&cfg->rule, r.st0.pending, r.st0.leased));
    if (rc == 0)
        rc = start_scaler(&r);
    if (rc != 0) {
        kube_scale_free(r.b);
        return rc;
    }
    ev_timer_init(&r.tick, on_tick, TICK_S, TICK_S);
    r.tick.data = &r;
    ev_timer_start(cfg->loop, &r.tick);
    (void)ev_run(cfg->loop, 0);
    ev_timer_stop(cfg->loop, &r.tick);
    scaler_free(r.sc);
    if (r.exit == 0 && !r.over)
        r.exit = KWQ_EXIT_SOFTWARE;
    /* The last results: all of them, the run is over. */
    if (!sum->interrupted && kwq_stats(c, cfg->queue, &r.st) == 0)
        while (gather(&r) == 0 && r.feed.behind)
            ;
    if (r.exit == 0 || sum->interrupted) /* after an error line, no bar: the line is the news */
        show(&r, true);
    progress_end(&r.pg);
    sum->ms = kwq_monotonic_ms() - r.start_ms;
    if (sum->interrupted)
        stop_pods(&r);
    else if (r.exit == 0 && !cfg->keep_job &&
             kube_job_delete(cfg->k, kube_scale_name(r.b), &err) < 0)
        cli_note("cannot delete Job %s: %s", kube_scale_name(r.b), err.msg);
    kube_scale_free(r.b);
    return r.exit;
}
