/*
 * link.c - a Redis connection the broker keeps up by itself. A daemon does
 * not exit because Redis is away: it reconnects with capped exponential
 * backoff (100 ms to 5 s) for as long as it runs, says why in /readyz, and
 * logs a failure once per change of reason, not once per attempt.
 */
#include <stdio.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/log.h"

#include "broker.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static void schedule(struct link *l)
{
    ev_timer_stop(l->b->loop, &l->retry);
    ev_timer_set(&l->retry, (double)l->backoff_ms / 1000.0, 0.0);
    ev_timer_start(l->b->loop, &l->retry);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* The client's own line for the last failure, else what rc means. */
static const char *why_down(const struct link *l, int rc)
{
    const char *e = kwq_async_errstr(l->a);

    return e[0] ? e : rc ? kwq_strerror(rc) : "connection lost";
}

static void set_down(struct link *l, const char *why)
{
    bool changed = strcmp(l->reason, why) != 0;

    l->up = false;
    (void)snprintf(l->reason, sizeof(l->reason), "%s", why);
    if (changed)
        kwq_log(KWQ_LOG_WARN, "Redis unavailable: retrying", KWQ_LS("role", l->role),
                KWQ_LS("url", kwq_async_url_redacted(l->a)), KWQ_LS("err", why));
}

static void on_connect(struct kwq_async *a, int rc, void *data)
{
    struct link *l = data;

    (void)a;
    l->connecting = false;
    if (l->b->stopping)
        return;
    if (rc < 0) {
        set_down(l, why_down(l, rc));
        schedule(l);
        return;
    }
    l->up = true;
    l->reason[0] = '\0';
    l->backoff_ms = BACKOFF_MIN_MS;
    l->connects++;
    kwq_log(KWQ_LOG_INFO, "Redis connected", KWQ_LS("role", l->role),
            KWQ_LS("url", kwq_async_url_redacted(l->a)));
    if (l->on_up)
        l->on_up(l);
}

static int try_connect(struct link *l)
{
    int rc;

    if (l->up || l->connecting || l->b->stopping)
        return 0;
    rc = kwq_async_connect(l->a, on_connect, l);
    if (rc == KWQ_EINVAL)
        return rc;
    if (rc < 0) {
        set_down(l, why_down(l, rc));
        schedule(l);
        return 0;
    }
    l->connecting = true;
    return 0;
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct link *l = t->data;

    (void)loop;
    (void)revents;
    (void)try_connect(l);
}

int link_init(struct link *l, struct broker *b, const char *role, const char *url, bool read_only)
{
    struct kwq_client_opts o;

    memset(l, 0, sizeof(*l));
    l->b = b;
    l->role = role;
    l->backoff_ms = BACKOFF_MIN_MS;
    (void)snprintf(l->reason, sizeof(l->reason), "not connected yet");
    kwq_client_opts_init(&o);
    o.url = url;
    o.password_file = b->cfg->password_file;
    o.read_only = read_only;
    l->a = kwq_async_new(b->loop, &o);
    if (!l->a)
        return KWQ_ENOMEM;
    ev_timer_init(&l->retry, on_retry, 0.0, 0.0);
    l->retry.data = l;
    return 0;
}

int link_start(struct link *l)
{
    return try_connect(l);
}

bool link_check(struct link *l)
{
    if (l->up && !kwq_async_is_connected(l->a)) {
        set_down(l, why_down(l, 0));
        if (!l->b->stopping)
            schedule(l);
    }
    return l->up;
}

bool link_failed(struct link *l, int rc)
{
    if (rc >= 0 || !kwq_err_is_transient(rc))
        return false;
    if (l->up) {
        set_down(l, why_down(l, rc));
        kwq_async_disconnect(l->a);
        if (!l->b->stopping)
            schedule(l);
    }
    return true;
}

void link_done(struct link *l)
{
    if (!l->a)
        return;
    ev_timer_stop(l->b->loop, &l->retry);
    kwq_async_free(l->a);
    l->a = NULL;
    l->up = false;
}
