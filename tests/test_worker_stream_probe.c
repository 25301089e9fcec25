/*
 * test_worker_stream_probe.c - an exec-style handler started with --stream
 * (it reads its stdin to the end and answers nothing) is found within
 * seconds, not after the 1h task timeout: its tasks go back uncharged and the
 * worker exits 78 with one line saying what to do. A stream handler slow to
 * give its first answer is not taken for one.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_stream_probe, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

#define GIVE_UP "the handler reads its stdin to the end without answering: run it without --stream"

/* The shell waits for its command substitution, cat reads stdin: two processes, one group. */
Test(worker_stream_probe, exec_style_handler_exits_78_and_its_tasks_go_back_uncharged)
{
    struct kwq_client *c = test_client();
    const char *args[] = {
        "--stream", "--concurrency", "3", "--", "/bin/sh", "-c", "x=$(cat); echo \"$x\" | wc -c",
        NULL};
    pid_t w;

    enqueue_n(c, 3, "t", NULL);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_CONFIG);
    cr_assert(file_contains(test_path("w.log"), GIVE_UP), "%s", test_path("w.log"));

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.pending, 3, "every task is back");
    cr_assert_eq(st.leased, 0);
    cr_assert_eq(st.failed, 0, "no attempt was charged");
    cr_assert_eq(st.released, 3);
    cr_assert_eq(st.done, 0);
    kwq_client_free(c);
}

/* Five seconds on the first task, asleep: not waiting on its stdin, so not exec-style. */
Test(worker_stream_probe, slow_first_answer_is_not_taken_for_an_exec_style_handler)
{
    struct kwq_client *c = test_client();
    const char *script = "while IFS= read -r l; do sleep 5; id=${l#*\\\"id\\\":\\\"}; "
                         "id=${id%%\\\"*}; printf '{\"id\":\"%s\",\"ok\":true}\\n' \"$id\"; "
                         "done";
    const char *args[] = {"--stream", "--", "/bin/sh", "-c", script, NULL};
    pid_t w;

    enqueue_n(c, 1, "t", NULL);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    cr_assert(!file_contains(test_path("w.log"), GIVE_UP));
    cr_assert_eq(stats_of(c).done, 1);
    kwq_client_free(c);
}
