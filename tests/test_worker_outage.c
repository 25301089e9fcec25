/*
 * test_worker_outage.c - SIGTERM while Redis is away (AOF on, so a restart
 * keeps the queue). A handler finishes during the outage, so its ack can
 * only be held; then the worker is told to stop. Within --grace it keeps
 * reconnecting and delivers the ack once Redis is back (the task is done,
 * not left to expire and run again); past --grace it exits 75 and says how
 * many outcomes it could not deliver; a second signal stops it at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

static void aof_setup(void)
{
    static const char *const extra[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, extra);
}

TestSuite(worker_outage, .init = aof_setup, .fini = redis_teardown, .timeout = 120);

/*
 * One sealed task, run by helper_wait_go under a worker started with grace;
 * Redis is killed while the handler runs, then the handler finishes: the
 * worker holds its ack. Leases of 10 minutes: nothing here can expire.
 */
static pid_t worker_holding_an_ack(const char *grace, struct kwq_enqueued *id)
{
    struct kwq_client *c = test_client();
    const char *pidfile = test_path("handler.pid");
    const char *go = test_path("go");
    const char *args[] = {"--lease",
                          "10m",
                          "--grace",
                          grace,
                          "--redis-retry",
                          "10m",
                          "--log-level",
                          "debug",
                          "--",
                          helper_path("helper_wait_go"),
                          pidfile,
                          go,
                          NULL};
    pid_t w;

    enqueue_n(c, 1, "t", id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    kwq_client_free(c);
    w = worker_start("w.log", args);
    wait_for_file(pidfile);
    redis_fixture_kill(&test_redis);
    write_file(go, "");
    /* Logged in the loop turn before the one that tries (and fails) to send the ack. */
    wait_for_text(test_path("w.log"), "\"msg\":\"handler finished\"");
    return w;
}

Test(worker_outage, ack_held_at_sigterm_is_delivered_when_redis_returns_within_grace)
{
    struct kwq_enqueued id;
    struct kwq_client *c;
    char *res = NULL;
    size_t len = 0;
    pid_t w = worker_holding_an_ack("10m", &id);

    cr_assert(kill(w, SIGTERM) == 0);
    wait_for_text(test_path("w.log"), "Redis unreachable: reconnecting until the grace period");
    redis_fixture_restart(&test_redis); /* back from the AOF, the task still leased */
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_INTERRUPTED);

    c = test_client();
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1, "the ack held through the outage was delivered");
    cr_assert_eq(st.leased + st.pending, 0);
    cr_assert_eq(st.expired + st.failed + st.released, 0, "acked once, never run again");
    cr_assert(kwq_result_get(c, TEST_QUEUE, id.id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, "went");
    free(res);
    cr_assert(file_contains(test_path("w.log"), "reconnected to Redis"));
    cr_assert(!file_contains(test_path("w.log"), "not delivered"));
    kwq_client_free(c);
}

Test(worker_outage, ack_held_past_grace_is_logged_as_undelivered)
{
    struct kwq_enqueued id;
    struct kwq_client *c;
    pid_t w = worker_holding_an_ack("300ms", &id);

    cr_assert(kill(w, SIGTERM) == 0);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_INTERRUPTED);
    cr_assert(file_contains(test_path("w.log"),
                            "exiting with outcomes not delivered to Redis: those tasks will run "
                            "again after their leases expire"));
    cr_assert(file_contains(test_path("w.log"),
                            "\"undelivered\":1,\"acks\":1,\"fails\":0,"
                            "\"releases\":0,\"unfinished\":0,\"lease\":\"10m\""));

    redis_fixture_restart(&test_redis);
    c = test_client();
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 0, "the ack never reached Redis");
    cr_assert_eq(st.leased, 1, "the task comes back when its lease expires");
    kwq_client_free(c);
}

Test(worker_outage, second_signal_stops_at_once_with_outcomes_held)
{
    struct kwq_enqueued id;
    pid_t w = worker_holding_an_ack("10m", &id);

    cr_assert(kill(w, SIGTERM) == 0);
    wait_for_text(test_path("w.log"), "Redis unreachable: reconnecting until the grace period");
    cr_assert(kill(w, SIGINT) == 0);
    /* Well before the 10 minutes of grace (worker_wait gives up after SAFETY_S). */
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_INTERRUPTED);
    cr_assert(file_contains(test_path("w.log"), "second signal"));
    cr_assert(file_contains(test_path("w.log"), "\"undelivered\":1,\"acks\":1"));
}
