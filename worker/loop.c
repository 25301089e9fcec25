/*
 * loop.c - the worker's loop turn, its set-up and its exit.
 *
 * Once per loop turn (the prepare watcher), in this order: prefetched tasks
 * start in the slots that freed up (so they run during the round trips
 * that follow), their charges and the outcomes are sent in batches
 * (report.c), then the free slots are leased (take.c). A stopping worker leases nothing; it exits
 * once nothing runs and nothing is held, or, when Redis is away, once the
 * grace period is over or a second signal came (shutdown.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"

#include "core.h"

#define FINISH_MS 1000 /* on the way out: how long outstanding calls may take to be answered */

extern char **environ;

/* The end: say what Redis never heard, and leave the loop. */
static void loop_end(struct worker *w)
{
    ev_timer_stop(w->loop, &w->finish_w);
    jobs_log_undelivered(w);
    ev_break(w->loop, EVBREAK_ALL);
}

static void on_finish_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    loop_end(t->data);
}

/*
 * Calls still outstanding on the command connection (the last outcomes,
 * the wake token passed on) get up to FINISH_MS to be answered: the loop
 * turn ends the loop once they are, or the timer does.
 */
void worker_finish(struct worker *w, int code)
{
    if (w->exit_code < 0)
        w->exit_code = code;
    if (ev_is_active(&w->finish_w))
        return;
    ev_timer_set(&w->finish_w, FINISH_MS / 1000.0, 0.);
    ev_timer_start(w->loop, &w->finish_w);
    worker_kick(w);
}

void worker_kick(struct worker *w)
{
    ev_timer_stop(w->loop, &w->kick_w);
    ev_timer_set(&w->kick_w, 0., 0.);
    ev_timer_start(w->loop, &w->kick_w);
}

static void on_kick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents; /* the turn itself is the point: on_prepare runs before the next poll */
}

/*
 * Stopped (SIGTERM or a fatal problem) with nothing left running: exit. The
 * wake token was passed on by shutdown_start, and no wait begins after it.
 */
static void exit_stopped(struct worker *w)
{
    worker_finish(w, w->fatal_code ? w->fatal_code : KWQ_EXIT_INTERRUPTED);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = p->data;

    (void)loop;
    (void)revents;
    if (w->exit_code >= 0) {
        if (!kwq_async_is_connected(w->cmd) || kwq_async_pending(w->cmd) == 0)
            loop_end(w);
        return;
    }
    /* Start prefetched tasks before the round trips below, so they run during them. */
    if (!w->stopping)
        jobs_start_queued(w);
    if (w->stopping) /* also when a start just failed */
        jobs_release_queued(w);
    if (conn_usable(w))
        report_flush(w);
    if (w->stopping) {
        /*
         * Outcomes held for an unavailable Redis keep the worker reconnecting
         * (and waiting for replies) until the grace period is over, or a
         * second signal comes; a reconnect begun at the end of the grace
         * period may finish first. Calls then still outstanding get
         * FINISH_MS (worker_finish).
         */
        bool give_up = w->stop_now || (w->grace_over && !w->connecting);

        /* A lease still travelling brings tasks to release: wait for it, within the grace. */
        if (w->running == 0 && ((w->njobs == 0 && !w->leasing) || give_up))
            exit_stopped(w);
        return;
    }
    take_turn(w);
}

/* ---- Set-up ---- */

static bool env_kept(const char *e)
{
    static const char *const drop[] = {
        "KWQ_REDIS_PASSWORD=", "KWQ_REDIS_PASSWORD_FILE=", "KWQ_TASK_ID=",
        "KWQ_ATTEMPT=",        "KWQ_MAX_ATTEMPTS=",        "KWQ_QUEUE="};

    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (strncmp(e, drop[i], strlen(drop[i])) == 0)
            return false;
    return true;
}

/* The handler's environment: ours without the Redis secrets, plus KWQ_QUEUE. */
static int env_build(struct worker *w)
{
    size_t n = 0, k = 0;
    size_t qlen = strlen("KWQ_QUEUE=") + strlen(w->cfg->queue) + 1;

    while (environ && environ[n])
        n++;
    w->env_base = calloc(n + 2, sizeof(*w->env_base));
    if (!w->env_base)
        return KWQ_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (env_kept(environ[i]))
            w->env_base[k++] = environ[i];
    w->env_base[k] = malloc(qlen);
    if (!w->env_base[k])
        return KWQ_ENOMEM;
    (void)snprintf(w->env_base[k], qlen, "KWQ_QUEUE=%s", w->cfg->queue);
    w->env_n = k + 1;
    return 0;
}

int worker_init(struct worker *w)
{
    w->exit_code = -1;
    w->runner = w->cfg->stream ? &stream_runner : &exec_runner;
    w->events = &jobs_events;
    w->cmd = conn_client_new(w);
    w->waitc = conn_client_new(w);
    /* The most jobs held at once: every slot, plus the tasks leased ahead (grown if ever more). */
    if (!w->cmd || !w->waitc || env_build(w) < 0 ||
        jobmap_init(&w->byid, w->cfg->concurrency + PREFETCH_MAX) < 0)
        return KWQ_ENOMEM;
    ev_prepare_init(&w->prep_w, on_prepare);
    w->prep_w.data = w;
    ev_timer_init(&w->kick_w, on_kick, 0., 0.);
    ev_timer_init(&w->finish_w, on_finish_timeout, 0., 0.);
    w->finish_w.data = w;
    conn_init(w);
    renew_init(w);
    return 0;
}

void worker_start(struct worker *w)
{
    ev_prepare_start(w->loop, &w->prep_w);
    conn_start(w);
}

void worker_done(struct worker *w)
{
    if (w->exit_code < 0)
        w->exit_code = KWQ_EXIT_SOFTWARE; /* the replies of the frees below change nothing */
    ev_prepare_stop(w->loop, &w->prep_w);
    ev_timer_stop(w->loop, &w->kick_w);
    ev_timer_stop(w->loop, &w->finish_w);
    take_done(w);
    renew_done(w);
    conn_done(w);
    /* The clients first: their outstanding callbacks still see the jobs. */
    kwq_async_free(w->cmd);
    kwq_async_free(w->waitc);
    while (w->jobs)
        job_free(w, w->jobs);
    jobmap_done(&w->byid);
    if (w->env_base && w->env_n)
        free(w->env_base[w->env_n - 1]);
    free(w->env_base);
    w->cmd = w->waitc = NULL;
    w->env_base = NULL;
}
