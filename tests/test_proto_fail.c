/*
 * test_proto_fail.c - kwq_fail and the dead-letter set: exponential backoff
 * with jitter recorded on the server clock, dead-lettering after the last
 * attempt or at once for no_retry, the kept error, and the dead-letter list,
 * requeue and purge.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(fail, .init = redis_setup, .fini = redis_teardown);

/* Fail t with error text and code; returns the outcome (status asserted 0). */
static struct kwq_fail_outcome fail1(struct kwq_client *c, const struct kwq_task *t,
                                     const char *error, int code, bool no_retry)
{
    struct kwq_failure f = {
        .id = t->id, .token = t->token, .error = error, .code = code, .no_retry = no_retry};
    struct kwq_fail_outcome out;
    int rc;

    memset(&out, 0xa5, sizeof(out));
    rc = kwq_fail(c, TP_QUEUE, &f, 1, &out);
    cr_assert(eq(int, rc, 0), "fail: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(int, out.status, 0), "fail status %s", kwq_err_name(out.status));
    return out;
}

/* The history of task id as parsed JSON (caller deletes it). */
static cJSON *history_of(struct kwq_client *c, const char *id, enum kwq_state want)
{
    struct kwq_task_info info;
    cJSON *h;

    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, id, &info), 0));
    cr_assert(eq(int, info.state, want), "state %s", kwq_state_to_string(info.state));
    cr_assert(info.history_json != NULL);
    h = cJSON_Parse(info.history_json);
    cr_assert(cJSON_IsArray(h), "history is not a JSON array: %s", info.history_json);
    kwq_task_info_done(&info);
    return h;
}

static int64_t num_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    cr_assert(cJSON_IsNumber(v), "history entry has no number '%s'", name);
    return (int64_t)v->valuedouble;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    cr_assert(cJSON_IsString(v), "history entry has no string '%s'", name);
    return v->valuestring;
}

/*
 * Attempt n waits base * 2^(n-1) with full jitter: due - at within
 * [backoff / 2, backoff], both times from the server clock, recorded in
 * the task's history and returned as retry_at_ms. The last attempt
 * dead-letters with its error and code kept.
 */
Test(fail, backoff_then_dead_after_max_attempts, .timeout = 120)
{
    const int64_t base = 100;
    struct kwq_client *c = tp_client(NULL);
    int64_t retry_at[5] = {0};
    struct kwq_dead_task *dl = NULL;
    size_t dn = 0;
    char id[KWQ_ID_MAX];
    struct kwq_stats s;
    cJSON *h, *e;
    int n = 0;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_base_ms", (uint64_t)base), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 4), 0));
    tp_enqueue(c, TP_QUEUE, "flaky", id);
    for (int attempt = 1; attempt <= 4; attempt++) {
        struct kwq_task t;
        struct kwq_fail_outcome out;
        char err[32];

        /* Blocks until the retry is due (server clock). */
        tp_lease1(c, TP_QUEUE, 60000, 30000, &t);
        tp_assert_str_eq(t.id, id);
        cr_assert(eq(u32, t.attempt, (uint32_t)attempt));
        cr_assert(eq(u32, t.max_attempts, 4));
        (void)snprintf(err, sizeof(err), "err %d", attempt);
        out = fail1(c, &t, err, 10 + attempt, false);
        if (attempt < 4) {
            cr_assert(not(out.dead));
            cr_assert(gt(i64, out.retry_at_ms, 0));
            retry_at[attempt] = out.retry_at_ms;
            s = tp_stats(c, TP_QUEUE);
            cr_assert(eq(u64, s.delayed, 1));
            cr_assert(eq(u64, s.leased, 0));
        } else {
            cr_assert(out.dead);
        }
        kwq_task_done(&t);
    }

    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.failed, 4));
    cr_assert(eq(u64, s.retries, 3));
    cr_assert(eq(u64, s.dead, 1));
    cr_assert(eq(u64, s.pending + s.leased + s.delayed + s.done, 0));
    cr_assert(eq(u64, s.expired, 0));

    h = history_of(c, id, KWQ_STATE_DEAD);
    cJSON_ArrayForEach(e, h)
    {
        int64_t at, backoff;
        char want[32];

        if (strcmp(str_field(e, "o"), "failed") != 0)
            continue;
        n++;
        cr_assert(eq(i64, num_field(e, "n"), n));
        cr_assert(eq(i64, num_field(e, "c"), 10 + n));
        (void)snprintf(want, sizeof(want), "err %d", n);
        tp_assert_str_eq(str_field(e, "e"), want);
        at = num_field(e, "at");
        if (n == 4) {
            cr_assert(cJSON_GetObjectItemCaseSensitive(e, "due") == NULL);
            continue;
        }
        backoff = base << (n - 1);
        cr_assert(eq(i64, num_field(e, "due"), retry_at[n]));
        cr_assert(ge(i64, retry_at[n] - at, backoff / 2), "attempt %d: due - at = %lld", n,
                  (long long)(retry_at[n] - at));
        cr_assert(le(i64, retry_at[n] - at, backoff), "attempt %d: due - at = %lld", n,
                  (long long)(retry_at[n] - at));
    }
    cr_assert(eq(int, n, 4));
    cJSON_Delete(h);

    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 10, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 1));
    tp_assert_str_eq(dl[0].id, id);
    cr_assert(eq(u32, dl[0].attempts, 4));
    cr_assert(eq(int, dl[0].last_code, 14));
    tp_assert_str_eq(dl[0].last_error, "err 4");
    cr_assert(gt(i64, dl[0].died_ms, 0));
    kwq_dead_list_free(dl, dn);
    kwq_client_free(c);
}

/* backoff_max_ms caps the exponential growth. */
Test(fail, backoff_is_capped)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_fail_outcome out;
    struct kwq_task t;
    char id[KWQ_ID_MAX];
    cJSON *h, *e;
    int n = 0;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_base_ms", 100), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_max_ms", 150), 0));
    tp_enqueue(c, TP_QUEUE, "x", id);
    for (int attempt = 1; attempt <= 2; attempt++) {
        tp_lease1(c, TP_QUEUE, 60000, 30000, &t);
        out = fail1(c, &t, "e", 1, false);
        cr_assert(not(out.dead));
        kwq_task_done(&t);
    }
    h = history_of(c, id, KWQ_STATE_DELAYED);
    cJSON_ArrayForEach(e, h)
    {
        int64_t d;
        if (strcmp(str_field(e, "o"), "failed") != 0)
            continue;
        n++;
        d = num_field(e, "due") - num_field(e, "at");
        cr_assert(ge(i64, d, n == 1 ? 50 : 75), "attempt %d: %lld", n, (long long)d);
        cr_assert(le(i64, d, n == 1 ? 100 : 150), "attempt %d: %lld", n, (long long)d);
    }
    cr_assert(eq(int, n, 2));
    cJSON_Delete(h);
    kwq_client_free(c);
}

Test(fail, no_retry_dead_letters_at_once)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_dead_task *dl = NULL;
    struct kwq_fail_outcome out;
    struct kwq_stats s;
    struct kwq_task t;
    size_t dn = 0;

    tp_enqueue(c, TP_QUEUE, "bad input", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    out = fail1(c, &t, "cannot parse", 2, true);
    cr_assert(out.dead);
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "leases"), 0));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "leased"), 0));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "dead"), 1));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 1));
    cr_assert(eq(u64, s.failed, 1));
    cr_assert(eq(u64, s.retries, 0));
    cr_assert(eq(u64, s.delayed + s.pending + s.leased, 0));
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 10, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 1));
    cr_assert(eq(u32, dl[0].attempts, 1));
    cr_assert(eq(int, dl[0].last_code, 2));
    tp_assert_str_eq(dl[0].last_error, "cannot parse");
    kwq_dead_list_free(dl, dn);
    /* Its lease is gone: acking it now is refused. */
    {
        struct kwq_ack a = {.id = t.id, .token = t.token};
        int st = 99;
        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, &st), 0));
        cr_assert(eq(int, st, KWQ_ELEASELOST));
    }
    /* A dead task cannot be cancelled: it is purged instead. */
    cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, t.id), KWQ_ESTATE));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/* The kept error is capped at KWQ_MAX_ERROR bytes, the history's at 200. */
Test(fail, long_error_is_truncated)
{
    struct kwq_client *c = tp_client(NULL);
    char *big = malloc(KWQ_MAX_ERROR + 1000);
    struct kwq_dead_task *dl = NULL;
    struct kwq_task t;
    size_t dn = 0;
    cJSON *h, *e;

    cr_assert(big != NULL);
    memset(big, 'e', KWQ_MAX_ERROR + 999);
    big[KWQ_MAX_ERROR + 999] = '\0';
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(fail1(c, &t, big, -1, true).dead);
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 1, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 1));
    cr_assert(eq(sz, strlen(dl[0].last_error), KWQ_MAX_ERROR));
    cr_assert(eq(int, dl[0].last_code, -1));
    kwq_dead_list_free(dl, dn);
    h = history_of(c, t.id, KWQ_STATE_DEAD);
    e = cJSON_GetArrayItem(h, cJSON_GetArraySize(h) - 1);
    cr_assert(eq(sz, strlen(str_field(e, "e")), 200));
    cJSON_Delete(h);
    kwq_task_done(&t);
    free(big);
    kwq_client_free(c);
}

/* A failure without error text keeps "" and the code. */
Test(fail, null_error_is_kept_as_empty)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_dead_task *dl = NULL;
    struct kwq_task t;
    size_t dn = 0;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(fail1(c, &t, NULL, 137, true).dead);
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 1, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 1));
    tp_assert_str_eq(dl[0].last_error, "");
    cr_assert(eq(int, dl[0].last_code, 137));
    kwq_dead_list_free(dl, dn);
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* One stale item in a batch is refused alone; the others go through. */
Test(fail, batch_reports_per_item)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result r;
    struct kwq_failure f[2];
    struct kwq_fail_outcome out[2];
    struct kwq_stats s;

    tp_enqueue_n(c, TP_QUEUE, "x", 2);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 2, 60000, 0, &r), 2));
    f[0] = (struct kwq_failure){
        .id = r.tasks[0].id, .token = r.tasks[0].token, .error = "a", .code = 1};
    f[1] = (struct kwq_failure){
        .id = r.tasks[1].id, .token = r.tasks[1].token + 99, .error = "b", .code = 1};
    cr_assert(eq(int, kwq_fail(c, TP_QUEUE, f, 2, out), 0));
    cr_assert(eq(int, out[0].status, 0));
    cr_assert(not(out[0].dead));
    cr_assert(eq(int, out[1].status, KWQ_ELEASELOST));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.failed, 1));
    cr_assert(eq(u64, s.retries, 1));
    cr_assert(eq(u64, s.delayed, 1));
    cr_assert(eq(u64, s.leased, 1));
    kwq_lease_result_done(&r);
    kwq_client_free(c);
}

/* Lease n tasks and dead-letter them all with no_retry, in lease order. */
static void make_dead(struct kwq_client *c, size_t n)
{
    size_t done = 0;

    while (done < n) {
        struct kwq_lease_result r;
        struct kwq_failure *f;
        struct kwq_fail_outcome *out;
        int rc = kwq_lease(c, TP_QUEUE, n - done > 1000 ? 1000 : n - done, 60000, 0, &r);

        cr_assert(gt(int, rc, 0));
        f = calloc(r.n, sizeof(*f));
        out = calloc(r.n, sizeof(*out));
        cr_assert(f && out);
        for (size_t i = 0; i < r.n; i++)
            f[i] = (struct kwq_failure){.id = r.tasks[i].id,
                                        .token = r.tasks[i].token,
                                        .error = "no",
                                        .code = 3,
                                        .no_retry = true};
        cr_assert(eq(int, kwq_fail(c, TP_QUEUE, f, r.n, out), 0));
        for (size_t i = 0; i < r.n; i++) {
            cr_assert(eq(int, out[i].status, 0));
            cr_assert(out[i].dead);
        }
        done += r.n;
        free(f);
        free(out);
        kwq_lease_result_done(&r);
    }
}

Test(fail, dead_list_pages_oldest_first)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_dead_task *dl = NULL;
    size_t dn = 0;
    struct kwq_task t;

    /* Three deaths in three calls: their times are ordered. */
    tp_enqueue_n(c, TP_QUEUE, "x", 3);
    for (int i = 0; i < 3; i++) {
        tp_lease1(c, TP_QUEUE, 60000, 0, &t);
        cr_assert(fail1(c, &t, "no", 1, true).dead);
        kwq_task_done(&t);
    }
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 2, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 2));
    tp_assert_str_eq(dl[0].id, "1");
    tp_assert_str_eq(dl[1].id, "2");
    cr_assert(le(i64, dl[0].died_ms, dl[1].died_ms));
    kwq_dead_list_free(dl, dn);
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 2, 10, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 1));
    tp_assert_str_eq(dl[0].id, "3");
    kwq_dead_list_free(dl, dn);
    dl = NULL;
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 3, 10, &dl, &dn), 0));
    cr_assert(eq(sz, dn, 0));
    kwq_dead_list_free(dl, dn);
    kwq_client_free(c);
}

Test(fail, requeue_by_id_resets_attempts)
{
    struct kwq_client *c = tp_client(NULL);
    const char *ids[2] = {"2", "999"};
    struct kwq_stats s;
    struct kwq_task t;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 2), 0));
    tp_enqueue_n(c, TP_QUEUE, "x", 3);
    make_dead(c, 3);
    cr_assert(eq(int, kwq_dead_requeue(c, TP_QUEUE, ids, 2), 1));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 2));
    cr_assert(eq(u64, s.pending, 1));
    cr_assert(eq(u64, s.requeued, 1));
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.id, "2");
    tp_assert_str_eq(t.payload, "x1");
    cr_assert(eq(u32, t.attempt, 1));
    cr_assert(eq(u32, t.max_attempts, 2));
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    /* Requeueing a task that is not dead does nothing. */
    cr_assert(eq(int, kwq_dead_requeue(c, TP_QUEUE, ids, 1), 0));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.requeued, 1));
    cr_assert(eq(u64, s.done, 1));
    kwq_client_free(c);
}

/* Requeue all goes over many script calls (1000 per call) and loses none. */
Test(fail, requeue_all_goes_to_the_tail, .timeout = 120)
{
    enum { N = 2500 };
    struct kwq_client *c = tp_client(NULL);
    struct kwq_stats s;
    struct kwq_task t;

    tp_enqueue_n(c, TP_QUEUE, "x", N);
    make_dead(c, N);
    tp_enqueue(c, TP_QUEUE, "fresh", NULL);
    cr_assert(eq(int, kwq_dead_requeue(c, TP_QUEUE, NULL, 0), N));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 0));
    cr_assert(eq(u64, s.pending, N + 1));
    cr_assert(eq(u64, s.requeued, N));
    /* The fresh task was pending first; the requeued ones follow it. */
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.payload, "fresh");
    kwq_task_done(&t);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(u32, t.attempt, 1));
    kwq_task_done(&t);
    cr_assert(eq(int, kwq_dead_requeue(c, TP_QUEUE, NULL, 0), 0));
    kwq_client_free(c);
}

Test(fail, dead_purge_by_id_and_all)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    const char *ids[2] = {"1", "999"};
    struct kwq_stats s;

    tp_enqueue_n(c, TP_QUEUE, "x", 3);
    make_dead(c, 3);
    cr_assert(eq(int, kwq_dead_purge(c, TP_QUEUE, ids, 2), 1));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 2));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, "1", &(struct kwq_task_info){0}), KWQ_ENOTFOUND));
    cr_assert(eq(int, kwq_dead_purge(c, TP_QUEUE, NULL, 0), 2));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 0));
    /* Nothing of the purged tasks remains. */
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "data"), 0));
    cr_assert(eq(llong, tp_key_len(r, "HLEN", TP_QUEUE, "meta"), 0));
    cr_assert(eq(llong, tp_key_len(r, "ZCARD", TP_QUEUE, "dead"), 0));
    cr_assert(eq(int, kwq_dead_purge(c, TP_QUEUE, NULL, 0), 0));
    redisFree(r);
    kwq_client_free(c);
}

/* With backoff_base_ms 0 a failed task is due at once: the next lease gets it. */
Test(fail, zero_backoff_retries_at_once)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_fail_outcome out;
    struct kwq_task t;
    struct kwq_stats s;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_base_ms", 0), 0));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    out = fail1(c, &t, "e", 1, false);
    cr_assert(not(out.dead));
    kwq_task_done(&t);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(u32, t.attempt, 2));
    kwq_task_done(&t);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.retries, 1));
    cr_assert(eq(u64, s.failed, 1));
    cr_assert(eq(u64, s.leased, 1));
    kwq_client_free(c);
}

/* The history keeps the last 10 attempts. */
Test(fail, history_keeps_the_last_ten_attempts)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t;
    char id[KWQ_ID_MAX];
    cJSON *h;

    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "backoff_base_ms", 0), 0));
    cr_assert(eq(int, kwq_queue_set(c, TP_QUEUE, "max_attempts", 15), 0));
    tp_enqueue(c, TP_QUEUE, "x", id);
    for (int attempt = 1; attempt <= 12; attempt++) {
        tp_lease1(c, TP_QUEUE, 60000, 0, &t);
        cr_assert(eq(u32, t.attempt, (uint32_t)attempt));
        cr_assert(not(fail1(c, &t, "e", attempt, false).dead));
        kwq_task_done(&t);
    }
    h = history_of(c, id, KWQ_STATE_DELAYED);
    cr_assert(eq(int, cJSON_GetArraySize(h), 10));
    cr_assert(eq(i64, num_field(cJSON_GetArrayItem(h, 0), "n"), 3));
    cr_assert(eq(i64, num_field(cJSON_GetArrayItem(h, 9), "n"), 12));
    cr_assert(eq(i64, num_field(cJSON_GetArrayItem(h, 9), "c"), 12));
    cJSON_Delete(h);
    kwq_client_free(c);
}

/* A task's own max_attempts wins over the queue's. */
Test(fail, per_task_max_attempts_dead_letters_early)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task nt = {.payload = "once", .payload_len = 4, .max_attempts = 1};
    struct kwq_fail_outcome out;
    struct kwq_task t;
    struct kwq_stats s;

    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &nt, 1, NULL, NULL), 0));
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(u32, t.max_attempts, 1));
    out = fail1(c, &t, "e", 5, false);
    cr_assert(out.dead);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.dead, 1));
    cr_assert(eq(u64, s.retries, 0));
    kwq_task_done(&t);
    kwq_client_free(c);
}
