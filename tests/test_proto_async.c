/*
 * test_proto_async.c - the non-blocking client (kwq/async.h) on a libev loop
 * against a private redis-server: every operation answers as its synchronous
 * namesake does on the same state; calls answer in call order; a stopped,
 * killed or script-less Redis gives every outstanding call one clear
 * callback while the loop keeps running; the wait; callbacks that
 * disconnect; arguments freed right after the call.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ev.h>

#include "kwq/async.h"

#include "test_proto_support.h"

#define MAX_CALLS 64

/* What one callback got. */
struct got {
    int tag; /* the call's number, passed as its data */
    int rc;
    bool flag; /* drained, woken */
    size_t n;  /* statuses, outcomes or tasks */
    int st[8]; /* statuses */
    struct kwq_fail_outcome out[8];
    struct kwq_lease_result lease; /* tasks moved out of the library's result */
    struct kwq_stats stats;
    struct kwq_reap_result reap;
    char names[8][32];            /* queues_list: the first 8 names */
    struct kwq_dead_task dead[4]; /* dead_list: the first 4, last_error pointing into errs */
    char errs[4][64];
    struct kwq_task_info info; /* task_get: history_json and result not kept */
    char payload[32];          /* task_get: the payload, NUL-terminated */
    char err[KWQ_ERRSTR_LEN];
};

/* Every callback of a test, in the order they ran. */
static struct got calls[MAX_CALLS];
static size_t ncalls;

static struct got *record(struct kwq_async *a, int rc, void *data)
{
    struct got *g;

    cr_assert(lt(sz, ncalls, (size_t)MAX_CALLS));
    g = &calls[ncalls++];
    memset(g, 0, sizeof(*g));
    g->tag = (int)(intptr_t)data;
    g->rc = rc;
    (void)snprintf(g->err, sizeof(g->err), "%s", kwq_async_errstr(a));
    return g;
}

static void on_connect(struct kwq_async *a, int rc, void *data)
{
    record(a, rc, data);
}

static void on_status(struct kwq_async *a, int rc, const int *status, size_t n, void *data)
{
    struct got *g = record(a, rc, data);

    /* An ack refused for memory still says which items went in. */
    cr_assert(rc < 0 && rc != KWQ_EOOM ? status == NULL : status != NULL);
    g->n = n;
    for (size_t i = 0; status && i < n && i < 8; i++)
        g->st[i] = status[i];
}

static void on_fail(struct kwq_async *a, int rc, const struct kwq_fail_outcome *out, size_t n,
                    void *data)
{
    struct got *g = record(a, rc, data);

    g->n = n;
    for (size_t i = 0; out && i < n && i < 8; i++)
        g->out[i] = out[i];
}

static void on_flag(struct kwq_async *a, int rc, bool flag, void *data)
{
    record(a, rc, data)->flag = flag;
}

static void on_stats(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    struct got *g = record(a, rc, data);

    cr_assert(rc < 0 ? st == NULL : st != NULL);
    if (st)
        g->stats = *st;
}

static void on_reap(struct kwq_async *a, int rc, const struct kwq_reap_result *r, void *data)
{
    struct got *g = record(a, rc, data);

    cr_assert(rc < 0 ? r == NULL : r != NULL);
    if (r)
        g->reap = *r;
}

static void on_queues(struct kwq_async *a, int rc, char *const *names, size_t n, void *data)
{
    struct got *g = record(a, rc, data);

    cr_assert(rc < 0 ? names == NULL && n == 0 : names != NULL);
    g->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        (void)snprintf(g->names[i], sizeof(g->names[i]), "%s", names[i]);
}

static void on_dead(struct kwq_async *a, int rc, const struct kwq_dead_task *list, size_t n,
                    void *data)
{
    struct got *g = record(a, rc, data);

    cr_assert(rc < 0 ? list == NULL && n == 0 : true);
    g->n = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        g->dead[i] = list[i];
        (void)snprintf(g->errs[i], sizeof(g->errs[i]), "%s", list[i].last_error);
        g->dead[i].last_error = g->errs[i];
    }
}

static void on_count(struct kwq_async *a, int rc, void *data)
{
    record(a, rc, data);
}

static void on_task(struct kwq_async *a, int rc, const struct kwq_task_info *info, void *data)
{
    struct got *g = record(a, rc, data);

    cr_assert(rc < 0 ? info == NULL : info != NULL);
    if (!info)
        return;
    g->info = *info;
    g->info.task.payload = NULL;
    g->info.history_json = NULL;
    g->info.result = NULL;
    (void)snprintf(g->payload, sizeof(g->payload), "%.*s", (int)info->task.payload_len,
                   info->task.payload ? info->task.payload : "");
}

/* Takes every task out of the library's result (the documented way). */
static void on_lease(struct kwq_async *a, int rc, struct kwq_lease_result *r, void *data)
{
    struct got *g = record(a, rc, data);

    cr_assert(rc < 0 ? r == NULL : r != NULL);
    if (!r)
        return;
    g->lease = *r;
    g->lease.tasks = calloc(r->n ? r->n : 1, sizeof(*r->tasks));
    cr_assert(g->lease.tasks != NULL);
    for (size_t i = 0; i < r->n; i++) {
        g->lease.tasks[i] = r->tasks[i];
        memset(&r->tasks[i], 0, sizeof(r->tasks[i]));
    }
    g->n = r->n;
}

static void forget_calls(void)
{
    for (size_t i = 0; i < ncalls; i++)
        kwq_lease_result_done(&calls[i].lease);
    ncalls = 0;
}

/* ---- The loop ---------------------------------------------------------------- */

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* Run loop until want callbacks have run; fail after max_s seconds. */
static void run_until(struct ev_loop *loop, size_t want, double max_s)
{
    ev_timer guard;
    ev_tstamp end = ev_time() + max_s;

    /* Keeps ev_run from returning at once when nothing else is active. */
    ev_timer_init(&guard, on_guard, 0.05, 0.05);
    ev_timer_start(loop, &guard);
    while (ncalls < want) {
        cr_assert(lt(dbl, ev_time(), end), "only %zu of %zu callbacks after %.1f s", ncalls, want,
                  max_s);
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &guard);
}

static struct kwq_async *async_opts(struct ev_loop *loop, struct kwq_client_opts *o)
{
    struct kwq_async *a;
    size_t before = ncalls;
    int rc;

    if (!o->url)
        o->url = test_redis.url;
    a = kwq_async_new(loop, o);
    cr_assert(a != NULL);
    rc = kwq_async_connect(a, on_connect, (void *)(intptr_t)-1);
    cr_assert(eq(int, rc, 0), "%s", kwq_async_errstr(a));
    cr_assert(eq(sz, kwq_async_pending(a), 1));
    run_until(loop, before + 1, 10);
    cr_assert(eq(int, calls[before].rc, 0), "%s", calls[before].err);
    cr_assert(kwq_async_is_connected(a));
    ncalls = before;
    return a;
}

static struct kwq_async *async_client(struct ev_loop *loop)
{
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    return async_opts(loop, &o);
}

#define TAG(i) ((void *)(intptr_t)(i))

/* Assert that the calls got exactly the codes in rc[], in order (tags 0..n-1). */
static void assert_codes(const int *rc, size_t n)
{
    cr_assert(eq(sz, ncalls, n));
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(int, calls[i].tag, (int)i), "callback %zu was call %d", i, calls[i].tag);
        cr_assert(eq(int, calls[i].rc, rc[i]), "call %zu: %s, expected %s (%s)", i,
                  kwq_err_name(calls[i].rc), kwq_err_name(rc[i]), calls[i].err);
    }
}

/* Run CONFIG SET name value on the test's server. */
static void config_set(const char *name, const char *value)
{
    redisContext *r = tp_redis();
    redisReply *rep = redisCommand(r, "CONFIG SET %s %s", name, value);

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(r);
}

static void async_setup(void)
{
    redis_setup();
    forget_calls();
}

static void async_teardown(void)
{
    forget_calls();
    redis_teardown();
}

/* ---- Without a server --------------------------------------------------------- */

Test(async_nosrv, errors_at_call_time_never_call_back)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    struct kwq_lease_ref ref = {.id = "1", .token = 1};

    kwq_client_opts_init(&o);
    o.url = "unix:///nonexistent/kwq-test.sock";
    a = kwq_async_new(loop, &o);
    cr_assert(a != NULL);
    tp_assert_str_eq(kwq_async_server_run_id(a), "");
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), KWQ_ECONN));
    cr_assert(tp_contains(kwq_async_errstr(a), "cannot connect to Redis"), "%s",
              kwq_async_errstr(a));
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 1000, on_lease, TAG(1)), KWQ_ECONN));
    cr_assert(
        eq(int, kwq_async_renew(a, "bad queue!", &ref, 1, 1000, on_status, TAG(2)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_pending(a), 0));
    cr_assert(not(kwq_async_is_connected(a)));
    kwq_async_disconnect(a); /* no-op */
    kwq_async_free(a);

    o.url = "redis://host:notaport";
    a = kwq_async_new(loop, &o);
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(3)), KWQ_EINVAL));
    kwq_async_free(a);
    kwq_async_free(NULL);
    run_until(loop, 0, 1);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert(eq(sz, ncalls, 0));
    ev_loop_destroy(loop);
}

/* Nothing listens on loopback port 1: the refusal comes through the callback (or at once). */
Test(async_nosrv, refused_tcp_connection_is_econn)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    int rc;

    kwq_client_opts_init(&o);
    o.url = "redis://:secret-pw@127.0.0.1:1/0";
    a = kwq_async_new(loop, &o);
    rc = kwq_async_connect(a, on_connect, TAG(0));
    if (rc == 0) {
        run_until(loop, 1, 10);
        rc = calls[0].rc;
    }
    cr_assert(eq(int, rc, KWQ_ECONN), "%s", kwq_async_errstr(a));
    cr_assert(
        tp_contains(kwq_async_errstr(a), "cannot connect to Redis at redis://:***@127.0.0.1:1"),
        "%s", kwq_async_errstr(a));
    cr_assert(not(tp_contains(kwq_async_errstr(a), "secret-pw")));
    cr_assert(not(kwq_async_is_connected(a)));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async_nosrv, unknown_host_is_econn)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;

    kwq_client_opts_init(&o);
    o.url = "redis://nonexistent.invalid:6379";
    a = kwq_async_new(loop, &o);
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0), "%s", kwq_async_errstr(a));
    run_until(loop, 1, 20);
    /* A resolver that cannot answer in time makes it a timeout instead. */
    cr_assert(calls[0].rc == KWQ_ECONN || calls[0].rc == KWQ_ETIMEOUT, "%s", calls[0].err);
    if (calls[0].rc == KWQ_ECONN)
        cr_assert(tp_contains(calls[0].err, "cannot look up nonexistent.invalid"), "%s",
                  calls[0].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* ---- Same answers as the synchronous client ---------------------------------- */

TestSuite(async, .init = async_setup, .fini = async_teardown);

/* The same five tasks in queue "s" (for the sync client) and "a" (for the async one). */
static void twin_queues(struct kwq_client *c)
{
    tp_enqueue_n(c, "s", "p", 5);
    tp_enqueue_n(c, "a", "p", 5);
}

/*
 * Tokens start from each queue's clock (docs/PROTOCOL.md "Rollbacks"), so the
 * twins' tokens are compared as offsets from their first lease's: s0, a0.
 */
static void assert_same_task(const struct kwq_task *s, const struct kwq_task *a,
                             const struct kwq_task *s0, const struct kwq_task *a0)
{
    tp_assert_str_eq(a->id, s->id);
    cr_assert(eq(u64, a->token - a0->token, s->token - s0->token));
    cr_assert(eq(u32, a->attempt, s->attempt));
    cr_assert(eq(u32, a->max_attempts, s->max_attempts));
    cr_assert(eq(u64, a->timeout_ms, s->timeout_ms));
    cr_assert(eq(sz, a->payload_len, s->payload_len));
    cr_assert(eq(int, memcmp(a->payload, s->payload, s->payload_len), 0));
}

Test(async, every_operation_answers_as_the_sync_client)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_async *a;
    struct kwq_lease_result sl;
    struct kwq_lease_ref sref[3], aref[3];
    struct kwq_ack sack[3], aack[3];
    struct kwq_failure sf, af;
    struct kwq_fail_outcome sout;
    struct kwq_stats ss, as;
    int sst[3];
    bool sdr;

    kwq_client_opts_init(&o);
    o.max_result = 4;
    c = tp_client_opts(&o);
    o.url = NULL;
    a = async_opts(loop, &o);
    tp_assert_str_eq(kwq_async_server_run_id(a), kwq_client_server_run_id(c));
    cr_assert(eq(sz, strlen(kwq_async_server_run_id(a)), 40));
    twin_queues(c);

    /* lease 3 of 5 */
    cr_assert(eq(int, kwq_lease(c, "s", 3, 60000, 0, &sl), 3));
    cr_assert(eq(int, kwq_async_lease(a, "a", 3, 60000, on_lease, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    cr_assert(eq(sz, calls[0].lease.n, sl.n));
    cr_assert(eq(int, calls[0].lease.sealed, sl.sealed));
    cr_assert(eq(int, calls[0].lease.drained, sl.drained));
    cr_assert(eq(i64, calls[0].lease.next_due_ms, sl.next_due_ms));
    for (size_t i = 0; i < 3; i++) {
        assert_same_task(&sl.tasks[i], &calls[0].lease.tasks[i], &sl.tasks[0],
                         &calls[0].lease.tasks[0]);
        sref[i] = (struct kwq_lease_ref){.id = sl.tasks[i].id, .token = sl.tasks[i].token};
        aref[i] = (struct kwq_lease_ref){.id = calls[0].lease.tasks[i].id,
                                         .token = calls[0].lease.tasks[i].token};
    }

    /* renew: two current leases and a stale token */
    sref[2].token++;
    aref[2].token++;
    cr_assert(eq(int, kwq_renew(c, "s", sref, 3, 60000, sst), 0));
    cr_assert(eq(int, kwq_async_renew(a, "a", aref, 3, 60000, on_status, TAG(1)), 0));
    run_until(loop, 2, 10);
    cr_assert(eq(int, calls[1].rc, 0), "%s", calls[1].err);
    cr_assert(eq(sz, calls[1].n, 3));
    cr_assert(eq(int, sst[2], KWQ_ELEASELOST));
    for (size_t i = 0; i < 3; i++)
        cr_assert(eq(int, calls[1].st[i], sst[i]), "item %zu", i);
    sref[2].token--;
    aref[2].token--;

    /* ack: one with a result, one with a result over max_result, one stale */
    sack[0] =
        (struct kwq_ack){.id = sref[0].id, .token = sref[0].token, .result = "ok", .result_len = 2};
    sack[1] = (struct kwq_ack){
        .id = sref[1].id, .token = sref[1].token, .result = "too long", .result_len = 8};
    sack[2] = (struct kwq_ack){.id = sref[2].id, .token = sref[2].token + 7};
    memcpy(aack, sack, sizeof(aack));
    for (size_t i = 0; i < 3; i++) {
        aack[i].id = aref[i].id;
        aack[i].token = aref[i].token + (i == 2 ? 7 : 0);
    }
    cr_assert(eq(int, kwq_ack(c, "s", sack, 3, sst), 0));
    cr_assert(eq(int, kwq_async_ack(a, "a", aack, 3, on_status, TAG(2)), 0));
    run_until(loop, 3, 10);
    cr_assert(eq(int, calls[2].rc, 0), "%s", calls[2].err);
    cr_assert(eq(int, sst[0], 0));
    cr_assert(eq(int, sst[1], KWQ_ETOOBIG));
    for (size_t i = 0; i < 3; i++)
        cr_assert(eq(int, calls[2].st[i], sst[i]), "item %zu", i);

    /* fail the one whose result was too big, with no retry */
    sf = (struct kwq_failure){
        .id = sref[1].id, .token = sref[1].token, .error = "boom", .code = 3, .no_retry = true};
    af = sf;
    af.id = aref[1].id;
    af.token = aref[1].token;
    cr_assert(eq(int, kwq_fail(c, "s", &sf, 1, &sout), 0));
    cr_assert(eq(int, kwq_async_fail(a, "a", &af, 1, on_fail, TAG(3)), 0));
    run_until(loop, 4, 10);
    cr_assert(eq(int, calls[3].rc, 0), "%s", calls[3].err);
    cr_assert(eq(sz, calls[3].n, 1));
    cr_assert(eq(int, calls[3].out[0].status, sout.status));
    cr_assert(eq(int, calls[3].out[0].dead, sout.dead));
    cr_assert(sout.dead);

    /* release the third, then drained (not sealed: false) */
    cr_assert(eq(int, kwq_release(c, "s", &sref[2], 1, sst), 0));
    cr_assert(eq(int, kwq_async_release(a, "a", &aref[2], 1, on_status, TAG(4)), 0));
    cr_assert(eq(int, kwq_drained(c, "s", &sdr), 0));
    cr_assert(eq(int, kwq_async_drained(a, "a", on_flag, TAG(5)), 0));
    run_until(loop, 6, 10);
    cr_assert(eq(int, calls[4].rc, 0), "%s", calls[4].err);
    cr_assert(eq(int, calls[4].st[0], sst[0]));
    cr_assert(eq(int, calls[5].rc, 0), "%s", calls[5].err);
    cr_assert(eq(int, calls[5].flag, sdr));

    ss = tp_stats(c, "s");
    cr_assert(eq(int, kwq_async_stats(a, "a", on_stats, TAG(6)), 0));
    run_until(loop, 7, 10);
    cr_assert(eq(int, calls[6].rc, 0), "%s", calls[6].err);
    as = calls[6].stats;
    tp_assert_same_stats(&ss, &as);
    cr_assert(eq(u64, as.done, 1));
    cr_assert(eq(u64, as.dead, 1));
    cr_assert(eq(u64, as.pending, 3));
    cr_assert(eq(i64, as.oldest_pending_ms >= 0, 1));
    cr_assert(gt(i64, as.server_time_ms, 0));

    /* sealed and empty: drained */
    cr_assert(eq(int, kwq_purge(c, "a"), 0));
    cr_assert(eq(int, kwq_seal(c, "a"), 0));
    cr_assert(eq(int, kwq_async_drained(a, "a", on_flag, TAG(7)), 0));
    cr_assert(eq(int, kwq_async_stats(a, "a", on_stats, TAG(8)), 0));
    run_until(loop, 9, 10);
    cr_assert(eq(int, calls[7].rc, 0), "%s", calls[7].err);
    cr_assert(calls[7].flag);
    cr_assert(calls[8].stats.sealed && calls[8].stats.drained);
    cr_assert(eq(i64, calls[8].stats.oldest_pending_ms, -1));

    kwq_lease_result_done(&sl);
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* Errors of the operation come through the callback as the sync client returns them. */
Test(async, operation_errors_match_the_sync_client)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    struct kwq_lease_result lr;
    redisContext *r = tp_redis();
    const char *argv[] = {"SET", "kwq:{wrong}:pending", "x"};
    int rc;

    redisReply *rep = redisCommandArgv(r, 3, argv, NULL);

    /* A key of the wrong type makes the script fail inside Redis. */
    cr_assert(rep != NULL);
    freeReplyObject(rep);
    rc = kwq_lease(c, "wrong", 1, 60000, 0, &lr);
    cr_assert(lt(int, rc, 0));
    cr_assert(eq(int, kwq_async_lease(a, "wrong", 1, 60000, on_lease, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, rc), "%s vs %s", kwq_err_name(calls[0].rc), kwq_err_name(rc));
    tp_assert_str_eq(calls[0].err, kwq_client_errstr(c));
    /* The connection stays usable. */
    cr_assert(kwq_async_is_connected(a));
    cr_assert(eq(int, kwq_async_lease(a, "bad name!", 1, 60000, on_lease, TAG(1)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 0, 60000, on_lease, TAG(1)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    cr_assert(eq(int, calls[1].rc, 0), "%s", calls[1].err);
    redisFree(r);
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* ---- Order ------------------------------------------------------------------------ */

Test(async, pipelined_calls_answer_in_call_order)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    struct kwq_lease_ref none = {.id = "12345", .token = 1};
    int want[40];

    tp_enqueue_n(c, TP_QUEUE, "t", 10);
    for (int i = 0; i < 40; i++) {
        int rc;

        switch (i % 4) {
        case 0:
            rc = kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(i));
            break;
        case 1:
            rc = kwq_async_renew(a, TP_QUEUE, &none, 1, 60000, on_status, TAG(i));
            break;
        case 2:
            rc = kwq_async_drained(a, TP_QUEUE, on_flag, TAG(i));
            break;
        default:
            rc = kwq_async_release(a, TP_QUEUE, NULL, 0, on_status, TAG(i));
            break;
        }
        cr_assert(eq(int, rc, 0), "call %d: %s", i, kwq_async_errstr(a));
        want[i] = 0;
    }
    cr_assert(eq(sz, kwq_async_pending(a), 40));
    run_until(loop, 40, 20);
    assert_codes(want, 40);
    cr_assert(eq(sz, kwq_async_pending(a), 0));
    /* Ten leases took the ten tasks, one each, in order; the other calls saw no lease. */
    for (int i = 0; i < 40; i += 4) {
        cr_assert(eq(sz, calls[i].n, 1), "lease %d", i);
        cr_assert(eq(int, calls[i + 1].st[0], KWQ_ELEASELOST));
    }
    for (int i = 4; i < 40; i += 4)
        cr_assert(gt(u64, strtoull(calls[i].lease.tasks[0].id, NULL, 10),
                     strtoull(calls[i - 4].lease.tasks[0].id, NULL, 10)));
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* The loop's clock is that of its last wake-up: a call made long after still gets its whole time. */
Test(async, a_call_made_long_after_the_loop_woke_gets_its_whole_time)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    const int want[] = {0, 0};

    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    o.connect_timeout_ms = 300;
    o.command_timeout_ms = 300;
    a = kwq_async_new(loop, &o);
    cr_assert(eq(int, usleep(400 * 1000), 0));
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, usleep(400 * 1000), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    assert_codes(want, 2);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* ---- A Redis that stops answering ------------------------------------------------- */

struct ticker {
    ev_timer w;
    int ticks;
};

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ((struct ticker *)w)->ticks++;
}

static void ticker_start(struct ev_loop *loop, struct ticker *t, double every)
{
    t->ticks = 0;
    ev_timer_init(&t->w, on_tick, every, every);
    ev_timer_start(loop, &t->w);
}

/*
 * SIGSTOP: every outstanding call times out within command_timeout_ms, in
 * order, while a timer on the same loop keeps ticking (the loop never blocks).
 */
Test(async, stopped_server_times_out_every_call_and_the_loop_runs_on)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    struct kwq_lease_ref none = {.id = "1", .token = 1};
    struct ticker t;
    const int want[] = {KWQ_ETIMEOUT, KWQ_ETIMEOUT, KWQ_ETIMEOUT, KWQ_ETIMEOUT};
    ev_tstamp start;

    kwq_client_opts_init(&o);
    o.command_timeout_ms = 400;
    a = async_opts(loop, &o);
    cr_assert(eq(int, kill(test_redis.pid, SIGSTOP), 0));
    start = ev_time();
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_renew(a, TP_QUEUE, &none, 1, 60000, on_status, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(2)), 0));
    cr_assert(eq(int, kwq_async_wait(a, TP_QUEUE, 100, on_flag, TAG(3)), 0));
    ticker_start(loop, &t, 0.02);
    run_until(loop, 4, 20);
    ev_timer_stop(loop, &t.w);
    cr_assert(eq(int, kill(test_redis.pid, SIGCONT), 0));
    assert_codes(want, 4);
    cr_assert(ge(dbl, ev_time() - start, 0.35));
    /* About 20 ticks in 400 ms; 5 proves the loop ran during the stall. */
    cr_assert(ge(int, t.ticks, 5), "ticks: %d", t.ticks);
    cr_assert(tp_contains(calls[0].err, "did not answer within 400 ms"), "%s", calls[0].err);
    for (size_t i = 0; i < 4; i++)
        tp_assert_str_eq(calls[i].err, calls[0].err);
    cr_assert(not(kwq_async_is_connected(a)));
    cr_assert(eq(sz, kwq_async_pending(a), 0));
    cr_assert(kwq_err_is_transient(KWQ_ETIMEOUT));

    /* Redis answers again: reconnect and carry on. */
    forget_calls();
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    cr_assert(eq(int, calls[1].rc, 0), "%s", calls[1].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async, connect_to_a_stopped_server_times_out)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    struct ticker t;
    ev_tstamp start;

    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    o.connect_timeout_ms = 400;
    a = kwq_async_new(loop, &o);
    cr_assert(eq(int, kill(test_redis.pid, SIGSTOP), 0));
    start = ev_time();
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(1)), KWQ_ESTATE));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), KWQ_ECONN));
    ticker_start(loop, &t, 0.02);
    run_until(loop, 1, 20);
    ev_timer_stop(loop, &t.w);
    cr_assert(eq(int, kill(test_redis.pid, SIGCONT), 0));
    cr_assert(eq(int, calls[0].rc, KWQ_ETIMEOUT), "%s", calls[0].err);
    cr_assert(tp_contains(calls[0].err, "within 400 ms"), "%s", calls[0].err);
    cr_assert(ge(dbl, ev_time() - start, 0.35));
    cr_assert(ge(int, t.ticks, 5), "ticks: %d", t.ticks);
    cr_assert(not(kwq_async_is_connected(a)));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* ---- A Redis that dies ---------------------------------------------------------------- */

/* Poll the server until it has n clients blocked (a wait sent and read). */
static void run_until_blocked(struct ev_loop *loop, int n)
{
    redisContext *r = tp_redis();
    ev_tstamp end = ev_time() + 10;

    for (;;) {
        redisReply *rep = redisCommand(r, "INFO clients");
        bool ok;

        cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING);
        ok = strstr(rep->str, n == 1 ? "blocked_clients:1" : "blocked_clients:2") != NULL;
        freeReplyObject(rep);
        if (ok)
            break;
        cr_assert(lt(dbl, ev_time(), end), "no blocked client");
        ev_run(loop, EVRUN_NOWAIT);
        usleep(2000);
    }
    redisFree(r);
}

Test(async, killed_server_fails_every_call_with_econn)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = async_client(loop);
    const int want[] = {KWQ_ECONN, KWQ_ECONN, KWQ_ECONN};

    cr_assert(eq(int, kwq_async_wait(a, TP_QUEUE, 30000, on_flag, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(2)), 0));
    run_until_blocked(loop, 1);
    redis_fixture_kill(&test_redis);
    run_until(loop, 3, 10);
    assert_codes(want, 3);
    cr_assert(tp_contains(calls[0].err, "lost the connection"), "%s", calls[0].err);
    cr_assert(not(kwq_async_is_connected(a)));

    /* Calls now fail at once; connecting fails through its callback or at once. */
    forget_calls();
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(0)), KWQ_ECONN));
    redis_fixture_restart(&test_redis);
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/*
 * Commands written to a connection the server has closed: the write fails
 * with EPIPE, which must not kill the process (SIGPIPE at its default here).
 */
Test(async, writing_to_a_dead_server_does_not_raise_sigpipe)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = async_client(loop);
    static struct kwq_lease_ref refs[2500]; /* three script calls, a large write */
    const int want[] = {KWQ_ECONN, KWQ_ECONN};

    (void)signal(SIGPIPE, SIG_DFL);
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
        refs[i] = (struct kwq_lease_ref){.id = "123456789", .token = i};
    redis_fixture_kill(&test_redis);
    cr_assert(eq(int, kwq_async_renew(a, TP_QUEUE, refs, 1, 60000, on_status, TAG(0)), 0));
    cr_assert(eq(int,
                 kwq_async_renew(a, TP_QUEUE, refs, sizeof(refs) / sizeof(refs[0]), 60000,
                                 on_status, TAG(1)),
                 0));
    run_until(loop, 2, 10);
    assert_codes(want, 2);
    kwq_async_free(a);
    ev_loop_destroy(loop);
    redis_fixture_restart(&test_redis);
}

/* Send PING on r until Redis answers it BUSY (busy) or not (!busy). */
static void wait_busy(redisContext *r, bool busy)
{
    for (;;) {
        redisReply *rep = redisCommand(r, "PING");
        bool is_busy;

        cr_assert(rep != NULL);
        is_busy = rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSY", 4) == 0;
        freeReplyObject(rep);
        if (is_busy == busy)
            return;
    }
}

/*
 * A script past the busy threshold makes Redis refuse everything (BUSY): a
 * passing state, so the connection is dropped and every call gets KWQ_ECONN.
 */
Test(async, a_busy_server_drops_the_connection)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a;
    redisContext *busy = tp_redis(), *r = tp_redis();
    const int want[] = {KWQ_ECONN, KWQ_ECONN};
    redisReply *rep;
    int done = 0;

    config_set("busy-reply-threshold", "50");
    a = async_client(loop);
    /* Sent, never read: the script runs until SCRIPT KILL. */
    cr_assert(eq(int, redisAppendCommand(busy, "EVAL %s 0", "while true do end"), REDIS_OK));
    while (!done)
        cr_assert(eq(int, redisBufferWrite(busy, &done), REDIS_OK));
    wait_busy(r, true);
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    assert_codes(want, 2);
    cr_assert(tp_contains(calls[0].err, "(BUSY)"), "%s", calls[0].err);
    tp_assert_str_eq(calls[1].err, calls[0].err);
    cr_assert(not(kwq_async_is_connected(a)));

    rep = redisCommand(r, "SCRIPT KILL");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "%s", rep ? rep->str : "?");
    freeReplyObject(rep);
    wait_busy(r, false); /* the script ends at its next check, a moment later */
    forget_calls();
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    redisFree(busy);
    redisFree(r);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* ---- Scripts lost ------------------------------------------------------------------- */

Test(async, noscript_after_script_flush_is_retried_inside)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    redisContext *r = tp_redis();
    struct kwq_lease_ref none = {.id = "777", .token = 1};
    const int want[] = {0, 0, 0, 0};
    redisReply *rep;

    tp_enqueue_n(c, TP_QUEUE, "t", 2);
    rep = redisCommand(r, "SCRIPT FLUSH");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_renew(a, TP_QUEUE, &none, 1, 60000, on_status, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(2)), 0));
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(3)), 0));
    run_until(loop, 4, 10);
    assert_codes(want, 4);
    cr_assert(eq(sz, calls[0].n, 1));
    cr_assert(eq(int, calls[1].st[0], KWQ_ELEASELOST));
    cr_assert(not(calls[2].flag));
    cr_assert(eq(sz, calls[3].n, 1));
    cr_assert(kwq_async_is_connected(a));

    /*
     * The wait answers before the lease sent again ahead of it: its
     * callback is held back until the lease's has run.
     */
    forget_calls();
    rep = redisCommand(r, "SCRIPT FLUSH");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_wait(a, "other", 1, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    assert_codes(want, 2);
    cr_assert(eq(sz, calls[0].n, 0));
    redisFree(r);
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* ---- The wait ------------------------------------------------------------------------ */

Test(async, wait_is_woken_by_an_enqueue_and_times_out)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    ev_tstamp start;

    /* Take the token a fresh queue may hold, so that the next wait blocks. */
    cr_assert(eq(int, kwq_async_wait(a, TP_QUEUE, 1, on_flag, TAG(0)), 0));
    run_until(loop, 1, 10);
    forget_calls();

    cr_assert(eq(int, kwq_async_wait(a, TP_QUEUE, 20000, on_flag, TAG(0)), 0));
    run_until_blocked(loop, 1);
    tp_enqueue(c, TP_QUEUE, "wake up", NULL);
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    cr_assert(calls[0].flag);

    start = ev_time();
    cr_assert(eq(int, kwq_async_wait(a, "quiet", 300, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    cr_assert(eq(int, calls[1].rc, 0), "%s", calls[1].err);
    cr_assert(not(calls[1].flag));
    cr_assert(ge(dbl, ev_time() - start, 0.25));
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* More than 1000 items go as several script calls, answered as one call. */
Test(async, calls_over_a_chunk_answer_as_the_sync_client)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    static struct kwq_lease_ref refs[2345];
    static int sst[2345];
    static struct kwq_failure f[1001];
    static struct kwq_fail_outcome sout[1001];
    int seen = 0;

    tp_enqueue_n(c, TP_QUEUE, "t", 3);
    for (size_t i = 0; i < 2345; i++)
        refs[i] = (struct kwq_lease_ref){.id = "424242", .token = i};
    for (size_t i = 0; i < 1001; i++)
        f[i] = (struct kwq_failure){.id = "424242", .token = i, .code = 1};
    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, refs, 2345, 60000, sst), 0));
    cr_assert(eq(int, kwq_fail(c, TP_QUEUE, f, 1001, sout), 0));
    cr_assert(eq(int, kwq_async_renew(a, TP_QUEUE, refs, 2345, 60000, on_status, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_fail(a, TP_QUEUE, f, 1001, on_fail, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_release(a, TP_QUEUE, refs, 1500, on_status, TAG(2)), 0));
    run_until(loop, 3, 20);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    cr_assert(eq(sz, calls[0].n, 2345));
    cr_assert(eq(int, calls[1].rc, 0), "%s", calls[1].err);
    cr_assert(eq(sz, calls[1].n, 1001));
    cr_assert(eq(int, calls[2].rc, 0), "%s", calls[2].err);
    cr_assert(eq(sz, calls[2].n, 1500));
    for (size_t i = 0; i < 8; i++) {
        cr_assert(eq(int, calls[0].st[i], sst[i]));
        cr_assert(eq(int, calls[1].out[i].status, sout[i].status));
        seen += calls[2].st[i] == KWQ_ELEASELOST;
    }
    cr_assert(eq(int, sst[2344], KWQ_ELEASELOST));
    cr_assert(eq(int, seen, 8));
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* A call made behind a wait is not timed out while the wait legitimately blocks. */
Test(async, a_call_behind_a_wait_gets_its_time_after_the_wait)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    const int want[] = {0, 0};

    kwq_client_opts_init(&o);
    o.command_timeout_ms = 200;
    a = async_opts(loop, &o);
    cr_assert(eq(int, kwq_async_wait(a, "idle", 800, on_flag, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_drained(a, "idle", on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    assert_codes(want, 2);
    cr_assert(not(calls[0].flag));
    cr_assert(kwq_async_is_connected(a));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* A db the server does not have is a configuration error, as for the sync client. */
Test(async, db_out_of_range_is_einval_through_the_callback)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    char url[400];

    (void)snprintf(url, sizeof(url), "%s?db=99", test_redis.url);
    kwq_client_opts_init(&o);
    o.url = url;
    a = kwq_async_new(loop, &o);
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, KWQ_EINVAL), "%s", calls[0].err);
    cr_assert(not(kwq_async_is_connected(a)));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* The database of the URL is selected in the handshake. */
Test(async, db_from_the_url_is_selected)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_async *a;
    char url[400];

    (void)snprintf(url, sizeof(url), "%s?db=3", test_redis.url);
    c = tp_client(url);
    tp_enqueue(c, TP_QUEUE, "in db 3", NULL);
    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    a = async_opts(loop, &o);
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(sz, calls[0].n, 0), "db 0 has no task");
    kwq_async_free(a);
    forget_calls();
    o.url = url;
    a = async_opts(loop, &o);
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(sz, calls[0].n, 1));
    tp_assert_str_eq(calls[0].lease.tasks[0].payload, "in db 3");
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* ---- Callbacks that act on the client ----------------------------------------------- */

static void disconnect_in_callback(struct kwq_async *a, int rc, bool flag, void *data)
{
    on_flag(a, rc, flag, data);
    kwq_async_disconnect(a);
    /* Every other call was failed before disconnect returned. */
    cr_assert(eq(sz, ncalls, 3));
    cr_assert(eq(sz, kwq_async_pending(a), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(9)), KWQ_ECONN));
}

static void call_again_in_callback(struct kwq_async *a, int rc, bool flag, void *data)
{
    on_flag(a, rc, flag, data);
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(3)), 0));
}

static void reconnect_in_callback(struct kwq_async *a, int rc, bool flag, void *data)
{
    on_flag(a, rc, flag, data);
    kwq_async_disconnect(a);
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(2)), 0), "%s", kwq_async_errstr(a));
}

Test(async, a_callback_may_call_again_and_may_disconnect)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = async_client(loop);
    const int want1[] = {0, 0, 0, 0};
    const int want2[] = {0, KWQ_ECONN, KWQ_ECONN};

    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, call_again_in_callback, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(2)), 0));
    run_until(loop, 4, 10);
    assert_codes(want1, 4);
    forget_calls();

    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, disconnect_in_callback, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_wait(a, TP_QUEUE, 5000, on_flag, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(2)), 0));
    run_until(loop, 3, 10);
    assert_codes(want2, 3);
    cr_assert(not(kwq_async_is_connected(a)));
    /* Nothing is left behind: the loop has no more callbacks for us. */
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert(eq(sz, ncalls, 3));

    /* Reconnecting from the callback, while hiredis still holds the old connection. */
    forget_calls();
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, reconnect_in_callback, TAG(1)), 0));
    run_until(loop, 3, 10);
    assert_codes(want1, 3);
    cr_assert(kwq_async_is_connected(a));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(3)), 0));
    run_until(loop, 4, 10);
    assert_codes(want1, 4);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async, free_fails_the_outstanding_calls_first)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = async_client(loop);
    const int want[] = {KWQ_ECONN, KWQ_ECONN};

    cr_assert(eq(int, kwq_async_wait(a, TP_QUEUE, 5000, on_flag, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    kwq_async_free(a);
    assert_codes(want, 2);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert(eq(sz, ncalls, 2));
    ev_loop_destroy(loop);
}

/* ---- Chaos: every call gets exactly one callback --------------------------------------- */

#define CHAOS_TAGS 200000

static struct {
    struct kwq_async *a;
    unsigned char seen[CHAOS_TAGS]; /* callbacks per tag */
    int next;                       /* tags handed out */
    size_t made, answered, failed, connects;
    bool stop;
    unsigned seed;
} chaos;

static void chaos_refill(void);

static void chaos_answer(int rc, void *data)
{
    int tag = (int)(intptr_t)data;

    cr_assert(lt(int, tag, chaos.next));
    cr_assert(eq(int, chaos.seen[tag], 0), "call %d called back twice", tag);
    chaos.seen[tag] = 1;
    chaos.answered++;
    chaos.failed += rc < 0;
    if (chaos.stop)
        return;
    /* Now and then give up on the connection from inside a callback. */
    if (rand_r(&chaos.seed) % 40 == 0)
        kwq_async_disconnect(chaos.a);
    chaos_refill();
}

static void chaos_flag(struct kwq_async *a, int rc, bool flag, void *data)
{
    (void)a;
    (void)flag;
    chaos_answer(rc, data);
}

static void chaos_status(struct kwq_async *a, int rc, const int *st, size_t n, void *data)
{
    (void)a;
    (void)st;
    (void)n;
    chaos_answer(rc, data);
}

static void chaos_lease(struct kwq_async *a, int rc, struct kwq_lease_result *r, void *data)
{
    struct kwq_ack acks[4];

    /* Ack what was leased, as a worker would, before anything else can happen. */
    for (size_t i = 0; r && i < r->n && i < 4; i++)
        acks[i] = (struct kwq_ack){.id = r->tasks[i].id, .token = r->tasks[i].token};
    if (r && r->n && !chaos.stop &&
        kwq_async_ack(a, TP_QUEUE, acks, r->n, chaos_status, (void *)(intptr_t)chaos.next) == 0) {
        chaos.next++;
        chaos.made++;
    }
    chaos_answer(rc, data);
}

static void chaos_connected(struct kwq_async *a, int rc, void *data)
{
    chaos_flag(a, rc, false, data);
}

static void chaos_refill(void)
{
    struct kwq_lease_ref ref = {.id = "99", .token = 1};

    while (!chaos.stop && chaos.next < CHAOS_TAGS - 10) {
        void *tag = (void *)(intptr_t)chaos.next;
        int rc;

        if (!kwq_async_is_connected(chaos.a)) {
            rc = kwq_async_connect(chaos.a, chaos_connected, tag);
            chaos.connects += rc == 0;
        } else if (kwq_async_pending(chaos.a) >= 8) {
            return;
        } else {
            switch (rand_r(&chaos.seed) % 4) {
            case 0:
                rc = kwq_async_lease(chaos.a, TP_QUEUE, 4, 60000, chaos_lease, tag);
                break;
            case 1:
                rc = kwq_async_renew(chaos.a, TP_QUEUE, &ref, 1, 60000, chaos_status, tag);
                break;
            case 2:
                rc = kwq_async_wait(chaos.a, TP_QUEUE, 5, chaos_flag, tag);
                break;
            default:
                rc = kwq_async_drained(chaos.a, TP_QUEUE, chaos_flag, tag);
                break;
            }
        }
        if (rc != 0)
            return; /* connecting already, or Redis refuses for now: the timer comes back */
        chaos.next++;
        chaos.made++;
    }
}

static void chaos_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    static int n;

    (void)loop;
    (void)w;
    (void)revents;
    /*
     * Every 15th tick (300 ms) stop Redis for about 150 ms: past the 100 ms
     * deadline; once a second kill it and start it again.
     */
    if (++n % 15 == 0) {
        cr_assert(eq(int, kill(test_redis.pid, SIGSTOP), 0));
    } else if (n % 15 == 8) {
        cr_assert(eq(int, kill(test_redis.pid, SIGCONT), 0));
    } else if (n % 50 == 11) {
        redis_fixture_kill(&test_redis);
        redis_fixture_restart(&test_redis);
    }
    chaos_refill();
}

Test(async, chaos_every_call_gets_exactly_one_callback)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_client_opts o;
    ev_timer tick;
    ev_tstamp end;

    tp_enqueue_n(c, TP_QUEUE, "t", 2000);
    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    o.command_timeout_ms = 100;
    o.connect_timeout_ms = 100;
    chaos.a = kwq_async_new(loop, &o);
    chaos.seed = 8;
    ev_timer_init(&tick, chaos_tick, 0.02, 0.02);
    ev_timer_start(loop, &tick);
    chaos_refill();
    end = ev_time() + 3;
    while (ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    chaos.stop = true;
    ev_timer_stop(loop, &tick);
    cr_assert(eq(int, kill(test_redis.pid, SIGCONT), 0));
    while (kwq_async_pending(chaos.a) > 0) {
        cr_assert(lt(dbl, ev_time(), end + 5), "%zu calls never called back",
                  kwq_async_pending(chaos.a));
        ev_run(loop, EVRUN_ONCE);
    }
    kwq_async_free(chaos.a);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert(eq(sz, chaos.answered, chaos.made));
    for (int i = 0; i < chaos.next; i++)
        cr_assert(eq(int, chaos.seen[i], 1), "call %d", i);
    cr_log_info("chaos: %zu calls, %zu failed, %zu connects", chaos.made, chaos.failed,
                chaos.connects);
    /* The run did what it is for: many calls, some failed, several reconnects. */
    cr_assert(gt(sz, chaos.made, 100), "%zu calls", chaos.made);
    cr_assert(gt(sz, chaos.failed, 0));
    cr_assert(gt(sz, chaos.connects, 3), "%zu connects", chaos.connects);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* ---- Arguments are copied --------------------------------------------------------------- */

Test(async, arguments_may_be_freed_right_after_the_call)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    struct kwq_task t;
    struct kwq_ack *ack = calloc(1, sizeof(*ack));
    char *queue = strdup(TP_QUEUE), *id, *result = strdup("the result");
    char *got = NULL;
    size_t len = 0;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    id = strdup(t.id);
    *ack = (struct kwq_ack){.id = id, .token = t.token, .result = result, .result_len = 10};
    cr_assert(eq(int, kwq_async_ack(a, queue, ack, 1, on_status, TAG(0)), 0));
    memset(queue, 'X', strlen(queue));
    memset(id, '9', strlen(id));
    memset(result, '?', 10);
    memset(ack, 0xff, sizeof(*ack));
    free(queue);
    free(id);
    free(result);
    free(ack);
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    cr_assert(eq(int, calls[0].st[0], 0));
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &got, &len), 0), "%s",
              kwq_client_errstr(c));
    cr_assert(eq(sz, len, 10));
    tp_assert_str_eq(got, "the result");
    free(got);
    kwq_task_done(&t);
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* ---- The handshake -------------------------------------------------------------------- */

/* Socket fds of this process that lack FD_CLOEXEC. */
static int sockets_without_cloexec(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    cr_assert(d != NULL);
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;

        if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            n++;
    }
    closedir(d);
    return n;
}

Test(async, connection_is_close_on_exec)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int before = sockets_without_cloexec();
    struct kwq_async *a = async_client(loop);

    cr_assert(eq(int, sockets_without_cloexec(), before));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* Connect a new client with password (may be NULL); the callback's code. The caller frees *ret. */
static int connect_outcome(struct ev_loop *loop, const char *password, struct kwq_async **ret)
{
    struct kwq_client_opts o;

    forget_calls();
    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    o.password = password;
    *ret = kwq_async_new(loop, &o);
    cr_assert(ne(ptr, (void *)*ret, NULL));
    cr_assert(eq(int, kwq_async_connect(*ret, on_connect, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(sz, kwq_async_pending(*ret), 0));
    cr_assert(eq(int, kwq_async_is_connected(*ret), calls[0].rc == 0));
    return calls[0].rc;
}

Test(async, eviction_policy_is_refused_through_the_callback)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a;

    config_set("maxmemory-policy", "allkeys-lru");
    cr_assert(eq(int, connect_outcome(loop, NULL, &a), KWQ_EPOLICY), "%s", calls[0].err);
    cr_assert(tp_contains(calls[0].err, "allkeys-lru"), "%s", calls[0].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async, a_replica_is_ereadonly_through_the_callback)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    redisContext *r = tp_redis();
    struct kwq_async *a;
    redisReply *rep = redisCommand(r, "REPLICAOF 127.0.0.1 1");

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(r);
    cr_assert(eq(int, connect_outcome(loop, NULL, &a), KWQ_EREADONLY), "%s", calls[0].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async, wrong_password_is_eauth_through_the_callback)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a;

    config_set("requirepass", "right-one");
    cr_assert(eq(int, connect_outcome(loop, "wrong-one", &a), KWQ_EAUTH), "%s", calls[0].err);
    cr_assert(not(tp_contains(calls[0].err, "wrong-one")), "%s", calls[0].err);
    kwq_async_free(a);
    cr_assert(eq(int, connect_outcome(loop, "right-one", &a), 0), "%s", calls[0].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* The lease record of task id on TP_QUEUE (raw), for what a call changed in it. */
static char *lease_record(redisContext *r, const char *id)
{
    redisReply *rep = redisCommand(r, "HGET kwq:{%s}:leases %s", TP_QUEUE, id);
    char *rec;

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING);
    rec = strdup(rep->str);
    freeReplyObject(rep);
    return rec;
}

/*
 * A prefetch lease charges only its first task; start charges another. At
 * maxmemory an ack keeping a result is refused item by item (KWQ_EOOM, the
 * statuses given), while the ack without one in the same call goes in.
 */
Test(async, prefetch_start_and_ack_at_maxmemory)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = async_client(loop);
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task *t;
    redisReply *rep;
    char *rec[3];

    tp_enqueue_n(c, TP_QUEUE, "t", 3);
    cr_assert(eq(int, kwq_async_lease_prefetch(a, TP_QUEUE, 3, 1, 60000, on_lease, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(sz, calls[0].n, 3));
    t = calls[0].lease.tasks;
    {
        struct kwq_lease_ref ref = {.id = t[1].id, .token = t[1].token};

        cr_assert(eq(int, kwq_async_start(a, TP_QUEUE, &ref, 1, on_status, TAG(1)), 0));
    }
    run_until(loop, 2, 10);
    cr_assert(eq(int, calls[1].rc, 0));
    cr_assert(eq(int, calls[1].st[0], 0));
    for (int i = 0; i < 3; i++)
        rec[i] = lease_record(r, t[i].id);
    cr_assert(not(tp_contains(rec[0], ":u")), "%s", rec[0]);
    cr_assert(not(tp_contains(rec[1], ":u")), "%s", rec[1]); /* started */
    cr_assert(tp_contains(rec[2], ":u"), "%s", rec[2]);
    for (int i = 0; i < 3; i++)
        free(rec[i]);

    rep = redisCommand(r, "CONFIG SET maxmemory 1");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    {
        struct kwq_ack acks[2] = {
            {.id = t[0].id, .token = t[0].token, .result = "r", .result_len = 1},
            {.id = t[1].id, .token = t[1].token},
        };

        cr_assert(eq(int, kwq_async_ack(a, TP_QUEUE, acks, 2, on_status, TAG(2)), 0));
    }
    run_until(loop, 3, 10);
    cr_assert(eq(int, calls[2].rc, KWQ_EOOM), "%s", calls[2].err);
    cr_assert(eq(sz, calls[2].n, 2));
    cr_assert(eq(int, calls[2].st[0], KWQ_EOOM));
    cr_assert(eq(int, calls[2].st[1], 0));
    tp_assert_str_eq(calls[2].err, "Redis is at its maxmemory limit and refused to keep a result "
                                   "(OOM); hold the ack and try again once workers have freed "
                                   "memory");
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).leased, 2));
    rep = redisCommand(r, "CONFIG SET maxmemory 0");
    freeReplyObject(rep);
    redisFree(r);
    kwq_client_free(c);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* ---- The calls of kwq-broker ------------------------------------------------------- */

/* Lease n tasks of q (60 s) and dead-letter them; their IDs into ids (n entries, may be NULL). */
static void make_dead(struct kwq_client *c, const char *q, size_t n, char (*ids)[KWQ_ID_MAX])
{
    struct kwq_lease_result lr = {.n = 0};
    struct kwq_failure *f = calloc(n, sizeof(*f));
    struct kwq_fail_outcome *out = calloc(n, sizeof(*out));

    cr_assert(f && out);
    cr_assert(eq(int, kwq_lease(c, q, n, 60000, 0, &lr), (int)n), "%s", kwq_client_errstr(c));
    for (size_t i = 0; i < n; i++) {
        f[i] = (struct kwq_failure){.id = lr.tasks[i].id,
                                    .token = lr.tasks[i].token,
                                    .error = i % 2 ? "e-odd" : "e-even",
                                    .code = (int)(i % 2) + 2,
                                    .no_retry = true};
        if (ids)
            memcpy(ids[i], lr.tasks[i].id, KWQ_ID_MAX);
    }
    cr_assert(eq(int, kwq_fail(c, q, f, n, out), 0), "%s", kwq_client_errstr(c));
    for (size_t i = 0; i < n; i++)
        cr_assert(out[i].dead);
    kwq_lease_result_done(&lr);
    free(out);
    free(f);
}

/*
 * Queue "q": IDs 1 and 2 dead, 3 leased, 4 and 5 pending; queue "z": one
 * pending. Every call below is made at once (pipelined) and answers exactly.
 */
Test(async, broker_calls_answer_exactly)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    const char *requeue[] = {"1", "7"};
    struct kwq_task t;
    struct kwq_stats st;

    tp_enqueue_n(c, "q", "p", 5);
    tp_enqueue(c, "z", "zz", NULL);
    make_dead(c, "q", 2, NULL);
    tp_lease1(c, "q", 60000, 0, &t);
    kwq_task_done(&t);

    cr_assert(eq(int, kwq_async_queues_list(a, on_queues, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_stats_read(a, "q", on_stats, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_dead_list(a, "q", 0, 10, on_dead, TAG(2)), 0));
    cr_assert(eq(int, kwq_async_task_get(a, "q", "3", on_task, TAG(3)), 0));
    cr_assert(eq(int, kwq_async_task_get(a, "q", "99", on_task, TAG(4)), 0));
    cr_assert(eq(int, kwq_async_dead_requeue(a, "q", requeue, 2, on_count, TAG(5)), 0));
    cr_assert(eq(int, kwq_async_dead_purge(a, "q", NULL, 0, on_count, TAG(6)), 0));
    cr_assert(eq(int, kwq_async_reap(a, "q", 10, on_reap, TAG(7)), 0));
    cr_assert(eq(int, kwq_async_dead_list(a, "q", 0, 0, on_dead, TAG(8)), 0));
    cr_assert(eq(int, kwq_async_dead_requeue(a, "q", requeue, 0, on_count, TAG(9)), 0));
    cr_assert(eq(sz, kwq_async_pending(a), 10));
    run_until(loop, 10, 10);
    assert_codes((const int[]){0, 0, 0, 0, KWQ_ENOTFOUND, 1, 1, 0, 0, 0}, 10);

    cr_assert(eq(sz, calls[0].n, 2));
    tp_assert_str_eq(calls[0].names[0], "q");
    tp_assert_str_eq(calls[0].names[1], "z");
    st = calls[1].stats;
    cr_assert(eq(u64, st.pending, 2));
    cr_assert(eq(u64, st.leased, 1));
    cr_assert(eq(u64, st.dead, 2));
    cr_assert(eq(u64, st.enqueued, 5));
    cr_assert(eq(u64, st.overdue_leases, 0));
    cr_assert(eq(sz, calls[2].n, 2));
    tp_assert_str_eq(calls[2].dead[0].id, "1");
    tp_assert_str_eq(calls[2].dead[0].last_error, "e-even");
    cr_assert(eq(int, calls[2].dead[0].last_code, 2));
    cr_assert(eq(u32, calls[2].dead[0].attempts, 1));
    tp_assert_str_eq(calls[2].dead[1].id, "2");
    tp_assert_str_eq(calls[2].dead[1].last_error, "e-odd");
    cr_assert(eq(int, calls[2].dead[1].last_code, 3));
    cr_assert(eq(int, calls[3].info.state, KWQ_STATE_LEASED));
    tp_assert_str_eq(calls[3].info.task.id, "3");
    tp_assert_str_eq(calls[3].payload, "p2");
    cr_assert(eq(u32, calls[3].info.task.attempt, 1));
    cr_assert(tp_contains(calls[4].err, "no task '99' in queue 'q'"), "%s", calls[4].err);
    cr_assert(eq(u64, calls[7].reap.expired + calls[7].reap.dead + calls[7].reap.promoted, 0));
    cr_assert(eq(sz, calls[8].n, 0));

    st = tp_stats(c, "q");
    cr_assert(eq(u64, st.pending, 3));
    cr_assert(eq(u64, st.dead, 0));
    cr_assert(eq(u64, st.requeued, 1));
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* An expired lease: stats_read shows it overdue, reap returns it, stats_read then shows none. */
Test(async, reap_returns_an_expired_lease)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    redisContext *r = tp_redis();
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 100, 0, &t);
    kwq_task_done(&t);
    tp_server_wait_ms(r, 150);
    cr_assert(eq(int, kwq_async_stats_read(a, TP_QUEUE, on_stats, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_reap(a, TP_QUEUE, 10, on_reap, TAG(1)), 0));
    cr_assert(eq(int, kwq_async_stats_read(a, TP_QUEUE, on_stats, TAG(2)), 0));
    run_until(loop, 3, 10);
    assert_codes((const int[]){0, 0, 0}, 3);
    cr_assert(eq(u64, calls[0].stats.overdue_leases, 1));
    cr_assert(eq(u64, calls[0].stats.leased, 1));
    cr_assert(ge(i64, calls[0].stats.reap_lag_ms, 50));
    cr_assert(eq(u64, calls[1].reap.expired, 1));
    cr_assert(eq(u64, calls[1].reap.dead, 0));
    cr_assert(eq(u64, calls[1].reap.promoted, 0));
    cr_assert(eq(u64, calls[2].stats.overdue_leases, 0));
    cr_assert(eq(u64, calls[2].stats.pending, 1));
    cr_assert(eq(i64, calls[2].stats.reap_lag_ms, 0));
    redisFree(r);
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/*
 * Every dead task, more than one script call's 1000: the "*all" call repeats
 * until none is left; IDs over 1000 go as several calls at once.
 */
Test(async, dead_requeue_and_purge_of_more_than_a_chunk)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_async *a = async_client(loop);
    char(*ids)[KWQ_ID_MAX] = calloc(2500, KWQ_ID_MAX);
    const char **some = calloc(1200, sizeof(*some));

    cr_assert(ids && some);
    tp_enqueue_n(c, TP_QUEUE, "t", 2500);
    make_dead(c, TP_QUEUE, 2500, NULL);
    cr_assert(eq(int, kwq_async_dead_requeue(a, TP_QUEUE, NULL, 0, on_count, TAG(0)), 0));
    run_until(loop, 1, 30);
    assert_codes((const int[]){2500}, 1);
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).pending, 2500));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).dead, 0));

    forget_calls();
    make_dead(c, TP_QUEUE, 2500, ids);
    for (size_t i = 0; i < 1200; i++)
        some[i] = ids[i];
    cr_assert(eq(int, kwq_async_dead_purge(a, TP_QUEUE, some, 1200, on_count, TAG(0)), 0));
    cr_assert(eq(int, kwq_async_dead_purge(a, TP_QUEUE, NULL, 0, on_count, TAG(1)), 0));
    run_until(loop, 2, 30);
    assert_codes((const int[]){1200, 1300}, 2);
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).dead, 0));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).pending, 0));
    free(some);
    free(ids);
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/* Bad arguments are refused at the call, as the sync client refuses them; no callback. */
Test(async, broker_calls_refuse_bad_arguments_at_once)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = async_client(loop);
    struct kwq_async *down = kwq_async_new(loop, NULL);
    const char *bad[] = {"12", "x1"};

    cr_assert(eq(int, kwq_async_reap(a, TP_QUEUE, 0, on_reap, TAG(0)), KWQ_EINVAL));
    tp_assert_str_eq(kwq_async_errstr(a), "reap: max must be between 1 and 1000, got 0");
    cr_assert(eq(int, kwq_async_task_get(a, TP_QUEUE, "x1", on_task, TAG(0)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_dead_requeue(a, TP_QUEUE, bad, 2, on_count, TAG(0)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_dead_purge(a, "bad queue", NULL, 0, on_count, TAG(0)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_stats_read(a, "", on_stats, TAG(0)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_dead_list(a, "{x}", 0, 1, on_dead, TAG(0)), KWQ_EINVAL));
    cr_assert(eq(int, kwq_async_queues_list(down, on_queues, TAG(0)), KWQ_ECONN));
    cr_assert(eq(sz, kwq_async_pending(a), 0));
    run_until(loop, 0, 1);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert(eq(sz, ncalls, 0));
    kwq_async_free(down);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* ---- TCP, with the password and db in the URL ---------------------------------------- */

static char tcp_port[16];

static void tcp_setup(void)
{
    static const char *args[] = {"--port", tcp_port, "--bind", "127.0.0.1", NULL};

    tp_free_port(tcp_port, sizeof(tcp_port));
    redis_fixture_start(&test_redis, args);
    config_set("requirepass", "tcp-pw");
    forget_calls();
}

TestSuite(async_tcp, .init = tcp_setup, .fini = async_teardown);

Test(async_tcp, password_and_db_from_the_url)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_async *a;
    char url[200];

    (void)snprintf(url, sizeof(url), "redis://:tcp-pw@127.0.0.1:%s/2", tcp_port);
    c = tp_client(url);
    tp_enqueue(c, TP_QUEUE, "over tcp", NULL);
    kwq_client_opts_init(&o);
    o.url = url;
    a = async_opts(loop, &o);
    cr_assert(eq(int, kwq_async_lease(a, TP_QUEUE, 1, 60000, on_lease, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(sz, calls[0].n, 1), "%s", calls[0].err);
    tp_assert_str_eq(calls[0].lease.tasks[0].payload, "over tcp");
    tp_assert_str_eq(kwq_async_url_redacted(a), kwq_client_url_redacted(c));
    cr_assert(not(tp_contains(kwq_async_url_redacted(a), "tcp-pw")));
    kwq_async_free(a);
    kwq_client_free(c);
    ev_loop_destroy(loop);
}

/*
 * A slow DNS: this program's getaddrinfo takes the place of libc's for the
 * whole process (libkwq and hiredis included). SLOW_HOST answers 127.0.0.1
 * after SLOW_LOOKUP_US; every other name goes to libc.
 */
#define SLOW_HOST      "slow.kwq.invalid"
#define SLOW_LOOKUP_US 600000

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    void *sym = dlsym(RTLD_NEXT, "getaddrinfo");

    memcpy(&real, &sym, sizeof(real));
    if (node && strcmp(node, SLOW_HOST) == 0) {
        (void)usleep(SLOW_LOOKUP_US);
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}

/* A client for the TCP server by the slow host name, with connect_timeout_ms. */
static struct kwq_async *slow_host_client(struct ev_loop *loop, unsigned connect_timeout_ms)
{
    struct kwq_client_opts o;
    char url[200];

    (void)snprintf(url, sizeof(url), "redis://:tcp-pw@" SLOW_HOST ":%s/0", tcp_port);
    kwq_client_opts_init(&o);
    o.url = url;
    o.connect_timeout_ms = connect_timeout_ms;
    return kwq_async_new(loop, &o);
}

/* A real lookup: localhost reaches the server listening on 127.0.0.1 (IPv4 asked first). */
Test(async_tcp, localhost_is_looked_up)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client_opts o;
    struct kwq_async *a;
    char url[200];

    (void)snprintf(url, sizeof(url), "redis://:tcp-pw@localhost:%s/0", tcp_port);
    kwq_client_opts_init(&o);
    o.url = url;
    a = async_opts(loop, &o);
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(0)), 0));
    run_until(loop, 1, 10);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

/* getaddrinfo has no non-blocking form: the lookup runs apart while the loop goes on. */
Test(async_tcp, a_slow_host_lookup_does_not_block_the_loop)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = slow_host_client(loop, 10000);
    struct ticker t;

    ticker_start(loop, &t, 0.02);
    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0), "%s", kwq_async_errstr(a));
    run_until(loop, 1, 20);
    ev_timer_stop(loop, &t.w);
    cr_assert(eq(int, calls[0].rc, 0), "%s", calls[0].err);
    /* About 30 ticks in 600 ms; a loop blocked in the lookup would see none. */
    cr_assert(ge(int, t.ticks, 10), "ticks: %d", t.ticks);
    cr_assert(eq(int, kwq_async_drained(a, TP_QUEUE, on_flag, TAG(1)), 0));
    run_until(loop, 2, 10);
    cr_assert(eq(int, calls[1].rc, 0), "%s", calls[1].err);
    cr_assert(tp_contains(kwq_async_url_redacted(a), "redis://:***@" SLOW_HOST ":"), "%s",
              kwq_async_url_redacted(a));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async_tcp, a_lookup_past_the_deadline_times_out_and_is_let_go)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = slow_host_client(loop, 200);
    struct ticker t;

    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0), "%s", kwq_async_errstr(a));
    run_until(loop, 1, 20);
    cr_assert(eq(int, calls[0].rc, KWQ_ETIMEOUT), "%s", calls[0].err);
    cr_assert(not(kwq_async_is_connected(a)));
    /* The lookup ends later, alone: nothing more happens to the client. */
    ticker_start(loop, &t, 0.05);
    while (t.ticks < 16)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t.w);
    cr_assert(eq(sz, ncalls, 1));
    cr_assert(eq(sz, kwq_async_pending(a), 0));
    kwq_async_free(a);
    ev_loop_destroy(loop);
}

Test(async_tcp, free_during_a_lookup)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_async *a = slow_host_client(loop, 10000);

    cr_assert(eq(int, kwq_async_connect(a, on_connect, TAG(0)), 0), "%s", kwq_async_errstr(a));
    kwq_async_free(a);
    cr_assert(eq(sz, ncalls, 1));
    cr_assert(eq(int, calls[0].rc, KWQ_ECONN), "%s", calls[0].err);
    ev_loop_destroy(loop);
    /* The lookup finishes after both are gone and must touch neither. */
    (void)usleep(SLOW_LOOKUP_US + 200000);
}
