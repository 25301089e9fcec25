/*
 * test_worker_fail.c - failing handlers: retried with backoff and then
 * dead-lettered with their exit code and stderr tail; the "bad input" code
 * dead-letters at once; a timed-out handler's whole process group is
 * killed, leaving no orphan.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_fail, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

static struct kwq_dead_task the_dead_task(struct kwq_client *c)
{
    struct kwq_dead_task *list = NULL, d;
    size_t n = 0;

    cr_assert(kwq_dead_list(c, TEST_QUEUE, 0, 10, &list, &n) == 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(n, 1, "dead tasks: %zu", n);
    d = list[0];
    d.last_error = strdup(list[0].last_error);
    kwq_dead_list_free(list, n);
    return d;
}

/*
 * One task ("t0") in a sealed queue that allows max_attempts, backoff base
 * backoff_ms; a worker with args runs until the queue is drained (exit 0:
 * dead-lettered tasks leave it drained). The task's ID goes to *id if given.
 */
static void drain_one_task(struct kwq_client *c, int max_attempts, int backoff_ms,
                           const char *const *args, struct kwq_enqueued *id)
{
    pid_t w;

    cr_assert(kwq_queue_set(c, TEST_QUEUE, "max_attempts", max_attempts) == 0);
    cr_assert(kwq_queue_set(c, TEST_QUEUE, "backoff_base_ms", backoff_ms) == 0);
    enqueue_n(c, 1, "t", id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK, "dead-lettered tasks leave it drained");
}

Test(worker_fail, failing_handler_is_retried_with_backoff_then_dead_lettered)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    struct kwq_task_info info;
    const char *args[] = {"--", helper_path("helper_exit"), "3", "boom: the last words", NULL};

    drain_one_task(c, 3, 50, args, &id);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.failed, 3);
    cr_assert_eq(st.retries, 2);
    cr_assert_eq(st.dead, 1);
    cr_assert_eq(st.done, 0);
    struct kwq_dead_task d = the_dead_task(c);
    cr_assert_str_eq(d.id, id.id);
    cr_assert_eq(d.attempts, 3);
    cr_assert_eq(d.last_code, 3);
    cr_assert(strstr(d.last_error, "exited with code 3") != NULL, "error: %s", d.last_error);
    cr_assert(strstr(d.last_error, "boom: the last words") != NULL, "error: %s", d.last_error);
    free(d.last_error);

    /* Each retry waited for a backoff: the history records when it was due. */
    memset(&info, 0, sizeof(info));
    cr_assert(kwq_task_get(c, TEST_QUEUE, id.id, &info) == 0, "%s", kwq_client_errstr(c));
    cr_assert(strstr(info.history_json, "\"due\"") != NULL, "history: %s", info.history_json);
    kwq_task_info_done(&info);
    cr_assert(file_contains(test_path("w.log"), "boom: the last words"), "stderr lines are logged");
    kwq_client_free(c);
}

Test(worker_fail, bad_input_code_is_dead_lettered_at_once)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--", helper_path("helper_exit"), "65", "cannot parse", NULL};

    drain_one_task(c, 5, 1000, args, NULL);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.retries, 0);
    struct kwq_dead_task d = the_dead_task(c);
    cr_assert_eq(d.attempts, 1);
    cr_assert_eq(d.last_code, 65);
    cr_assert(strstr(d.last_error, "cannot parse") != NULL, "error: %s", d.last_error);
    free(d.last_error);
    kwq_client_free(c);
}

/* Gone, or a zombie waiting for whoever adopted it: either way no longer running. */
static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    char *p;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return true;
    p = fgets(buf, sizeof(buf), f);
    (void)fclose(f);
    p = p ? strrchr(buf, ')') : NULL;
    return p && (p[2] == 'Z' || p[2] == 'X');
}

/*
 * A handler that times out must take its whole process group with it. On a
 * loaded machine the first attempt may time out before its helper has even
 * started the grandchild, so there are 3 attempts; each writes its
 * grandchild's pid to grandchild.pid.<attempt>, and every one written must be
 * gone.
 */
Test(worker_fail, timed_out_handler_process_group_is_killed)
{
    enum { ATTEMPTS = 3 };
    struct kwq_client *c = test_client();
    const char *gcfile = test_path("grandchild.pid");
    const char *args[] = {"--timeout", "300ms", "--kill-grace",
                          "300ms",     "--",    helper_path("helper_orphan"),
                          gcfile,      NULL};
    pid_t gc[ATTEMPTS];
    int n = 0;

    drain_one_task(c, ATTEMPTS, 10, args, NULL);

    struct kwq_dead_task d = the_dead_task(c);
    cr_assert_eq(d.last_code, -1);
    cr_assert(strstr(d.last_error, "timed out after 300ms") != NULL, "error: %s", d.last_error);
    free(d.last_error);
    for (int a = 1; a <= ATTEMPTS; a++) {
        char path[4200];

        (void)snprintf(path, sizeof(path), "%s.%d", gcfile, a);
        if (access(path, F_OK) == 0)
            gc[n++] = read_pid(path);
    }
    cr_assert(n > 0, "no attempt started its grandchild before timing out");
    for (int k = 0; k < n; k++) {
        bool gone = false;
        for (int i = 0; i < SAFETY_S * 100 && !gone; i++) {
            struct timespec ts = {0, 10L * 1000 * 1000};
            gone = process_gone(gc[k]);
            if (!gone)
                (void)nanosleep(&ts, NULL);
        }
        if (!gone)
            (void)kill(gc[k], SIGKILL);
        cr_assert(gone, "grandchild %d outlived its timed-out handler", (int)gc[k]);
    }
    kwq_client_free(c);
}

Test(worker_fail, crashing_handler_is_a_failure_with_its_signal)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--", helper_path("helper_crash"), NULL};

    drain_one_task(c, 1, 1000, args, NULL);
    struct kwq_dead_task d = the_dead_task(c);
    cr_assert_eq(d.last_code, -1);
    cr_assert(strstr(d.last_error, "killed by signal 6") != NULL, "error: %s", d.last_error);
    cr_assert(strstr(d.last_error, "about to abort") != NULL, "error: %s", d.last_error);
    free(d.last_error);
    kwq_client_free(c);
}
