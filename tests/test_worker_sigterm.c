/*
 * test_worker_sigterm.c - SIGTERM mid-task. A handler that finishes within
 * --grace is acked; one that does not is stopped, its task released (no
 * attempt charged) and completed by another worker at once, not after a
 * lease expiry. Either way the worker exits "interrupted" (75), never 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_sigterm, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

Test(worker_sigterm, handler_finishing_within_grace_is_acked)
{
    struct kwq_client *c = test_client();
    const char *pidfile = test_path("handler.pid");
    const char *go = test_path("go");
    const char *args[] = {"--grace", "60s", "--", helper_path("helper_wait_go"), pidfile, go, NULL};
    pid_t w;

    enqueue_n(c, 2, "t", NULL);
    w = worker_start("w.log", args);
    wait_for_file(pidfile);
    cr_assert(kill(w, SIGTERM) == 0);
    wait_for_text(test_path("w.log"), "signal received");
    /* The worker is stopping with the handler still running: now let it finish. */
    write_file(go, "");
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_INTERRUPTED);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1, "the running task is acked");
    cr_assert_eq(st.pending, 1, "the second task was never leased");
    cr_assert_eq(st.released, 0);
    cr_assert_eq(st.leased, 0);
    kwq_client_free(c);
}

Test(worker_sigterm, handler_outliving_grace_is_stopped_and_its_task_released)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *marker = test_path("marker");
    const char *pidfile = test_path("handler.pid");
    /* Leases of 10 minutes: completion elsewhere cannot come from an expiry. */
    const char *args[] = {"--lease",      "10m",   "--grace", "200ms",
                          "--kill-grace", "200ms", "--",      helper_path("helper_once_hang"),
                          marker,         pidfile, NULL};
    pid_t a, b;
    char *res = NULL;
    size_t len = 0;

    enqueue_n(c, 1, "t", &id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    a = worker_start("a.log", args);
    wait_for_file(pidfile);
    b = worker_start("b.log", args);
    cr_assert(kill(a, SIGTERM) == 0);

    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_INTERRUPTED);
    cr_assert_eq(worker_wait(b, "b.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("a.log"), "grace period over"));

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.released, 1);
    cr_assert_eq(st.expired, 0);
    cr_assert_eq(st.failed, 0);
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "attempt 1", "a released task is not charged an attempt");
    free(res);
    kwq_client_free(c);
}
