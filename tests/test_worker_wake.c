/*
 * test_worker_wake.c - idle workers share one wake token in Redis and pass
 * it on by leasing. A worker that takes the token as SIGTERM arrives must
 * pass it on before it exits: here the token says "drained", and without
 * it the other idle worker would sit out its whole wait before exiting 0.
 *
 * Made deterministic with SIGSTOP: Redis serves its blocked clients in the
 * order they blocked, so the token goes to the stopped worker, which then
 * finds both the token and SIGTERM in one loop turn when it resumes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_wake, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

/* kill(SIGSTOP) returns before the process stops: wait until it has. */
static void wait_stopped(pid_t pid)
{
    char path[64], buf[512];

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    for (int i = 0; i < SAFETY_S * 100; i++) {
        FILE *f = fopen(path, "r");
        char *p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
        struct timespec ts = {0, 10L * 1000 * 1000};

        if (f)
            (void)fclose(f);
        if (p && (p[2] == 'T' || p[2] == 't'))
            return;
        (void)nanosleep(&ts, NULL);
    }
    cr_assert_fail("process %d did not stop", (int)pid);
}

Test(worker_wake, wake_token_taken_with_sigterm_is_passed_on)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--", helper_path("helper_echo"), NULL};
    pid_t a, b;

    a = worker_start("a.log", args);
    wait_blocked(c, 1);
    b = worker_start("b.log", args);
    wait_blocked(c, 2);

    cr_assert(kill(a, SIGSTOP) == 0);
    wait_stopped(a); /* else it might still take the token and see SIGTERM only later */
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0); /* empty and sealed: drained, one wake token */
    wait_blocked(c, 1);                      /* served to a, the first to block */
    cr_assert(kill(a, SIGTERM) == 0);
    cr_assert(kill(a, SIGCONT) == 0);
    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_INTERRUPTED);

    /* Passed on before a exited: b is woken at once, not at the end of its wait. */
    cr_assert_eq(blocked_clients(c), 0, "b still waits: the wake token was lost with a");
    cr_assert_eq(worker_wait(b, "b.log"), KWQ_EXIT_OK);
    kwq_client_free(c);
}
