/*
 * test_proto_admin.c - the whole-queue and one-task operations: seal,
 * unseal and drained, every counter of kwq_stats, kwq_task_get in each
 * state, cancel, purge, queue settings and their range errors, queue
 * isolation, script reload after SCRIPT FLUSH and kwq_server_info.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(admin, .init = redis_setup, .fini = redis_teardown);

static bool drained(struct kwq_client *c)
{
    bool d = true;

    cr_assert(eq(int, kwq_drained(c, TP_QUEUE, &d), 0));
    return d;
}

Test(admin, seal_refuses_enqueue_and_unseal_accepts)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t[2] = {{.payload = "a", .payload_len = 1},
                                {.payload = "b", .payload_len = 1}};
    size_t accepted = 99;
    struct kwq_stats s;

    tp_enqueue(c, TP_QUEUE, "before", NULL);
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0)); /* idempotent */
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, 2, NULL, &accepted), KWQ_ESEALED));
    cr_assert(eq(sz, accepted, 0));
    cr_assert(tp_contains(kwq_client_errstr(c), "sealed"), "errstr: %s", kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), TP_QUEUE), "errstr: %s", kwq_client_errstr(c));
    cr_assert(kwq_client_is_connected(c));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(s.sealed);
    cr_assert(eq(u64, s.enqueued, 1));
    cr_assert(eq(u64, s.pending, 1));

    cr_assert(eq(int, kwq_unseal(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_unseal(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, 2, NULL, &accepted), 0));
    cr_assert(eq(sz, accepted, 2));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(not(s.sealed));
    cr_assert(eq(u64, s.enqueued, 3));
    kwq_client_free(c);
}

/* drained = sealed and nothing pending, leased or delayed. */
/*
 * A client that took the wake token and stops without leasing gives it back
 * with a drained call: while tasks are pending, and when the queue is
 * drained; never for an open, empty queue (nothing to wake for).
 */
Test(admin, drained_call_gives_the_wake_token_back)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    const char *take[] = {"DEL", "kwq:{" TP_QUEUE "}:wake"};

    cr_assert(not(drained(c)));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "wake"), 0)); /* open and empty */
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "wake"), 1));
    cr_assert(eq(llong, tp_redis_int(r, 2, take), 1)); /* a waiter takes it */
    cr_assert(not(drained(c)));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "wake"), 1)); /* pending: back */
    cr_assert(not(drained(c)));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "wake"), 1)); /* at most one */
    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    (void)tp_redis_int(r, 2, take);
    cr_assert(drained(c));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "wake"), 1)); /* drained: back */
    redisFree(r);
    kwq_client_free(c);
}

Test(admin, drained_needs_sealed_and_empty)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task later = {.payload = "d", .payload_len = 1, .delay_ms = 600000};
    struct kwq_lease_result r;
    struct kwq_task t;
    char did[KWQ_ID_MAX];
    struct kwq_enqueued e;

    cr_assert(not(drained(c))); /* empty but open */
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(drained(c));
    cr_assert(eq(int, kwq_unseal(c, TP_QUEUE), 0));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(not(drained(c))); /* pending */
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(not(drained(c))); /* leased */
    /* Holders of a sealed queue still finish their work. */
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    cr_assert(drained(c));
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 0, &r), 0));
    cr_assert(r.sealed);
    cr_assert(r.drained);
    kwq_lease_result_done(&r);

    cr_assert(eq(int, kwq_unseal(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &later, 1, &e, NULL), 0));
    memcpy(did, e.id, sizeof(did));
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(not(drained(c))); /* delayed */
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, did), 0));
    cr_assert(drained(c));
    kwq_client_free(c);
}

Test(admin, stats_of_a_fresh_queue)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_stats s = tp_stats(c, TP_QUEUE);
    struct kwq_stats zero;

    memset(&zero, 0, sizeof(zero));
    tp_assert_same_stats(&s, &zero);
    cr_assert(eq(i64, s.oldest_pending_ms, -1));
    cr_assert(gt(i64, s.server_time_ms, 1700000000000LL));
    kwq_client_free(c);
}

/* Every counter after a scenario that touches each of them once. */
Test(admin, stats_count_every_transition)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task nt[6] = {
        {.payload = "A", .payload_len = 1, .idem_key = "a"},
        {.payload = "B", .payload_len = 1},
        {.payload = "C", .payload_len = 1},
        {.payload = "D", .payload_len = 1},
        {.payload = "E", .payload_len = 1, .delay_ms = 600000},
        {.payload = "A again", .payload_len = 7, .idem_key = "a"},
    };
    struct kwq_lease_result lr;
    struct kwq_stats s, want;
    struct kwq_task t;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, nt, 6, NULL, NULL), 0));
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 3, 60000, 0, &lr), 3));
    tp_assert_str_eq(lr.tasks[0].payload, "A");
    tp_assert_str_eq(lr.tasks[1].payload, "B");
    tp_assert_str_eq(lr.tasks[2].payload, "C");
    {
        struct kwq_ack a = {
            .id = lr.tasks[0].id, .token = lr.tasks[0].token, .result = "ra", .result_len = 2};
        struct kwq_failure f = {
            .id = lr.tasks[1].id, .token = lr.tasks[1].token, .error = "e", .code = 1};
        struct kwq_lease_ref rel = {.id = lr.tasks[2].id, .token = lr.tasks[2].token};
        struct kwq_fail_outcome out;
        int st = 99;

        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, &st), 0));
        cr_assert(eq(int, st, 0));
        cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &out), 0));
        cr_assert(eq(int, out.status, 0));
        cr_assert(eq(int, kwq_release(c, TP_QUEUE, &rel, 1, &st), 0));
        cr_assert(eq(int, st, 0));
    }
    kwq_lease_result_done(&lr);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.payload, "C");
    kwq_task_done(&t);

    /* D waits; C is leased; B (retry) and E are delayed; A is done with a result. */
    s = tp_stats(c, TP_QUEUE);
    memset(&want, 0, sizeof(want));
    want.pending = 1;
    want.leased = 1;
    want.delayed = 2;
    want.done = 1;
    want.enqueued = 5;
    want.duplicates = 1;
    want.failed = 1;
    want.retries = 1;
    want.released = 1;
    want.results = 1;
    tp_assert_same_stats(&s, &want);
    cr_assert(ge(i64, s.oldest_pending_ms, 0));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 1));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "delayed"), 2));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 1));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 4));
    redisFree(r);
    kwq_client_free(c);
}

Test(admin, task_get_in_each_state)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task_info info;
    struct kwq_task t;
    struct kwq_stats s;
    char id[KWQ_ID_MAX];

    tp_enqueue(c, TP_QUEUE, "look at me", id);
    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_PENDING));
    tp_assert_str_eq(info.task.id, id);
    tp_assert_str_eq(info.task.payload, "look at me");
    cr_assert(eq(sz, info.task.payload_len, 10));
    cr_assert(eq(u32, info.task.max_attempts, 3));
    cr_assert(eq(i64, info.due_ms, 0));
    tp_assert_str_eq(info.history_json, "[]");
    cr_assert(info.result == NULL);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(le(i64, info.task.enqueued_ms, s.server_time_ms));
    kwq_task_info_done(&info);
    cr_assert(info.history_json == NULL);

    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_LEASED));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(gt(i64, info.due_ms, s.server_time_ms));
    cr_assert(le(i64, info.due_ms, s.server_time_ms + 60000));
    cr_assert(eq(i64, info.task.enqueued_ms, t.enqueued_ms));
    kwq_task_info_done(&info);

    /* Done without a result: nothing is left, so it is not found. */
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, id, &info), KWQ_ENOTFOUND));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, "424242", &info), KWQ_ENOTFOUND));
    tp_assert_str_ne(kwq_client_errstr(c), "");
    kwq_client_free(c);
}

Test(admin, cancel_pending_and_delayed)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task later = {.payload = "d", .payload_len = 1, .delay_ms = 600000};
    struct kwq_task_info info;
    struct kwq_enqueued e;
    struct kwq_stats s;
    char id[KWQ_ID_MAX];

    tp_enqueue(c, TP_QUEUE, "p", id);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &later, 1, &e, NULL), 0));
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, id), 0));
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, e.id), 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.cancelled, 2));
    cr_assert(eq(u64, s.pending + s.delayed + s.leased + s.dead, 0));
    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, id, &info), KWQ_ENOTFOUND));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, e.id, &info), KWQ_ENOTFOUND));
    tp_lease_none(c, TP_QUEUE);
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "meta"), 0));

    /* A second cancel, or an ID that never existed: not found. */
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, id), KWQ_ENOTFOUND));
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, "777"), KWQ_ENOTFOUND));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.cancelled, 2));
    redisFree(r);
    kwq_client_free(c);
}

/* A cancelled leased task: its holder learns it on renew, ack, fail or release. */
Test(admin, cancel_leased_is_seen_by_the_holder)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_client *holder = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr;
    struct kwq_stats s;
    int st = 99;

    tp_enqueue_n(c, TP_QUEUE, "x", 4);
    cr_assert(eq(int, kwq_lease(holder, TP_QUEUE, 4, 60000, 0, &lr), 4));
    for (size_t i = 0; i < 4; i++)
        cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, lr.tasks[i].id), 0));
    {
        struct kwq_lease_ref ref0 = {.id = lr.tasks[0].id, .token = lr.tasks[0].token};
        struct kwq_ack a1 = {.id = lr.tasks[1].id, .token = lr.tasks[1].token};
        struct kwq_failure f2 = {
            .id = lr.tasks[2].id, .token = lr.tasks[2].token, .error = "e", .code = 1};
        struct kwq_lease_ref ref3 = {.id = lr.tasks[3].id, .token = lr.tasks[3].token};
        struct kwq_fail_outcome out;

        cr_assert(eq(int, kwq_renew(holder, TP_QUEUE, &ref0, 1, 60000, &st), 0));
        cr_assert(eq(int, st, KWQ_ECANCELLED), "renew: %s", kwq_err_name(st));
        cr_assert(eq(int, kwq_ack(holder, TP_QUEUE, &a1, 1, &st), 0));
        cr_assert(eq(int, st, KWQ_ECANCELLED), "ack: %s", kwq_err_name(st));
        cr_assert(eq(int, kwq_fail(holder, TP_QUEUE, &f2, 1, &out), 0));
        cr_assert(eq(int, out.status, KWQ_ECANCELLED), "fail: %s", kwq_err_name(out.status));
        cr_assert(not(out.dead));
        cr_assert(eq(int, kwq_release(holder, TP_QUEUE, &ref3, 1, &st), 0));
        cr_assert(eq(int, st, KWQ_ECANCELLED), "release: %s", kwq_err_name(st));
    }
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.cancelled, 4));
    cr_assert(eq(u64, s.leased + s.pending + s.delayed + s.dead + s.done, 0));
    cr_assert(eq(u64, s.failed, 0));
    cr_assert(eq(u64, s.released, 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "leases"), 0));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 0));
    for (size_t i = 0; i < 4; i++)
        cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, lr.tasks[i].id, &(struct kwq_task_info){0}),
                     KWQ_ENOTFOUND));
    kwq_lease_result_done(&lr);
    redisFree(r);
    kwq_client_free(holder);
    kwq_client_free(c);
}

/* A cancelled lease that expires is deleted, not returned to pending. */
Test(admin, cancelled_lease_expiry_deletes_the_task)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;
    struct kwq_stats s;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 200, 0, &t);
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, t.id), 0));
    tp_server_wait_ms(r, 400);
    tp_lease_none(c, TP_QUEUE);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.cancelled, 1));
    cr_assert(eq(u64, s.pending + s.leased + s.dead, 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "leases"), 0));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

Test(admin, purge_empties_the_queue_but_keeps_the_sequence)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_stats s, zero;
    struct kwq_task t;
    uint64_t v = 0;
    char id[KWQ_ID_MAX];
    int st = 99;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 5), 0));
    tp_enqueue_n(c, TP_QUEUE, "x", 3);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));

    s = tp_stats(c, TP_QUEUE);
    memset(&zero, 0, sizeof(zero));
    tp_assert_same_stats(&s, &zero);
    cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, "max_attempts", &v), 0));
    cr_assert(eq(u64, v, 3));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "pending"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "leased"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "leases"), 0));
    /* Settings are gone; only the server last seen stays (docs/PROTOCOL.md "Rollbacks"). */
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "conf"), 1));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "seq"), 1));

    /* The holder's lease is gone. */
    {
        struct kwq_ack a = {.id = t.id, .token = t.token};
        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, &st), 0));
        cr_assert(eq(int, st, KWQ_ELEASELOST));
    }
    /* IDs are never reused (tokens neither: test_proto_rollback). */
    tp_enqueue(c, TP_QUEUE, "new", id);
    tp_assert_str_eq(id, "4");
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 1));
    cr_assert(eq(u64, s.enqueued, 1));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

Test(admin, queue_settings_defaults_and_ranges)
{
    struct kwq_client *c = tp_client(NULL);
    static const struct {
        const char *name;
        uint64_t def;
        uint64_t set;
    } settings[] = {
        {"max_attempts", 3, 1000},
        {"backoff_base_ms", 1000, 250},
        {"backoff_max_ms", 3600000, 60000},
        {"max_tasks", 10000000, 0},
    };
    uint64_t v;

    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        v = 12345;
        cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, settings[i].name, &v), 0));
        cr_assert(eq(u64, v, settings[i].def), "%s", settings[i].name);
        cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, settings[i].name, settings[i].set), 0),
                  "%s: %s", settings[i].name, kwq_client_errstr(c));
        cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, settings[i].name, &v), 0));
        cr_assert(eq(u64, v, settings[i].set), "%s", settings[i].name);
    }

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 0), KWQ_EINVAL));
    cr_assert(tp_contains(kwq_client_errstr(c), "1000"), "errstr: %s", kwq_client_errstr(c));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 1001), KWQ_EINVAL));
    cr_assert(tp_contains(kwq_client_errstr(c), "max_attempts"), "errstr: %s",
              kwq_client_errstr(c));
    cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, "max_attempts", &v), 0));
    cr_assert(eq(u64, v, 1000)); /* refused values changed nothing */
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 1), 0));

    /* The upper bounds of the others (docs/PROTOCOL.md "Settings"). */
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_base_ms", 86400000), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_base_ms", 86400001), KWQ_EINVAL));
    cr_assert(tp_contains(kwq_client_errstr(c), "86400000"), "errstr: %s", kwq_client_errstr(c));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_max_ms", 604800000), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_max_ms", 604800001), KWQ_EINVAL));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_tasks", 1000000000000ULL), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_tasks", 1000000000001ULL), KWQ_EINVAL));
    cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, "max_tasks", &v), 0));
    cr_assert(eq(u64, v, 1000000000000ULL));

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "no_such_setting", 1), KWQ_EINVAL));
    cr_assert(tp_contains(kwq_client_errstr(c), "no_such_setting"), "errstr: %s",
              kwq_client_errstr(c));
    cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, "no_such_setting", &v), KWQ_EINVAL));
    cr_assert(eq(int, kwq_queue_set(c, "bad name", "max_attempts", 2), KWQ_EINVAL));
    cr_assert(kwq_client_is_connected(c));
    kwq_client_free(c);
}

/* The queue's max_attempts applies to tasks that did not set their own. */
Test(admin, queue_max_attempts_applies_at_lease)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task own = {.payload = "own", .payload_len = 3, .max_attempts = 9};
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "default", NULL);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &own, 1, NULL, NULL), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 6), 0));
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(u32, t.max_attempts, 6));
    kwq_task_done(&t);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(u32, t.max_attempts, 9));
    kwq_task_done(&t);
    kwq_client_free(c);
}

Test(admin, queues_are_isolated)
{
    struct kwq_client *c = tp_client(NULL);
    char a[KWQ_ID_MAX], b[KWQ_ID_MAX];
    struct kwq_stats s;
    struct kwq_task t;

    tp_enqueue(c, "alpha", "for alpha", a);
    tp_enqueue(c, "beta", "for beta", b);
    tp_assert_str_eq(a, "1");
    tp_assert_str_eq(b, "1");
    cr_assert(eq(int, kwq_seal(c, "alpha"), 0));
    s = tp_stats(c, "beta");
    cr_assert(not(s.sealed));
    cr_assert(eq(u64, s.pending, 1));
    tp_lease1(c, "beta", 60000, 0, &t);
    tp_assert_str_eq(t.payload, "for beta");
    kwq_task_done(&t);
    tp_lease_none(c, "beta");
    s = tp_stats(c, "alpha");
    cr_assert(eq(u64, s.pending, 1));
    kwq_client_free(c);
}

/* The script cache does not survive SCRIPT FLUSH or a restart: the client reloads. */
Test(admin, scripts_reload_after_flush)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    redisReply *rep;
    struct kwq_task t;
    struct kwq_stats s;

    tp_enqueue(c, TP_QUEUE, "one", NULL);
    rep = redisCommand(r, "SCRIPT FLUSH");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    tp_enqueue(c, TP_QUEUE, "two", NULL);
    rep = redisCommand(r, "SCRIPT FLUSH");
    freeReplyObject(rep);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.payload, "one");
    rep = redisCommand(r, "SCRIPT FLUSH");
    freeReplyObject(rep);
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    rep = redisCommand(r, "SCRIPT FLUSH");
    freeReplyObject(rep);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.done, 1));
    cr_assert(eq(u64, s.pending, 1));
    redisFree(r);
    kwq_client_free(c);
}

Test(admin, server_info_sections)
{
    struct kwq_client *c = tp_client(NULL);
    char *info = NULL;

    cr_assert(eq(int, kwq_server_info(c, "memory", &info), 0));
    cr_assert(tp_contains(info, "used_memory:"), "%s", info);
    cr_assert(tp_contains(info, "maxmemory_policy:noeviction"));
    free(info);
    info = NULL;
    cr_assert(eq(int, kwq_server_info(c, "server", &info), 0));
    cr_assert(tp_contains(info, "redis_version:"));
    free(info);
    kwq_client_free(c);
}

/* A Redis error that is not kwq's own (a key of the wrong type) is KWQ_EREDIS, verbatim. */
Test(admin, foreign_redis_error_is_eredis)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    redisReply *rep;

    rep = redisCommand(r, "SET kwq:{%s}:pending not-a-list", TP_QUEUE);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL), KWQ_EREDIS));
    cr_assert(tp_contains(kwq_client_errstr(c), "WRONGTYPE"), "%s", kwq_client_errstr(c));
    /* Not a transport error: the connection stays usable. */
    cr_assert(kwq_client_is_connected(c));
    tp_enqueue(c, "other", "x", NULL);
    redisFree(r);
    kwq_client_free(c);
}

/* The oldest pending task's age is measured on the server clock. */
Test(admin, oldest_pending_age)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;
    struct kwq_stats s;

    tp_enqueue(c, TP_QUEUE, "old", NULL);
    tp_server_wait_ms(r, 300);
    tp_enqueue(c, TP_QUEUE, "new", NULL);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(ge(i64, s.oldest_pending_ms, 300));
    /* Once the old one is leased, the age is the new one's. */
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.payload, "old");
    s = tp_stats(c, TP_QUEUE);
    cr_assert(lt(i64, s.oldest_pending_ms, s.server_time_ms - t.enqueued_ms));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}
