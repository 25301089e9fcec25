/*
 * test_worker_prefetch.c - exec-mode prefetch: while handlers are short, a
 * worker leases tasks beyond its free slots. When it cannot start them
 * (its running handler turned out to be long, or SIGTERM came), they go
 * back uncharged, and another worker runs them as attempt 1.
 *
 * A busy worker also never waits for work to lease ahead, so a new task
 * goes to an idle peer, not into its prefetch queue. And --max-tasks counts
 * the tasks a worker started, not the ones it leased ahead and gave back.
 *
 * Prefetch needs the worker's measured handler times to be short, which a
 * loaded machine may deny: a round that did not prefetch is let finish
 * and tried again, and the test is skipped (never passed) if none did.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_prefetch, .init = redis_setup, .fini = redis_teardown, .timeout = 240);

#define AHEAD  4 /* PREFETCH_MAX in worker/core.h */
#define WARM   20
#define ROUNDS 5

static void nap(void)
{
    struct timespec ts = {0, 10L * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

static void enqueue_payloads(struct kwq_client *c, char **payloads, size_t n,
                             struct kwq_enqueued *ids)
{
    struct kwq_new_task t[WARM];
    size_t accepted = 0;

    cr_assert(n <= WARM);
    for (size_t i = 0; i < n; i++)
        t[i] = (struct kwq_new_task){.payload = payloads[i], .payload_len = strlen(payloads[i])};
    cr_assert(kwq_enqueue(c, TEST_QUEUE, t, n, ids, &accepted) >= 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(accepted, n);
}

static void wait_done(struct kwq_client *c, uint64_t done)
{
    for (int i = 0; i < SAFETY_S * 100 && stats_of(c).done < done; i++)
        nap();
    cr_assert_eq(stats_of(c).done, done);
}

static const char *gate(const char *name)
{
    return test_path(name);
}

/*
 * One round: WARM short tasks (so the worker measures short handlers), then
 * "block:rN" and AHEAD short ones in one enqueue (with blocks2, the first
 * of those is "block:sN"). Returns true when the worker, with rN running,
 * leased the AHEAD behind it in the same call; else lets the round finish
 * and returns false. ids gets the AHEAD ones.
 */
static bool round_prefetches(struct kwq_client *c, int r, bool blocks2, struct kwq_enqueued *ids)
{
    char names[WARM][32], *p[WARM], pidfile[64], gofile[64];
    struct kwq_enqueued all[AHEAD + 1];
    struct kwq_stats before = stats_of(c), st;

    for (int i = 0; i < WARM; i++) {
        (void)snprintf(names[i], sizeof(names[i]), "warm-%d-%d", r, i);
        p[i] = names[i];
    }
    enqueue_payloads(c, p, WARM, NULL);
    wait_done(c, before.done + WARM);

    (void)snprintf(names[0], sizeof(names[0]), "block:r%d", r);
    for (int i = 1; i <= AHEAD; i++)
        (void)snprintf(names[i], sizeof(names[i]), "after-%d-%d", r, i);
    if (blocks2)
        (void)snprintf(names[1], sizeof(names[1]), "block:s%d", r);
    before = stats_of(c);
    enqueue_payloads(c, p, AHEAD + 1, all);
    (void)snprintf(pidfile, sizeof(pidfile), "gate/r%d.pid", r);
    wait_for_file(gate(pidfile));
    st = stats_of(c);
    /* Leased with the blocking task, in the one lease before it started (some maybe released). */
    if (st.leased + (st.released - before.released) == AHEAD + 1) {
        memcpy(ids, all + 1, AHEAD * sizeof(*ids));
        return true;
    }
    (void)snprintf(gofile, sizeof(gofile), "gate/r%d.go", r);
    write_file(gate(gofile), "");
    (void)snprintf(gofile, sizeof(gofile), "gate/s%d.go", r);
    write_file(gate(gofile), "");
    wait_done(c, before.done + AHEAD + 1);
    return false;
}

/*
 * The round in which worker w (started on a.log) prefetched; the test is
 * skipped, never passed, when it did not within ROUNDS rounds.
 */
static int prefetching_round(struct kwq_client *c, bool blocks2, struct kwq_enqueued *ids, pid_t w)
{
    for (int r = 0; r < ROUNDS; r++)
        if (round_prefetches(c, r, blocks2, ids))
            return r;
    (void)kill(w, SIGKILL);
    (void)worker_wait(w, "a.log");
    cr_skip_test("the worker never measured handlers short enough to prefetch");
    return -1;
}

static void assert_attempt_1(struct kwq_client *c, const struct kwq_enqueued *ids)
{
    for (int i = 0; i < AHEAD; i++) {
        char *res = NULL;
        size_t len = 0;

        cr_assert(kwq_result_get(c, TEST_QUEUE, ids[i].id, &res, &len) == 0, "%s",
                  kwq_client_errstr(c));
        cr_assert_str_eq(res, "attempt 1", "a prefetched task given back is not charged");
        free(res);
    }
}

Test(worker_prefetch, prefetched_tasks_are_released_uncharged_on_sigterm)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[AHEAD];
    const char *args[] = {"--lease",    "10m", "--grace", "60s", "--", helper_path("helper_gate"),
                          gate("gate"), NULL};
    const char *cargs[] = {"--", helper_path("helper_gate"), gate("gate"), NULL};
    struct kwq_stats before;
    char go[64];
    pid_t a, b;
    int r;

    cr_assert(mkdir(gate("gate"), 0755) == 0);
    a = worker_start("a.log", args);
    r = prefetching_round(c, false, ids, a);
    before = stats_of(c);
    cr_assert(kill(a, SIGTERM) == 0);
    wait_for_text(test_path("a.log"), "signal received");
    (void)snprintf(go, sizeof(go), "gate/r%d.go", r);
    write_file(gate(go), ""); /* the running task finishes within the grace period */
    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_INTERRUPTED);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, before.done + 1, "the running task was acked");
    cr_assert_eq(st.pending, AHEAD, "the prefetched tasks are back in the queue");
    cr_assert_eq(st.leased, 0);
    cr_assert_eq(st.released, AHEAD, "each was released once (on SIGTERM or its hold time)");
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    b = worker_start("b.log", cargs);
    cr_assert_eq(worker_wait(b, "b.log"), KWQ_EXIT_OK);
    st = stats_of(c);
    cr_assert_eq(st.failed + st.expired + st.dead, 0);
    assert_attempt_1(c, ids);
    kwq_client_free(c);
}

Test(worker_prefetch, prefetched_task_not_started_in_time_is_released_uncharged)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[AHEAD];
    const char *args[] = {"--lease", "10m", "--", helper_path("helper_gate"), gate("gate"), NULL};
    struct kwq_stats before;
    char go[64];
    pid_t a, b;
    int r;

    cr_assert(mkdir(gate("gate"), 0755) == 0);
    a = worker_start("a.log", args);
    r = prefetching_round(c, false, ids, a);
    /* Its one slot stays busy: the tasks leased ahead go back after their hold time. */
    for (int i = 0; i < SAFETY_S * 100 && stats_of(c).released < AHEAD; i++)
        nap();
    cr_assert_eq(stats_of(c).released, AHEAD);
    cr_assert(file_contains(test_path("a.log"), "prefetched task not started in time"));

    before = stats_of(c);
    b = worker_start("b.log",
                     (const char *const[]){"--", helper_path("helper_gate"), gate("gate"), NULL});
    wait_done(c, before.done + AHEAD); /* another worker runs them while a is still busy */
    (void)snprintf(go, sizeof(go), "gate/r%d.go", r);
    write_file(gate(go), "");
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_OK);
    cr_assert_eq(worker_wait(b, "b.log"), KWQ_EXIT_OK);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.released, AHEAD, "released once each, never again");
    cr_assert_eq(st.failed + st.expired + st.dead, 0);
    assert_attempt_1(c, ids);
    kwq_client_free(c);
}

/*
 * The worker's one slot is busy and the queue is empty: it does not wait for
 * more (it could only lease ahead), so the wake-up of a new task goes to the
 * idle peer, which runs it; it does not detour through the busy worker's
 * prefetch queue (leased, held, released).
 */
Test(worker_prefetch, new_task_goes_to_an_idle_peer_not_a_busy_worker)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--lease", "10m", "--", helper_path("helper_gate"), gate("gate"), NULL};
    char warm[WARM][32], *p[WARM], block[] = "block:busy", late[] = "late";
    struct kwq_enqueued id;
    struct kwq_stats before;
    long idle_waits;
    pid_t a, b;

    cr_assert(mkdir(gate("gate"), 0755) == 0);
    a = worker_start("a.log", args);
    for (int i = 0; i < WARM; i++) {
        (void)snprintf(warm[i], sizeof(warm[i]), "warm-%d", i);
        p[i] = warm[i];
    }
    enqueue_payloads(c, p, WARM, NULL);
    wait_done(c, WARM);
    p[0] = block;
    enqueue_payloads(c, p, 1, NULL); /* leased alone: the queue had no more */
    wait_for_file(gate("gate/busy.pid"));

    idle_waits = blocked_clients(c);
    b = worker_start("b.log", args);
    wait_blocked(c, idle_waits + 1);
    before = stats_of(c);
    p[0] = late;
    enqueue_payloads(c, p, 1, &id);
    wait_done(c, before.done + 1);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.released, before.released, "the new task went through the busy worker");
    char done[64];
    (void)snprintf(done, sizeof(done), "\"task\":\"%s\"", id.id);
    /* "task done" is logged once Redis has answered the ack: it may trail the count. */
    wait_for_text(test_path("b.log"), done); /* the idle worker ran it */
    cr_assert(!file_contains(test_path("a.log"), done), "the busy worker ran it");
    write_file(gate("gate/busy.go"), "");
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_OK);
    cr_assert_eq(worker_wait(b, "b.log"), KWQ_EXIT_OK);
    kwq_client_free(c);
}

/*
 * --max-tasks N: tasks leased ahead and given back unstarted (hold time
 * over) are not counted, so the worker still runs exactly N tasks before it
 * exits, and leaves the rest of the queue alone.
 */
Test(worker_prefetch, max_tasks_counts_only_the_tasks_started)
{
    enum { MAX = 200, EXTRA = 10 };
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[AHEAD];
    const char *args[] = {"--lease",    "10m", "--max-tasks",
                          "200",        "--",  helper_path("helper_gate"),
                          gate("gate"), NULL};
    size_t enqueued;
    char go[64];
    pid_t a;
    int r;

    cr_assert(mkdir(gate("gate"), 0755) == 0);
    a = worker_start("a.log", args);
    r = prefetching_round(c, false, ids, a);
    /* The queue is empty and the one slot busy: the tasks leased ahead all go back. */
    for (int i = 0; i < SAFETY_S * 100 && stats_of(c).leased > 1; i++)
        nap();
    cr_assert_eq(stats_of(c).leased, 1, "only the blocked task is still held");
    cr_assert(stats_of(c).released >= AHEAD);

    enqueued = (size_t)(r + 1) * (WARM + 1 + AHEAD);
    enqueue_n(c, MAX + EXTRA - enqueued, "rest", NULL);
    (void)snprintf(go, sizeof(go), "gate/r%d.go", r);
    write_file(gate(go), "");
    cr_assert_eq(worker_wait(a, "a.log"), KWQ_EXIT_INTERRUPTED);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, MAX, "tasks run: %llu, want exactly --max-tasks",
                 (unsigned long long)st.done);
    cr_assert_eq(st.pending, EXTRA, "the rest is left in the queue");
    cr_assert_eq(st.leased, 0);
    cr_assert_eq(st.failed + st.expired + st.dead, 0);
    cr_assert(file_contains(test_path("a.log"), "\"tasks\":200"));
    kwq_client_free(c);
}

/* The state and attempts made of task id (asserts it exists). */
static struct kwq_task_info task_of(struct kwq_client *c, const char *id)
{
    struct kwq_task_info info;

    cr_assert(kwq_task_get(c, TEST_QUEUE, id, &info) == 0, "%s", kwq_client_errstr(c));
    return info;
}

/* A worker (1 s leases) on a queue whose tasks get one attempt each. */
static pid_t one_attempt_worker(struct kwq_client *c)
{
    const char *args[] = {"--lease", "1s", "--", helper_path("helper_gate"), gate("gate"), NULL};

    cr_assert(kwq_queue_set(c, TEST_QUEUE, "max_attempts", 1) == 0, "%s", kwq_client_errstr(c));
    cr_assert(mkdir(gate("gate"), 0755) == 0);
    return worker_start("a.log", args);
}

/* Reap until no lease is left (those of a killed worker expire); the stats then. */
static struct kwq_stats reap_all(struct kwq_client *c)
{
    struct kwq_stats st;

    for (int i = 0; i < SAFETY_S * 100 && (st = stats_of(c)).leased > 0; i++) {
        cr_assert(kwq_reap(c, TEST_QUEUE, 100, NULL) >= 0, "%s", kwq_client_errstr(c));
        nap();
    }
    return st;
}

/*
 * Tasks leased ahead are leased uncharged and charged only when they start:
 * with max_attempts 1, a worker SIGKILLed while it holds them uses up none
 * of their attempts. Once the leases expire they are pending again with 0
 * attempts made, and only the task it was running is dead-lettered.
 */
Test(worker_prefetch, sigkilled_worker_uses_no_attempt_of_the_tasks_it_leased_ahead)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[AHEAD];
    struct kwq_stats st;
    size_t held;
    pid_t a;

    a = one_attempt_worker(c);
    (void)prefetching_round(c, false, ids, a);
    cr_assert(kill(a, SIGKILL) == 0);
    (void)worker_wait(a, "a.log");
    st = stats_of(c);
    held = st.leased - 1; /* the running task, and those leased ahead not yet given back */
    if (held == 0)
        cr_skip_test("the tasks leased ahead were given back before the kill (hold time over)");

    st = reap_all(c);
    cr_assert_eq(st.leased, 0, "the leases of the killed worker expired");
    cr_assert_eq(st.dead, 1, "only the task that ran is dead-lettered (max_attempts 1)");
    cr_assert_eq(st.pending, AHEAD);
    for (int i = 0; i < AHEAD; i++) {
        struct kwq_task_info info = task_of(c, ids[i].id);

        cr_assert_eq(info.state, KWQ_STATE_PENDING, "task %s is %s", ids[i].id,
                     kwq_state_to_string(info.state));
        cr_assert_eq(info.task.attempt, 0, "task %s: %u attempts used, never started", ids[i].id,
                     (unsigned)info.task.attempt);
        kwq_task_info_done(&info);
    }
    kwq_client_free(c);
}

/* The lease record of task id in Redis (docs/PROTOCOL.md "Records"), into buf. */
static void lease_record(const char *id, char *buf, size_t len)
{
    redisContext *r = redisConnectUnix(test_redis.sock);
    redisReply *rep;

    cr_assert(r && !r->err);
    rep = redisCommand(r, "HGET kwq:{" TEST_QUEUE "}:leases %s", id);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "no lease record for task %s", id);
    (void)snprintf(buf, len, "%s", rep->str);
    freeReplyObject(rep);
    redisFree(r);
}

/*
 * A task leased ahead is charged once it starts: a worker SIGKILLed while
 * it runs has used that attempt (with max_attempts 1 it is dead-lettered).
 */
Test(worker_prefetch, task_leased_ahead_is_charged_when_it_starts)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[AHEAD];
    char go[64], pidfile[64], rec[128];
    struct kwq_task_info info;
    struct kwq_stats st;
    pid_t a;
    int r;

    a = one_attempt_worker(c);
    r = prefetching_round(c, true, ids, a);
    lease_record(ids[0].id, rec, sizeof(rec));
    if (strstr(rec, ":u") == NULL) {
        (void)kill(a, SIGKILL);
        (void)worker_wait(a, "a.log");
        cr_skip_test("the task leased ahead was given back before its turn (hold time over)");
    }
    (void)snprintf(go, sizeof(go), "gate/r%d.go", r);
    write_file(gate(go), ""); /* the running task ends: the one leased ahead starts */
    (void)snprintf(pidfile, sizeof(pidfile), "gate/s%d.pid", r);
    wait_for_file(gate(pidfile));
    for (int i = 0; i < SAFETY_S * 100 && strstr(rec, ":u") != NULL; i++) {
        lease_record(ids[0].id, rec, sizeof(rec));
        nap();
    }
    cr_assert(strstr(rec, ":u") == NULL, "charged once started: %s", rec);
    cr_assert(kill(a, SIGKILL) == 0);
    (void)worker_wait(a, "a.log");
    st = reap_all(c);
    cr_assert_eq(st.leased, 0);
    info = task_of(c, ids[0].id);
    cr_assert_eq(info.state, KWQ_STATE_DEAD, "it ran on its one attempt: %s",
                 kwq_state_to_string(info.state));
    kwq_task_info_done(&info);
    kwq_client_free(c);
}
