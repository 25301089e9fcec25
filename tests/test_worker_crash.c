/*
 * test_worker_crash.c - a worker killed with SIGKILL mid-task: its task is
 * completed by another worker once the lease expires, and no surviving
 * worker exits 0 before that. And Redis itself restarted (AOF on) under a
 * running handler: the handler keeps running, the worker reconnects and its
 * ack lands, once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_crash, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

Test(worker_crash, sigkilled_worker_task_is_completed_elsewhere_after_lease_expiry)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *marker = test_path("marker");
    const char *pidfile = test_path("handler.pid");
    const char *victim_args[] = {"--lease", "1s",    "--", helper_path("helper_once_hang"),
                                 marker,    pidfile, NULL};
    const char *args[] = {"--", helper_path("helper_once_hang"), marker, pidfile, NULL};
    pid_t victim, survivors[2];
    int code;

    enqueue_n(c, 1, "only", &id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    victim = worker_start("victim.log", victim_args);
    wait_for_file(pidfile);
    survivors[0] = worker_start("s0.log", args);
    survivors[1] = worker_start("s1.log", args);

    /* The pod dies: worker and handler both killed at once. */
    cr_assert(kill(victim, SIGKILL) == 0);
    (void)kill(read_pid(pidfile), SIGKILL);
    cr_assert_eq(worker_wait(victim, "victim.log"), 128 + SIGKILL);
    cr_assert_eq(stats_of(c).done, 0, "the task cannot be done before the lease expires");

    for (int i = 0; i < 2; i++) {
        const char *log = i ? "s1.log" : "s0.log";
        code = worker_wait(survivors[i], log);
        struct kwq_stats st = stats_of(c);
        cr_assert_eq(code, KWQ_EXIT_OK, "survivor %d exited %d; log %s", i, code, test_path(log));
        cr_assert_eq(st.done, 1, "survivor %d exited 0 before the task was done", i);
    }
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.dead, 0);
    char *res = NULL;
    size_t len = 0;
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "attempt 2");
    free(res);
    kwq_client_free(c);
}

/* Redis with AOF on, so that a restart keeps the queue (as in production). */
static void aof_setup(void)
{
    static const char *const extra[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, extra);
}

TestSuite(worker_redis_restart, .init = aof_setup, .fini = redis_teardown, .timeout = 120);

Test(worker_redis_restart, handler_keeps_running_and_its_ack_lands_after_reconnect)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *pidfile = test_path("handler.pid");
    const char *go = test_path("go");
    const char *args[] = {"--", helper_path("helper_wait_go"), pidfile, go, NULL};
    pid_t w;

    enqueue_n(c, 1, "t", &id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    kwq_client_free(c);
    w = worker_start("w.log", args);
    wait_for_file(pidfile);

    redis_fixture_restart(&test_redis); /* SIGKILL, then start again from the AOF */
    write_file(go, "");
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);

    c = test_client();
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.expired + st.failed + st.released, 0, "the one run was acked, once");
    cr_assert(file_contains(test_path("w.log"), "reconnected to Redis"));
    char *res = NULL;
    size_t len = 0;
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "went");
    free(res);
    kwq_client_free(c);
}
