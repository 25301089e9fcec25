/*
 * test_proto_results.c - results carried by acks: kept bytes readable by
 * task ID, the stream read in completion order with a cursor, the blocking
 * read, the result size cap, and the result TTL.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(results, .init = redis_setup, .fini = redis_teardown);

static void ack_with(struct kwq_client *c, const struct kwq_task *t, const void *res, size_t len)
{
    struct kwq_ack a = {.id = t->id, .token = t->token, .result = res, .result_len = len};
    int st = 99;

    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, &st), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(int, st, 0), "ack status %s", kwq_err_name(st));
}

Test(results, result_is_kept_by_id_byte_exact)
{
    struct kwq_client *c = tp_client(NULL);
    unsigned char bytes[256];
    struct kwq_task_info info;
    struct kwq_task t;
    char *res = NULL;
    size_t len = 0;

    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)i;
    tp_enqueue(c, TP_QUEUE, "compute", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    ack_with(c, &t, bytes, sizeof(bytes));

    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &res, &len), 0));
    cr_assert(eq(sz, len, sizeof(bytes)));
    cr_assert(eq(int, memcmp(res, bytes, sizeof(bytes)), 0));
    free(res);

    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, t.id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_DONE));
    cr_assert(eq(sz, info.result_len, sizeof(bytes)));
    cr_assert(eq(int, memcmp(info.result, bytes, sizeof(bytes)), 0));
    kwq_task_info_done(&info);
    kwq_task_done(&t);
    kwq_client_free(c);
}

Test(results, no_result_is_not_found)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t;
    char *res = NULL;
    size_t len = 0;
    struct kwq_stats s;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &res, &len), KWQ_ENOTFOUND));
    tp_ack1(c, TP_QUEUE, &t);
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &res, &len), KWQ_ENOTFOUND));
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, "31337", &res, &len), KWQ_ENOTFOUND));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.results, 0));
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* Results come back in the order of the acks, not of the enqueues. */
Test(results, stream_reads_in_completion_order)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result lr;
    struct kwq_result *res = NULL;
    size_t n = 0;
    const size_t order[3] = {2, 0, 1};
    char cursor[48];
    struct kwq_stats s;

    tp_enqueue_n(c, TP_QUEUE, "job", 3);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 3, 60000, 0, &lr), 3));
    for (size_t k = 0; k < 3; k++) {
        char out[16];
        const struct kwq_task *t = &lr.tasks[order[k]];
        (void)snprintf(out, sizeof(out), "out-%s", t->payload);
        ack_with(c, t, out, strlen(out));
    }
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.results, 3));

    cr_assert(eq(int, kwq_results_read(c, TP_QUEUE, "0", 2, 0, &res, &n), 0));
    cr_assert(eq(sz, n, 2));
    tp_assert_str_eq(res[0].id, lr.tasks[2].id);
    tp_assert_str_eq(res[0].data, "out-job2");
    cr_assert(eq(sz, res[0].len, 8));
    tp_assert_str_eq(res[1].id, lr.tasks[0].id);
    tp_assert_str_eq(res[1].data, "out-job0");
    cr_assert(le(i64, res[0].done_ms, res[1].done_ms));
    cr_assert(gt(i64, res[0].done_ms, 0));
    memcpy(cursor, res[1].cursor, sizeof(cursor));
    kwq_results_free(res, n);

    cr_assert(eq(int, kwq_results_read(c, TP_QUEUE, cursor, 10, 0, &res, &n), 0));
    cr_assert(eq(sz, n, 1));
    tp_assert_str_eq(res[0].id, lr.tasks[1].id);
    tp_assert_str_eq(res[0].data, "out-job1");
    memcpy(cursor, res[0].cursor, sizeof(cursor));
    kwq_results_free(res, n);

    res = NULL;
    cr_assert(eq(int, kwq_results_read(c, TP_QUEUE, cursor, 10, 0, &res, &n), 0));
    cr_assert(eq(sz, n, 0));
    kwq_results_free(res, n);
    kwq_lease_result_done(&lr);
    kwq_client_free(c);
}

/* A blocked reader gets the result of an ack made by another process. */
Test(results, blocking_read_waits_for_the_next_result)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_result *res = NULL;
    struct kwq_task t;
    size_t n = 0;
    int st = 0;
    pid_t pid;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
        redisContext *r = redisConnectUnixWithTimeout(test_redis.sock, tv);
        struct kwq_client_opts o;
        struct kwq_client *w;
        struct kwq_ack a = {.id = t.id, .token = t.token, .result = "late", .result_len = 4};
        int s2 = 99;
        if (!r || r->err)
            _exit(80);
        if (tp_wait_blocked_clients(r, 1) != 0)
            _exit(79);
        kwq_client_opts_init(&o);
        o.url = test_redis.url;
        w = kwq_client_new(&o);
        if (!w || kwq_client_connect(w) != 0)
            _exit(81);
        _exit(kwq_ack(w, TP_QUEUE, &a, 1, &s2) == 0 && s2 == 0 ? 0 : 82);
    }
    cr_assert(eq(int, kwq_results_read(c, TP_QUEUE, "0", 10, 60000, &res, &n), 0));
    cr_assert(eq(sz, n, 1));
    tp_assert_str_eq(res[0].id, t.id);
    tp_assert_str_eq(res[0].data, "late");
    kwq_results_free(res, n);
    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    cr_assert(eq(int, st, 0));
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* A result over max_result refuses that ack only; the task stays leased. */
Test(results, result_over_the_cap_is_refused)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_lease_result lr;
    struct kwq_ack a[2];
    struct kwq_stats s;
    int st[2] = {99, 99};

    kwq_client_opts_init(&o);
    cr_assert(eq(sz, o.max_result, KWQ_DEFAULT_MAX_RESULT));
    o.max_result = 8;
    c = tp_client_opts(&o);
    tp_enqueue_n(c, TP_QUEUE, "x", 2);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 2, 60000, 0, &lr), 2));
    a[0] = (struct kwq_ack){
        .id = lr.tasks[0].id, .token = lr.tasks[0].token, .result = "123456789", .result_len = 9};
    a[1] = (struct kwq_ack){
        .id = lr.tasks[1].id, .token = lr.tasks[1].token, .result = "12345678", .result_len = 8};
    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, a, 2, st), 0));
    cr_assert(eq(int, st[0], KWQ_ETOOBIG));
    cr_assert(eq(int, st[1], 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.leased, 1));
    cr_assert(eq(u64, s.done, 1));
    cr_assert(eq(u64, s.results, 1));
    /* The holder can still ack it within the cap. */
    a[0].result_len = 8;
    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, a, 1, st), 0));
    cr_assert(eq(int, st[0], 0));
    kwq_lease_result_done(&lr);
    kwq_client_free(c);
}

/* Results expire with result_ttl_ms (the key's TTL is set on the server). */
Test(results, result_expires_after_its_ttl)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    redisContext *r = tp_redis();
    struct kwq_task t;
    char *res = NULL;
    size_t len = 0;

    kwq_client_opts_init(&o);
    cr_assert(eq(u64, o.result_ttl_ms, 86400000));
    o.result_ttl_ms = 300;
    c = tp_client_opts(&o);
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    ack_with(c, &t, "short-lived", 11);
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &res, &len), 0));
    free(res);
    tp_server_wait_ms(r, 500);
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &res, &len), KWQ_ENOTFOUND));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}
