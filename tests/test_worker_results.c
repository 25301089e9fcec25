/*
 * test_worker_results.c - what the worker keeps of a handler's stdout:
 * the result, for --result-ttl (one day by default), or nothing with
 * --no-result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_results, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

/* Two tasks in a sealed queue, drained by one worker with args; their IDs into ids. */
static void drain_two(struct kwq_client *c, const char *const *args, struct kwq_enqueued *ids)
{
    pid_t w;

    enqueue_n(c, 2, "t", ids);
    cr_assert_eq(kwq_seal(c, TEST_QUEUE), 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
}

/* Milliseconds the result key of task id has left (redis PTTL: -2 none, -1 no expiry). */
static long long result_pttl(const char *id)
{
    redisContext *r = redisConnectUnix(test_redis.sock);
    redisReply *rep;
    long long ms;

    cr_assert(r && !r->err);
    rep = redisCommand(r, "PTTL kwq:{%s}:result:%s", TEST_QUEUE, id);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    ms = rep->integer;
    freeReplyObject(rep);
    redisFree(r);
    return ms;
}

Test(worker_results, no_result_acks_without_keeping_stdout)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[2];
    struct kwq_stats st;
    char *res = NULL;
    size_t len = 0;

    drain_two(c, (const char *const[]){"--no-result", "--", "/bin/cat", NULL}, ids);
    st = stats_of(c);
    cr_assert_eq(st.done, 2);
    cr_assert_eq(st.results, 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(kwq_result_get(c, TEST_QUEUE, ids[i].id, &res, &len), KWQ_ENOTFOUND, "%s",
                     kwq_client_errstr(c));
        cr_assert_eq(result_pttl(ids[i].id), -2);
    }
    kwq_client_free(c);
}

Test(worker_results, result_ttl_bounds_how_long_a_result_is_kept)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[2];
    char *res = NULL;
    size_t len = 0;
    long long ms;

    drain_two(c, (const char *const[]){"--result-ttl", "5s", "--", "/bin/cat", NULL}, ids);
    cr_assert_eq(stats_of(c).results, 2);
    cr_assert_eq(kwq_result_get(c, TEST_QUEUE, ids[1].id, &res, &len), 0, "%s",
                 kwq_client_errstr(c));
    cr_assert_eq(len, 2);
    cr_assert(memcmp(res, "t1", 2) == 0);
    free(res);
    ms = result_pttl(ids[0].id);
    cr_assert(ms > 0 && ms <= 5000, "PTTL %lld", ms);
    kwq_client_free(c);
}

Test(worker_results, results_are_kept_a_day_by_default)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued ids[2];
    long long ms;

    drain_two(c, (const char *const[]){"--", "/bin/cat", NULL}, ids);
    cr_assert_eq(stats_of(c).results, 2);
    ms = result_pttl(ids[0].id);
    cr_assert(ms > 86400000 - 60000 && ms <= 86400000, "PTTL %lld", ms);
    kwq_client_free(c);
}
