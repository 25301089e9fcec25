/*
 * conn.c - the worker's Redis connection: the first connect, what a failed
 * call means, reconnecting with capped exponential backoff, and the down
 * clock that --redis-retry is measured against.
 *
 * Every failure is sorted with libkwq's kwq_err_is_transient():
 * - transient (Redis unreachable, loading, not answering in time): the
 *   connection is dropped and made again with backoff; jobs stay held (and
 *   renewed once Redis is back) until Redis has answered their outcomes,
 *   handlers keep running. KWQ_EOOM (maxmemory: an ack keeping a result
 *   refused) keeps the connection: the acks refused are held, renewed and
 *   retried with backoff (other calls go on), and nothing new is leased
 *   until they are delivered; it is logged once, and does not count toward
 *   --redis-retry (Redis is there, and workers draining queues free its
 *   memory).
 * - KWQ_EGONE: the queue vanished from Redis; exit KWQ_EXIT_GONE.
 * - KWQ_EREADONLY after connect: the master was demoted (a failover, maybe
 *   behind a stable Service name): one reconnect lets connect decide. Its
 *   role check exits KWQ_EXIT_CONFIG if the URL still reaches a replica; a
 *   URL that now reaches a master goes on. READONLY again before any call
 *   succeeded is permanent.
 * - anything else is permanent (a refused password, a missing ACL
 *   permission, a URL that reaches a replica, a Redis error such as
 *   WRONGTYPE): retrying cannot help, so the worker exits KWQ_EXIT_CONFIG
 *   at once, at connect as after it.
 * The down clock starts at the first failure and stops only when a call
 * succeeds (a connect alone proves little: a Redis that accepts connections
 * may still refuse every call). --redis-retry 0 never gives up: the Job's
 * activeDeadlineSeconds bounds the wait; a finite one exits
 * KWQ_EXIT_UNAVAILABLE, which the documented podFailurePolicy ignores.
 */
#include <stdio.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "core.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct kwq_async *conn_client_new(struct worker *w)
{
    const struct worker_config *cfg = w->cfg;
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    o.url = cfg->redis_url;
    o.password_file = cfg->password_file;
    if (cfg->max_result)
        o.max_result = cfg->max_result;
    if (cfg->result_ttl_ms)
        o.result_ttl_ms = cfg->result_ttl_ms;
    return kwq_async_new(w->loop, &o);
}

static void schedule_reconnect(struct worker *w, uint64_t delay_ms)
{
    ev_timer_stop(w->loop, &w->reconnect_w);
    ev_timer_set(&w->reconnect_w, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(w->loop, &w->reconnect_w);
}

/* Stop at once for an error retrying cannot fix (rc), with one line saying what it was. */
static void give_up(struct worker *w, const char *op, int rc, const char *why)
{
    int code = KWQ_EXIT_CONFIG;

    if (rc == KWQ_EGONE) {
        kwq_log(KWQ_LOG_ERROR,
                "the queue vanished from Redis (Redis restarted without its data, or it was "
                "flushed): its tasks are gone, enqueue its work again",
                KWQ_LS("queue", w->cfg->queue), KWQ_LS("op", op), KWQ_LS("err", why));
        code = KWQ_EXIT_GONE;
    } else if (rc == KWQ_ENOMEM) {
        kwq_log(KWQ_LOG_ERROR, "out of memory for a Redis call: exiting", KWQ_LS("op", op));
        code = KWQ_EXIT_OSERR;
    } else if (kwq_err_is_config(rc) || rc == KWQ_EINVAL) {
        kwq_log(KWQ_LOG_ERROR, "cannot use Redis: fix the configuration, retrying cannot help",
                KWQ_LS("op", op), KWQ_LS("err", why));
    } else {
        kwq_log(KWQ_LOG_ERROR, "Redis refused a call: retrying cannot help, exiting",
                KWQ_LS("op", op), KWQ_LS("err", why));
    }
    jobs_log_undelivered(w);
    worker_finish(w, code);
}

/* True (after the log line and the exit) when Redis has been down longer than --redis-retry. */
static bool down_too_long(struct worker *w, const char *why)
{
    char buf[32];

    if (!w->cfg->redis_retry_ms || kwq_monotonic_ms() - w->down_since_ms < w->cfg->redis_retry_ms)
        return false;
    kwq_format_duration(w->cfg->redis_retry_ms, buf, sizeof(buf));
    kwq_log(KWQ_LOG_ERROR, "Redis unavailable for longer than --redis-retry: giving up",
            KWQ_LS("for", buf), KWQ_LS("err", why));
    jobs_log_undelivered(w);
    worker_finish(w, KWQ_EXIT_UNAVAILABLE);
    return true;
}

/* The next reconnect or retry delay: the backoff, within --redis-retry; the backoff doubles. */
static uint64_t next_backoff(struct worker *w)
{
    uint64_t delay = w->backoff_ms;

    if (w->cfg->redis_retry_ms) {
        uint64_t left = w->cfg->redis_retry_ms - (kwq_monotonic_ms() - w->down_since_ms);
        delay = delay < left ? delay : left;
    }
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
    return delay;
}

/* Redis stopped answering (or answers only with a passing error): start the down clock. */
static void mark_down(struct worker *w)
{
    if (w->down)
        return;
    w->down = true;
    w->down_since_ms = kwq_monotonic_ms();
    w->backoff_ms = BACKOFF_MIN_MS;
}

void conn_ok(struct worker *w)
{
    w->down = false;
    w->demoted = false;
    w->backoff_ms = BACKOFF_MIN_MS;
}

/*
 * Redis is at its maxmemory limit: the connection is fine, so it is kept.
 * The acks refused are held (and renewed) and sent again when the hold
 * ends, with a backoff that renewals succeeding meanwhile do not reset;
 * nothing more is leased until they are delivered (conn_room). Logged once
 * per episode: the retries refused again only at debug level.
 */
static void hold(struct worker *w, const char *op, const char *why)
{
    uint64_t delay = w->hold_ms ? w->hold_ms : BACKOFF_MIN_MS;

    if (ev_is_active(&w->hold_w))
        return;
    w->hold_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    kwq_log(w->oom ? KWQ_LOG_DEBUG : KWQ_LOG_WARN,
            w->oom ? "Redis still out of memory: holding the results"
                   : "Redis is out of memory: holding the results it refused, leasing nothing "
                     "until it has room",
            KWQ_LS("op", op), KWQ_LS("err", why), KWQ_LI("retry_in_ms", delay),
            KWQ_LI("held", w->njobs));
    w->oom = true;
    ev_timer_set(&w->hold_w, (double)delay / 1000.0, 0.);
    ev_timer_start(w->loop, &w->hold_w);
}

void conn_room(struct worker *w)
{
    if (!w->oom)
        return;
    w->oom = false;
    w->hold_ms = 0;
    ev_timer_stop(w->loop, &w->hold_w);
    kwq_log(KWQ_LOG_INFO, "Redis has room again: no result held, leasing again");
}

/* READONLY from a call: true when one reconnect may help (see the top of the file). */
static bool demoted(struct worker *w, const char *op, const char *why)
{
    if (!w->connected)
        return true; /* a straggler of the connection already dropped */
    if (w->demoted)
        return false;
    w->demoted = true;
    kwq_log(KWQ_LOG_WARN,
            "Redis answered READONLY: the master was demoted (a failover?); reconnecting once to "
            "find the master",
            KWQ_LS("op", op), KWQ_LS("err", why));
    return true;
}

void conn_failed(struct worker *w, const char *op, int rc, const char *why)
{
    if (w->exit_code >= 0) /* on the way out, or outstanding calls failed by the final free */
        return;
    if (!kwq_err_is_transient(rc) && !(rc == KWQ_EREADONLY && demoted(w, op, why))) {
        give_up(w, op, rc, why);
        return;
    }
    if (rc == KWQ_EOOM) {
        hold(w, op, why);
        return;
    }
    mark_down(w);
    if (w->connected) {
        w->connected = false;
        kwq_log(KWQ_LOG_WARN, "Redis call failed: reconnecting; running handlers continue",
                KWQ_LS("op", op), KWQ_LS("err", why), KWQ_LI("held", w->njobs));
    }
    take_wait_abort(w);
    /* Both connections start afresh (this fails the other calls still outstanding on it). */
    kwq_async_disconnect(w->cmd);
    if (!down_too_long(w, why) && !ev_is_active(&w->reconnect_w) && !w->connecting)
        schedule_reconnect(w, next_backoff(w));
}

bool conn_usable(const struct worker *w)
{
    return w->connected && w->exit_code < 0;
}

bool conn_holding(const struct worker *w)
{
    return ev_is_active(&w->hold_w);
}

static void on_connected(struct worker *w)
{
    bool again = w->ever_connected;

    w->connected = true;
    w->ever_connected = true;
    kwq_log(KWQ_LOG_INFO, again ? "reconnected to Redis" : "connected to Redis",
            KWQ_LS("redis", kwq_async_url_redacted(w->cmd)), KWQ_LS("queue", w->cfg->queue));
    renew_arm(w);
}

/* The connect failed with rc: give up, or try again after the backoff. */
static void on_connect_failed(struct worker *w, int rc)
{
    const char *why = kwq_async_errstr(w->cmd);
    uint64_t delay;

    if (!kwq_err_is_transient(rc)) {
        give_up(w, "connect", rc, why);
        return;
    }
    if (down_too_long(w, why))
        return;
    delay = next_backoff(w);
    kwq_log(KWQ_LOG_WARN, "cannot reach Redis: retrying", KWQ_LS("err", why),
            KWQ_LI("retry_in_ms", delay));
    schedule_reconnect(w, delay);
}

static void on_connect_reply(struct kwq_async *a, int rc, void *data)
{
    struct worker *w = data;

    (void)a;
    w->connecting = false;
    if (w->exit_code >= 0)
        return;
    if (rc == 0)
        on_connected(w);
    else
        on_connect_failed(w, rc);
}

/* Send: connect cmd (the handshake runs on the loop). */
static void on_reconnect(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    int rc;

    (void)loop;
    (void)revents;
    if (w->connecting || w->exit_code >= 0)
        return;
    if (kwq_async_is_connected(w->cmd)) {
        on_connected(w);
        return;
    }
    w->connecting = true;
    rc = kwq_async_connect(w->cmd, on_connect_reply, w);
    if (rc < 0) {
        w->connecting = false;
        on_connect_failed(w, rc);
    }
}

void conn_grace_over(struct worker *w)
{
    /* Held for maxmemory: one more try in the next turn, before the exit. */
    ev_timer_stop(w->loop, &w->hold_w);
    /* The reconnect timer may be seconds away (backoff): try now, before the exit. */
    if (w->connected || w->connecting || w->njobs == w->running || w->exit_code >= 0)
        return;
    ev_timer_stop(w->loop, &w->reconnect_w);
    on_reconnect(w->loop, &w->reconnect_w, 0);
}

static void on_hold_over(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents; /* the turn that follows sends the held outcomes again */
}

void conn_init(struct worker *w)
{
    ev_timer_init(&w->reconnect_w, on_reconnect, 0., 0.);
    w->reconnect_w.data = w;
    ev_timer_init(&w->hold_w, on_hold_over, 0., 0.);
    w->hold_w.data = w;
}

void conn_start(struct worker *w)
{
    /* Not up until a first call succeeds: --redis-retry counts from the start. */
    mark_down(w);
    schedule_reconnect(w, 0);
}

void conn_done(struct worker *w)
{
    ev_timer_stop(w->loop, &w->reconnect_w);
    ev_timer_stop(w->loop, &w->hold_w);
}
