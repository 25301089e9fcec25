/*
 * test_proto_hardening.c - libkwq against input and sizes a production queue
 * meets: the byte cap of a lease reply, result TTLs longer than the clock's
 * age, one task named twice in a batch, enqueue options that must be
 * refused before anything is written (sent raw, as a client in another
 * language could), the enqueue time of a requeued task deep in a long
 * pending list, and malformed cursors and tokens.
 *
 * Every .timeout in this file has the same value (see test_proto_lease.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "kwq/util.h"

#include "lua_scripts.h"
#include "test_proto_support.h"

TestSuite(hardening, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

#define MIB (1024u * 1024u)

/* A client whose lease replies carry at most cap payload bytes. */
static struct kwq_client *capped_client(size_t cap, size_t max_payload)
{
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    o.max_lease_bytes = cap;
    o.max_payload = max_payload;
    return tp_client_opts(&o);
}

/* Enqueue n tasks of the given sizes; byte j of task i is 'a' + i. */
static void enqueue_sizes(struct kwq_client *c, const size_t *sizes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(sizes[i] ? sizes[i] : 1);

        cr_assert(p != NULL);
        memset(p, 'a' + (int)i, sizes[i]);
        tp_enqueue_bin(c, TP_QUEUE, p, sizes[i], NULL);
        free(p);
    }
}

/* Lease up to max and assert the exact IDs leased, in order ("" for none). */
static void lease_expect(struct kwq_client *c, size_t max, const char *const *ids, size_t n)
{
    struct kwq_lease_result r;
    int rc = kwq_lease(c, TP_QUEUE, max, 60000, 0, &r);

    cr_assert(eq(int, rc, (int)n), "lease: %d %s (%s)", rc, rc < 0 ? kwq_err_name(rc) : "",
              kwq_client_errstr(c));
    for (size_t i = 0; i < n; i++) {
        tp_assert_str_eq(r.tasks[i].id, ids[i]);
        cr_assert(eq(chr, r.tasks[i].payload[0], (char)('a' + atoi(ids[i]) - 1)));
    }
    kwq_lease_result_done(&r);
}

/* Five tasks of 1 MiB and a cap of 3 MiB: exactly three leased, two left pending, in order. */
Test(hardening, lease_reply_is_capped_in_bytes)
{
    static const size_t sizes[] = {MIB, MIB, MIB, MIB, MIB};
    struct kwq_client *c = capped_client(3 * MIB, 0);
    struct kwq_stats s;

    enqueue_sizes(c, sizes, 5);
    lease_expect(c, 10, (const char *const[]){"1", "2", "3"}, 3);
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 2));
    cr_assert(eq(u64, s.leased, 3));
    lease_expect(c, 10, (const char *const[]){"4", "5"}, 2);
    tp_lease_none(c, TP_QUEUE);
    kwq_client_free(c);
}

/* One byte under three tasks' worth: the third no longer fits. */
Test(hardening, lease_cap_is_an_upper_bound)
{
    static const size_t sizes[] = {MIB, MIB, MIB, MIB, MIB};
    struct kwq_client *c = capped_client(3 * MIB - 1, 0);

    enqueue_sizes(c, sizes, 5);
    lease_expect(c, 10, (const char *const[]){"1", "2"}, 2);
    lease_expect(c, 10, (const char *const[]){"3", "4"}, 2);
    lease_expect(c, 10, (const char *const[]){"5"}, 1);
    kwq_client_free(c);
}

/* A task bigger than the cap is leased alone; the ones behind it keep their order. */
Test(hardening, lease_cap_always_leases_the_first_task)
{
    static const size_t sizes[] = {100, 100, 900 * 1024, 100, 100};
    struct kwq_client *c = capped_client(1000, 0);

    enqueue_sizes(c, sizes, 5);
    lease_expect(c, 10, (const char *const[]){"1", "2"}, 2);
    lease_expect(c, 10, (const char *const[]){"3"}, 1);
    lease_expect(c, 10, (const char *const[]){"4", "5"}, 2);
    kwq_client_free(c);
}

/*
 * Without the size note that enqueue keeps (an older enqueuer), lease reads
 * a whole slice and gives back what does not fit: still in order.
 */
Test(hardening, lease_cap_gives_back_the_rest_of_a_slice_in_order)
{
    static const size_t sizes[] = {400, 400, 400, 400, 400, 400};
    struct kwq_client *c = capped_client(1000, 0);
    redisContext *r = tp_redis();

    enqueue_sizes(c, sizes, 6);
    cr_assert(eq(
        llong, tp_redis_int(r, 3, (const char *[]){"HDEL", "kwq:{jobs}:conf", "payload_max"}), 1));
    lease_expect(c, 10, (const char *const[]){"1", "2"}, 2);
    lease_expect(c, 1, (const char *const[]){"3"}, 1);
    lease_expect(c, 10, (const char *const[]){"4", "5"}, 2);
    lease_expect(c, 10, (const char *const[]){"6"}, 1);
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 0));
    redisFree(r);
    kwq_client_free(c);
}

/* Entries of cancelled tasks at the head do not use up a lease: the tasks behind them come. */
Test(hardening, lease_skips_cancelled_entries)
{
    static const size_t sizes[] = {1, 1, 1, 1, 1};
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();

    enqueue_sizes(c, sizes, 5);
    for (int i = 1; i <= 3; i++) {
        char id[8];

        (void)snprintf(id, sizeof(id), "%d", i);
        cr_assert(eq(int, kwq_cancel(c, TP_QUEUE, id), 0));
    }
    lease_expect(c, 2, (const char *const[]){"4", "5"}, 2);
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 0));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).pending, 0));
    redisFree(r);
    kwq_client_free(c);
}

Test(hardening, lease_cap_out_of_range_is_refused)
{
    struct kwq_client *c = capped_client((size_t)KWQ_MAX_LEASE_BYTES + 1, 0);
    struct kwq_lease_result r;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 1, 60000, 0, &r), KWQ_EINVAL));
    cr_assert(tp_contains(kwq_client_errstr(c), "max_lease_bytes"), "%s", kwq_client_errstr(c));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).pending, 1));
    kwq_client_free(c);
}

/* A result TTL longer than the clock's age (a "keep for ever" setting) still acks. */
Test(hardening, ack_with_a_very_long_result_ttl)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_task t;
    struct kwq_ack a;
    char *res = NULL;
    size_t len = 0;
    int st = 99, rc;

    kwq_client_opts_init(&o);
    o.result_ttl_ms = 10000000000000ULL; /* 317 years */
    c = tp_client_opts(&o);
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    a = (struct kwq_ack){.id = t.id, .token = t.token, .result = "done", .result_len = 4};
    rc = kwq_ack(c, TP_QUEUE, &a, 1, &st);
    cr_assert(eq(int, rc, 0), "ack: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(int, st, 0));
    cr_assert(eq(int, kwq_result_get(c, TP_QUEUE, t.id, &res, &len), 0));
    cr_assert(eq(sz, len, 4));
    free(res);
    /* The stream trim of later calls (stats, an idle lease) takes the same TTL. */
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).results, 1));
    tp_lease_none(c, TP_QUEUE);
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* One task named twice in a call is handled once, as two calls would. */
Test(hardening, task_named_twice_in_one_call_counts_once)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;
    int st[2] = {99, 99};
    struct kwq_stats s;

    /* release */
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    {
        struct kwq_lease_ref refs[2] = {{t.id, t.token}, {t.id, t.token}};

        cr_assert(eq(int, kwq_release(c, TP_QUEUE, refs, 2, st), 0));
    }
    cr_assert(eq(int, st[0], 0));
    cr_assert(eq(int, st[1], KWQ_ELEASELOST));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 1));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 1));
    cr_assert(eq(u64, s.released, 1));
    kwq_task_done(&t);

    /* ack */
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    {
        struct kwq_ack acks[2] = {{.id = t.id, .token = t.token, .result = "r", .result_len = 1},
                                  {.id = t.id, .token = t.token, .result = "r", .result_len = 1}};

        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, acks, 2, st), 0));
    }
    cr_assert(eq(int, st[0], 0));
    cr_assert(eq(int, st[1], KWQ_ELEASELOST));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.done, 1));
    cr_assert(eq(u64, s.results, 1));
    cr_assert(eq(u64, s.pending + s.leased, 0));
    kwq_task_done(&t);

    /* fail */
    tp_enqueue(c, TP_QUEUE, "y", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    {
        struct kwq_failure f[2] = {{.id = t.id, .token = t.token, .error = "e", .code = 1},
                                   {.id = t.id, .token = t.token, .error = "e", .code = 1}};
        struct kwq_fail_outcome out[2];

        cr_assert(eq(int, kwq_fail(c, TP_QUEUE, f, 2, out), 0));
        cr_assert(eq(int, out[0].status, 0));
        cr_assert(eq(int, out[1].status, KWQ_ELEASELOST));
    }
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.failed, 1));
    cr_assert(eq(u64, s.retries, 1));
    cr_assert(eq(u64, s.delayed, 1));
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/*
 * An idempotency TTL that Redis cannot store (a huge value) is refused before
 * anything is written: no key of an earlier task in the call survives to
 * swallow a later enqueue as a "duplicate".
 */
Test(hardening, out_of_range_idem_ttl_changes_nothing)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_new_task t[2] = {
        {.payload = "a", .payload_len = 1, .idem_key = "ka"},
        {.payload = "b", .payload_len = 1, .idem_key = "kb", .idem_ttl_ms = UINT64_MAX},
    };
    struct kwq_enqueued e[2];
    size_t accepted = 99;
    int rc = kwq_enqueue(c, TP_QUEUE, t, 2, e, &accepted);

    cr_assert(eq(int, rc, KWQ_EINVAL), "enqueue: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(sz, accepted, 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "idem:ka"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "seq"), 0));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).enqueued, 0));
    /* The same first task now goes in as new. */
    rc = kwq_enqueue(c, TP_QUEUE, t, 1, e, &accepted);
    cr_assert(eq(int, rc, 0));
    cr_assert(not(e[0].duplicate));
    tp_assert_str_eq(e[0].id, "1");
    redisFree(r);
    kwq_client_free(c);
}

/* ---- Scripts called raw, as a client in another language would ---------------- */

static const char *const fixed_suffixes[12] = {
    "pending", "data",  "meta", "leased", "leases", "delayed",
    "dead",    "stats", "conf", "seq",    "wake",   "results",
};

/* A server run_id for the scripts that issue IDs and tokens (any 1..64 letters and digits). */
#define RUN "0123456789abcdef0123456789abcdef01234567"

/* EVALSHA of the named script on queue TP_QUEUE: extra keys, then args. */
static redisReply *raw_eval(redisContext *r, const char *script, const char *const *xkeys,
                            size_t nx, const char *const *args, size_t na)
{
    const char *argv[64];
    char keys[12][64], numkeys[16], sha[41];
    const struct kwq__script *s = NULL;
    redisReply *rep;
    size_t n = 0;

    for (unsigned i = 0; i < kwq__script_count; i++) {
        if (strcmp(kwq__scripts[i].name, script) == 0)
            s = &kwq__scripts[i];
    }
    cr_assert(s != NULL, "no script %s", script);
    rep = redisCommand(r, "SCRIPT LOAD %b", s->src, s->len);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING && rep->len == 40);
    memcpy(sha, rep->str, 41);
    freeReplyObject(rep);
    cr_assert(3 + 12 + nx + na <= sizeof(argv) / sizeof(argv[0]));
    (void)snprintf(numkeys, sizeof(numkeys), "%zu", 12 + nx);
    argv[n++] = "EVALSHA";
    argv[n++] = sha;
    argv[n++] = numkeys;
    for (int i = 0; i < 12; i++) {
        (void)snprintf(keys[i], sizeof(keys[i]), "kwq:{%s}:%s", TP_QUEUE, fixed_suffixes[i]);
        argv[n++] = keys[i];
    }
    for (size_t i = 0; i < nx; i++)
        argv[n++] = xkeys[i];
    for (size_t i = 0; i < na; i++)
        argv[n++] = args[i];
    rep = redisCommandArgv(r, (int)n, argv, NULL);
    cr_assert(rep != NULL);
    return rep;
}

/* Assert an error reply starting with word; frees it. */
static void assert_error(redisReply *rep, const char *word)
{
    cr_assert(eq(int, rep->type, REDIS_REPLY_ERROR), "reply type %d, not an error", rep->type);
    cr_assert(strncmp(rep->str, word, strlen(word)) == 0, "error '%s', not %s", rep->str, word);
    freeReplyObject(rep);
}

/*
 * Enqueue options are checked before the first write: an idempotency key
 * index that points at a fixed key (here the ID sequence, which must never
 * get a TTL), a key of another queue, or an option of the wrong type.
 */
Test(hardening, raw_enqueue_options_are_checked_before_any_write)
{
    redisContext *r = tp_redis();
    static const char *const other[] = {"kwq:{other}:idem:x"};
    static const char *const own[] = {"kwq:{jobs}:idem:x"};

    assert_error(
        raw_eval(r, "enqueue", NULL, 0, (const char *[]){"1", "", RUN, "{\"k\":10}", "p"}, 5),
        "KWQ_INVAL");
    assert_error(
        raw_eval(r, "enqueue", other, 1, (const char *[]){"1", "", RUN, "{\"k\":13}", "p"}, 5),
        "KWQ_INVAL");
    assert_error(raw_eval(r, "enqueue", own, 1,
                          (const char *[]){"2", "", RUN, "{\"k\":13}", "p", "{\"m\":\"x\"}", "q"},
                          7),
                 "KWQ_INVAL");
    assert_error(raw_eval(r, "enqueue", own, 1,
                          (const char *[]){"1", "", RUN, "{\"kt\":1e300,\"k\":13}", "p"}, 5),
                 "KWQ_INVAL");
    assert_error(
        raw_eval(r, "enqueue", NULL, 0, (const char *[]){"1", "", RUN, "{\"t\":-5}", "p"}, 5),
        "KWQ_INVAL");
    /* Nothing was written: no sequence, no key, no task. */
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "seq"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "idem:x"), 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "data"), 0));
    {
        redisReply *rep =
            raw_eval(r, "enqueue", own, 1, (const char *[]){"1", "", RUN, "{\"k\":13}", "p"}, 5);

        cr_assert(eq(int, rep->type, REDIS_REPLY_ARRAY));
        cr_assert(eq(llong, rep->element[0]->integer, 1));
        freeReplyObject(rep);
    }
    cr_assert(eq(llong, tp_redis_int(r, 2, (const char *[]){"TTL", "kwq:{jobs}:seq"}), -1));
    redisFree(r);
}

/* A result is written only to the acked task's own result key, and only by ack_result. */
Test(hardening, raw_ack_result_key_must_be_the_tasks_own)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;
    char tok[32];

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    (void)snprintf(tok, sizeof(tok), "%llu", (unsigned long long)t.token);
    assert_error(raw_eval(r, "ack_result", (const char *[]){"kwq:{other}:result:1"}, 1,
                          (const char *[]){"60000", t.id, tok, "1", "res"}, 5),
                 "KWQ_INVAL");
    assert_error(raw_eval(r, "ack_result", (const char *[]){"kwq:{jobs}:result:2"}, 1,
                          (const char *[]){"60000", t.id, tok, "1", "res"}, 5),
                 "KWQ_INVAL");
    /* ack runs on a full Redis (allow-oom): it keeps no result; ack_result does. */
    assert_error(raw_eval(r, "ack", (const char *[]){"kwq:{jobs}:result:1"}, 1,
                          (const char *[]){"60000", t.id, tok, "1", "res"}, 5),
                 "KWQ_INVAL ack item 1 carries a result: send it with ack_result");
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).leased, 1));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", TP_QUEUE, "results"), 0));
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/* Lease and enqueue need the server run_id (docs/PROTOCOL.md "Rollbacks"). */
Test(hardening, raw_run_id_is_required)
{
    redisContext *r = tp_redis();

    assert_error(raw_eval(r, "lease", NULL, 0, (const char *[]){"1", "60000", ""}, 3), "KWQ_INVAL");
    assert_error(raw_eval(r, "lease", NULL, 0, (const char *[]){"1", "60000", "", "a b"}, 4),
                 "KWQ_INVAL");
    assert_error(raw_eval(r, "enqueue", NULL, 0, (const char *[]){"1", "", "", "", "p"}, 5),
                 "KWQ_INVAL");
    cr_assert(eq(llong, tp_redis_int(r, 1, (const char *[]){"DBSIZE"}), 0));
    redisFree(r);
}

/* A token is a number: "<token>:<attempt>" must not pass for the lease record's prefix. */
Test(hardening, raw_token_must_be_a_number)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task t;
    char tok[48];
    redisReply *rep;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    (void)snprintf(tok, sizeof(tok), "%llu:1", (unsigned long long)t.token);
    rep = raw_eval(r, "release", NULL, 0, (const char *[]){t.id, tok}, 2);
    cr_assert(eq(int, rep->type, REDIS_REPLY_ARRAY));
    cr_assert(eq(sz, rep->elements, 1));
    tp_assert_str_eq(rep->element[0]->str, "KWQ_LEASELOST");
    freeReplyObject(rep);
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).leased, 1));
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/* A malformed results cursor is the caller's error (KWQ_EINVAL), not Redis's. */
Test(hardening, results_cursor_is_checked)
{
    struct kwq_client *c = tp_client(NULL);
    static const char *const bad[] = {
        "5-", "-5", "1-2-3", "abc", "123456789012345678901", "18446744073709551616-0"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kwq_result *res = NULL;
        size_t n = 0;
        int rc = kwq_results_read(c, TP_QUEUE, bad[i], 10, 0, &res, &n);

        cr_assert(eq(int, rc, KWQ_EINVAL), "cursor '%s': %s (%s)", bad[i], kwq_err_name(rc),
                  kwq_client_errstr(c));
        cr_assert(kwq_client_is_connected(c));
    }
    /* The largest entry IDs are good cursors. */
    for (size_t i = 0; i < 2; i++) {
        static const char *const good[] = {"1-18446744073709551615", "18446744073709551615"};
        struct kwq_result *res = NULL;
        size_t n = 99;

        cr_assert(eq(int, kwq_results_read(c, TP_QUEUE, good[i], 10, 0, &res, &n), 0), "%s",
                  kwq_client_errstr(c));
        cr_assert(eq(sz, n, 0));
    }
    kwq_client_free(c);
}

/* The largest possible entry ID is a good cursor too: nothing follows it, and that is no error. */
Test(hardening, results_after_the_last_possible_entry_id_are_none)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_result *res = NULL;
    size_t n = 99;

    cr_assert(eq(int,
                 kwq_results_read(c, TP_QUEUE, "18446744073709551615-18446744073709551615", 10, 0,
                                  &res, &n),
                 0),
              "%s", kwq_client_errstr(c));
    cr_assert(eq(sz, n, 0));
    kwq_results_free(res, n);
    kwq_client_free(c);
}

/*
 * A dead task requeued to the tail of a long pending list (beyond the first
 * 10000 entries that kwq_task_get looks at) still reports its enqueue time.
 */
Test(hardening, requeued_task_keeps_its_enqueue_time)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t;
    struct kwq_task_info info;
    struct kwq_failure f;
    struct kwq_fail_outcome out;
    const char *ids[1];

    tp_enqueue(c, TP_QUEUE, "first", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(gt(i64, t.enqueued_ms, 0));
    f = (struct kwq_failure){
        .id = t.id, .token = t.token, .error = "bad", .code = 2, .no_retry = true};
    cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &out), 0));
    cr_assert(out.dead);
    tp_enqueue_n(c, TP_QUEUE, "x", 10050);
    ids[0] = t.id;
    cr_assert(eq(int, kwq_dead_requeue(c, TP_QUEUE, ids, 1), 1));
    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, t.id, &info), 0));
    cr_assert(eq(int, info.state, KWQ_STATE_PENDING));
    cr_assert(eq(i64, info.task.enqueued_ms, t.enqueued_ms));
    kwq_task_info_done(&info);
    kwq_task_done(&t);
    kwq_client_free(c);
}

/* Error texts are cut to their limits (4096 kept, 200 in history) between UTF-8 characters. */
Test(hardening, error_texts_are_cut_between_characters)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_dead_task *dead = NULL;
    struct kwq_task_info info;
    size_t n = 0;
    char *e[2];
    cJSON *h;

    /* e[0]: "é" across byte 200 (history); e[1]: "é" across byte 4096 (the kept text). */
    for (int i = 0; i < 2; i++) {
        size_t at = i == 0 ? 199 : 4095;
        struct kwq_task t;
        struct kwq_failure f;
        struct kwq_fail_outcome out;

        e[i] = malloc(5000);
        cr_assert(e[i] != NULL);
        memset(e[i], 'a', at);
        memcpy(e[i] + at, "\xc3\xa9", 2);
        memset(e[i] + at + 2, 'b', 5000 - at - 3);
        e[i][4999] = '\0';
        tp_enqueue(c, TP_QUEUE, "x", NULL);
        tp_lease1(c, TP_QUEUE, 60000, 0, &t);
        f = (struct kwq_failure){
            .id = t.id, .token = t.token, .error = e[i], .code = 1, .no_retry = true};
        cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &out), 0));
        cr_assert(eq(int, out.status, 0));
        kwq_task_done(&t);
    }
    cr_assert(eq(int, kwq_dead_list(c, TP_QUEUE, 0, 10, &dead, &n), 0));
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(sz, strlen(dead[0].last_error), 4096));
    cr_assert(eq(sz, strlen(dead[1].last_error), 4095));
    cr_assert(kwq_utf8_valid(dead[1].last_error, 4095));
    memset(&info, 0, sizeof(info));
    cr_assert(eq(int, kwq_task_get(c, TP_QUEUE, "1", &info), 0));
    h = cJSON_Parse(info.history_json);
    cr_assert(h != NULL && cJSON_GetArraySize(h) == 1, "%s", info.history_json);
    {
        const cJSON *he = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(h, 0), "e");

        cr_assert(cJSON_IsString(he));
        cr_assert(eq(sz, strlen(he->valuestring), 199));
    }
    cJSON_Delete(h);
    kwq_task_info_done(&info);
    kwq_dead_list_free(dead, n);
    free(e[0]);
    free(e[1]);
    kwq_client_free(c);
}
