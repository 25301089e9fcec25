/*
 * test_worker_oom.c - a Redis at its maxmemory limit refuses acks that keep
 * a result. The worker holds only the acks refused: renewing their leases,
 * retrying with backoff, logging the episode once, and leasing nothing
 * meanwhile; acks that went in (one without a result, in the same call) are
 * done and never sent again. Once Redis has room the held result is
 * delivered exactly once and the worker drains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_oom, .init = redis_setup, .fini = redis_teardown, .timeout = 180);

#define BIG (900u * 1024u) /* the result refused: well over the room left */

static void nap(void)
{
    struct timespec ts = {0, 10L * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

/* An integer field of INFO section, e.g. "used_memory:" (0 when absent). */
static long long info_ll(struct kwq_client *c, const char *section, const char *key)
{
    char *info = NULL;
    const char *p;
    long long n = 0;

    cr_assert(kwq_server_info(c, section, &info) == 0, "%s", kwq_client_errstr(c));
    p = strstr(info, key);
    if (p)
        n = strtoll(p + strlen(key), NULL, 10);
    free(info);
    return n;
}

/* Calls Redis refused with OOM since it started. */
static long long oom_refusals(struct kwq_client *c)
{
    return info_ll(c, "errorstats", "errorstat_OOM:count=");
}

static void set_maxmemory(long long bytes)
{
    redisContext *r = redisConnectUnix(test_redis.sock);
    redisReply *rep;

    cr_assert(r && !r->err);
    rep = redisCommand(r, "CONFIG SET maxmemory %lld", bytes);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "CONFIG SET maxmemory %lld", bytes);
    freeReplyObject(rep);
    redisFree(r);
}

/* Occurrences of text in file path. */
static size_t count_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t n = 0;

    cr_assert(f, "%s", path);
    while (fgets(line, sizeof(line), f))
        for (const char *p = line; (p = strstr(p, text)) != NULL; p += strlen(text))
            n++;
    (void)fclose(f);
    return n;
}

static int64_t lease_deadline(struct kwq_client *c, const char *id)
{
    struct kwq_task_info info;
    int64_t due;

    cr_assert(kwq_task_get(c, TEST_QUEUE, id, &info) == 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(info.state, KWQ_STATE_LEASED, "task %s is %s", id,
                 kwq_state_to_string(info.state));
    due = info.due_ms;
    kwq_task_info_done(&info);
    return due;
}

Test(worker_oom, refused_result_is_held_renewed_and_delivered_once_when_redis_has_room)
{
    struct kwq_client *c = test_client();
    char *big = malloc(BIG), small[] = "quiet", *res = NULL;
    struct kwq_new_task t[2] = {{.payload = big, .payload_len = BIG},
                                {.payload = small, .payload_len = sizeof(small) - 1}};
    struct kwq_enqueued ids[2];
    struct kwq_result *list = NULL;
    size_t accepted = 0, res_len = 0, nres = 0;
    /* Task 2 waits for the go file and writes nothing: its ack keeps no result. */
    char script[512];
    const char *args[] = {"--concurrency", "2", "--lease", "1s", "--", "/bin/sh", "-c", script,
                          test_path("go"), NULL};
    long long refusals;
    int64_t due;
    pid_t w;

    cr_assert(big);
    memset(big, 'x', BIG);
    cr_assert(kwq_enqueue(c, TEST_QUEUE, t, 2, ids, &accepted) >= 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(accepted, 2);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    (void)snprintf(script, sizeof(script),
                   "if [ \"$KWQ_TASK_ID\" = %s ]; then while [ ! -e \"$0\" ]; do sleep 0.01; done; "
                   "else exec cat; fi",
                   ids[1].id);
    /* Room for the calls that free memory, none for a result of BIG bytes. */
    set_maxmemory(info_ll(c, "memory", "used_memory:") + 256 * 1024);

    w = worker_start("w.log", args);
    wait_for_text(test_path("w.log"), "Redis is out of memory");
    due = lease_deadline(c, ids[0].id);
    /* Task 2's empty ack goes in with the next retry of task 1's, which is refused again. */
    write_file(test_path("go"), "");
    for (int i = 0; i < SAFETY_S * 100 && stats_of(c).done < 1; i++)
        nap();
    cr_assert_eq(stats_of(c).done, 1, "the ack without a result went in");
    refusals = oom_refusals(c);
    for (int i = 0; i < SAFETY_S * 100 && oom_refusals(c) < refusals + 1; i++)
        nap();
    cr_assert_gt(oom_refusals(c), refusals, "the held result is retried");
    /* Renewed while held: the lease now ends later than a whole lease after the first look. */
    for (int i = 0; i < SAFETY_S * 100 && lease_deadline(c, ids[0].id) < due + 1000; i++)
        nap();
    cr_assert_geq(lease_deadline(c, ids[0].id), due + 1000);
    cr_assert_eq(stats_of(c).expired, 0);
    cr_assert_eq(stats_of(c).leased, 1);

    set_maxmemory(0);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 2);
    cr_assert_eq(st.expired + st.failed + st.dead, 0);
    cr_assert(kwq_result_get(c, TEST_QUEUE, ids[0].id, &res, &res_len) == 0, "%s",
              kwq_client_errstr(c));
    cr_assert_eq(res_len, BIG);
    cr_assert(kwq_results_read(c, TEST_QUEUE, "0", 10, 0, &list, &nres) >= 0, "%s",
              kwq_client_errstr(c));
    cr_assert_eq(nres, 1, "one result, kept once");
    cr_assert_str_eq(list[0].id, ids[0].id);
    cr_assert_eq(count_text(test_path("w.log"), "Redis is out of memory"), 1, "logged once");
    cr_assert_eq(count_text(test_path("w.log"), "\"msg\":\"task done\""), 2);
    cr_assert_eq(count_text(test_path("w.log"), "Redis has room again"), 1);
    cr_assert(!file_contains(test_path("w.log"), "lease lost"),
              "an ack that went in was sent again");
    kwq_results_free(list, nres);
    free(res);
    free(big);
    kwq_client_free(c);
}
