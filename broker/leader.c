/*
 * leader.c - the election state machine of broker/leader.h, common to both
 * backends: an attempt (acquire or renew) every lease/3; leading only until
 * the time the last successful attempt was SENT + lease - margin, by the
 * monotonic clock, so that a broker whose renewals stall steps down before
 * the lease can expire where the others see it; a stop that steps down at
 * once and releases the lease.
 */
#include "kwq/leader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kwq/error.h"
#include "kwq/log.h"

#include "leader_int.h"

#define LEASE_DEFAULT_MS 15000
#define LEASE_MIN_MS     1000
#define LEASE_MAX_MS     3600000
/*
 * The share of the lease kept as margin: the broker's clock and the one
 * that times the lease (Redis's, or the other brokers') may run at slightly
 * different rates, and a lease is counted from when the attempt was sent,
 * not from when it took effect.
 */
#define MARGIN_DIV 10

double leader__now(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A holder renews every third of the lease. A follower tries at least every
 * second, so that a leader that steps down (SIGTERM) is replaced at once
 * rather than a third of a lease later; one small script a second is cheap.
 */
#define FOLLOWER_PERIOD_S 1.0

static double period_s(const struct leader *l)
{
    double third = (double)l->lease_ms / 3000.0;

    return l->held || third < FOLLOWER_PERIOD_S ? third : FOLLOWER_PERIOD_S;
}

/* ---- Re-entrancy: a callback may stop or free l ---------------------------------------- */

static void destroy(struct leader *l)
{
    ev_timer_stop(l->loop, &l->tick);
    ev_timer_stop(l->loop, &l->until);
    ev_timer_stop(l->loop, &l->later);
    if (l->call)
        l->call->l = NULL; /* its answer finds nobody */
    if (l->be && l->be->free)
        l->be->free(l);
    free(l->name);
    free(l->identity);
    free(l);
}

static void enter(struct leader *l)
{
    l->depth++;
}

/* False when l is gone (freed in a callback): the caller stops touching it. */
static bool leave(struct leader *l)
{
    if (--l->depth == 0 && l->freeing) {
        destroy(l);
        return false;
    }
    return true;
}

static void notify(struct leader *l, bool leading, const char *why)
{
    l->leading = leading;
    if (leading) {
        kwq_log(KWQ_LOG_INFO, "leading", KWQ_LS("backend", l->be->name), KWQ_LS("lease", l->name),
                KWQ_LI("term", l->term));
    } else {
        ev_timer_stop(l->loop, &l->until);
        kwq_log(KWQ_LOG_INFO, "no longer leading", KWQ_LS("backend", l->be->name),
                KWQ_LS("lease", l->name), KWQ_LI("term", l->term), KWQ_LS("reason", why));
    }
    if (l->cb)
        l->cb(l, leading, l->term, l->data);
}

/* ---- Attempts ------------------------------------------------------------------------- */

static void schedule(struct leader *l, double delay)
{
    ev_timer_stop(l->loop, &l->tick);
    ev_timer_set(&l->tick, delay > 0 ? delay : 0., 0.);
    ev_timer_start(l->loop, &l->tick);
}

static void attempt_failed(struct leader *l, int rc, const char *why)
{
    if (rc != l->last_err)
        kwq_log(KWQ_LOG_WARN, "leader election attempt failed; retrying",
                KWQ_LS("backend", l->be->name), KWQ_LS("lease", l->name),
                KWQ_LS("err", why ? why : kwq_strerror(rc)));
    l->last_err = rc;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct leader *l = w->data;
    const char *why = NULL;
    int rc;

    (void)loop;
    (void)revents;
    if (!l->running || l->call)
        return; /* the attempt in flight schedules the next one */
    l->sent = leader__now();
    rc = l->be->attempt(l, &why);
    if (rc) {
        attempt_failed(l, rc, why);
        schedule(l, period_s(l));
    }
}

/* The lease was ours when the attempt was sent: lead until sent + lease - margin. */
static void hold(struct leader *l, uint64_t term)
{
    double lease = (double)l->lease_ms / 1000.0;
    double left = l->sent + lease - lease / MARGIN_DIV - leader__now();
    bool new_term = l->leading && term != l->held_term;

    l->held = true;
    l->held_term = term;
    l->term = term;
    if (left <= 0) { /* the answer came too late to count */
        if (l->leading)
            notify(l, false, "the renewal came after the lease's end");
        return;
    }
    ev_timer_stop(l->loop, &l->until);
    ev_timer_set(&l->until, left, 0.);
    ev_timer_start(l->loop, &l->until);
    if (!l->leading || new_term)
        notify(l, true, NULL);
}

static void release_now(struct leader *l);

void leader__attempt_done(struct leader *l, int rc, const char *why, const struct leader_seen *seen)
{
    enter(l);
    if (rc < 0) {
        attempt_failed(l, rc, why);
    } else if (l->stopping) { /* stepped down already: only what to release counts */
        l->held = seen->held;
        if (seen->held)
            l->held_term = l->term = seen->term;
    } else {
        l->last_err = 0;
        if (seen->holder)
            (void)snprintf(l->holder, sizeof(l->holder), "%s", seen->holder);
        if (seen->held) {
            hold(l, seen->term);
        } else {
            l->held = false;
            l->term = seen->term ? seen->term : l->term;
            if (l->leading)
                notify(l, false, "another broker holds the lease");
        }
    }
    if (!l->freeing) {
        if (l->stopping)
            release_now(l);
        else if (l->running)
            schedule(l, l->sent + period_s(l) - leader__now());
    }
    (void)leave(l);
}

static void on_until(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct leader *l = w->data;

    (void)loop;
    (void)revents;
    enter(l);
    if (l->leading)
        notify(l, false, "the lease was not renewed in time");
    (void)leave(l);
}

/* ---- Stopping ------------------------------------------------------------------------- */

static void on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct leader *l = w->data;

    (void)loop;
    (void)revents;
    enter(l);
    l->stopping = false;
    if (l->done)
        l->done(l, l->stop_err, l->done_data);
    (void)leave(l);
}

static void stopped(struct leader *l, int err)
{
    l->stop_err = err;
    ev_timer_stop(l->loop, &l->later);
    ev_timer_set(&l->later, 0., 0.);
    ev_timer_start(l->loop, &l->later);
}

void leader__released(struct leader *l, int rc, const char *why)
{
    enter(l);
    l->held = false;
    if (rc < 0)
        kwq_log(KWQ_LOG_WARN, "cannot release the lease; it will expire",
                KWQ_LS("backend", l->be->name), KWQ_LS("lease", l->name),
                KWQ_LS("err", why ? why : kwq_strerror(rc)));
    stopped(l, rc < 0 ? rc : 0);
    (void)leave(l);
}

/* Release what the last answer said we hold; report through stopped. */
static void release_now(struct leader *l)
{
    const char *why = NULL;
    int rc;

    if (!l->held) {
        stopped(l, 0);
        return;
    }
    rc = l->be->release(l, &why);
    if (rc)
        leader__released(l, rc, why);
}

void leader_stop(struct leader *l, leader_stopped_cb *done, void *data)
{
    l->done = done;
    l->done_data = data;
    if (l->stopping)
        return; /* the stop under way reports to the latest done */
    l->running = false;
    l->stopping = true;
    ev_timer_stop(l->loop, &l->tick);
    enter(l);
    if (l->leading)
        notify(l, false, "stopping");
    if (!l->freeing && !l->call)
        release_now(l); /* else when the attempt in flight answers */
    (void)leave(l);
}

/* ---- Lifetime, accessors --------------------------------------------------------------- */

static bool opts_ok(const struct leader_opts *o, uint64_t lease_ms)
{
    struct kwq_error e = {0};

    if (!kwq_leader_check(o->name, o->identity ? o->identity : "", &e) &&
        (lease_ms < LEASE_MIN_MS || lease_ms > LEASE_MAX_MS))
        (void)kwq_error_set(&e, KWQ_EINVAL, "the lease must be from 1 s to 1 h, got %llu ms",
                            (unsigned long long)lease_ms);
    if (e.code)
        kwq_log(KWQ_LOG_ERROR, "bad leader election options", KWQ_LS("err", e.msg));
    return e.code == 0;
}

struct leader *leader__new(struct ev_loop *loop, const struct leader_backend *be,
                           const struct leader_opts *o, leader_change_cb *cb, void *data)
{
    uint64_t lease_ms = o->lease_ms ? o->lease_ms : LEASE_DEFAULT_MS;
    struct leader *l;

    if (!opts_ok(o, lease_ms)) {
        errno = EINVAL;
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->loop = loop;
    l->be = be;
    l->lease_ms = lease_ms;
    l->cb = cb;
    l->data = data;
    l->name = strdup(o->name);
    l->identity = strdup(o->identity);
    ev_timer_init(&l->tick, on_tick, 0., 0.);
    ev_timer_init(&l->until, on_until, 0., 0.);
    ev_timer_init(&l->later, on_later, 0., 0.);
    l->tick.data = l->until.data = l->later.data = l;
    if (!l->name || !l->identity) {
        l->be = NULL;
        destroy(l);
        errno = ENOMEM;
        return NULL;
    }
    return l;
}

void leader_start(struct leader *l)
{
    if (l->running || l->stopping)
        return;
    l->running = true;
    schedule(l, 0.);
}

void leader_free(struct leader *l)
{
    if (!l)
        return;
    if (l->depth > 0) {
        l->freeing = true;
        return;
    }
    destroy(l);
}

struct leader_call *leader__call_begin(struct leader *l)
{
    struct leader_call *c = malloc(sizeof(*c));

    if (c) {
        c->l = l;
        l->call = c;
    }
    return c;
}

struct leader *leader__call_peek(struct leader_call *c)
{
    if (c->l)
        return c->l;
    free(c);
    return NULL;
}

void leader__call_finish(struct leader_call *c)
{
    if (c->l && c->l->call == c)
        c->l->call = NULL;
    free(c);
}

bool leader_is_leader(const struct leader *l)
{
    return l->leading;
}

uint64_t leader_term(const struct leader *l)
{
    return l->term;
}

const char *leader_holder(const struct leader *l)
{
    return l->holder;
}

const char *leader_backend_name(const struct leader *l)
{
    return l->be->name;
}
