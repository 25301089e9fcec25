/*
 * leader_redis.c - the Redis backend of the election: the leader lease of
 * kwq/leader.h on the broker's non-blocking client (docs/PROTOCOL.md "Leader
 * lease"). The client's connection and reconnects are the caller's: while it
 * is down, attempts fail at once and the state machine steps down when its
 * deadline passes.
 */
#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/leader.h"

#include "leader_int.h"

static void on_acquired(struct kwq_async *a, int rc, const struct kwq_leader_state *st, void *data)
{
    struct leader *l = leader__call_peek(data);
    struct leader_seen seen = {0};

    if (!l)
        return;
    leader__call_finish(data);
    if (rc < 0) {
        leader__attempt_done(l, rc, kwq_async_errstr(a), NULL);
        return;
    }
    seen.held = st->held_by_me;
    seen.term = st->term;
    seen.holder = st->holder;
    leader__attempt_done(l, 0, NULL, &seen);
}

static int redis_attempt(struct leader *l, const char **why)
{
    struct kwq_async *a = l->be_data;
    struct leader_call *c = leader__call_begin(l);
    int rc;

    if (!c)
        return KWQ_ENOMEM;
    rc = kwq_async_leader_acquire(a, l->name, l->identity, l->lease_ms, on_acquired, c);
    if (rc) {
        leader__call_finish(c);
        *why = kwq_async_errstr(a);
    }
    return rc;
}

static void on_released(struct kwq_async *a, int rc, void *data)
{
    struct leader *l = leader__call_peek(data);

    if (!l)
        return;
    leader__call_finish(data);
    leader__released(l, rc < 0 ? rc : 0, rc < 0 ? kwq_async_errstr(a) : NULL);
}

static int redis_release(struct leader *l, const char **why)
{
    struct kwq_async *a = l->be_data;
    struct leader_call *c = leader__call_begin(l);
    int rc;

    if (!c)
        return KWQ_ENOMEM;
    rc = kwq_async_leader_release(a, l->name, l->identity, l->held_term, on_released, c);
    if (rc) {
        leader__call_finish(c);
        *why = kwq_async_errstr(a);
    }
    return rc;
}

static const struct leader_backend redis_backend = {
    .name = "redis",
    .attempt = redis_attempt,
    .release = redis_release,
    .free = NULL, /* the client is the caller's */
};

struct leader *leader_new_redis(struct ev_loop *loop, struct kwq_async *a,
                                const struct leader_opts *o, leader_change_cb *cb, void *data)
{
    struct leader *l = leader__new(loop, &redis_backend, o, cb, data);

    if (l)
        l->be_data = a;
    return l;
}
