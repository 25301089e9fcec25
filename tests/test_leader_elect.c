/*
 * test_leader_elect.c - the election of broker/leader.h on its Redis
 * backend: two brokers (two struct leader on two non-blocking clients) in
 * one libev lt_loop against a private redis-server. Exactly one leads; a broker
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
#include "test_leader_support.h"
#include "test_proto_support.h"

#define NAME     "kwq-broker"
#define LEASE_MS 3000

TestSuite(elect, .init = redis_setup, .fini = redis_teardown, .timeout = 90);

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
    a = kwq_async_new(lt_loop, &o);
    cr_assert(a != NULL);
    cr_assert(eq(int, kwq_async_connect(a, on_connected, &rc), 0));
    while (rc == 1)
        ev_run(lt_loop, EVRUN_ONCE);
    cr_assert(eq(int, rc, 0), "%s", kwq_async_errstr(a));
    return a;
}

/* ---- Brokers --------------------------------------------------------------------------- */

static void broker_start(struct lt_broker *b)
{
    struct leader_opts o = {.name = NAME, .identity = b->id, .lease_ms = LEASE_MS};

    if (!b->a)
        b->a = connect_client();
    b->l = leader_new_redis(lt_loop, b->a, &o, lt_on_change, b);
    cr_assert(b->l != NULL);
    tp_assert_str_eq(leader_backend_name(b->l), "redis");
    leader_start(b->l);
}

static void broker_free(struct lt_broker *b)
{
    leader_free(b->l);
    kwq_async_free(b->a);
    b->l = NULL;
    b->a = NULL;
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

    lt_loop = ev_default_loop(EVFLAG_AUTO);
    broker_start(&lt_a);
    cr_assert(lt_run_until(lt_a_leads, 20), "a never led");
    broker_start(&lt_b);
    st = lease_now();
    tp_assert_str_eq(st.holder, "broker-a");
    cr_assert(eq(u64, st.term, lt_a.term));
    return st;
}

/* ---- Tests ----------------------------------------------------------------------------- */

Test(elect, of_two_brokers_exactly_one_leads_and_keeps_its_term)
{
    struct kwq_leader_state st = a_leads_b_waits();

    /* Several renew periods: a keeps leading in the same term, b never leads. */
    (void)lt_run_until(NULL, 3.5 * LEASE_MS / 3000.0);
    cr_assert(lt_a.leading);
    cr_assert(eq(int, lt_a.changes, 1));
    cr_assert(eq(int, lt_b.changes, 0));
    cr_assert(not(leader_is_leader(lt_b.l)));
    tp_assert_str_eq(leader_holder(lt_b.l), "broker-a");
    cr_assert(eq(u64, leader_term(lt_b.l), st.term));
    tp_assert_str_eq(lease_now().holder, "broker-a");
    cr_assert(eq(u64, lease_now().term, st.term));
    cr_assert(gt(i64, lease_now().expires_ms, st.expires_ms)); /* renewed */
    broker_free(&lt_a);
    broker_free(&lt_b);
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

    broker_free(&lt_a); /* no release: the lease in Redis runs out */
    lt_a.leading = false;
    last = lease_now();
    tp_assert_str_eq(last.holder, "broker-a");
    cr_assert(lt_run_until(lt_b_leads, 3.0 * LEASE_MS / 1000.0), "b never led");
    cr_assert(eq(u64, lt_b.term, st.term + 1));
    cr_assert(ge(i64, taken_at(), last.expires_ms)); /* not before a's lease ended */
    broker_free(&lt_b);
}

/* a loses Redis: it steps down by its own deadline, before b can take over. */
Test(elect, a_broker_that_loses_redis_steps_down_before_the_other_leads)
{
    struct kwq_leader_state st = a_leads_b_waits();
    struct kwq_leader_state last;

    kwq_async_disconnect(lt_a.a);
    last = lease_now();
    tp_assert_str_eq(last.holder, "broker-a");
    cr_assert(lt_run_until(lt_b_leads, 3.0 * LEASE_MS / 1000.0), "b never led");
    cr_assert(not(lt_a.leading));
    cr_assert(eq(int, lt_a.changes, 2));
    cr_assert(lt(int, lt_a.order, lt_b.order)); /* a stepped down first */
    cr_assert(eq(u64, lt_b.term, st.term + 1));
    cr_assert(ge(i64, taken_at(), last.expires_ms));
    broker_free(&lt_a);
    broker_free(&lt_b);
}

/* A stop steps down at once and releases: b leads before a's lease would have ended. */
Test(elect, a_stopped_leader_steps_down_at_once_and_the_other_takes_over_early)
{
    struct kwq_leader_state st = a_leads_b_waits(), now;

    /* Let a renew, so its lease reaches a full LEASE_MS past the stop. */
    (void)lt_run_until(NULL, 1.5 * LEASE_MS / 3000.0);
    now = lease_now();
    leader_stop(lt_a.l, lt_on_stopped, NULL);
    cr_assert(not(lt_a.leading)); /* at once, from inside leader_stop */
    cr_assert(not(leader_is_leader(lt_a.l)));
    cr_assert(eq(int, lt_a.changes, 2));
    cr_assert(eq(int, lt_stopped_err, 1)); /* done runs from the lt_loop */
    cr_assert(lt_run_until(lt_stop_done, 10), "the stop never finished");
    cr_assert(eq(int, lt_stopped_err, 0));
    cr_assert(lt_run_until(lt_b_leads, 3.0 * LEASE_MS / 1000.0), "b never led");
    cr_assert(eq(u64, lt_b.term, st.term + 1));
    cr_assert(lt(i64, taken_at(), now.expires_ms)); /* before a's lease would have ended */
    cr_assert(eq(int, lt_a.changes, 2));            /* a stays down */
    broker_free(&lt_a);
    broker_free(&lt_b);
}

/* A stop of a broker that does not lead calls no change callback; done still runs once. */
Test(elect, stopping_a_follower_only_reports_done)
{
    (void)a_leads_b_waits();
    (void)lt_run_until(NULL, 0.5);
    leader_stop(lt_b.l, lt_on_stopped, NULL);
    cr_assert(lt_run_until(lt_stop_done, 10));
    cr_assert(eq(int, lt_stopped_err, 0));
    cr_assert(eq(int, lt_b.changes, 0));
    tp_assert_str_eq(lease_now().holder, "broker-a");
    broker_free(&lt_a);
    broker_free(&lt_b);
}

Test(elect, bad_options_make_no_leader)
{
    struct leader_opts bad_name = {.name = "a b", .identity = "x", .lease_ms = LEASE_MS};
    struct leader_opts bad_id = {.name = NAME, .identity = "x y", .lease_ms = LEASE_MS};
    struct leader_opts short_lease = {.name = NAME, .identity = "x", .lease_ms = 999};
    struct leader_opts dflt = {.name = NAME, .identity = "x"};
    struct leader *l;

    lt_loop = ev_default_loop(EVFLAG_AUTO);
    cr_redirect_stderr();
    cr_assert(eq(ptr, leader_new_redis(lt_loop, NULL, &bad_name, NULL, NULL), NULL));
    cr_assert(eq(ptr, leader_new_redis(lt_loop, NULL, &bad_id, NULL, NULL), NULL));
    cr_assert(eq(ptr, leader_new_redis(lt_loop, NULL, &short_lease, NULL, NULL), NULL));
    l = leader_new_redis(lt_loop, NULL, &dflt, NULL, NULL);
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
    return kwq_async_pending(lt_a.a) == 0;
}

Test(elect, async_calls_answer_as_the_blocking_ones)
{
    struct got g[6];

    memset(g, 0x7f, sizeof(g));
    lt_loop = ev_default_loop(EVFLAG_AUTO);
    lt_a.a = connect_client();
    cr_assert(eq(int, kwq_async_leader_acquire(lt_a.a, NAME, "a", 60000, on_state, &g[0]), 0));
    cr_assert(eq(int, kwq_async_leader_acquire(lt_a.a, NAME, "b", 60000, on_state, &g[1]), 0));
    cr_assert(eq(int, kwq_async_leader_read(lt_a.a, NAME, on_state, &g[2]), 0));
    cr_assert(lt_run_until(all_answered, 10));
    cr_assert(
        eq(int, kwq_async_leader_release(lt_a.a, NAME, "a", g[0].st.term, on_count, &g[3]), 0));
    cr_assert(
        eq(int, kwq_async_leader_release(lt_a.a, NAME, "a", g[0].st.term, on_count, &g[4]), 0));
    cr_assert(eq(int, kwq_async_leader_acquire(lt_a.a, NAME, "b", 60000, on_state, &g[5]), 0));
    cr_assert(lt_run_until(all_answered, 10));

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
    cr_assert(
        eq(int, kwq_async_leader_acquire(lt_a.a, NAME, "h", 50, on_state, &g[0]), KWQ_EINVAL));
    tp_assert_str_eq(kwq_async_errstr(lt_a.a),
                     "leader lease ttl must be from 100 ms to 3600000 ms (1 h), got 50 ms");
    cr_assert(eq(int, kwq_async_leader_release(lt_a.a, NAME, "h", 0, on_count, &g[0]), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_leader_read(lt_a.a, "x y", on_state, &g[0]), KWQ_EINVAL));
    cr_assert(eq(sz, kwq_async_pending(lt_a.a), 0));
    /* Disconnected: KWQ_ECONN at once. */
    kwq_async_disconnect(lt_a.a);
    cr_assert(eq(int, kwq_async_leader_read(lt_a.a, NAME, on_state, &g[0]), KWQ_ECONN));
    kwq_async_free(lt_a.a);
}

/* ---- A Redis that restarts under the leader ------------------------------------------------ */

static void aof_setup(void)
{
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, args);
}

TestSuite(elect_restart, .init = aof_setup, .fini = redis_teardown, .timeout = 90);

static uint64_t first_term;

static bool a_leads_in_a_new_term(void)
{
    return lt_a.leading && lt_a.term != first_term;
}

/*
 * Redis restarts (another run_id) while a leads: once a's client is back,
 * its renewal finds the fence jumped and a leads on in the new term (a
 * multiple of 10^9), announced by the change callback; the lease says so.
 */
Test(elect_restart, a_leader_gets_a_new_fenced_term_after_a_redis_restart)
{
    struct kwq_leader_state st;
    int rc = 1;

    lt_loop = ev_default_loop(EVFLAG_AUTO);
    broker_start(&lt_a);
    cr_assert(lt_run_until(lt_a_leads, 20), "a never led");
    first_term = lt_a.term;
    redis_fixture_kill(&test_redis);
    redis_fixture_restart(&test_redis);
    kwq_async_disconnect(lt_a.a); /* the caller owns the reconnects */
    cr_assert(eq(int, kwq_async_connect(lt_a.a, on_connected, &rc), 0));
    while (rc == 1)
        ev_run(lt_loop, EVRUN_ONCE);
    cr_assert(eq(int, rc, 0), "%s", kwq_async_errstr(lt_a.a));
    cr_assert(lt_run_until(a_leads_in_a_new_term, 3.0 * LEASE_MS / 1000.0), "no new term");
    cr_assert(gt(u64, lt_a.term, first_term));
    cr_assert(eq(u64, lt_a.term % 1000000000ULL, 0));
    st = lease_now();
    tp_assert_str_eq(st.holder, "broker-a");
    cr_assert(eq(u64, st.term, lt_a.term));
    cr_assert(eq(u64, leader_term(lt_a.l), lt_a.term));
    broker_free(&lt_a);
}

static bool an_attempt_in_flight(void)
{
    return kwq_async_pending(lt_a.a) > 0;
}

/*
 * A stop while the first acquire is in flight: the lease that acquire takes
 * is released, and the broker never reports leading (it stepped down before
 * the answer came).
 */
Test(elect, a_stop_during_an_attempt_releases_what_it_took_and_never_leads)
{
    struct kwq_leader_state st;

    lt_loop = ev_default_loop(EVFLAG_AUTO);
    broker_start(&lt_a);
    cr_assert(lt_run_until(an_attempt_in_flight, 10));
    leader_stop(lt_a.l, lt_on_stopped, NULL);
    cr_assert(lt_run_until(lt_stop_done, 10), "the stop never finished");
    cr_assert(eq(int, lt_stopped_err, 0));
    cr_assert(eq(int, lt_a.changes, 0));
    cr_assert(not(leader_is_leader(lt_a.l)));
    st = lease_now();
    tp_assert_str_eq(st.holder, "");
    cr_assert(eq(i64, st.expires_ms, 0));
    cr_assert(gt(u64, st.term, 0)); /* taken, then released */
    cr_assert(eq(u64, leader_term(lt_a.l), st.term));
    broker_free(&lt_a);
}

static bool someone_leads(void)
{
    return lt_a.leading || lt_b.leading;
}

/* Two brokers that start together: one wins the first term, the other follows it. */
Test(elect, two_brokers_started_together_elect_one)
{
    struct broker_pair {
        struct lt_broker *leader, *follower;
    } p;

    lt_loop = ev_default_loop(EVFLAG_AUTO);
    lt_a.a = connect_client(); /* both ready before either starts */
    lt_b.a = connect_client();
    broker_start(&lt_a);
    broker_start(&lt_b);
    cr_assert(lt_run_until(someone_leads, 20), "nobody led");
    (void)lt_run_until(NULL, 2.5 * LEASE_MS / 3000.0);
    p.leader = lt_a.leading ? &lt_a : &lt_b;
    p.follower = lt_a.leading ? &lt_b : &lt_a;
    cr_assert(p.leader->leading);
    cr_assert(eq(int, p.leader->changes, 1));
    cr_assert(eq(int, p.follower->changes, 0));
    tp_assert_str_eq(leader_holder(p.follower->l), p.leader->id);
    tp_assert_str_eq(lease_now().holder, p.leader->id);
    cr_assert(eq(u64, lease_now().term, p.leader->term));
    broker_free(&lt_a);
    broker_free(&lt_b);
}
