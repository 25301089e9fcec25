/*
 * test_worker_answers.c - stream mode, answers that are not simply right:
 * a NUL in a result, an error text or an id (never cut silently), lines that are
 * no answers, answers for tasks not in flight and second answers (logged,
 * ignored, never by content), an answer over the line limit (its task
 * fails), and a handler that closes its stdout but keeps running (stopped,
 * its task failed and retried).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_answers, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

/* True when one line of the log at path holds both a and b. */
static bool log_line_has(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    bool found = false;

    cr_assert(f, "cannot open %s", path);
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, a) && strstr(line, b);
    (void)fclose(f);
    return found;
}

/* Run one sealed task through helper_stream_odd MODE [extra args]; the worker must exit 0. */
static void run_one(struct kwq_client *c, struct kwq_enqueued *id, const char *const *extra)
{
    const char *args[16] = {"--stream", "--max-result", "1k", "--",
                            helper_path("helper_stream_odd")};
    size_t n = 5;
    pid_t w;

    for (size_t i = 0; extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cr_assert(kwq_queue_set(c, TEST_QUEUE, "backoff_base_ms", 10) == 0);
    enqueue_n(c, 1, "t", id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
}

/* The one dead task's error text (malloc'd), after asserting it is id's, on attempt 1. */
static char *dead_error(struct kwq_client *c, const char *id)
{
    struct kwq_dead_task *list = NULL;
    size_t n = 0;
    char *e;

    cr_assert(kwq_dead_list(c, TEST_QUEUE, 0, 10, &list, &n) == 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(n, 1, "dead tasks: %zu", n);
    cr_assert_str_eq(list[0].id, id);
    cr_assert_eq(list[0].attempts, 1, "not retried: the same answer would come again");
    e = strdup(list[0].last_error);
    kwq_dead_list_free(list, n);
    return e;
}

Test(worker_answers, result_with_a_nul_fails_the_task_instead_of_cutting_it)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    char *res = NULL, *err;
    size_t len = 0;

    run_one(c, &id, (const char *const[]){"nul-result", NULL});
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 0, "a result cut at its NUL must not be acked");
    cr_assert_eq(st.dead, 1);
    cr_assert_neq(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len), 0, "no result kept");
    err = dead_error(c, id.id);
    cr_assert(strstr(err, "NUL character") != NULL, "error: %s", err);
    free(err);
    kwq_client_free(c);
}

Test(worker_answers, error_text_with_a_nul_says_it_was_cut)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    char *err;

    run_one(c, &id, (const char *const[]){"nul-error", NULL});
    err = dead_error(c, id.id);
    cr_assert_str_eq(err, "bad [cut: the handler's error text held a NUL]");
    free(err);
    kwq_client_free(c);
}

Test(worker_answers, id_with_a_nul_names_no_task)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    char *res = NULL;
    size_t len = 0;

    run_one(c, &id, (const char *const[]){"nul-id", NULL});
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "right", "\"<id>\\u0000x\" is not the task <id>");
    free(res);
    cr_assert(file_contains(test_path("w.log"), "holds a NUL character"));
    kwq_client_free(c);
}

Test(worker_answers, lines_that_are_no_answers_and_second_answers_are_logged_and_ignored)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *log = test_path("w.log");
    char *res = NULL, task[64];
    size_t len = 0;

    run_one(c, &id, (const char *const[]){"noise", NULL});
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.failed + st.dead, 0);
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "first", "the first answer counts");
    free(res);
    cr_assert(file_contains(log, "\"why\":\"not a JSON object\""));
    cr_assert(file_contains(log, "\"why\":\"no string \\\"id\\\"\""));
    cr_assert(log_line_has(log, "answered a task that is not in flight", "\"task\":\"987654321\""));
    cr_assert(file_contains(log, "answered an id that is no kwq task id"));
    /* The second answer for the task is reported too, by the task's id. */
    (void)snprintf(task, sizeof(task), "\"task\":\"%s\"", id.id);
    cr_assert(log_line_has(log, "answered a task that is not in flight", task));
    /* Handler output is never logged as text: not the junk, not the made-up id. */
    cr_assert(!file_contains(log, "not json at all"));
    cr_assert(!file_contains(log, "secret-made-up"));
    kwq_client_free(c);
}

Test(worker_answers, over_long_answer_fails_its_task_at_once)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    char *err;

    run_one(c, &id, (const char *const[]){"long", NULL});
    err = dead_error(c, id.id);
    cr_assert(strstr(err, "answered with a line over 10240 bytes") != NULL, "error: %s", err);
    free(err);
    cr_assert(file_contains(test_path("w.log"), "over-long answer: the task fails"));
    kwq_client_free(c);
}

Test(worker_answers, handler_closing_its_stdout_is_stopped_and_the_task_retried)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    char *res = NULL;
    size_t len = 0;

    run_one(c, &id, (const char *const[]){"close-stdout", test_path("marker"), NULL});
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.failed, 1, "the task in flight is failed, charged");
    cr_assert_eq(st.retries, 1);
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "ok");
    free(res);
    cr_assert(file_contains(test_path("w.log"), "closed its stdout but keeps running"));
    kwq_client_free(c);
}
