/*
 * shutdown.c - how the worker stops: SIGTERM/SIGINT, the grace period, and
 * --idle-exit.
 *
 * First SIGTERM or SIGINT (scale-down, eviction, node drain, Ctrl-C): lease
 * nothing more; running handlers get --grace to finish (their outcomes are
 * reported as usual); then they are stopped (SIGTERM, SIGKILL after
 * --kill-grace) and their tasks released without charging an attempt, so
 * another pod takes them at once. Outcomes that cannot be sent because
 * Redis is away are held, and the worker keeps reconnecting until they are
 * sent or the grace period is over: an outcome given up is a task run again
 * after its lease expires. The exit code is then KWQ_EXIT_INTERRUPTED, never
 * 0: a 0 would tell the Job controller the work is done. A second signal
 * stops the handlers with SIGKILL at once (tasks still released, if Redis
 * is there) and exits without waiting for Redis.
 */
#include <signal.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "core.h"

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;

    (void)loop;
    (void)revents;
    w->grace_over = true;
    if (w->running > 0) {
        kwq_log(KWQ_LOG_WARN, "grace period over: stopping handlers, their tasks will be released",
                KWQ_LI("running", w->running));
        w->runner->stop_all(w, false);
    }
    conn_grace_over(w);
}

void shutdown_start(struct worker *w)
{
    char buf[32];

    if (w->stopping)
        return;
    w->stopping = true;
    ev_timer_stop(w->loop, &w->idle_w);
    /* It leases nothing more: a wait would only take wake-ups from the idle peers. */
    take_pass_wake(w);
    kwq_format_duration(w->cfg->grace_ms, buf, sizeof(buf));
    kwq_log(KWQ_LOG_INFO, "stopping: no new tasks; running handlers may finish",
            KWQ_LI("running", w->running), KWQ_LS("grace", w->cfg->grace_ms ? buf : "0"));
    if (!w->connected && w->njobs > w->running)
        kwq_log(KWQ_LOG_WARN,
                "Redis unreachable: reconnecting until the grace period ends to report the "
                "outcomes held",
                KWQ_LI("held", w->njobs - w->running));
    /* Also with nothing running: outcomes held for an absent Redis wait this long at most. */
    ev_timer_set(&w->grace_w, (double)w->cfg->grace_ms / 1000.0, 0.);
    ev_timer_start(w->loop, &w->grace_w);
}

void shutdown_fatal(struct worker *w, int code)
{
    if (!w->fatal_code)
        w->fatal_code = code;
    shutdown_start(w);
}

static void on_signal(struct ev_loop *loop, ev_signal *sig, int revents)
{
    struct worker *w = sig->data;

    (void)loop;
    (void)revents;
    if (!w->stopping) {
        kwq_log(KWQ_LOG_INFO, "signal received", KWQ_LS("signal", strsignal(sig->signum)));
        shutdown_start(w);
        return;
    }
    if (w->stop_now)
        return;
    w->stop_now = true;
    kwq_log(KWQ_LOG_WARN, "second signal: stopping handlers now, their tasks will be released",
            KWQ_LS("signal", strsignal(sig->signum)), KWQ_LI("running", w->running));
    ev_timer_stop(w->loop, &w->grace_w);
    w->runner->stop_all(w, true);
}

/* On the stats reply of the idle check: exit when the queue is empty and unsealed. */
static void on_idle_stats_reply(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    struct worker *w = data;
    char buf[32];

    (void)a;
    w->idle_checking = false;
    if (w->stopping || w->njobs > 0 || w->exit_code >= 0)
        return;
    if (rc < 0 || w->leasing || st->sealed || st->pending + st->leased + st->delayed > 0) {
        /* Not idle on an empty, unsealed queue (or cannot tell): look again later. */
        ev_timer_again(w->loop, &w->idle_w);
        return;
    }
    kwq_format_duration(w->cfg->idle_exit_ms, buf, sizeof(buf));
    kwq_log(KWQ_LOG_INFO, "idle on an empty, unsealed queue: exiting", KWQ_LS("idle", buf),
            KWQ_LS("queue", w->cfg->queue));
    take_pass_wake(w);
    worker_finish(w, KWQ_EXIT_IDLE);
}

static void on_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;

    (void)revents;
    if (w->stopping || w->njobs > 0 || w->idle_checking)
        return;
    if (!w->connected || kwq_async_stats(w->cmd, w->cfg->queue, on_idle_stats_reply, w) < 0) {
        ev_timer_again(loop, t);
        return;
    }
    w->idle_checking = true;
}

void shutdown_idle(struct worker *w, bool idle)
{
    if (!w->cfg->idle_exit_ms || w->stopping)
        return;
    if (!idle)
        ev_timer_stop(w->loop, &w->idle_w);
    else if (!ev_is_active(&w->idle_w))
        ev_timer_again(w->loop, &w->idle_w);
}

void shutdown_init(struct worker *w)
{
    ev_signal_init(&w->term_w, on_signal, SIGTERM);
    ev_signal_init(&w->int_w, on_signal, SIGINT);
    w->term_w.data = w->int_w.data = w;
    ev_signal_start(w->loop, &w->term_w);
    ev_signal_start(w->loop, &w->int_w);
    ev_timer_init(&w->grace_w, on_grace, 0., 0.);
    w->grace_w.data = w;
    ev_init(&w->idle_w, on_idle);
    w->idle_w.repeat = (double)w->cfg->idle_exit_ms / 1000.0;
    w->idle_w.data = w;
}

void shutdown_done(struct worker *w)
{
    ev_signal_stop(w->loop, &w->term_w);
    ev_signal_stop(w->loop, &w->int_w);
    ev_timer_stop(w->loop, &w->grace_w);
    ev_timer_stop(w->loop, &w->idle_w);
}
