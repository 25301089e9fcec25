/*
 * test_leader_elect.c - the election of broker/leader.h on its Redis
 * backend: two brokers (two struct leader on two non-blocking clients) in
 * one libev loop against a private redis-server. Exactly one leads; a broker
 * that vanishes (freed without a stop, as SIGKILL leaves it) or loses Redis
 * steps down before the other takes over, which it does once the lease has
 * expired on the server; a stop steps down at once and releases, so the
 * other leads before the lease would have expired. Also the non-blocking
 * lease calls of kwq/leader.h themselves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/redirect.h>
#include <ev.h>

#include "kwq/async.h"
#include "kwq/leader.h"

#include "leader.h"
#include "test_proto_support.h"

#define NAME     "kwq-broker"
#define LEASE_MS 3000

TestSuite(elect, .init = redis_setup, .fini = redis_teardown, .timeout = 90);

static struct ev_loop *loop;

/* One broker: its client, its leader, and what its callback saw. */
struct broker {
    const char *id;
    struct kwq_async *a;
    struct leader *l;
    bool leading;
    uint64_t term;
    int changes; /* callbacks */
    int order;   /* the event number of its last callback */
};

static struct broker A = {.id = "broker-a"}, B = {.id = "broker-b"};
static int events;

/* ---- The loop -------------------------------------------------------------------------- */

static void on_guard(struct ev_loop *lp, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(lp, EVBREAK_ONE);
}

/* Run the loop until cond() or for at most guard_s (a hang guard, not a speed check). */
static bool run_until(bool (*cond)(void), double guard_s)
{
    bool expired = false;
    ev_timer guard;

    ev_timer_init(&guard, on_guard, guard_s, 0.);
    guard.data = &expired;
    ev_timer_start(loop, &guard);
    while ((!cond || !cond()) && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &guard);
    return cond && cond();
}

static void on_connected(struct kwq_async *a, int rc, void *data)
{
    (void)a;
    *(int *)data = rc;
}

static struct kwq_async *connect_client(void)
{
    struct kwq_client_opts o;
    struct kwq_async *a;
    int rc = 1;

    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    a = kwq_async_new(loop, &o);
    cr_assert(a != NULL);
    cr_assert(eq(int, kwq_async_connect(a, on_connected, &rc), 0));
    while (rc == 1)
        ev_run(loop, EVRUN_ONCE);
    cr_assert(eq(int, rc, 0), "%s", kwq_async_errstr(a));
    return a;
}

/* ---- Brokers --------------------------------------------------------------------------- */

static void on_change(struct leader *l, bool leading, uint64_t term, void *data)
{
    struct broker *b = data, *other = b == &A ? &B : &A;

    cr_assert(eq(int, leader_is_leader(l), leading));
    cr_assert(eq(u64, leader_term(l), term));
    b->leading = leading;
    b->term = term;
    b->changes++;
    b->order = ++events;
    /* Never two leaders: the other stepped down before this one took over. */
    if (leading)
        cr_assert(not(other->leading), "%s leads while %s does", b->id, other->id);
}

static void broker_start(struct broker *b)
{
    struct leader_opts o = {.name = NAME, .identity = b->id, .lease_ms = LEASE_MS};

    b->a = connect_client();
    b->l = leader_new_redis(loop, b->a, &o, on_change, b);
    cr_assert(b->l != NULL);
    tp_assert_str_eq(leader_backend_name(b->l), "redis");
    leader_start(b->l);
}

static void broker_free(struct broker *b)
{
    leader_free(b->l);
    kwq_async_free(b->a);
    b->l = NULL;
    b->a = NULL;
}

static bool a_leads(void)
{
    return A.leading;
}

static bool b_leads(void)
{
    return B.leading;
}

/* The lease as Redis has it now. */
static struct kwq_leader_state lease_now(void)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state st;

    cr_assert(eq(int, kwq_leader_read(c, NAME, &st), 0), "%s", kwq_client_errstr(c));
    kwq_client_free(c);
    return st;
}

/* A leads (started first), B campaigns; returns the lease as A holds it. */
static struct kwq_leader_state a_leads_b_waits(void)
{
    struct kwq_leader_state st;

    loop = ev_default_loop(EVFLAG_AUTO);
    broker_start(&A);
    cr_assert(run_until(a_leads, 20), "a never led");
    broker_start(&B);
    st = lease_now();
    tp_assert_str_eq(st.holder, "broker-a");
    cr_assert(eq(u64, st.term, A.term));
    return st;
}

/* ---- Tests ----------------------------------------------------------------------------- */

Test(elect, of_two_brokers_exactly_one_leads_and_keeps_its_term)
{
    struct kwq_leader_state st = a_leads_b_waits();

    /* Several renew periods: a keeps leading in the same term, b never leads. */
    (void)run_until(NULL, 3.5 * LEASE_MS / 3000.0);
    cr_assert(A.leading);
    cr_assert(eq(int, A.changes, 1));
    cr_assert(eq(int, B.changes, 0));
    cr_assert(not(leader_is_leader(B.l)));
    tp_assert_str_eq(leader_holder(B.l), "broker-a");
    cr_assert(eq(u64, leader_term(B.l), st.term));
    tp_assert_str_eq(lease_now().holder, "broker-a");
    cr_assert(eq(u64, lease_now().term, st.term));
    cr_assert(gt(i64, lease_now().expires_ms, st.expires_ms)); /* renewed */
    broker_free(&A);
    broker_free(&B);
}

/* What a takeover shows: the server time it happened, from the lease as the new holder took it. */
static int64_t taken_at(void)
{
    struct kwq_leader_state st = lease_now();

    tp_assert_str_eq(st.holder, "broker-b");
    return st.expires_ms - LEASE_MS;
}

/* a vanishes without a stop (as SIGKILL leaves it): b takes over once the lease expired. */
Test(elect, a_broker_gone_without_stop_is_replaced_after_its_lease)
{
    struct kwq_leader_state st = a_leads_b_waits(), last;

    broker_free(&A); /* no release: the lease in Redis runs out */
    A.leading = false;
    last = lease_now();
    tp_assert_str_eq(last.holder, "broker-a");
    cr_assert(run_until(b_leads, 3.0 * LEASE_MS / 1000.0), "b never led");
    cr_assert(eq(u64, B.term, st.term + 1));
    cr_assert(ge(i64, taken_at(), last.expires_ms)); /* not before a's lease ended */
    broker_free(&B);
}

/* a loses Redis: it steps down by its own deadline, before b can take over. */
Test(elect, a_broker_that_loses_redis_steps_down_before_the_other_leads)
{
    struct kwq_leader_state st = a_leads_b_waits();
    struct kwq_leader_state last;

    kwq_async_disconnect(A.a);
    last = lease_now();
    tp_assert_str_eq(last.holder, "broker-a");
    cr_assert(run_until(b_leads, 3.0 * LEASE_MS / 1000.0), "b never led");
    cr_assert(not(A.leading));
    cr_assert(eq(int, A.changes, 2));
    cr_assert(lt(int, A.order, B.order)); /* a stepped down first */
    cr_assert(eq(u64, B.term, st.term + 1));
    cr_assert(ge(i64, taken_at(), last.expires_ms));
    broker_free(&A);
    broker_free(&B);
}

static int stopped_err = 1;

static void on_stopped(struct leader *l, int err, void *data)
{
    (void)l;
    (void)data;
    stopped_err = err;
}

static bool stop_done(void)
{
    return stopped_err != 1;
}

/* A stop steps down at once and releases: b leads before a's lease would have ended. */
Test(elect, a_stopped_leader_steps_down_at_once_and_the_other_takes_over_early)
{
    struct kwq_leader_state st = a_leads_b_waits(), now;

    /* Let a renew, so its lease reaches a full LEASE_MS past the stop. */
    (void)run_until(NULL, 1.5 * LEASE_MS / 3000.0);
    now = lease_now();
    leader_stop(A.l, on_stopped, NULL);
    cr_assert(not(A.leading)); /* at once, from inside leader_stop */
    cr_assert(not(leader_is_leader(A.l)));
    cr_assert(eq(int, A.changes, 2));
    cr_assert(eq(int, stopped_err, 1)); /* done runs from the loop */
    cr_assert(run_until(stop_done, 10), "the stop never finished");
    cr_assert(eq(int, stopped_err, 0));
    cr_assert(run_until(b_leads, 3.0 * LEASE_MS / 1000.0), "b never led");
    cr_assert(eq(u64, B.term, st.term + 1));
    cr_assert(lt(i64, taken_at(), now.expires_ms)); /* before a's lease would have ended */
    cr_assert(eq(int, A.changes, 2));               /* a stays down */
    broker_free(&A);
    broker_free(&B);
}

/* A stop of a broker that does not lead calls no change callback; done still runs once. */
Test(elect, stopping_a_follower_only_reports_done)
{
    (void)a_leads_b_waits();
    (void)run_until(NULL, 0.5);
    leader_stop(B.l, on_stopped, NULL);
    cr_assert(run_until(stop_done, 10));
    cr_assert(eq(int, stopped_err, 0));
    cr_assert(eq(int, B.changes, 0));
    tp_assert_str_eq(lease_now().holder, "broker-a");
    broker_free(&A);
    broker_free(&B);
}

Test(elect, bad_options_make_no_leader)
{
    struct leader_opts bad_name = {.name = "a b", .identity = "x", .lease_ms = LEASE_MS};
    struct leader_opts bad_id = {.name = NAME, .identity = "x y", .lease_ms = LEASE_MS};
    struct leader_opts short_lease = {.name = NAME, .identity = "x", .lease_ms = 999};
    struct leader_opts dflt = {.name = NAME, .identity = "x"};
    struct leader *l;

    loop = ev_default_loop(EVFLAG_AUTO);
    cr_redirect_stderr();
    cr_assert(eq(ptr, leader_new_redis(loop, NULL, &bad_name, NULL, NULL), NULL));
    cr_assert(eq(ptr, leader_new_redis(loop, NULL, &bad_id, NULL, NULL), NULL));
    cr_assert(eq(ptr, leader_new_redis(loop, NULL, &short_lease, NULL, NULL), NULL));
    l = leader_new_redis(loop, NULL, &dflt, NULL, NULL);
    cr_assert(l != NULL);
    cr_assert(not(leader_is_leader(l)));
    cr_assert(eq(u64, leader_term(l), 0));
    tp_assert_str_eq(leader_holder(l), "");
    leader_free(l);
}

/* ---- The non-blocking lease calls ------------------------------------------------------ */

struct got {
    int rc;
    struct kwq_leader_state st;
};

static void on_state(struct kwq_async *a, int rc, const struct kwq_leader_state *st, void *data)
{
    struct got *g = data;

    (void)a;
    cr_assert(rc < 0 ? st == NULL : st != NULL);
    g->rc = rc;
    if (st)
        g->st = *st;
}

static void on_count(struct kwq_async *a, int rc, void *data)
{
    (void)a;
    ((struct got *)data)->rc = rc;
}

static bool all_answered(void)
{
    return kwq_async_pending(A.a) == 0;
}

Test(elect, async_calls_answer_as_the_blocking_ones)
{
    struct got g[6];

    memset(g, 0x7f, sizeof(g));
    loop = ev_default_loop(EVFLAG_AUTO);
    A.a = connect_client();
    cr_assert(eq(int, kwq_async_leader_acquire(A.a, NAME, "a", 60000, on_state, &g[0]), 0));
    cr_assert(eq(int, kwq_async_leader_acquire(A.a, NAME, "b", 60000, on_state, &g[1]), 0));
    cr_assert(eq(int, kwq_async_leader_read(A.a, NAME, on_state, &g[2]), 0));
    cr_assert(run_until(all_answered, 10));
    cr_assert(eq(int, kwq_async_leader_release(A.a, NAME, "a", g[0].st.term, on_count, &g[3]), 0));
    cr_assert(eq(int, kwq_async_leader_release(A.a, NAME, "a", g[0].st.term, on_count, &g[4]), 0));
    cr_assert(eq(int, kwq_async_leader_acquire(A.a, NAME, "b", 60000, on_state, &g[5]), 0));
    cr_assert(run_until(all_answered, 10));

    cr_assert(eq(int, g[0].rc, 0));
    cr_assert(g[0].st.held_by_me);
    cr_assert(eq(u64, g[0].st.term, (uint64_t)g[0].st.server_time_ms * 1000 + 1));
    cr_assert(eq(int, g[1].rc, 0));
    cr_assert(not(g[1].st.held_by_me));
    tp_assert_str_eq(g[1].st.holder, "a");
    cr_assert(eq(int, g[2].rc, 0));
    tp_assert_str_eq(g[2].st.holder, "a");
    cr_assert(eq(u64, g[2].st.term, g[0].st.term));
    cr_assert(eq(int, g[3].rc, 1));
    cr_assert(eq(int, g[4].rc, 0));
    cr_assert(g[5].st.held_by_me);
    cr_assert(eq(u64, g[5].st.term, g[0].st.term + 1));

    /* Refused at the call, with the blocking call's line; no callback. */
    cr_assert(eq(int, kwq_async_leader_acquire(A.a, NAME, "h", 50, on_state, &g[0]), KWQ_EINVAL));
    tp_assert_str_eq(kwq_async_errstr(A.a),
                     "leader lease ttl must be from 100 ms to 3600000 ms (1 h), got 50 ms");
    cr_assert(eq(int, kwq_async_leader_release(A.a, NAME, "h", 0, on_count, &g[0]), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_leader_read(A.a, "x y", on_state, &g[0]), KWQ_EINVAL));
    cr_assert(eq(sz, kwq_async_pending(A.a), 0));
    /* Disconnected: KWQ_ECONN at once. */
    kwq_async_disconnect(A.a);
    cr_assert(eq(int, kwq_async_leader_read(A.a, NAME, on_state, &g[0]), KWQ_ECONN));
    kwq_async_free(A.a);
}
