/*
 * test_cli_scaler.c - the one scaler (submitter/scaler.h): its decision as a
 * table, and its libev driver against a private redis-server with a
 * recording backend (a test double of the backend, never of Redis) that
 * keeps every setpoint it is asked for. No timed assertions: each test
 * runs the loop until the event it waits for, within a generous bound.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <ev.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/util.h"

#include "redis_fixture.h"
#include "scaler.h"
#include "test_proc.h"
#include "test_proto_support.h"

/* ---- The decision ---------------------------------------------------------------------- */

struct decide_case {
    char what[32]; /* a copy, not a pointer: the parameters cross into the test process */
    uint64_t pending, leased;
    bool drained;
    uint32_t busy, setpoint;
    bool frozen;
    uint64_t hold_ms, since_ms, now_ms; /* the hold before, and the time of the call */
    enum scaler_verdict verdict;
    uint32_t want;        /* setpoint in the decision */
    uint64_t since_after; /* the hold after */
    uint64_t hold_end_ms; /* for SCALER_HOLD */
};

ParameterizedTestParameters(decide, table)
{
    /* rule: min 0, max 8, 10 tasks per worker */
    static struct decide_case cases[] = {
        {"raise from none", 40, 0, false, 0, 0, false, 0, 0, 1000, SCALER_APPLY, 4, 0, 0},
        {"raise counts leased", 15, 16, false, 0, 2, false, 0, 0, 1000, SCALER_APPLY, 4, 0, 0},
        {"raise capped at max", 1000, 0, false, 0, 2, false, 0, 0, 1000, SCALER_APPLY, 8, 0, 0},
        {"raise at once in a hold", 80, 0, false, 0, 4, false, 500, 900, 1000, SCALER_APPLY, 8, 0,
         0},
        {"keep", 31, 9, false, 2, 4, false, 0, 0, 1000, SCALER_KEEP, 4, 0, 0},
        {"lower, none busy", 0, 10, false, 0, 4, false, 0, 0, 1000, SCALER_APPLY, 1, 0, 0},
        {"lower to zero", 0, 0, false, 0, 3, false, 0, 0, 1000, SCALER_APPLY, 0, 0, 0},
        {"lower stops at busy", 0, 10, false, 3, 4, false, 0, 0, 1000, SCALER_APPLY, 3, 0, 0},
        {"all busy: keep", 0, 4, false, 4, 4, false, 500, 900, 1000, SCALER_KEEP, 4, 0, 0},
        {"busy over setpoint: keep", 0, 4, false, 6, 4, false, 0, 0, 1000, SCALER_KEEP, 4, 0, 0},
        {"frozen: no raise", 80, 0, false, 0, 2, true, 0, 0, 1000, SCALER_FROZEN, 2, 0, 0},
        {"frozen: no lower", 0, 0, false, 0, 5, true, 500, 900, 1000, SCALER_FROZEN, 5, 0, 0},
        {"drained: done", 0, 0, true, 0, 3, false, 0, 0, 1000, SCALER_DONE, 3, 0, 0},
        {"drained and frozen: done", 0, 0, true, 0, 3, true, 0, 0, 1000, SCALER_DONE, 3, 0, 0},
        {"hold begins", 0, 10, false, 0, 4, false, 500, 0, 1000, SCALER_HOLD, 4, 1000, 1500},
        {"hold goes on", 0, 10, false, 0, 4, false, 500, 1000, 1499, SCALER_HOLD, 4, 1000, 1500},
        {"hold over: lower", 0, 10, false, 0, 4, false, 500, 1000, 1500, SCALER_APPLY, 1, 0, 0},
        {"hold over, busy", 0, 10, false, 2, 4, false, 500, 1000, 1600, SCALER_APPLY, 2, 0, 0},
    };
    return cr_make_param_array(struct decide_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct decide_case *c, decide, table)
{
    struct kwq_scale_rule r = {.min = 0, .max = 8, .tasks_per_worker = 10};
    struct scaler_obs o = {
        .pending = c->pending,
        .leased = c->leased,
        .drained = c->drained,
        .workers = {
            .running = c->setpoint, .busy = c->busy, .setpoint = c->setpoint, .frozen = c->frozen}};
    struct scaler_hold h = {.since_ms = c->since_ms};
    struct scaler_decision d = scaler_decide(&r, &o, &h, c->hold_ms, c->now_ms);

    cr_assert_eq(d.verdict, c->verdict, "%s: verdict %s, expected %s", c->what,
                 scaler_verdict_name(d.verdict), scaler_verdict_name(c->verdict));
    cr_assert_eq(d.setpoint, c->want, "%s: setpoint %u, expected %u", c->what, d.setpoint, c->want);
    cr_assert_eq(h.since_ms, c->since_after, "%s: hold since %llu, expected %llu", c->what,
                 (unsigned long long)h.since_ms, (unsigned long long)c->since_after);
    if (c->verdict == SCALER_HOLD)
        cr_assert_eq(d.hold_end_ms, c->hold_end_ms, "%s", c->what);
}

Test(decide, a_dip_shorter_than_the_hold_lowers_nothing)
{
    struct kwq_scale_rule r = {.min = 1, .max = 8, .tasks_per_worker = 10};
    struct scaler_obs o = {.pending = 0, .leased = 5, .workers = {4, 0, 4, false}};
    struct scaler_hold h = {0};

    cr_assert_eq(scaler_decide(&r, &o, &h, 500, 100).verdict, SCALER_HOLD);
    o.pending = 35; /* the backlog is back before the hold ends */
    cr_assert_eq(scaler_decide(&r, &o, &h, 500, 400).verdict, SCALER_KEEP);
    o.pending = 0; /* a new dip: its hold starts again */
    cr_assert_eq(scaler_decide(&r, &o, &h, 500, 700).verdict, SCALER_HOLD);
    cr_assert_eq(scaler_decide(&r, &o, &h, 500, 1100).verdict, SCALER_HOLD);
    cr_assert_eq(scaler_decide(&r, &o, &h, 500, 1200).setpoint, 1);
}

/* ---- The driver, with a recording backend ---------------------------------------------------- */

#define QUEUE     "scq"
#define MAX_CALLS 64
#define BOUND_MS  30000 /* generous: the machine is shared */

/* The recording backend: one entry per apply. */
struct rec {
    struct scaler_workers w; /* what observe reports; an accepted apply sets setpoint/running */
    uint32_t setpoint[MAX_CALLS];
    uint32_t busy_at[MAX_CALLS]; /* busy when the apply came */
    int rc[MAX_CALLS];
    size_t n;
    int fail_apply;       /* error for the next apply, then 0 */
    bool later;           /* complete from the loop (as an HTTP request), not inside the call */
    bool manual;          /* complete an apply only when the test calls rec_finish */
    struct ev_loop *loop; /* for later */
    ev_timer t;           /* for later */
    scaler_apply_done *apply_done;
    scaler_observe_done *observe_done;
    void *arg;
    int err; /* the error of the call being completed later */
};

struct fix {
    struct ev_loop *loop;
    struct kwq_client *c;
    struct scaler *s;
    struct rec rec;
    uint64_t steps_frozen; /* decisions that said frozen */
    uint64_t retries;      /* on_retry calls */
    bool ended;
    enum scaler_end why;
    struct kwq_error end_err;
};

static void rec_finish(struct rec *r)
{
    struct kwq_error err = {.code = r->err};

    if (err.code)
        (void)snprintf(err.msg, sizeof(err.msg), "the test backend failed: %s",
                       kwq_strerror(err.code));
    if (r->apply_done) {
        scaler_apply_done *done = r->apply_done;
        r->apply_done = NULL;
        done(r->arg, &err);
    } else if (r->observe_done) {
        scaler_observe_done *done = r->observe_done;
        r->observe_done = NULL;
        done(r->arg, err.code ? NULL : &r->w, &err);
    }
}

static void rec_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    rec_finish(w->data);
}

static void rec_complete(struct rec *r)
{
    if (!r->later) {
        rec_finish(r);
        return;
    }
    ev_timer_set(&r->t, 0.001, 0.);
    ev_timer_start(r->loop, &r->t);
}

static void rec_observe(void *ctx, scaler_observe_done *done, void *arg)
{
    struct rec *r = ctx;

    r->observe_done = done;
    r->arg = arg;
    r->err = 0;
    rec_complete(r);
}

static void rec_apply(void *ctx, uint32_t setpoint, scaler_apply_done *done, void *arg)
{
    struct rec *r = ctx;

    cr_assert_lt(r->n, MAX_CALLS);
    r->setpoint[r->n] = setpoint;
    r->busy_at[r->n] = r->w.busy;
    r->err = r->fail_apply;
    r->rc[r->n++] = r->fail_apply;
    r->fail_apply = 0;
    if (!r->err)
        r->w.setpoint = r->w.running = setpoint;
    r->apply_done = done;
    r->arg = arg;
    if (!r->manual)
        rec_complete(r);
}

static void on_step(void *arg, const struct scaler_obs *o, const struct scaler_decision *d)
{
    struct fix *f = arg;

    (void)o;
    if (d->verdict == SCALER_FROZEN)
        f->steps_frozen++;
}

static void on_retry(void *arg, const struct kwq_error *err)
{
    struct fix *f = arg;

    (void)err;
    f->retries++;
}

static void on_end(void *arg, enum scaler_end why, const struct kwq_error *err)
{
    struct fix *f = arg;

    f->ended = true;
    f->why = why;
    f->end_err = *err;
}

/* Run the loop until cond holds; fail after BOUND_MS. */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        uint64_t end_ = kwq_monotonic_ms() + BOUND_MS;                                             \
        while (!(cond) && kwq_monotonic_ms() < end_)                                               \
            ev_run((f)->loop, EVRUN_ONCE);                                                         \
        cr_assert(cond, "waited %d ms for: %s", BOUND_MS, #cond);                                  \
    } while (0)

static struct fix fx;

static void fix_setup(void)
{
    redis_setup();
    memset(&fx, 0, sizeof(fx));
    fx.loop = ev_default_loop(0);
    fx.c = test_client();
    fx.rec.loop = fx.loop;
    ev_timer_init(&fx.rec.t, rec_timer, 0., 0.);
    fx.rec.t.data = &fx.rec;
}

static void fix_teardown(void)
{
    scaler_free(fx.s);
    kwq_client_free(fx.c);
    redis_teardown();
}

TestSuite(scaler, .init = fix_setup, .fini = fix_teardown, .timeout = 120);

static void start_cfg(uint64_t retry_ms, bool catch_signals, bool once, uint64_t wait_ms)
{
    struct scaler_cfg cfg = {.queue = QUEUE,
                             .rule = {.min = 0, .max = 8, .tasks_per_worker = 10},
                             .backend = {.name = "test backend",
                                         .ctx = &fx.rec,
                                         .observe = rec_observe,
                                         .apply = rec_apply},
                             .hold_ms = 300,
                             .retry_ms = retry_ms,
                             .catch_signals = catch_signals,
                             .once = once,
                             .wait_ms = wait_ms,
                             .on_step = on_step,
                             .on_retry = on_retry,
                             .on_end = on_end,
                             .arg = &fx};
    struct kwq_error err = {0};

    kwq_client_opts_init(&cfg.redis);
    cfg.redis.url = test_redis.url;
    cr_assert_eq(scaler_start(fx.loop, &cfg, &fx.s, &err), 0, "%s", err.msg);
}

static void start(uint64_t retry_ms, bool catch_signals)
{
    start_cfg(retry_ms, catch_signals, false, 0);
}

static void enqueue(size_t n)
{
    struct kwq_new_task t[100];

    cr_assert_leq(n, 100);
    for (size_t i = 0; i < n; i++)
        t[i] = (struct kwq_new_task){.payload = "x", .payload_len = 1};
    cr_assert_eq(kwq_enqueue(fx.c, QUEUE, t, n, NULL, NULL), 0, "%s", kwq_client_errstr(fx.c));
}

/* Lease n tasks (all there are), then ack them or not. */
static void lease(size_t n, struct kwq_lease_result *lr)
{
    cr_assert_eq(kwq_lease(fx.c, QUEUE, n, 60000, 0, lr), (int)n, "%s", kwq_client_errstr(fx.c));
}

static void ack_all(struct kwq_lease_result *lr)
{
    struct kwq_ack acks[100];
    int st[100];

    for (size_t i = 0; i < lr->n; i++)
        acks[i] = (struct kwq_ack){.id = lr->tasks[i].id, .token = lr->tasks[i].token};
    cr_assert_eq(kwq_ack(fx.c, QUEUE, acks, lr->n, st), 0, "%s", kwq_client_errstr(fx.c));
    kwq_lease_result_done(lr);
}

static long long wake_tokens(void)
{
    redisContext *r = tp_redis();
    long long n = tp_key_len(r, "LLEN", QUEUE, "wake");

    redisFree(r);
    return n;
}

Test(scaler, follows_the_queue_and_never_lowers_below_busy)
{
    struct kwq_lease_result lr = {0};

    enqueue(40);
    start(10000, false);
    RUN_UNTIL(&fx, fx.rec.n >= 1);
    cr_assert_eq(fx.rec.setpoint[0], 4, "40 tasks, 10 per worker: asked for %u",
                 fx.rec.setpoint[0]);

    /* 30 of them held by 3 busy workers: the backlog is the same, nothing changes. */
    lease(30, &lr);
    fx.rec.w.busy = 3;
    /* Done: the backlog (10 pending) asks for 1, but 3 workers are busy. */
    ack_all(&lr);
    RUN_UNTIL(&fx, fx.rec.n >= 2);
    cr_assert_eq(fx.rec.setpoint[1], 3, "lowered to %u with 3 busy", fx.rec.setpoint[1]);
    fx.rec.w.busy = 0; /* they went idle: now down to the target */
    RUN_UNTIL(&fx, fx.rec.n >= 3);
    cr_assert_eq(fx.rec.setpoint[2], 1);

    /* Sealed: the last 10 leased and acked drain the queue; the scaler ends. */
    cr_assert_eq(kwq_seal(fx.c, QUEUE), 0);
    lease(10, &lr);
    ack_all(&lr);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_DRAINED);
    cr_assert_eq(fx.end_err.code, 0);
    cr_assert_eq(fx.rec.n, 3, "applies after 4, 3, 1: %zu", fx.rec.n);
    for (size_t i = 0; i < fx.rec.n; i++) {
        cr_assert_geq(fx.rec.setpoint[i], fx.rec.busy_at[i], "apply %zu went below busy", i);
        cr_assert_eq(fx.rec.rc[i], 0);
    }
    cr_assert_eq(scaler_applied(fx.s), 1);
}

Test(scaler, a_transient_apply_failure_is_retried)
{
    fx.rec.later = true; /* as an HTTP PATCH: done comes from the loop */
    fx.rec.fail_apply = KWQ_ECONN;
    enqueue(25);
    start(10000, false);
    RUN_UNTIL(&fx, fx.rec.n >= 2 && scaler_applied(fx.s) >= 0);
    cr_assert_eq(fx.rec.setpoint[0], 3);
    cr_assert_eq(fx.rec.rc[0], KWQ_ECONN);
    cr_assert_eq(fx.rec.setpoint[1], 3);
    cr_assert_eq(fx.rec.rc[1], 0);
    cr_assert_eq(fx.retries, 1);
    cr_assert_eq(scaler_applied(fx.s), 3);
    cr_assert(!fx.ended);
}

Test(scaler, a_permanent_apply_failure_ends_it)
{
    fx.rec.fail_apply = KWQ_ENOPERM;
    enqueue(5);
    start(10000, false);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_ERROR);
    cr_assert_eq(fx.end_err.code, KWQ_ENOPERM);
    cr_assert_str_eq(fx.end_err.msg, "test backend: the test backend failed: "
                                     "the Redis user lacks a permission kwq needs");
    cr_assert_eq(fx.rec.n, 1);
    cr_assert_eq(fx.retries, 0);
    cr_assert_eq(scaler_applied(fx.s), -1);
}

Test(scaler, a_frozen_backend_is_never_changed)
{
    fx.rec.w = (struct scaler_workers){.running = 2, .setpoint = 2, .frozen = true};
    enqueue(80);
    start(10000, false);
    RUN_UNTIL(&fx, fx.steps_frozen >= 3);
    cr_assert_eq(fx.rec.n, 0);
    cr_assert_eq(fx.rec.w.setpoint, 2);
}

Test(scaler, gives_the_wake_token_back_to_the_workers)
{
    enqueue(5);
    cr_assert_eq(wake_tokens(), 1);
    start(10000, false);
    RUN_UNTIL(&fx, fx.rec.n >= 1 && scaler_steps(fx.s) >= 3); /* it has waited and woken since */
    scaler_stop(fx.s);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_STOPPED);
    cr_assert_eq(wake_tokens(), 1, "the workers' wake token was kept by the scaler");
}

Test(scaler, sigterm_stops_it)
{
    enqueue(5);
    start(10000, true);
    RUN_UNTIL(&fx, fx.rec.n >= 1);
    cr_assert_eq(raise(SIGTERM), 0);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_SIGNAL);
}

Test(scaler, rides_out_a_redis_outage)
{
    enqueue(20);
    start(60000, false);
    RUN_UNTIL(&fx, fx.rec.n >= 1);
    cr_assert_eq(fx.rec.setpoint[0], 2);
    kwq_client_free(fx.c);
    fx.c = NULL;
    redis_fixture_kill(&test_redis);
    RUN_UNTIL(&fx, fx.retries >= 2);
    redis_fixture_restart(&test_redis); /* empty: no persistence */
    fx.c = test_client();
    enqueue(70);
    RUN_UNTIL(&fx, fx.rec.n >= 2 && fx.rec.setpoint[fx.rec.n - 1] == 7);
    cr_assert(!fx.ended);
}

Test(scaler, an_outage_longer_than_the_bound_ends_it)
{
    enqueue(20);
    start(500, false);
    RUN_UNTIL(&fx, fx.rec.n >= 1);
    redis_fixture_kill(&test_redis);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_ERROR);
    cr_assert(kwq_err_is_transient(fx.end_err.code), "%s", fx.end_err.msg);
}

Test(scaler, once_takes_one_step_and_leaves_the_wake_token)
{
    fx.rec.later = true;
    fx.rec.fail_apply = KWQ_ETIMEOUT; /* retried within the one step */
    enqueue(40);
    start_cfg(10000, false, true, 0);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_ONCE);
    cr_assert_eq(fx.rec.n, 2);
    cr_assert_eq(fx.rec.rc[0], KWQ_ETIMEOUT);
    cr_assert_eq(fx.rec.setpoint[1], 4);
    cr_assert_eq(fx.rec.rc[1], 0);
    cr_assert_eq(scaler_applied(fx.s), 4);
    cr_assert_eq(wake_tokens(), 1);
}

Test(scaler, a_jump_in_depth_wakes_it_before_its_wait_ends)
{
    start_cfg(10000, false, false,
              600000); /* waits of 10 minutes: only a wake-up explains a step */
    RUN_UNTIL(&fx, scaler_steps(fx.s) >= 1);
    cr_assert_eq(fx.rec.n, 0); /* empty queue, min 0: nothing to apply */
    enqueue(30);
    RUN_UNTIL(&fx, fx.rec.n >= 1);
    cr_assert_eq(fx.rec.setpoint[0], 3);
    cr_assert_eq(scaler_steps(fx.s), 2);
}

Test(scaler, a_stop_waits_for_the_apply_in_flight)
{
    fx.rec.manual = true;
    enqueue(40);
    start(10000, false);
    RUN_UNTIL(&fx, fx.rec.n >= 1);
    scaler_stop(fx.s);
    for (int i = 0; i < 20; i++)
        ev_run(fx.loop, EVRUN_NOWAIT);
    cr_assert(!fx.ended, "ended with an apply in flight");
    fx.rec.manual = false;
    rec_finish(&fx.rec);
    RUN_UNTIL(&fx, fx.ended);
    cr_assert_eq(fx.why, SCALER_END_STOPPED);
    cr_assert_eq(scaler_applied(fx.s), 4);
    cr_assert_eq(fx.rec.n, 1);
}
