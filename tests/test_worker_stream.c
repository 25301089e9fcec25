/*
 * test_worker_stream.c - stream mode: 10,000 tasks through one handler
 * process, a handler that crashes mid-stream is restarted with every
 * task still done, and 1,000 answers in reverse order each land on their
 * own task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_stream, .init = redis_setup, .fini = redis_teardown, .timeout = 240);

static void assert_result(struct kwq_client *c, const char *id, const char *want)
{
    char *res = NULL;
    size_t len = 0;

    cr_assert(kwq_result_get(c, TEST_QUEUE, id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, want);
    free(res);
}

Test(worker_stream, ten_thousand_tasks_through_one_handler_process)
{
    enum { N = 10000 };
    struct kwq_client *c = test_client();
    struct kwq_enqueued *ids = calloc(N, sizeof(*ids));
    const char *pids = test_path("pids");
    const char *args[] = {
        "--stream", "--concurrency", "64", "--", helper_path("helper_stream"), pids, NULL};
    pid_t w;

    enqueue_n(c, N, "p", ids);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, N);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.dead, 0);
    cr_assert_eq(file_lines(pids), 1, "one handler process for every task");
    assert_result(c, ids[0].id, "r:p0");
    assert_result(c, ids[N - 1].id, "r:p9999");
    free(ids);
    kwq_client_free(c);
}

/*
 * The value of the integer field "name" in the first line of the log at path
 * that contains both msg and also; -1 when there is no such line or field.
 */
static long log_field(const char *path, const char *msg, const char *also, const char *name)
{
    FILE *f = fopen(path, "r");
    char line[4096], key[64];
    long v = -1;

    cr_assert(f, "cannot open %s", path);
    (void)snprintf(key, sizeof(key), "\"%s\":", name);
    while (fgets(line, sizeof(line), f)) {
        const char *k;
        if (!strstr(line, msg) || !strstr(line, also))
            continue;
        k = strstr(line, key);
        if (k)
            v = strtol(k + strlen(key), NULL, 10);
        break;
    }
    (void)fclose(f);
    return v;
}

Test(worker_stream, crashed_handler_is_restarted_and_every_task_done)
{
    /*
     * The first handler answers 100 tasks, then reads 8 more without answering
     * and aborts, so at least 8 tasks are in flight when it dies (the worker
     * keeps up to 32 there); the exact number is what the worker logs.
     */
    enum { N = 1000, ANSWERED = 100, HOLD = 8, CONC = 32 };
    struct kwq_client *c = test_client();
    struct kwq_enqueued *ids = calloc(N, sizeof(*ids));
    const char *pids = test_path("pids");
    const char *args[] = {
        "--stream", "--concurrency",     "32", "--", helper_path("helper_stream"), pids,
        "100",      test_path("marker"), "8",  NULL};
    long in_flight, answered;
    pid_t w;

    cr_assert(kwq_queue_set(c, TEST_QUEUE, "backoff_base_ms", 10) == 0);
    enqueue_n(c, N, "p", ids);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);

    in_flight = log_field(test_path("w.log"), "stream handler exited", "\"signal\":6", "in_flight");
    answered = log_field(test_path("w.log"), "stream handler exited", "\"signal\":6", "answered");
    cr_assert_eq(answered, ANSWERED, "the crash came after exactly %d answers", ANSWERED);
    cr_assert(in_flight >= HOLD && in_flight <= CONC, "tasks in flight at the crash: %ld",
              in_flight);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, N, "every task done: %llu", (unsigned long long)st.done);
    cr_assert_eq(st.dead, 0);
    cr_assert_eq(st.failed, (uint64_t)in_flight, "exactly the tasks in flight were failed");
    cr_assert_eq(st.retries, st.failed, "and each was retried");
    cr_assert_eq(file_lines(pids), 2, "the handler was started again once");
    cr_assert(file_contains(test_path("w.log"), "stream handler exited"));
    for (size_t i = 0; i < N; i += 111) {
        char want[32];
        (void)snprintf(want, sizeof(want), "r:p%zu", i);
        assert_result(c, ids[i].id, want);
    }
    free(ids);
    kwq_client_free(c);
}

Test(worker_stream, answer_with_retry_false_is_dead_lettered_at_once)
{
    struct kwq_client *c = test_client();
    struct kwq_new_task t = {.payload = "fail", .payload_len = 4};
    const char *args[] = {"--stream", "--", helper_path("helper_stream"), test_path("pids"), NULL};
    pid_t w;

    cr_assert(kwq_enqueue(c, TEST_QUEUE, &t, 1, NULL, NULL) >= 0, "%s", kwq_client_errstr(c));
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.dead, 1);
    cr_assert_eq(st.retries, 0);
    kwq_client_free(c);
}

/*
 * All 1,000 tasks are leased in one call and in flight at once; the handler
 * answers them last to first. Every answer must find its own task among the
 * held ones: each result is its own payload's.
 */
Test(worker_stream, answers_in_reverse_order_each_land_on_their_own_task)
{
    enum { N = 1000 };
    struct kwq_client *c = test_client();
    struct kwq_enqueued *ids = calloc(N, sizeof(*ids));
    const char *args[] = {
        "--stream", "--concurrency", "1000", "--", helper_path("helper_stream_rev"), "1000", NULL};
    pid_t w;

    enqueue_n(c, N, "p", ids);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, N);
    cr_assert_eq(st.failed + st.dead + st.released + st.expired, 0);
    for (size_t i = 0; i < N; i++) {
        char want[32];
        (void)snprintf(want, sizeof(want), "r:p%zu", i);
        assert_result(c, ids[i].id, want);
    }
    cr_assert(!file_contains(test_path("w.log"), "not in flight"));
    free(ids);
    kwq_client_free(c);
}
