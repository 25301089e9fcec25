/*
 * test_worker_gone.c - the queue's data changes under a running worker in
 * ways retrying cannot fix. A queue that vanished (Redis flushed, or
 * restarted without its data) while the worker holds a lease: the worker
 * says so and exits 8 (KWQ_EXIT_GONE), instead of waiting for ever with
 * "lease lost". A key of the queue overwritten with a foreign type
 * (WRONGTYPE): exit 78 with the Redis error in the log.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_gone, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

/* A worker (renewing every second) that holds one task, its handler waiting at a gate. */
static pid_t worker_holding_a_lease(void)
{
    struct kwq_client *c = test_client();
    const char *args[] = {
        "--lease",       "3s", "--", helper_path("helper_wait_go"), test_path("handler.pid"),
        test_path("go"), NULL};
    pid_t w;

    enqueue_n(c, 1, "t", NULL);
    kwq_client_free(c);
    w = worker_start("w.log", args);
    wait_for_file(test_path("handler.pid"));
    return w;
}

static void assert_gone(pid_t w)
{
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_GONE);
    cr_assert(file_contains(test_path("w.log"), "the queue vanished from Redis"));
    cr_assert(file_contains(test_path("w.log"), "\"queue\":\"" TEST_QUEUE "\""));
    cr_assert(!file_contains(test_path("w.log"), "lease lost"));
}

Test(worker_gone, queue_flushed_under_a_running_worker_exits_8)
{
    pid_t w = worker_holding_a_lease();

    redis_do(&test_redis, (const char *[]){"FLUSHALL", NULL});
    assert_gone(w);
}

Test(worker_gone, redis_restarted_empty_under_a_running_worker_exits_8)
{
    pid_t w = worker_holding_a_lease();

    redis_fixture_kill(&test_redis);
    redis_fixture_restart(&test_redis); /* no persistence: it comes back empty */
    assert_gone(w);
}

Test(worker_gone, key_of_the_queue_with_a_foreign_type_exits_78_with_the_error)
{
    pid_t w = worker_holding_a_lease();

    /* Another program writes a string where the queue keeps its lease records (a hash). */
    redis_do(&test_redis, (const char *[]){"SET", "kwq:{" TEST_QUEUE "}:leases", "foreign", NULL});
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_CONFIG);
    cr_assert(file_contains(test_path("w.log"), "WRONGTYPE"));
    cr_assert(file_contains(test_path("w.log"), "retrying cannot help"));
    cr_assert(!file_contains(test_path("w.log"), "reconnected to Redis"));
}
