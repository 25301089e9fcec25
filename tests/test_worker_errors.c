/*
 * test_worker_errors.c - what the worker does with each kind of Redis
 * failure. Permanent ones (a user without a permission kwq needs, a URL
 * that names a replica) exit 78 at once instead of reconnecting for ever;
 * an unavailable Redis is retried: for ever by default (the work completes
 * once Redis is back), or until a finite --redis-retry, then exit 69, the
 * time counted until a call succeeds (a connect does not count).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

/* Seconds a permanent error may take to end the worker on a loaded machine (it takes ms). */
#define PROMPT_S 20

TestSuite(worker_errors, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

/* Start a worker with args, wait for its exit; returns it, *secs the seconds it took. */
static int run_worker(const char *const *args, time_t *secs)
{
    time_t t0 = time(NULL);
    int code = worker_wait(worker_start("w.log", args), "w.log");

    *secs = time(NULL) - t0;
    return code;
}

/*
 * The user may run kwq's scripts but not BLPOP (-@blocking): connecting
 * and leasing work, the idle wait is refused with NOPERM. Reconnecting
 * cannot change an ACL, so the worker says so and exits 78.
 */
Test(worker_errors, user_without_a_permission_exits_78_at_once)
{
    const char *acl[] = {
        "ACL",    "SETUSER",       "noblock", "reset",      "on",          ">pw",
        "~kwq:*", "resetchannels", "+@read",  "+@write",    "+@scripting", "+@connection",
        "+time",  "+info",         "+select", "-@blocking", NULL};
    char url[400];
    const char *args[] = {"--redis", url, "--", helper_path("helper_echo"), NULL};
    time_t secs;

    redis_do(&test_redis, acl);
    (void)snprintf(url, sizeof(url), "unix://noblock:pw@%s", test_redis.sock);
    cr_assert_eq(run_worker(args, &secs), KWQ_EXIT_CONFIG);
    cr_assert_leq(secs, PROMPT_S);
    cr_assert(file_contains(test_path("w.log"), "NOPERM"));
    cr_assert(file_contains(test_path("w.log"), "retrying cannot help"));
    cr_assert(!file_contains(test_path("w.log"), "reconnected to Redis"),
              "no reconnect loop on a permanent error");
}

static char master_port[16];

static void master_setup(void)
{
    static const char *args[] = {"--port", master_port, "--bind", "127.0.0.1", NULL};

    free_port(master_port, sizeof(master_port));
    redis_fixture_start(&test_redis, args);
}

TestSuite(worker_replica, .init = master_setup, .fini = redis_teardown, .timeout = 120);

/* --redis names a read-only replica: writes can never succeed there, so exit 78. */
Test(worker_replica, url_of_a_replica_exits_78_at_once)
{
    static struct redis_fixture replica;
    const char *rargs[] = {"--replicaof", "127.0.0.1", master_port, NULL};
    struct kwq_client *c = test_client();
    const char *args[] = {"--redis", replica.url, "--", helper_path("helper_echo"), NULL};
    time_t secs;

    enqueue_n(c, 1, "t", NULL);
    redis_fixture_start(&replica, rargs);
    cr_assert_eq(run_worker(args, &secs), KWQ_EXIT_CONFIG);
    cr_assert_leq(secs, PROMPT_S);
    cr_assert(!file_contains(test_path("w.log"), "reconnected to Redis"));
    cr_assert(file_contains(test_path("w.log"), "\"level\":\"error\""));
    redis_fixture_stop(&replica);
    cr_assert_eq(stats_of(c).pending, 1, "the task is untouched on the master");
    kwq_client_free(c);
}

static void aof_setup(void)
{
    static const char *const extra[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, extra);
}

TestSuite(worker_unavailable, .init = aof_setup, .fini = redis_teardown, .timeout = 120);

/* Redis gone for longer than a finite --redis-retry: exit 69 (which the Job ignores). */
Test(worker_unavailable, away_longer_than_a_finite_redis_retry_exits_69)
{
    const char *args[] = {"--redis-retry", "1s", "--", helper_path("helper_echo"), NULL};
    pid_t w;

    w = worker_start("w.log", args);
    wait_for_text(test_path("w.log"), "connected to Redis");
    redis_fixture_kill(&test_redis);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_UNAVAILABLE);
    cr_assert(file_contains(test_path("w.log"),
                            "Redis unavailable for longer than --redis-retry: giving up"));
    redis_fixture_restart(&test_redis); /* for the teardown */
}

/* By default the worker never gives up: once Redis is back the work is done. */
Test(worker_unavailable, default_keeps_retrying_and_completes_when_redis_is_back)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--", helper_path("helper_echo"), NULL};
    pid_t w;

    enqueue_n(c, 3, "t", NULL);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    kwq_client_free(c);
    redis_fixture_kill(&test_redis);
    w = worker_start("w.log", args);
    /* Several retries, Redis still away (the third comes after 100 + 200 ms of backoff). */
    wait_for_text(test_path("w.log"), "\"retry_in_ms\":400");
    cr_assert(!file_contains(test_path("w.log"), "giving up"));
    redis_fixture_restart(&test_redis);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    c = test_client();
    cr_assert_eq(stats_of(c).done, 3);
    kwq_client_free(c);
}

/* A server whose dir may be changed (to make a snapshot fail). */
static void protected_setup(void)
{
    static const char *const extra[] = {"--enable-protected-configs", "yes", NULL};

    redis_fixture_start(&test_redis, extra);
}

TestSuite(worker_misconf, .init = protected_setup, .fini = redis_teardown, .timeout = 120);

/* Wait until the fixture's last snapshot has failed (its writes are then refused: MISCONF). */
static void wait_for_misconf(void)
{
    time_t end = time(NULL) + SAFETY_S;

    for (;;) {
        redisContext *r = redisConnectUnix(test_redis.sock);
        redisReply *rep;
        bool failed;

        cr_assert(r && !r->err);
        rep = redisCommand(r, "INFO persistence");
        cr_assert(rep && rep->type == REDIS_REPLY_STRING);
        failed = strstr(rep->str, "rdb_bgsave_in_progress:0") &&
                 strstr(rep->str, "rdb_last_bgsave_status:err");
        freeReplyObject(rep);
        redisFree(r);
        if (failed)
            return;
        cr_assert_lt(time(NULL), end, "the snapshot did not fail");
        (void)usleep(20000);
    }
}

/*
 * Connecting alone is no sign that Redis is back. Redis refuses every write
 * (MISCONF: a snapshot failed with stop-writes-on-bgsave-error on) while
 * connecting still works (AUTH, INFO, SCRIPT LOAD are no writes): each lease
 * fails and each reconnect succeeds. The down clock runs from the first
 * failure until a call succeeds, so --redis-retry still ends it with 69;
 * were it reset by every connect, the worker would go round for ever.
 */
Test(worker_misconf, connects_that_succeed_do_not_reset_the_down_clock)
{
    char dir[400];
    const char *save[] = {"CONFIG", "SET", "save", "3600 1", NULL};
    const char *to_dir[] = {"CONFIG", "SET", "dir", dir, NULL};
    const char *bgsave[] = {"BGSAVE", NULL};
    const char *args[] = {"--redis-retry", "2s", "--", helper_path("helper_echo"), NULL};
    time_t secs;

    (void)snprintf(dir, sizeof(dir), "%s", test_path("gone"));
    cr_assert_eq(mkdir(dir, 0700), 0);
    redis_do(&test_redis, save);
    redis_do(&test_redis, to_dir);
    cr_assert_eq(rmdir(dir), 0); /* the snapshot cannot be written */
    redis_do(&test_redis, bgsave);
    wait_for_misconf();
    cr_assert_eq(run_worker(args, &secs), KWQ_EXIT_UNAVAILABLE);
    cr_assert(file_contains(test_path("w.log"), "MISCONF"));
    cr_assert(file_contains(test_path("w.log"), "reconnected to Redis"),
              "the reconnects succeeded: the case this test is about");
    cr_assert(file_contains(test_path("w.log"),
                            "Redis unavailable for longer than --redis-retry: giving up"));
    cr_assert_leq(secs, PROMPT_S);
}
