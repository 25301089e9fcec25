/*
 * test_worker_drain.c - several workers drain a sealed queue together:
 * every task acked exactly once, and every worker exits 0, none of them
 * before the last ack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_drain, .init = redis_setup, .fini = redis_teardown, .timeout = 240);

#define NTASKS   2000
#define NWORKERS 3

/* Each result must be its own task's payload, and each task must have exactly one. */
static void check_results(struct kwq_client *c, const struct kwq_enqueued *ids)
{
    struct kwq_result *res = NULL;
    size_t n = 0;
    char *seen = calloc(NTASKS, 1);

    cr_assert(kwq_results_read(c, TEST_QUEUE, "0", NTASKS + 10, 0, &res, &n) == 0, "%s",
              kwq_client_errstr(c));
    cr_assert_eq(n, NTASKS, "results: %zu, want %d", n, NTASKS);
    for (size_t i = 0; i < n; i++) {
        long idx = -1;
        for (size_t k = 0; k < NTASKS; k++) {
            if (strcmp(ids[k].id, res[i].id) == 0) {
                idx = (long)k;
                break;
            }
        }
        cr_assert(idx >= 0, "result for unknown task %s", res[i].id);
        cr_assert_eq(seen[idx], 0, "task %s acked twice", res[i].id);
        seen[idx] = 1;
        char want[32];
        (void)snprintf(want, sizeof(want), "t%ld", idx);
        cr_assert_str_eq(res[i].data, want);
    }
    kwq_results_free(res, n);
    free(seen);
}

Test(worker_drain, three_workers_drain_a_sealed_queue_exactly_once)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued *ids = calloc(NTASKS, sizeof(*ids));
    const char *args[] = {"--concurrency", "4", "--", helper_path("helper_echo"), NULL};
    const char *logs[NWORKERS] = {"w0.log", "w1.log", "w2.log"};
    pid_t pids[NWORKERS];
    bool done[NWORKERS] = {false, false, false};
    int left = NWORKERS;

    enqueue_n(c, NTASKS, "t", ids);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    for (int i = 0; i < NWORKERS; i++)
        pids[i] = worker_start(logs[i], args);

    for (int spins = 0; left > 0; spins++) {
        cr_assert(spins < SAFETY_S * 100 * 4, "workers did not finish in time");
        for (int i = 0; i < NWORKERS; i++) {
            int code;
            if (done[i] || !test_proc_exited(pids[i], &code))
                continue;
            /* Checked the moment the exit is seen: the last ack must already be in. */
            struct kwq_stats st = stats_of(c);
            cr_assert_eq(code, KWQ_EXIT_OK, "worker %d exited %d; log %s", i, code,
                         test_path(logs[i]));
            cr_assert_eq(st.done, NTASKS, "worker %d exited 0 with %llu of %d acked", i,
                         (unsigned long long)st.done, NTASKS);
            cr_assert(st.drained);
            done[i] = true;
            left--;
        }
        struct timespec ts = {0, 2L * 1000 * 1000};
        (void)nanosleep(&ts, NULL);
    }

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, NTASKS);
    cr_assert_eq(st.pending + st.leased + st.delayed + st.dead, 0);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.expired, 0);
    check_results(c, ids);
    free(ids);
    kwq_client_free(c);
}

/*
 * A lease reply says drained while the worker still holds a job whose
 * handler is stopping (its task was cancelled, the handler ignores SIGTERM
 * until the kill grace is over). Redis keeps the wake token set on a
 * drained queue, so a wait would return at once: the worker must not lease
 * or wait again until that job is gone, then it exits 0.
 */
Test(worker_drain, drained_while_a_stopping_job_is_held_does_not_spin)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *pidfile = test_path("handler.pid");
    const char *args[] = {"--concurrency", "2",  "--lease", "3s",
                          "--kill-grace",  "3s", "--",      helper_path("helper_ignore_term"),
                          pidfile,         NULL};
    long blpop, evalsha;
    pid_t w;

    enqueue_n(c, 1, "t", &id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    wait_for_file(pidfile);
    blpop = command_calls(c, "blpop");
    evalsha = command_calls(c, "evalsha");
    cr_assert(kwq_cancel(c, TEST_QUEUE, id.id) >= 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("w.log"), "task cancelled: stopping its handler"));
    cr_assert(file_contains(test_path("w.log"), "sending SIGKILL"), "it stopped for 3 s");
    /* One wait may be outstanding when the cancel comes; renewals every second; a few leases. */
    cr_assert_leq(command_calls(c, "blpop") - blpop, 2);
    cr_assert_leq(command_calls(c, "evalsha") - evalsha, 20);
    kwq_client_free(c);
}
