/*
 * test_proto_lease.c - kwq_lease and the holder's calls: concurrent
 * leasing by two processes, lease expiry and the fencing token, renew,
 * release, reap, and the blocking wait (woken by an enqueue, by the drain,
 * and its event-loop form).
 *
 * Waits are blocking calls, never sleeps: a lease with wait_ms returns when
 * the server's clock makes the awaited task available.
 *
 * Every .timeout in this file has the same value: Criterion 2.4.1's runner
 * leaks when the tests of one program use different ones, and
 * LeakSanitizer then fails the whole program.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(lease, .init = redis_setup, .fini = redis_teardown);

/* Exit status of the child pid; fails the test when it did not exit normally. */
static int child_status(pid_t pid)
{
    int st = 0;
    int exited;

    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    exited = WIFEXITED(st);
    cr_assert(exited, "child %d did not exit (status %d)", (int)pid, st);
    return WEXITSTATUS(st);
}

/* A client for a forked child: no Criterion asserts there, only exit codes. */
static struct kwq_client *child_client(void)
{
    struct kwq_client_opts o;
    struct kwq_client *c;

    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    c = kwq_client_new(&o);
    if (!c || kwq_client_connect(c) != 0)
        _exit(90);
    return c;
}

/*
 * Child of the concurrency test: wait for the go byte on fd go, then lease
 * batch tasks at a time and ack them, writing "<id> <payload>" lines to
 * path, until the queue reports drained. Returns the exit code.
 */
static int lease_all(int go, size_t batch, const char *path)
{
    struct kwq_client *c = child_client();
    FILE *out = fopen(path, "w");
    struct kwq_ack *acks = calloc(batch, sizeof(*acks));
    int *st = calloc(batch, sizeof(*st));
    int idle = 0;
    char b;

    if (!out || !acks || !st || read(go, &b, 1) != 1)
        return 91;
    for (;;) {
        struct kwq_lease_result r;
        int rc = kwq_lease(c, TP_QUEUE, batch, 60000, 5000, &r);
        if (rc < 0)
            return 92;
        if (rc == 0) {
            bool drained = r.drained;
            kwq_lease_result_done(&r);
            if (drained)
                break;
            /* Not drained yet: the other child still holds tasks. */
            if (++idle > 20)
                return 93;
            continue;
        }
        for (size_t i = 0; i < r.n; i++) {
            fprintf(out, "%s %s\n", r.tasks[i].id, r.tasks[i].payload);
            acks[i] = (struct kwq_ack){.id = r.tasks[i].id, .token = r.tasks[i].token};
        }
        if (kwq_ack(c, TP_QUEUE, acks, r.n, st) != 0)
            return 94;
        for (size_t i = 0; i < r.n; i++) {
            if (st[i] != 0)
                return 95;
        }
        kwq_lease_result_done(&r);
    }
    if (fclose(out) != 0)
        return 96;
    free(acks);
    free(st);
    kwq_client_free(c);
    return 0;
}

/* Count the lines of path into seen[] (indexed by ID); checks each payload. */
static size_t collect(const char *path, unsigned char *seen, size_t n)
{
    FILE *f = fopen(path, "r");
    char id[64], payload[64];
    size_t lines = 0;

    cr_assert(f != NULL, "%s", path);
    while (fscanf(f, "%63s %63s", id, payload) == 2) {
        char want[64];
        unsigned long v = strtoul(id, NULL, 10);
        cr_assert(v >= 1 && v <= n, "unexpected ID %s", id);
        (void)snprintf(want, sizeof(want), "t%lu", v - 1);
        tp_assert_str_eq(payload, want);
        seen[v - 1]++;
        lines++;
    }
    (void)fclose(f);
    return lines;
}

Test(lease, two_processes_never_share_a_task, .timeout = 120)
{
    enum { N = 10000 };
    struct kwq_client *c = tp_client(NULL);
    unsigned char *seen = calloc(N, 1);
    char path[2][400];
    const size_t batch[2] = {7, 13};
    pid_t pid[2];
    int go[2];
    size_t got[2];
    struct kwq_stats s;

    cr_assert(seen != NULL);
    tp_enqueue_n(c, TP_QUEUE, "t", N);
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(eq(int, pipe(go), 0));
    for (int k = 0; k < 2; k++) {
        (void)snprintf(path[k], sizeof(path[k]), "%s/leased-%d.txt", test_redis.dir, k);
        pid[k] = fork();
        cr_assert(pid[k] >= 0);
        if (pid[k] == 0) {
            (void)close(go[1]);
            _exit(lease_all(go[0], batch[k], path[k]));
        }
    }
    (void)close(go[0]);
    /* Both start together. */
    cr_assert(eq(long, (long)write(go[1], "gg", 2), 2L));
    (void)close(go[1]);
    for (int k = 0; k < 2; k++)
        cr_assert(eq(int, child_status(pid[k]), 0), "child %d failed", k);

    got[0] = collect(path[0], seen, N);
    got[1] = collect(path[1], seen, N);
    cr_assert(eq(sz, got[0] + got[1], N), "leased %zu + %zu", got[0], got[1]);
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(u8, seen[i], 1), "task %zu leased %u times", i + 1, seen[i]);

    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.done, N));
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(u64, s.leased, 0));
    cr_assert(eq(u64, s.expired, 0));
    cr_assert(s.drained);
    free(seen);
    kwq_client_free(c);
}

/*
 * A lease left to expire comes back exactly once, to another client, with a
 * new token and the expiry counted; every call with the old token is then
 * refused and changes nothing.
 */
Test(lease, expired_lease_returns_once_and_stale_token_is_refused)
{
    struct kwq_client *a = tp_client(NULL);
    struct kwq_client *b = tp_client(NULL);
    struct kwq_task t1, t2;
    struct kwq_stats before, after;
    struct kwq_task_info info;
    char id[KWQ_ID_MAX];
    int st = 99;

    tp_enqueue(a, TP_QUEUE, "work", id);
    tp_lease1(a, TP_QUEUE, 200, 0, &t1);
    cr_assert(eq(u32, t1.attempt, 1));

    /* b waits (blocking, on the server clock) until a's lease expires. */
    tp_lease1(b, TP_QUEUE, 60000, 30000, &t2);
    tp_assert_str_eq(t2.id, id);
    tp_assert_str_eq(t2.payload, "work");
    cr_assert(eq(u32, t2.attempt, 2));
    cr_assert(ne(u64, t2.token, t1.token));
    tp_lease_none(a, TP_QUEUE);

    before = tp_stats(a, TP_QUEUE);
    cr_assert(eq(u64, before.expired, 1));
    cr_assert(eq(u64, before.leased, 1));
    cr_assert(eq(u64, before.pending, 0));
    cr_assert(eq(u64, before.failed, 0));

    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(a, TP_QUEUE, id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_LEASED));
    cr_assert(tp_contains(info.history_json, "\"expired\""), "history %s", info.history_json);
    kwq_task_info_done(&info);

    /* The stale holder: ack, renew, fail and release are all refused. */
    {
        struct kwq_ack ack = {.id = t1.id, .token = t1.token, .result = "r", .result_len = 1};
        struct kwq_lease_ref ref = {.id = t1.id, .token = t1.token};
        struct kwq_failure f = {.id = t1.id, .token = t1.token, .error = "boom", .code = 1};
        struct kwq_fail_outcome out;

        cr_assert(eq(int, kwq_ack(a, TP_QUEUE, &ack, 1, &st), 0));
        cr_assert(eq(int, st, KWQ_ELEASELOST), "ack: %s", kwq_err_name(st));
        st = 99;
        cr_assert(eq(int, kwq_renew(a, TP_QUEUE, &ref, 1, 60000, &st), 0));
        cr_assert(eq(int, st, KWQ_ELEASELOST), "renew: %s", kwq_err_name(st));
        memset(&out, 0, sizeof(out));
        cr_assert(eq(int, kwq_fail(a, TP_QUEUE, &f, 1, &out), 0));
        cr_assert(eq(int, out.status, KWQ_ELEASELOST), "fail: %s", kwq_err_name(out.status));
        cr_assert(not(out.dead));
        st = 99;
        cr_assert(eq(int, kwq_release(a, TP_QUEUE, &ref, 1, &st), 0));
        cr_assert(eq(int, st, KWQ_ELEASELOST), "release: %s", kwq_err_name(st));
    }
    after = tp_stats(a, TP_QUEUE);
    tp_assert_same_stats(&before, &after);
    cr_assert(
        eq(int, kwq_result_get(a, TP_QUEUE, id, &(char *){NULL}, &(size_t){0}), KWQ_ENOTFOUND));

    /* The current holder is unaffected. */
    tp_ack1(b, TP_QUEUE, &t2);
    after = tp_stats(a, TP_QUEUE);
    cr_assert(eq(u64, after.done, 1));
    cr_assert(eq(u64, after.leased, 0));
    cr_assert(eq(u64, after.expired, 1));
    kwq_task_done(&t1);
    kwq_task_done(&t2);
    kwq_client_free(a);
    kwq_client_free(b);
}

/* A lease that expires on the task's last attempt dead-letters it. */
Test(lease, expiry_on_last_attempt_dead_letters)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task nt = {.payload = "x", .payload_len = 1, .max_attempts = 1};
    struct kwq_reap_result rr;
    struct kwq_dead_task *dl = NULL;
    size_t dn = 0;
    struct kwq_task t;
    struct kwq_stats s;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &nt, 1, NULL, NULL), 0));
    tp_lease1(c, TP_QUEUE, 200, 0, &t);
    tp_server_wait_ms(r, 400);
    memset(&rr, 0xff, sizeof(rr));
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 100, &rr), 0));
    cr_assert(eq(u64, rr.dead, 1));
    cr_assert(eq(u64, rr.expired, 0));
    cr_assert(eq(u64, rr.promoted, 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 1));
    cr_assert(eq(u64, s.leased, 0));
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 10, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 1));
    tp_assert_str_eq(dl[0].id, t.id);
    cr_assert(eq(u32, dl[0].attempts, 1));
    cr_assert(eq(int, dl[0].last_code, -1));
    tp_assert_str_eq(dl[0].last_error, "lease expired on the last attempt");
    kwq_dead_list_free(dl, dn);
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

Test(lease, reap_returns_expired_and_promotes_due)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task later = {.payload = "d", .payload_len = 1, .delay_ms = 100};
    struct kwq_lease_result lr;
    struct kwq_reap_result rr;
    struct kwq_stats s;

    tp_enqueue_n(c, TP_QUEUE, "x", 2);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 10, 200, 0, &lr), 2));
    kwq_lease_result_done(&lr);
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &later, 1, NULL, NULL), 0));
    tp_server_wait_ms(r, 400);
    memset(&rr, 0xff, sizeof(rr));
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 100, &rr), 0));
    cr_assert(eq(u64, rr.expired, 2));
    cr_assert(eq(u64, rr.dead, 0));
    cr_assert(eq(u64, rr.promoted, 1));
    /* Nothing left to reap. */
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 100, &rr), 0));
    cr_assert(eq(u64, rr.expired + rr.dead + rr.promoted, 0));
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 100, NULL), 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 3));
    cr_assert(eq(u64, s.leased, 0));
    cr_assert(eq(u64, s.delayed, 0));
    cr_assert(eq(u64, s.expired, 2));
    redisFree(r);
    kwq_client_free(c);
}

/* kwq_stats reaps inline: no daemon is needed for an expired lease to return. */
Test(lease, stats_reaps_inline)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;
    struct kwq_stats s;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 200, 0, &t);
    tp_server_wait_ms(r, 400);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 1));
    cr_assert(eq(u64, s.leased, 0));
    cr_assert(eq(u64, s.expired, 1));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

Test(lease, renew_extends_the_deadline)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task_info info;
    struct kwq_task t;
    struct kwq_lease_ref ref;
    struct kwq_stats s;
    int64_t d1, d2;
    int st = 99;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 200, 0, &t);
    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, t.id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_LEASED));
    d1 = info.due_ms;
    kwq_task_info_done(&info);

    ref = (struct kwq_lease_ref){.id = t.id, .token = t.token};
    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, &ref, 1, 60000, &st), 0));
    cr_assert(eq(int, st, 0));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, t.id, &info), 0));
    d2 = info.due_ms;
    kwq_task_info_done(&info);
    cr_assert(ge(i64, d2 - d1, 60000 - 200), "deadline %lld -> %lld", (long long)d1, (long long)d2);

    /* Past the first deadline the task is still held. */
    tp_server_wait_ms(r, 400);
    tp_lease_none(c, TP_QUEUE);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.leased, 1));
    cr_assert(eq(u64, s.expired, 0));

    /* A wrong token or an unknown ID is refused. */
    ref.token = t.token + 1000;
    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, &ref, 1, 60000, &st), 0));
    cr_assert(eq(int, st, KWQ_ELEASELOST));
    ref = (struct kwq_lease_ref){.id = "999", .token = t.token};
    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, &ref, 1, 60000, &st), 0));
    cr_assert(eq(int, st, KWQ_ELEASELOST));
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/* A batch renew reports each lease on its own. */
Test(lease, renew_batch_reports_per_item)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result lr;
    struct kwq_lease_ref refs[3];
    int st[3] = {99, 99, 99};

    tp_enqueue_n(c, TP_QUEUE, "x", 2);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 2, 60000, 0, &lr), 2));
    refs[0] = (struct kwq_lease_ref){.id = lr.tasks[0].id, .token = lr.tasks[0].token};
    refs[1] = (struct kwq_lease_ref){.id = lr.tasks[1].id, .token = lr.tasks[0].token};
    refs[2] = (struct kwq_lease_ref){.id = lr.tasks[1].id, .token = lr.tasks[1].token};
    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, refs, 3, 60000, st), 0));
    cr_assert(eq(int, st[0], 0));
    cr_assert(eq(int, st[1], KWQ_ELEASELOST));
    cr_assert(eq(int, st[2], 0));
    kwq_lease_result_done(&lr);
    kwq_client_free(c);
}

/* Release puts the task back at the head without charging the attempt. */
Test(lease, release_charges_no_attempt)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t, again;
    struct kwq_lease_ref ref;
    struct kwq_task_info info;
    struct kwq_stats s;
    char a[KWQ_ID_MAX], b[KWQ_ID_MAX];
    int st = 99;

    tp_enqueue(c, TP_QUEUE, "A", a);
    tp_enqueue(c, TP_QUEUE, "B", b);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.id, a);
    ref = (struct kwq_lease_ref){.id = t.id, .token = t.token};
    cr_assert(eq(int, kwq_release(c, TP_QUEUE, &ref, 1, &st), 0));
    cr_assert(eq(int, st, 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "leases"), 0));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.released, 1));
    cr_assert(eq(u64, s.pending, 2));
    cr_assert(eq(u64, s.leased, 0));
    cr_assert(eq(u64, s.failed, 0));

    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, a, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_PENDING));
    cr_assert(tp_contains(info.history_json, "\"released\""), "history %s", info.history_json);
    kwq_task_info_done(&info);

    /* Head of the queue again, still on its first attempt. */
    tp_lease1(c, TP_QUEUE, 60000, 0, &again);
    tp_assert_str_eq(again.id, a);
    cr_assert(eq(u32, again.attempt, 1));
    cr_assert(ne(u64, again.token, t.token));
    /* Releasing with the old token again is refused. */
    st = 99;
    cr_assert(eq(int, kwq_release(c, TP_QUEUE, &ref, 1, &st), 0));
    cr_assert(eq(int, st, KWQ_ELEASELOST));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.released, 1));
    cr_assert(eq(u64, s.leased, 1));
    kwq_task_done(&t);
    kwq_task_done(&again);
    redisFree(r);
    kwq_client_free(c);
}

Test(lease, argument_errors)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result r;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 0, 60000, 0, &r), KWQ_EINVAL));
    tp_assert_str_ne(kwq_client_errstr(c), "");
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 10001, 60000, 0, &r), KWQ_EINVAL));
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 99, 0, &r), KWQ_EINVAL));
    cr_assert(eq(int, kwq_lease(c, "bad name", 1, 60000, 0, &r), KWQ_EINVAL));
    /* Nothing was leased by the refused calls. */
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 10000, 100, 0, &r), 1));
    cr_assert(eq(sz, r.n, 1));
    kwq_lease_result_done(&r);
    kwq_client_free(c);
}

Test(lease, next_due_reports_the_earliest_deadline)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result r;

    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 0, &r), 0));
    cr_assert(eq(i64, r.next_due_ms, -1));
    cr_assert(not(r.sealed));
    cr_assert(not(r.drained));
    kwq_lease_result_done(&r);
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 0, &r), 1));
    kwq_lease_result_done(&r);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 0, &r), 0));
    cr_assert(gt(i64, r.next_due_ms, 0));
    cr_assert(le(i64, r.next_due_ms, 60000));
    kwq_lease_result_done(&r);
    kwq_client_free(c);
}

/* An idle client blocked in kwq_lease gets a task enqueued by another process. */
Test(lease, waiting_lease_is_woken_by_enqueue)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t;
    pid_t pid = fork();

    cr_assert(pid >= 0);
    if (pid == 0) {
        struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
        redisContext *r = redisConnectUnixWithTimeout(test_redis.sock, tv);
        struct kwq_client *w;
        struct kwq_new_task nt = {.payload = "woken", .payload_len = 5};
        if (!r || r->err)
            _exit(80);
        if (tp_wait_blocked_clients(r, 1) != 0)
            _exit(79);
        w = child_client();
        _exit(kwq_enqueue(w, TP_QUEUE, &nt, 1, NULL, NULL) == 0 ? 0 : 81);
    }
    tp_lease1(c, TP_QUEUE, 60000, 60000, &t);
    tp_assert_str_eq(t.payload, "woken");
    cr_assert(eq(int, child_status(pid), 0));
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* A waiter wakes and learns the queue drained when the last task is acked. */
Test(lease, waiting_lease_is_woken_by_drain, .timeout = 120)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result r;
    struct kwq_task t;
    pid_t pid;

    tp_enqueue(c, TP_QUEUE, "last", NULL);
    tp_lease1(c, TP_QUEUE, 1200000, 0, &t);
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
        redisContext *rc = redisConnectUnixWithTimeout(test_redis.sock, tv);
        struct kwq_client *w;
        struct kwq_ack a = {.id = t.id, .token = t.token};
        int st = 99;
        if (!rc || rc->err)
            _exit(80);
        if (tp_wait_blocked_clients(rc, 1) != 0)
            _exit(79);
        w = child_client();
        _exit(kwq_ack(w, TP_QUEUE, &a, 1, &st) == 0 && st == 0 ? 0 : 81);
    }
    memset(&r, 0, sizeof(r));
    /* Longer than the test's timeout: only a wake-up ends it. */
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 600000, &r), 0));
    cr_assert(eq(sz, r.n, 0));
    cr_assert(r.sealed);
    cr_assert(r.drained);
    kwq_lease_result_done(&r);
    cr_assert(eq(int, child_status(pid), 0));
    kwq_task_done(&t);
    kwq_client_free(c);
}

/*
 * Every idle waiter wakes when the queue drains (the Kubernetes Job
 * completes only when every worker pod exits): three processes block in
 * kwq_lease, the last ack drains the queue, and all three return drained.
 */
Test(lease, drain_wakes_every_waiter, .timeout = 120)
{
    enum { WAITERS = 3 };
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    pid_t pid[WAITERS];
    struct kwq_task t;

    tp_enqueue(c, TP_QUEUE, "last", NULL);
    tp_lease1(c, TP_QUEUE, 1200000, 0, &t);
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    for (int k = 0; k < WAITERS; k++) {
        pid[k] = fork();
        cr_assert(pid[k] >= 0);
        if (pid[k] == 0) {
            struct kwq_client *w = child_client();
            struct kwq_lease_result lr;
            /* Longer than the test's timeout: only a wake-up ends it. */
            int rc = kwq_lease(w, TP_QUEUE, 1, 60000, 600000, &lr);
            _exit(rc == 0 && lr.n == 0 && lr.drained ? 0 : 70);
        }
    }
    cr_assert(eq(int, tp_wait_blocked_clients(r, WAITERS), 0), "the waiters never blocked");
    tp_ack1(c, TP_QUEUE, &t);
    for (int k = 0; k < WAITERS; k++)
        cr_assert(eq(int, child_status(pid[k]), 0), "waiter %d", k);
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/* Wait for the client's fd to be readable, then finish the wait. */
static int wait_finish(struct kwq_client *c)
{
    for (int i = 0; i < 100; i++) {
        struct pollfd p = {.fd = kwq_client_fd(c), .events = POLLIN};
        int rc;
        cr_assert(ge(int, p.fd, 0));
        cr_assert(eq(int, poll(&p, 1, 30000), 1), "wait reply never came");
        rc = kwq_wait_finish(c);
        if (rc != KWQ_WAIT_AGAIN)
            return rc;
    }
    cr_fatal("kwq_wait_finish kept answering KWQ_WAIT_AGAIN");
    return -1;
}

Test(lease, event_loop_wait_wakes_and_times_out)
{
    struct kwq_client *w = tp_client(NULL);
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t;

    cr_assert(eq(int, kwq_wait_start(w, TP_QUEUE, 30000), 0));
    /* No other call on a client that is waiting. */
    {
        struct kwq_stats s;
        cr_assert(eq(int, kwq_stats(w, TP_QUEUE, &s), KWQ_EINVAL));
        tp_assert_str_ne(kwq_client_errstr(w), "");
    }
    tp_enqueue(c, TP_QUEUE, "ev", NULL);
    cr_assert(eq(int, wait_finish(w), KWQ_WAIT_WOKEN));
    tp_lease1(w, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.payload, "ev");
    kwq_task_done(&t);

    /* Nothing more to come: the wait ends by its timeout (on the server). */
    cr_assert(eq(int, kwq_wait_start(w, TP_QUEUE, 200), 0));
    cr_assert(eq(int, wait_finish(w), KWQ_WAIT_TIMEOUT));
    /* The client is usable again afterwards. */
    tp_lease_none(w, TP_QUEUE);
    kwq_client_free(w);
    kwq_client_free(c);
}

/* Sum of the calls= fields of the cmdstat_<name> lines of INFO commandstats. */
static long long command_calls(redisContext *r, const char *const *names)
{
    redisReply *rep = redisCommand(r, "INFO commandstats");
    long long total = 0;

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING);
    for (char *p = strstr(rep->str, "cmdstat_"); p; p = strstr(p + 1, "cmdstat_")) {
        char *colon = strchr(p, ':');
        char *calls = strstr(p, "calls=");
        size_t len = colon ? (size_t)(colon - p - 8) : 0;
        bool want = names == NULL;

        for (size_t i = 0; names && names[i]; i++)
            want |= strlen(names[i]) == len && strncmp(p + 8, names[i], len) == 0;
        /* The test's own INFO and CONFIG calls are not the client's. */
        if ((len == 4 && strncmp(p + 8, "info", 4) == 0) ||
            (len == 6 && strncmp(p + 8, "config", 6) == 0))
            want = false;
        if (want && calls)
            total += strtoll(calls + 6, NULL, 10);
    }
    freeReplyObject(rep);
    return total;
}

static void reset_command_stats(redisContext *r)
{
    redisReply *rep = redisCommand(r, "CONFIG RESETSTAT");

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
}

/*
 * An idle client waits on the server (a blocking pop), not by polling: a
 * one-second wait on an empty queue costs a handful of script calls.
 */
Test(lease, idle_wait_does_not_poll)
{
    static const char *const scripts[] = {"evalsha", "eval", NULL};
    static const char *const blocking[] = {"blpop", NULL};
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr;

    reset_command_stats(r);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 1000, &lr), 0));
    cr_assert(eq(sz, lr.n, 0));
    kwq_lease_result_done(&lr);
    cr_assert(ge(llong, command_calls(r, blocking), 1));
    cr_assert(le(llong, command_calls(r, scripts), 3), "script calls: %lld",
              command_calls(r, scripts));
    redisFree(r);
    kwq_client_free(c);
}

/*
 * Lease + ack in batches costs at most 3 Redis commands per task, counting
 * the commands the scripts run (INFO commandstats counts those too).
 */
Test(lease, lease_and_ack_cost_at_most_three_commands_per_task)
{
    enum { N = 1000, BATCH = 100 };
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_ack acks[BATCH];
    int st[BATCH];
    long long calls;

    tp_enqueue_n(c, TP_QUEUE, "x", N);
    reset_command_stats(r);
    for (size_t done = 0; done < N;) {
        struct kwq_lease_result lr;
        cr_assert(eq(int, kwq_lease(c, TP_QUEUE, BATCH, 60000, 0, &lr), BATCH));
        for (size_t i = 0; i < lr.n; i++)
            acks[i] = (struct kwq_ack){.id = lr.tasks[i].id, .token = lr.tasks[i].token};
        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, acks, lr.n, st), 0));
        for (size_t i = 0; i < lr.n; i++)
            cr_assert(eq(int, st[i], 0));
        done += lr.n;
        kwq_lease_result_done(&lr);
    }
    calls = command_calls(r, NULL);
    cr_assert(le(llong, calls, 3LL * N), "%lld Redis commands for %d tasks", calls, (int)N);
    redisFree(r);
    kwq_client_free(c);
}

/*
 * Lease n tasks into seen[] (indexed by ID - 1) with blocking waits, until n
 * are held; every one must be on attempt `attempt`.
 */
static void lease_until(struct kwq_client *c, size_t n, uint32_t attempt, unsigned char *seen,
                        size_t max_id)
{
    size_t got = 0;

    while (got < n) {
        struct kwq_lease_result r;
        int rc = kwq_lease(c, TP_QUEUE, 1000, 600000, 30000, &r);
        cr_assert(gt(int, rc, 0), "lease: %d (%s), %zu of %zu back", rc, kwq_client_errstr(c), got,
                  n);
        for (size_t i = 0; i < r.n; i++) {
            unsigned long id = strtoul(r.tasks[i].id, NULL, 10);
            cr_assert(id >= 1 && id <= max_id, "ID %s", r.tasks[i].id);
            cr_assert(eq(u32, r.tasks[i].attempt, attempt));
            seen[id - 1]++;
        }
        got += r.n;
        kwq_lease_result_done(&r);
    }
    cr_assert(eq(sz, got, n));
}

/* Fifty leases expire together; each task comes back exactly once. */
Test(lease, expired_batch_returns_each_once)
{
    enum { N = 50 };
    struct kwq_client *a = tp_client(NULL);
    struct kwq_client *b = tp_client(NULL);
    unsigned char seen[N] = {0};
    struct kwq_lease_result r;
    struct kwq_stats s;

    tp_enqueue_n(a, TP_QUEUE, "x", N);
    cr_assert(eq(int, kwq_lease(a, TP_QUEUE, N, 200, 0, &r), N));
    kwq_lease_result_done(&r);
    lease_until(b, N, 2, seen, N);
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(u8, seen[i], 1), "task %zu came back %u times", i + 1, seen[i]);
    tp_lease_none(b, TP_QUEUE);
    s = tp_stats(a, TP_QUEUE);
    cr_assert(eq(u64, s.expired, N));
    cr_assert(eq(u64, s.leased, N));
    cr_assert(eq(u64, s.pending, 0));
    kwq_client_free(a);
    kwq_client_free(b);
}

/* kwq_reap handles at most max expired leases per call. */
Test(lease, reap_honours_its_limit)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr;
    struct kwq_reap_result rr;

    tp_enqueue_n(c, TP_QUEUE, "x", 3);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 3, 200, 0, &lr), 3));
    kwq_lease_result_done(&lr);
    tp_server_wait_ms(r, 400);
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 1, &rr), 0));
    cr_assert(eq(u64, rr.expired, 1));
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 100, &rr), 0));
    cr_assert(eq(u64, rr.expired, 2));
    redisFree(r);
    kwq_client_free(c);
}

/*
 * A worker killed with SIGKILL while holding leases loses nothing: its tasks
 * come back to the next worker once the leases expire.
 */
Test(lease, tasks_of_a_killed_worker_come_back)
{
    enum { N = 5 };
    struct kwq_client *c = tp_client(NULL);
    unsigned char seen[N] = {0};
    struct kwq_stats s;
    bool killed;
    int st = 0;
    pid_t pid;

    tp_enqueue_n(c, TP_QUEUE, "x", N);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct kwq_client *w = child_client();
        struct kwq_lease_result r;
        if (kwq_lease(w, TP_QUEUE, N, 300, 0, &r) != N)
            _exit(70);
        (void)raise(SIGKILL);
        _exit(71);
    }
    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    cr_assert(killed, "the worker was not killed: status %d", st);
    lease_until(c, N, 2, seen, N);
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(u8, seen[i], 1));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.expired, N));
    kwq_client_free(c);
}

/*
 * A worker prefetches 3 tasks but charges only the one it starts; it dies.
 * With max_attempts 1, the started task is dead-lettered on expiry, while
 * the two it never started go back to pending with no attempt used, and
 * run as attempt 1. kwq_start charges a prefetched task when it starts.
 */
Test(lease, prefetched_tasks_are_charged_only_when_started)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_lease_result lr;
    struct kwq_reap_result rr;
    struct kwq_task_info info;
    int st[2] = {1, 1};

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 1), 0));
    tp_enqueue_n(c, TP_QUEUE, "t", 4);
    cr_assert(eq(int, kwq_lease_prefetch(c, TP_QUEUE, 3, 4, 200, 0, &lr), KWQ_EINVAL));
    tp_assert_str_eq(kwq_client_errstr(c), "lease: charge must be between 0 and max (3), got 4");
    cr_assert(eq(int, kwq_lease_prefetch(c, TP_QUEUE, 3, 1, 200, 0, &lr), 3));
    for (size_t i = 0; i < 3; i++)
        cr_assert(eq(u32, lr.tasks[i].attempt, 1));
    {
        /* The third is started; a stale token is refused and changes nothing. */
        struct kwq_lease_ref refs[2] = {{.id = lr.tasks[2].id, .token = lr.tasks[2].token},
                                        {.id = lr.tasks[1].id, .token = lr.tasks[1].token + 7}};

        cr_assert(eq(int, kwq_start(c, TP_QUEUE, refs, 2, st), 0));
        cr_assert(eq(int, st[0], 0));
        cr_assert(eq(int, st[1], KWQ_ELEASELOST));
    }
    tp_server_wait_ms(r, 400); /* the worker died: every lease expires */
    cr_assert(eq(int, kwq_reap(c, TP_QUEUE, 100, &rr), 0));
    cr_assert(eq(u64, rr.expired, 1)); /* back to pending: the one never started */
    cr_assert(eq(u64, rr.dead, 2));    /* tasks 1 (charged at lease) and 3 (started) */
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, lr.tasks[1].id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_PENDING));
    cr_assert(eq(u32, info.task.attempt, 0));
    cr_assert(tp_contains(info.history_json, "\"u\":1"), "%s", info.history_json);
    kwq_task_info_done(&info);
    kwq_lease_result_done(&lr);

    /* It runs as its first attempt, ahead of the task never leased. */
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 2, 60000, 0, &lr), 2));
    tp_assert_str_eq(lr.tasks[0].id, "2");
    cr_assert(eq(u32, lr.tasks[0].attempt, 1));
    tp_assert_str_eq(lr.tasks[1].id, "4");
    kwq_lease_result_done(&lr);
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).dead, 2));
    redisFree(r);
    kwq_client_free(c);
}
