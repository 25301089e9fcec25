/*
 * test_proto_readonly.c - kwq_stats_read (the stats_ro script, which writes
 * nothing): the same numbers as kwq_stats when nothing is overdue; expired
 * leases and due delayed tasks shown as overdue and left where they are
 * (while kwq_stats and kwq_reap move them); and a client with
 * opts.read_only on a real replica, which answers the read-only calls with
 * the master's numbers and refuses the others with one clear line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "kwq/async.h"

#include "test_proto_support.h"

TestSuite(readonly, .init = redis_setup, .fini = redis_teardown);

/* Writes the server counted (INFO persistence rdb_changes_since_last_save; --save ""). */
static long long server_changes(redisContext *r)
{
    redisReply *rep = redisCommand(r, "INFO persistence");
    const char *p;
    long long v;

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING);
    p = strstr(rep->str, "rdb_changes_since_last_save:");
    cr_assert(p != NULL);
    v = strtoll(p + strlen("rdb_changes_since_last_save:"), NULL, 10);
    freeReplyObject(rep);
    return v;
}

static void assert_nothing_overdue(const struct kwq_stats *s)
{
    cr_assert(eq(u64, s->overdue_leases, 0));
    cr_assert(eq(u64, s->due_delayed, 0));
    cr_assert(eq(i64, s->reap_lag_ms, 0));
}

/* One task of each state: 1 pending, 1 leased (60 s), 1 delayed (1 h), 1 dead. */
static void one_of_each(struct kwq_client *c)
{
    struct kwq_new_task later = {.payload = "d", .payload_len = 1, .delay_ms = 3600000};
    struct kwq_failure f = {.error = "bad", .code = 65, .no_retry = true};
    struct kwq_fail_outcome out;
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "a", NULL);
    tp_enqueue(c, TP_QUEUE, "b", NULL);
    tp_enqueue(c, TP_QUEUE, "c", NULL);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &later, 1, NULL, NULL), 0));
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    f.id = t.id;
    f.token = t.token;
    cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &out), 0));
    cr_assert(out.dead);
    kwq_task_done(&t);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    kwq_task_done(&t);
}

Test(readonly, stats_read_equals_stats_when_nothing_is_overdue)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_stats ro, st;
    long long before;

    one_of_each(c);
    before = server_changes(r);
    ro = tp_stats_ro(c, TP_QUEUE);
    cr_assert(eq(llong, server_changes(r), before), "stats_read wrote to Redis");
    cr_assert(eq(u64, ro.pending, 1));
    cr_assert(eq(u64, ro.leased, 1));
    cr_assert(eq(u64, ro.delayed, 1));
    cr_assert(eq(u64, ro.dead, 1));
    cr_assert(eq(u64, ro.enqueued, 4));
    cr_assert(eq(u64, ro.failed, 1));
    cr_assert(eq(u64, ro.expired, 0));
    cr_assert(not(ro.sealed));
    cr_assert(not(ro.drained));
    cr_assert(ge(i64, ro.oldest_pending_ms, 0));
    cr_assert(gt(i64, ro.server_time_ms, 0));
    assert_nothing_overdue(&ro);
    st = tp_stats(c, TP_QUEUE);
    tp_assert_same_stats(&ro, &st);
    assert_nothing_overdue(&st);
    /* Sealed and empty: drained, read the same way. */
    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    ro = tp_stats_ro(c, TP_QUEUE);
    cr_assert(ro.sealed && ro.drained);
    cr_assert(eq(i64, ro.oldest_pending_ms, -1));
    st = tp_stats(c, TP_QUEUE);
    tp_assert_same_stats(&ro, &st);
    redisFree(r);
    kwq_client_free(c);
}

/* An expired lease and a due delayed task: 100 ms each, then 150 ms on the server's clock. */
static void overdue_pair(struct kwq_client *c, redisContext *r)
{
    struct kwq_new_task soon = {.payload = "y", .payload_len = 1, .delay_ms = 100};
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 100, 0, &t);
    kwq_task_done(&t);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &soon, 1, NULL, NULL), 0));
    tp_server_wait_ms(r, 150);
}

/* What stats_read shows of overdue_pair, twice over: nothing moves. */
static void assert_overdue_pair(struct kwq_client *c, redisContext *r)
{
    for (int i = 0; i < 2; i++) {
        struct kwq_stats ro = tp_stats_ro(c, TP_QUEUE);

        cr_assert(eq(u64, ro.leased, 1));
        cr_assert(eq(u64, ro.overdue_leases, 1));
        cr_assert(eq(u64, ro.delayed, 1));
        cr_assert(eq(u64, ro.due_delayed, 1));
        cr_assert(eq(u64, ro.pending, 0));
        cr_assert(eq(u64, ro.expired, 0));
        /* Both fell due at least 50 ms ago (150 ms waited, 100 ms given). */
        cr_assert(ge(i64, ro.reap_lag_ms, 50), "reap_lag_ms %lld", (long long)ro.reap_lag_ms);
    }
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 1));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "delayed"), 1));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 0));
}

Test(readonly, expired_lease_is_overdue_in_stats_read_until_stats_reaps_it)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_stats st, ro;

    overdue_pair(c, r);
    assert_overdue_pair(c, r);
    st = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, st.leased, 0));
    cr_assert(eq(u64, st.delayed, 0));
    cr_assert(eq(u64, st.pending, 2));
    cr_assert(eq(u64, st.expired, 1));
    assert_nothing_overdue(&st);
    ro = tp_stats_ro(c, TP_QUEUE);
    tp_assert_same_stats(&ro, &st);
    assert_nothing_overdue(&ro);
    redisFree(r);
    kwq_client_free(c);
}

Test(readonly, expired_lease_is_overdue_in_stats_read_until_reap)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_reap_result rr;
    struct kwq_stats ro;

    overdue_pair(c, r);
    assert_overdue_pair(c, r);
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 10, &rr), 0));
    cr_assert(eq(u64, rr.expired, 1));
    cr_assert(eq(u64, rr.dead, 0));
    cr_assert(eq(u64, rr.promoted, 1));
    ro = tp_stats_ro(c, TP_QUEUE);
    cr_assert(eq(u64, ro.pending, 2));
    cr_assert(eq(u64, ro.leased, 0));
    cr_assert(eq(u64, ro.expired, 1));
    assert_nothing_overdue(&ro);
    redisFree(r);
    kwq_client_free(c);
}

/* stats reaps 100 leases inline: the other 50 it reports as still overdue. */
Test(readonly, stats_reports_what_its_inline_reap_left)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr = {.n = 0};
    struct kwq_stats st;

    tp_enqueue_n(c, TP_QUEUE, "t", 150);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 150, 100, 0, &lr), 150));
    kwq_lease_result_done(&lr);
    tp_server_wait_ms(r, 150);
    st = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, st.expired, 100));
    cr_assert(eq(u64, st.pending, 100));
    cr_assert(eq(u64, st.leased, 50));
    cr_assert(eq(u64, st.overdue_leases, 50));
    cr_assert(eq(u64, st.due_delayed, 0));
    cr_assert(ge(i64, st.reap_lag_ms, 50));
    redisFree(r);
    kwq_client_free(c);
}

Test(readonly, bad_queue_name_is_einval)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_stats s;

    cr_assert(eq(int, kwq_stats_read(c, "no spaces", &s), KWQ_EINVAL));
    cr_assert(eq(i64, s.oldest_pending_ms, -1));
    cr_assert(eq(u64, s.pending, 0));
    kwq_client_free(c);
}

/* A Redis at its maxmemory limit still answers the reads (no-writes implies allow-oom). */
Test(readonly, reads_work_at_maxmemory)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_dead_task *dead = NULL;
    struct kwq_task_info info;
    struct kwq_new_task t = {.payload = "z", .payload_len = 1};
    size_t n = 0;
    redisReply *rep;

    one_of_each(c);
    rep = redisCommand(r, "CONFIG SET maxmemory 1");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL), KWQ_EOOM));
    cr_assert(eq(u64, tp_stats_ro(c, TP_QUEUE).pending, 1));
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 10, &dead, &n), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(sz, n, 1));
    kwq_dead_list_free(dead, n);
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, "3", &info), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(int, info.state, KWQ_STATE_PENDING));
    kwq_task_info_done(&info);
    redisFree(r);
    kwq_client_free(c);
}

/* ---- A real replica ------------------------------------------------------------- */

static char master_port[16];
static struct redis_fixture replica;

/* The master listens on loopback too, and a second private server follows it. */
static void repl_setup(void)
{
    static const char *margs[] = {"--port", master_port, "--bind", "127.0.0.1", NULL};
    static const char *rargs[] = {"--replicaof", "127.0.0.1", master_port, NULL};

    tp_free_port(master_port, sizeof(master_port));
    redis_fixture_start(&test_redis, margs);
    memset(&replica, 0, sizeof(replica));
    redis_fixture_start(&replica, rargs);
}

static void repl_teardown(void)
{
    redis_fixture_stop(&replica);
    redis_teardown();
}

TestSuite(readonly_repl, .init = repl_setup, .fini = repl_teardown, .timeout = 60);

/* Block until the replica has every write the master took so far (WAIT). */
static void sync_replica(void)
{
    redisContext *r = tp_redis();
    const char *argv[] = {"WAIT", "1", "30000"};

    cr_assert(eq(llong, tp_redis_int(r, 3, argv), 1), "the replica did not catch up");
    redisFree(r);
}

static struct kwq_client *replica_client(void)
{
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    o.url = replica.url;
    o.read_only = true;
    return tp_client_opts(&o);
}

Test(readonly_repl, replica_answers_stats_read_with_the_masters_numbers)
{
    struct kwq_client *m = tp_client(NULL), *c;
    struct kwq_stats ms, rs;
    struct kwq_dead_task *dead = NULL;
    struct kwq_task_info info;
    char **names = NULL;
    size_t n = 0;

    one_of_each(m);
    sync_replica();
    c = replica_client();
    ms = tp_stats_ro(m, TP_QUEUE);
    rs = tp_stats_ro(c, TP_QUEUE);
    tp_assert_same_stats(&rs, &ms);
    cr_assert(eq(u64, rs.pending, 1));
    cr_assert(eq(u64, rs.leased, 1));
    cr_assert(eq(u64, rs.delayed, 1));
    cr_assert(eq(u64, rs.dead, 1));
    cr_assert(eq(u64, rs.enqueued, 4));
    assert_nothing_overdue(&rs);
    /* The other reads a dashboard makes work there too. */
    cr_assert(eq(int, kwq_queues_list(c, &names, &n), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(sz, n, 1));
    tp_assert_str_eq(names[0], TP_QUEUE);
    kwq_queues_free(names, n);
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 10, &dead, &n), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(sz, n, 1));
    tp_assert_str_eq(dead[0].id, "1");
    tp_assert_str_eq(dead[0].last_error, "bad");
    cr_assert(eq(int, dead[0].last_code, 65));
    kwq_dead_list_free(dead, n);
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, "2", &info), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(int, info.state, KWQ_STATE_LEASED));
    cr_assert(eq(sz, info.task.payload_len, 1));
    kwq_task_info_done(&info);
    kwq_client_free(c);
    kwq_client_free(m);
}

Test(readonly_repl, writing_calls_fail_on_the_replica_with_one_clear_line)
{
    struct kwq_client *c = replica_client();
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    struct kwq_stats s;
    char want[600];
    int rc;

    (void)snprintf(want, sizeof(want),
                   "Redis at %s is a read-only replica (READONLY) and this call writes: on a "
                   "replica only kwq_stats_read, kwq_queues_list, kwq_dead_list and kwq_task_get "
                   "work; use the master for the others",
                   replica.url);
    rc = kwq_stats(c, TP_QUEUE, &s);
    cr_assert(eq(int, rc, KWQ_EREADONLY), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    tp_assert_str_eq(kwq_client_errstr(c), want);
    cr_assert(kwq_client_is_connected(c));
    rc = kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL);
    cr_assert(eq(int, rc, KWQ_EREADONLY), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    tp_assert_str_eq(kwq_client_errstr(c), want);
    cr_assert(eq(int, kwq_queue_forget(c, TP_QUEUE), KWQ_EREADONLY));
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 10, NULL), KWQ_EREADONLY));
    /* The reads still work on the same connection. */
    s = tp_stats_ro(c, TP_QUEUE);
    cr_assert(eq(u64, s.enqueued, 0));
    kwq_client_free(c);
}

/* The replica's script cache is its own: flushed there, the read loads it again. */
Test(readonly_repl, scripts_reload_on_the_replica)
{
    struct kwq_client *m = tp_client(NULL), *c;
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *r;
    redisReply *rep;

    tp_enqueue(m, TP_QUEUE, "a", NULL);
    sync_replica();
    c = replica_client();
    r = redisConnectUnixWithTimeout(replica.sock, tv);
    cr_assert(r != NULL && !r->err);
    rep = redisCommand(r, "SCRIPT FLUSH");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(r);
    cr_assert(eq(u64, tp_stats_ro(c, TP_QUEUE).pending, 1));
    kwq_client_free(c);
    kwq_client_free(m);
}

/* ---- The same through the non-blocking client ----------------------------------- */

static void on_connected(struct kwq_async *a, int rc, void *data)
{
    (void)a;
    *(int *)data = rc;
}

static void on_stats(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    struct kwq_stats *out = data;

    (void)a;
    cr_assert(eq(int, rc, 0), "%s", kwq_async_errstr(a));
    *out = *st;
}

static void on_stats_refused(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    cr_assert(st == NULL);
    *(int *)data = rc;
    cr_assert(tp_contains(kwq_async_errstr(a), "this call writes"), "%s", kwq_async_errstr(a));
}

Test(readonly_repl, async_read_only_client_reads_the_replica)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kwq_client *m = tp_client(NULL);
    struct kwq_client_opts o;
    struct kwq_stats ms, rs = {.pending = 99};
    struct kwq_async *a;
    int crc = 1, refused = 1;

    tp_enqueue_n(m, TP_QUEUE, "p", 3);
    sync_replica();
    kwq_client_opts_init(&o);
    o.url = replica.url;
    o.read_only = true;
    a = kwq_async_new(loop, &o);
    cr_assert(a != NULL);
    cr_assert(eq(int, kwq_async_connect(a, on_connected, &crc), 0));
    while (kwq_async_pending(a) > 0)
        ev_run(loop, EVRUN_ONCE);
    cr_assert(eq(int, crc, 0), "%s", kwq_async_errstr(a));
    cr_assert(eq(int, kwq_async_stats_read(a, TP_QUEUE, on_stats, &rs), 0));
    cr_assert(eq(int, kwq_async_stats(a, TP_QUEUE, on_stats_refused, &refused), 0));
    while (kwq_async_pending(a) > 0)
        ev_run(loop, EVRUN_ONCE);
    ms = tp_stats_ro(m, TP_QUEUE);
    tp_assert_same_stats(&rs, &ms);
    cr_assert(eq(u64, rs.pending, 3));
    cr_assert(eq(int, refused, KWQ_EREADONLY));
    kwq_async_free(a);
    kwq_client_free(m);
    ev_loop_destroy(loop);
}
