/*
 * test_proto_enqueue.c - kwq_enqueue: IDs, batches across chunks, payload
 * bytes and the size cap, idempotency keys, delays, per-task limits, the
 * queue's max_tasks cap and refused queue names.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(enqueue, .init = redis_setup, .fini = redis_teardown);

Test(enqueue, ids_are_sequential_and_fifo)
{
    struct kwq_client *c = tp_client(NULL);
    char a[KWQ_ID_MAX], b[KWQ_ID_MAX];
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "first", a);
    tp_enqueue(c, TP_QUEUE, "second", b);
    tp_assert_str_eq(a, "1");
    tp_assert_str_eq(b, "2");

    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.id, "1");
    tp_assert_str_eq(t.payload, "first");
    cr_assert(eq(sz, t.payload_len, 5));
    cr_assert(eq(u32, t.attempt, 1));
    cr_assert(eq(u32, t.max_attempts, 3));
    cr_assert(eq(u64, t.timeout_ms, 0));
    cr_assert(gt(u64, t.token, 0));
    cr_assert(gt(i64, t.enqueued_ms, 1700000000000LL));
    kwq_task_done(&t);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.id, "2");
    tp_assert_str_eq(t.payload, "second");
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* 2500 tasks span three KWQ_ENQUEUE_CHUNK chunks; order and IDs hold across them. */
Test(enqueue, batch_across_chunks_keeps_order)
{
    enum { N = 2500 };
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task *t = calloc(N, sizeof(*t));
    struct kwq_enqueued *e = calloc(N, sizeof(*e));
    char(*pay)[16] = calloc(N, sizeof(*pay));
    size_t accepted = 0, got = 0;
    struct kwq_stats s;

    cr_assert(t && e && pay);
    for (size_t i = 0; i < N; i++) {
        (void)snprintf(pay[i], sizeof(pay[i]), "p%zu", i);
        t[i].payload = pay[i];
        t[i].payload_len = strlen(pay[i]);
    }
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, N, e, &accepted), 0));
    cr_assert(eq(sz, accepted, N));
    for (size_t i = 0; i < N; i++) {
        char want[KWQ_ID_MAX];
        (void)snprintf(want, sizeof(want), "%zu", i + 1);
        tp_assert_str_eq(e[i].id, want);
        cr_assert(not(e[i].duplicate));
    }
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, N));
    cr_assert(eq(u64, s.enqueued, N));

    while (got < N) {
        struct kwq_lease_result r;
        int rc = kwq_lease(c, TP_QUEUE, 1000, 60000, 0, &r);
        cr_assert(gt(int, rc, 0), "lease: %d (%s)", rc, kwq_client_errstr(c));
        cr_assert(eq(sz, r.n, (size_t)rc));
        for (size_t i = 0; i < r.n; i++, got++) {
            tp_assert_str_eq(r.tasks[i].id, e[got].id);
            tp_assert_str_eq(r.tasks[i].payload, pay[got]);
        }
        kwq_lease_result_done(&r);
    }
    cr_assert(eq(sz, got, N));
    tp_lease_none(c, TP_QUEUE);
    free(t);
    free(e);
    free(pay);
    kwq_client_free(c);
}

Test(enqueue, every_byte_value_round_trips)
{
    struct kwq_client *c = tp_client(NULL);
    unsigned char bytes[512];
    struct kwq_task t;
    struct kwq_task_info info;
    char id[KWQ_ID_MAX];

    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i % 256);
    tp_enqueue_bin(c, TP_QUEUE, bytes, sizeof(bytes), id);

    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, id, &info), 0));
    cr_assert(eq(sz, info.task.payload_len, sizeof(bytes)));
    cr_assert(eq(int, memcmp(info.task.payload, bytes, sizeof(bytes)), 0));
    kwq_task_info_done(&info);

    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(sz, t.payload_len, sizeof(bytes)));
    cr_assert(eq(int, memcmp(t.payload, bytes, sizeof(bytes)), 0));
    cr_assert(eq(chr, t.payload[t.payload_len], '\0'));
    kwq_task_done(&t);
    kwq_client_free(c);
}

Test(enqueue, empty_payload_round_trips)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t;

    tp_enqueue_bin(c, TP_QUEUE, "", 0, NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(sz, t.payload_len, 0));
    cr_assert(t.payload != NULL);
    cr_assert(eq(chr, t.payload[0], '\0'));
    kwq_task_done(&t);
    kwq_client_free(c);
}

Test(enqueue, one_mebibyte_round_trips)
{
    const size_t n = 1048576;
    struct kwq_client *c = tp_client(NULL);
    unsigned char *big = malloc(n);
    struct kwq_task t;

    cr_assert(big != NULL);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)((i * 7919u) >> 3);
    tp_enqueue_bin(c, TP_QUEUE, big, n, NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(sz, t.payload_len, n));
    cr_assert(eq(int, memcmp(t.payload, big, n), 0));
    kwq_task_done(&t);
    free(big);
    kwq_client_free(c);
}

/* One byte over the cap refuses the whole batch, naming the limit. */
Test(enqueue, over_one_mebibyte_is_refused)
{
    const size_t n = 1048577;
    struct kwq_client *c = tp_client(NULL);
    unsigned char *big = calloc(1, n);
    struct kwq_new_task t[3] = {
        {.payload = "ok", .payload_len = 2},
        {.payload = big, .payload_len = n},
        {.payload = "ok too", .payload_len = 6},
    };
    size_t accepted = 99;
    struct kwq_stats s;
    redisContext *r = tp_redis();
    int rc;

    cr_assert(big != NULL);
    rc = kwq_enqueue(c, TP_QUEUE, t, 3, NULL, &accepted);
    cr_assert(eq(int, rc, KWQ_ETOOBIG));
    cr_assert(eq(sz, accepted, 0));
    cr_assert(tp_contains(kwq_client_errstr(c), "1048576"), "errstr: %s", kwq_client_errstr(c));
    cr_assert(kwq_client_is_connected(c));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(u64, s.enqueued, 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 0));
    /* The client is still usable. */
    tp_enqueue(c, TP_QUEUE, "after", NULL);
    redisFree(r);
    free(big);
    kwq_client_free(c);
}

Test(enqueue, max_payload_option_is_the_limit)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_new_task t = {.payload = "0123456789abcdefg", .payload_len = 17};
    size_t accepted = 99;

    kwq_client_opts_init(&o);
    cr_assert(eq(sz, o.max_payload, KWQ_DEFAULT_MAX_PAYLOAD));
    o.max_payload = 16;
    c = tp_client_opts(&o);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, &accepted), KWQ_ETOOBIG));
    cr_assert(eq(sz, accepted, 0));
    cr_assert(tp_contains(kwq_client_errstr(c), "16"), "errstr: %s", kwq_client_errstr(c));
    t.payload_len = 16;
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, &accepted), 0));
    cr_assert(eq(sz, accepted, 1));
    kwq_client_free(c);
}

Test(enqueue, idempotency_key_returns_the_existing_id)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t = {.payload = "x", .payload_len = 1, .idem_key = "order-17"};
    struct kwq_enqueued e1, e2, e3;
    struct kwq_stats s;
    struct kwq_task lt;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, &e1, NULL), 0));
    cr_assert(not(e1.duplicate));
    t.payload = "y"; /* a duplicate's payload is ignored */
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, &e2, NULL), 0));
    cr_assert(e2.duplicate);
    tp_assert_str_eq(e2.id, e1.id);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 1));
    cr_assert(eq(u64, s.enqueued, 1));
    cr_assert(eq(u64, s.duplicates, 1));

    /* The key outlives the task: after completion it still answers. */
    tp_lease1(c, TP_QUEUE, 60000, 0, &lt);
    tp_assert_str_eq(lt.payload, "x");
    tp_ack1(c, TP_QUEUE, &lt);
    kwq_task_done(&lt);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, &e3, NULL), 0));
    cr_assert(e3.duplicate);
    tp_assert_str_eq(e3.id, e1.id);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(u64, s.done, 1));
    cr_assert(eq(u64, s.enqueued, 1));
    cr_assert(eq(u64, s.duplicates, 2));
    kwq_client_free(c);
}

/* Two tasks with one key in one batch: the second is a duplicate of the first. */
Test(enqueue, idempotency_key_within_one_batch)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t[3] = {
        {.payload = "a", .payload_len = 1, .idem_key = "k"},
        {.payload = "b", .payload_len = 1, .idem_key = "k"},
        {.payload = "c", .payload_len = 1, .idem_key = "other"},
    };
    struct kwq_enqueued e[3];
    size_t accepted = 0;
    struct kwq_stats s;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, 3, e, &accepted), 0));
    cr_assert(eq(sz, accepted, 3));
    cr_assert(not(e[0].duplicate));
    cr_assert(e[1].duplicate);
    tp_assert_str_eq(e[1].id, e[0].id);
    cr_assert(not(e[2].duplicate));
    tp_assert_str_ne(e[2].id, e[0].id);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 2));
    cr_assert(eq(u64, s.enqueued, 2));
    cr_assert(eq(u64, s.duplicates, 1));
    kwq_client_free(c);
}

/* The due time is the enqueue time plus the delay, both on the server clock. */
Test(enqueue, delay_holds_the_task_until_due)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t = {.payload = "later", .payload_len = 5, .delay_ms = 300};
    struct kwq_enqueued e;
    struct kwq_task_info info;
    struct kwq_lease_result r;
    struct kwq_stats s;
    struct kwq_task lt;
    int64_t enqueued_ms;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, &e, NULL), 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(u64, s.delayed, 1));
    cr_assert(eq(u64, s.enqueued, 1));

    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, e.id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_DELAYED));
    cr_assert(eq(i64, info.due_ms - info.task.enqueued_ms, 300));
    tp_assert_str_eq(info.task.payload, "later");
    enqueued_ms = info.task.enqueued_ms;
    kwq_task_info_done(&info);

    /* Not leasable now; the reply says when the next task is due. */
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 0, &r), 0));
    cr_assert(eq(sz, r.n, 0));
    cr_assert(gt(i64, r.next_due_ms, -1));
    cr_assert(le(i64, r.next_due_ms, 300));
    kwq_lease_result_done(&r);

    /* A blocking lease wakes for it when it is due. */
    tp_lease1(c, TP_QUEUE, 60000, 30000, &lt);
    tp_assert_str_eq(lt.id, e.id);
    tp_assert_str_eq(lt.payload, "later");
    cr_assert(eq(u32, lt.attempt, 1));
    cr_assert(eq(i64, lt.enqueued_ms, enqueued_ms));
    kwq_task_done(&lt);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.delayed, 0));
    cr_assert(eq(u64, s.leased, 1));
    kwq_client_free(c);
}

Test(enqueue, per_task_limits_reach_the_lease)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t = {
        .payload = "x", .payload_len = 1, .max_attempts = 7, .timeout_ms = 12345};
    struct kwq_task lt;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL), 0));
    tp_lease1(c, TP_QUEUE, 60000, 0, &lt);
    cr_assert(eq(u32, lt.max_attempts, 7));
    cr_assert(eq(u64, lt.timeout_ms, 12345));
    cr_assert(eq(u32, lt.attempt, 1));
    kwq_task_done(&lt);
    kwq_client_free(c);
}

Test(enqueue, max_tasks_refuses_a_batch_that_does_not_fit)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t[3] = {
        {.payload = "a", .payload_len = 1},
        {.payload = "b", .payload_len = 1},
        {.payload = "c", .payload_len = 1},
    };
    size_t accepted = 99;
    struct kwq_stats s;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_tasks", 2), 0));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, 3, NULL, &accepted), KWQ_EFULL));
    cr_assert(eq(sz, accepted, 0));
    tp_assert_str_ne(kwq_client_errstr(c), "");
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(u64, s.enqueued, 0));

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, 2, NULL, &accepted), 0));
    cr_assert(eq(sz, accepted, 2));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t[2], 1, NULL, &accepted), KWQ_EFULL));
    cr_assert(eq(sz, accepted, 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 2));
    cr_assert(eq(u64, s.enqueued, 2));

    /* 0 lifts the cap. */
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_tasks", 0), 0));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t[2], 1, NULL, &accepted), 0));
    cr_assert(eq(sz, accepted, 1));
    kwq_client_free(c);
}

Test(enqueue, bad_queue_names_are_refused)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    char longname[KWQ_QUEUE_NAME_MAX + 2];
    const char *bad[] = {"", "has space", "br{ace}", "new\nline", longname};
    size_t accepted = 99;
    redisContext *r = tp_redis();
    const char *dbsize[] = {"DBSIZE"};

    memset(longname, 'q', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = kwq_enqueue(c, bad[i], &t, 1, NULL, &accepted);
        cr_assert(eq(int, rc, KWQ_EINVAL), "queue name #%zu: %s", i, kwq_err_name(rc));
        cr_assert(eq(sz, accepted, 0));
        tp_assert_str_ne(kwq_client_errstr(c), "");
    }
    cr_assert(eq(int, kwq_enqueue(c, NULL, &t, 1, NULL, &accepted), KWQ_EINVAL));
    cr_assert(eq(llong, tp_redis_int(r, 1, dbsize), 0));
    /* The longest legal name works. */
    longname[KWQ_QUEUE_NAME_MAX] = '\0';
    cr_assert(eq(int, kwq_enqueue(c, longname, &t, 1, NULL, &accepted), 0));
    cr_assert(eq(sz, accepted, 1));
    redisFree(r);
    kwq_client_free(c);
}

/* A queued default task costs one list element and one data entry; an ack leaves nothing. */
Test(enqueue, done_task_leaves_nothing_behind)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "payload", NULL);
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 1));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 1));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "meta"), 0));
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 1));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "leases"), 1));
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "meta"), 0));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "leases"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "results"), 0));
    redisFree(r);
    kwq_client_free(c);
}

/* An idempotency key is remembered for idem_ttl_ms (server clock), then forgotten. */
Test(enqueue, idempotency_key_expires_after_its_ttl)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task t = {
        .payload = "x", .payload_len = 1, .idem_key = "short", .idem_ttl_ms = 200};
    struct kwq_enqueued e1, e2;
    struct kwq_stats s;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, &e1, NULL), 0));
    cr_assert(not(e1.duplicate));
    tp_server_wait_ms(r, 400);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, &e2, NULL), 0));
    cr_assert(not(e2.duplicate));
    tp_assert_str_ne(e2.id, e1.id);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.enqueued, 2));
    cr_assert(eq(u64, s.duplicates, 0));
    redisFree(r);
    kwq_client_free(c);
}

/*
 * A batch of several chunks that hits max_tasks part-way: the chunks before
 * the refused one are in, none after it, and ret_accepted says exactly how
 * many - so a caller retrying the rest neither loses nor duplicates tasks.
 */
Test(enqueue, full_queue_mid_batch_reports_exactly_what_went_in)
{
    enum { N = 2500 };
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task *t = calloc(N, sizeof(*t));
    struct kwq_enqueued *e = calloc(N, sizeof(*e));
    size_t accepted = 99;
    struct kwq_stats s;

    cr_assert(t != NULL && e != NULL);
    for (size_t i = 0; i < N; i++)
        t[i] = (struct kwq_new_task){.payload = "p", .payload_len = 1};
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_tasks", 1500), 0));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, N, e, &accepted), KWQ_EFULL));
    cr_assert(eq(sz, accepted, KWQ_ENQUEUE_CHUNK));
    tp_assert_str_eq(e[0].id, "1");
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.enqueued, accepted), "enqueued %llu, reported %zu",
              (unsigned long long)s.enqueued, accepted);
    cr_assert(eq(u64, s.pending, accepted));
    free(t);
    free(e);
    kwq_client_free(c);
}
