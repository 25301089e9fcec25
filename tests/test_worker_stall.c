/*
 * test_worker_stall.c - a Redis that stops answering (SIGSTOP) must not
 * stop the worker's loop: with handlers running and Redis stalled, SIGTERM
 * is acted on at once, the grace period ends on time, the handlers are
 * stopped and killed on time, and the worker exits 75 within grace + kill
 * grace + a margin, instead of sitting in a blocked Redis call for its 10 s
 * command timeout. After SIGCONT nothing is lost: another worker completes
 * every task.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

/*
 * Seconds from SIGTERM to the exit: --grace 1s + --kill-grace 1s + 1 s for
 * outstanding replies, plus a margin for a loaded machine. Still well below
 * the 10 s command timeout that a blocked call would wait out.
 */
#define EXIT_WITHIN_S 8

static void stall_teardown(void)
{
    if (test_redis.pid > 0)
        (void)kill(test_redis.pid, SIGCONT);
    redis_teardown();
}

TestSuite(worker_stall, .init = redis_setup, .fini = stall_teardown, .timeout = 120);

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000L * 1000};

    (void)nanosleep(&ts, NULL);
}

Test(worker_stall, sigterm_grace_and_kill_on_time_while_redis_is_stopped)
{
    struct kwq_client *c = test_client();
    /* One pid file per task (helper_ignore_term PIDFILE): handler.pid.<task id>. */
    const char *a_args[] = {"--concurrency",
                            "2",
                            "--lease",
                            "3s",
                            "--grace",
                            "1s",
                            "--kill-grace",
                            "1s",
                            "--",
                            "/bin/sh",
                            "-c",
                            "exec \"$0\" \"$1.$KWQ_TASK_ID\"",
                            helper_path("helper_ignore_term"),
                            test_path("handler.pid"),
                            NULL};
    const char *b_args[] = {"--lease", "3s", "--", helper_path("helper_echo"), NULL};
    struct kwq_stats st;
    time_t t0;
    pid_t a, b;

    enqueue_n(c, 2, "t", NULL);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    a = worker_start("a.log", a_args);
    wait_for_file(test_path("handler.pid.1"));
    wait_for_file(test_path("handler.pid.2"));
    cr_assert_eq(stats_of(c).leased, 2, "both tasks run in worker a");

    cr_assert(kill(test_redis.pid, SIGSTOP) == 0);
    /* Past a renewal (every 1 s): a blocking worker would now sit in that call. */
    nap_ms(1500);
    t0 = time(NULL);
    cr_assert(kill(a, SIGTERM) == 0);
    wait_for_text(test_path("a.log"), "signal received");
    wait_for_text(test_path("a.log"), "grace period over: stopping handlers");
    wait_for_text(test_path("a.log"), "handler did not stop after SIGTERM: sending SIGKILL");
    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_INTERRUPTED);
    cr_assert_leq(time(NULL) - t0, EXIT_WITHIN_S, "exit took %lds", (long)(time(NULL) - t0));
    cr_assert(file_contains(test_path("a.log"), "exiting with outcomes not delivered to Redis"));

    cr_assert(kill(test_redis.pid, SIGCONT) == 0);
    b = worker_start("b.log", b_args);
    cr_assert_eq(worker_wait(b, "b.log"), KWQ_EXIT_OK);
    st = stats_of(c);
    cr_assert_eq(st.done, 2, "nothing lost: both tasks completed after Redis resumed");
    cr_assert_eq(st.dead, 0);
    cr_assert_eq(st.pending + st.leased + st.delayed, 0);
    kwq_client_free(c);
}
