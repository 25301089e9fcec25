/*
 * conn.c - the worker's Redis connection: the first connect, reconnecting
 * with capped exponential backoff after a transport failure, and the down
 * clock that --redis-retry is measured against.
 *
 * A failed call never loses a job: the job stays held (and renewed once
 * Redis is back) until Redis has answered its outcome; handlers keep
 * running meanwhile.
 */
#include <stdio.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "core.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct kwq_client *conn_client_new(const struct worker_config *cfg)
{
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    o.url = cfg->redis_url;
    o.password_file = cfg->password_file;
    if (cfg->max_result)
        o.max_result = cfg->max_result;
    return kwq_client_new(&o);
}

static void schedule_reconnect(struct worker *w, uint64_t delay_ms)
{
    ev_timer_stop(w->loop, &w->reconnect_w);
    ev_timer_set(&w->reconnect_w, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(w->loop, &w->reconnect_w);
}

void conn_failed(struct worker *w, const char *op, int rc, const char *why)
{
    (void)rc;
    if (w->connected) {
        w->connected = false;
        w->down_since_ms = kwq_monotonic_ms();
        w->backoff_ms = BACKOFF_MIN_MS;
        kwq_log(KWQ_LOG_WARN, "Redis call failed: reconnecting; running handlers continue",
                KWQ_LS("op", op), KWQ_LS("err", why), KWQ_LI("held", w->njobs));
    }
    take_wait_abort(w);
    if (!ev_is_active(&w->reconnect_w))
        schedule_reconnect(w, w->backoff_ms);
}

static void on_connected(struct worker *w)
{
    bool again = w->ever_connected;

    w->connected = true;
    w->ever_connected = true;
    kwq_log(KWQ_LOG_INFO, again ? "reconnected to Redis" : "connected to Redis",
            KWQ_LS("redis", kwq_client_url_redacted(w->cmd)), KWQ_LS("queue", w->cfg->queue));
    renew_arm(w);
}

/* The connect failed with rc: give up, or try again after the backoff. */
static void on_connect_failed(struct worker *w, int rc)
{
    uint64_t down, left;
    char buf[32];

    if (rc == KWQ_EINVAL || rc == KWQ_EAUTH || rc == KWQ_EPOLICY) {
        kwq_log(KWQ_LOG_ERROR, "cannot use Redis", KWQ_LS("err", kwq_client_errstr(w->cmd)));
        worker_finish(w, rc == KWQ_EINVAL ? KWQ_EXIT_CONFIG : KWQ_EXIT_UNAVAILABLE);
        return;
    }
    down = kwq_monotonic_ms() - w->down_since_ms;
    if (down >= w->cfg->redis_retry_ms) {
        kwq_format_duration(w->cfg->redis_retry_ms, buf, sizeof(buf));
        kwq_log(KWQ_LOG_ERROR, "Redis unreachable: giving up", KWQ_LS("for", buf),
                KWQ_LS("err", kwq_client_errstr(w->cmd)));
        jobs_log_undelivered(w);
        worker_finish(w, KWQ_EXIT_UNAVAILABLE);
        return;
    }
    left = w->cfg->redis_retry_ms - down;
    kwq_log(KWQ_LOG_WARN, "cannot reach Redis: retrying", KWQ_LS("err", kwq_client_errstr(w->cmd)),
            KWQ_LI("retry_in_ms", w->backoff_ms < left ? w->backoff_ms : left));
    schedule_reconnect(w, w->backoff_ms < left ? w->backoff_ms : left);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/* Send: connect cmd; on reply: connected, or failed. */
static void on_reconnect(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    int rc;

    (void)loop;
    (void)revents;
    rc = kwq_client_connect(w->cmd);
    if (rc == 0)
        on_connected(w);
    else
        on_connect_failed(w, rc);
}

void conn_grace_over(struct worker *w)
{
    /* The reconnect timer may be seconds away (backoff): try now, before the exit. */
    if (w->connected || w->njobs == w->running || w->exit_code >= 0)
        return;
    ev_timer_stop(w->loop, &w->reconnect_w);
    on_reconnect(w->loop, &w->reconnect_w, 0);
}

void conn_init(struct worker *w)
{
    ev_timer_init(&w->reconnect_w, on_reconnect, 0., 0.);
    w->reconnect_w.data = w;
}

void conn_start(struct worker *w)
{
    w->down_since_ms = kwq_monotonic_ms();
    w->backoff_ms = BACKOFF_MIN_MS;
    schedule_reconnect(w, 0);
}

void conn_done(struct worker *w)
{
    ev_timer_stop(w->loop, &w->reconnect_w);
}
