/*
 * test_proto_memory.c - Redis memory and the size of script calls: acks that
 * keep a result respect maxmemory (KWQ_EOOM) while every call that frees
 * memory still runs; the results stream has a cap; enqueue and ack batches
 * are bounded in bytes per script call; purge frees a big queue without
 * blocking Redis (UNLINK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(memory, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

/* An integer field of INFO <section>, e.g. "cmdstat_evalsha" calls or "lazyfreed_objects". */
static long long info_field(redisContext *r, const char *section, const char *name)
{
    redisReply *rep = redisCommand(r, "INFO %s", section);
    long long v = 0;
    const char *p;

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING, "INFO %s", section);
    p = strstr(rep->str, name);
    if (p)
        v = strtoll(p + strlen(name), NULL, 10);
    freeReplyObject(rep);
    return v;
}

/* Script calls made so far (EVALSHA), from INFO commandstats. */
static long long evalsha_calls(redisContext *r)
{
    return info_field(r, "commandstats", "cmdstat_evalsha:calls=");
}

static void config_set(redisContext *r, const char *name, const char *value)
{
    redisReply *rep = redisCommand(r, "CONFIG SET %s %s", name, value);

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "CONFIG SET %s %s", name, value);
    freeReplyObject(rep);
}

/*
 * At maxmemory an ack that keeps a result is refused (KWQ_EOOM: hold it and
 * try again), while renew, fail, release and acks without a result, which
 * free memory, still run. A batch mixing both acks the ones without a result.
 */
Test(memory, ack_with_a_result_respects_maxmemory)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr;
    int st[2] = {1, 1};
    char *res;
    size_t res_len;

    tp_enqueue_n(c, TP_QUEUE, "t", 5);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 5, 60000, 0, &lr), 5));
    config_set(r, "maxmemory", "1");
    {
        struct kwq_ack a[2] = {
            {.id = lr.tasks[0].id, .token = lr.tasks[0].token, .result = "r0", .result_len = 2},
            {.id = lr.tasks[1].id, .token = lr.tasks[1].token},
        };

        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, a, 2, st), KWQ_EOOM));
        cr_assert(eq(int, st[0], KWQ_EOOM));
        cr_assert(eq(int, st[1], 0));
        tp_assert_str_eq(kwq_client_errstr(c),
                         "Redis is at its maxmemory limit and refused to keep a result (OOM); "
                         "hold the ack and try again once workers have freed memory");
    }
    {
        struct kwq_lease_ref ref = {.id = lr.tasks[0].id, .token = lr.tasks[0].token};
        struct kwq_lease_ref rel = {.id = lr.tasks[3].id, .token = lr.tasks[3].token};
        struct kwq_failure f = {.id = lr.tasks[2].id, .token = lr.tasks[2].token, .code = 1};
        struct kwq_fail_outcome out;
        struct kwq_ack a = {.id = lr.tasks[4].id, .token = lr.tasks[4].token};

        cr_assert(eq(int, kwq_renew(c, TP_QUEUE, &ref, 1, 60000, st), 0));
        cr_assert(eq(int, st[0], 0));
        cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &out), 0));
        cr_assert(eq(int, out.status, 0));
        cr_assert(eq(int, kwq_release(c, TP_QUEUE, &rel, 1, st), 0));
        cr_assert(eq(int, st[0], 0));
        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, st), 0));
        cr_assert(eq(int, st[0], 0));
    }
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "results"), 0));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).done, 2));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).leased, 1));

    /* Memory freed: the held ack goes in. */
    config_set(r, "maxmemory", "0");
    {
        struct kwq_ack a = {
            .id = lr.tasks[0].id, .token = lr.tasks[0].token, .result = "r0", .result_len = 2};

        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, st), 0), "%s", kwq_client_errstr(c));
        cr_assert(eq(int, st[0], 0));
    }
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, lr.tasks[0].id, &res, &res_len), 0));
    cr_assert(eq(sz, res_len, 2));
    tp_assert_str_eq(res, "r0");
    free(res);
    kwq_lease_result_done(&lr);
    redisFree(r);
    kwq_client_free(c);
}

/* The results stream keeps about max_results entries (whole stream nodes go). */
Test(memory, results_stream_is_capped_by_max_results)
{
    enum { N = 1000, BATCH = 100, CAP = 150 };
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    uint64_t v = 0;

    cr_assert(eq(int, kwq_queue_get(c, TP_QUEUE, "max_results", &v), 0));
    cr_assert(eq(u64, v, 1000000));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_results", 1000000001), KWQ_EINVAL));
    tp_assert_str_eq(kwq_client_errstr(c),
                     "max_results must be between 0 and 1000000000, got 1000000001");
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_results", CAP), 0));
    tp_enqueue_n(c, TP_QUEUE, "t", N);
    for (int b = 0; b < N / BATCH; b++) {
        struct kwq_lease_result lr;
        struct kwq_ack a[BATCH];
        int st[BATCH];

        cr_assert(eq(int, kwq_lease(c, TP_QUEUE, BATCH, 60000, 0, &lr), BATCH));
        for (int i = 0; i < BATCH; i++)
            a[i] = (struct kwq_ack){.id = lr.tasks[i].id,
                                    .token = lr.tasks[i].token,
                                    .result = "result",
                                    .result_len = 6};
        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, a, BATCH, st), 0));
        kwq_lease_result_done(&lr);
    }
    /* Nodes of 100 entries (stream-node-max-entries): 200 kept, the newest. */
    cr_assert(eq(llong, tp_key_len(r, "XLEN", TP_QUEUE, "results"), 200));
    {
        char *res = NULL;
        size_t len;

        /* The oldest results went before their TTL. */
        cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, "1", &res, &len), KWQ_ENOTFOUND));
        cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, "1000", &res, &len), 0));
        free(res);
    }
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).done, N));
    redisFree(r);
    kwq_client_free(c);
}

enum { MIB = 1024 * 1024, BIG_N = 20 };

/*
 * 20 payloads of 1 MiB go in three script calls (8 + 8 + 4 MiB), not one
 * of 20 MiB; refused at the second call, exactly the first 8 went in.
 */
Test(memory, enqueue_calls_are_bounded_in_bytes)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task t[BIG_N];
    struct kwq_enqueued e[BIG_N];
    char *p = malloc(MIB);
    size_t accepted = 99;
    long long before;

    cr_assert(p != NULL);
    memset(p, 'x', MIB);
    for (int i = 0; i < BIG_N; i++)
        t[i] = (struct kwq_new_task){.payload = p, .payload_len = MIB};
    before = evalsha_calls(r);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, BIG_N, e, &accepted), 0));
    cr_assert(eq(llong, evalsha_calls(r) - before, 3));
    cr_assert(eq(sz, accepted, BIG_N));
    tp_assert_str_eq(e[BIG_N - 1].id, "20");

    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_tasks", 10), 0));
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, t, BIG_N, e, &accepted), KWQ_EFULL));
    cr_assert(eq(sz, accepted, 8));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).pending, 8));
    free(p);
    redisFree(r);
    kwq_client_free(c);
}

/* 20 results of 1 MiB are acked in three script calls, every status filled. */
Test(memory, ack_calls_are_bounded_in_bytes)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr;
    struct kwq_ack a[BIG_N];
    int st[BIG_N];
    char *p = malloc(MIB);
    long long before;

    cr_assert(p != NULL);
    memset(p, 'y', MIB);
    tp_enqueue_n(c, TP_QUEUE, "t", BIG_N);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, BIG_N, 60000, 0, &lr), BIG_N));
    for (int i = 0; i < BIG_N; i++) {
        a[i] = (struct kwq_ack){
            .id = lr.tasks[i].id, .token = lr.tasks[i].token, .result = p, .result_len = MIB};
        st[i] = 1;
    }
    before = evalsha_calls(r);
    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, a, BIG_N, st), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(llong, evalsha_calls(r) - before, 3));
    for (int i = 0; i < BIG_N; i++)
        cr_assert(eq(int, st[i], 0));
    cr_assert(eq(llong, tp_key_len(r, "XLEN", TP_QUEUE, "results"), BIG_N));
    kwq_lease_result_done(&lr);
    free(p);
    redisFree(r);
    kwq_client_free(c);
}

/*
 * Purge hands a big queue's keys to Redis's background thread (UNLINK): the
 * data hash shows up in lazyfreed_objects. It keeps the ID sequence, the token
 * counter and the server last seen, so the next ID follows on, with no
 * restart counted.
 */
Test(memory, purge_unlinks_and_keeps_the_counters)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    long long before = info_field(r, "memory", "lazyfreed_objects:");
    char id[KWQ_ID_MAX];
    int waited = 0;

    tp_enqueue_n(c, TP_QUEUE, "t", 2000); /* a data hash big enough to be freed lazily */
    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));
    /* The background thread counts them once freed: wait for it (up to ~20 s). */
    while (info_field(r, "memory", "lazyfreed_objects:") < before + 1 && waited++ < 2000) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(ge(llong, info_field(r, "memory", "lazyfreed_objects:"), before + 1));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "pending"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "data"), 0));
    tp_enqueue(c, TP_QUEUE, "after", id);
    tp_assert_str_eq(id, "2001");
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).restarts, 0));
    redisFree(r);
    kwq_client_free(c);
}
