/*
 * test_redis_tls_exit.c - when images/kwq-tls-ambassador ends, so that a
 * Job's pod can complete on Kubernetes 1.26 (a sidecar that never exits
 * would keep it running): after its kwq-worker, however that ended; never
 * before, not even on SIGTERM; and with exit 78 and one line when it cannot
 * do its job.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "redis_fixture.h"
#include "test_redis_tls_support.h"
#include "test_worker_support.h"

TestSuite(redis_tls_exit, .init = tls_setup, .fini = tls_teardown, .timeout = 60);

/* A TLS Redis and an ambassador in front of it, with env for the ambassador. */
static void start(struct tls_ambassador *amb, const char *const *env)
{
    char redis_port[8];

    tls_make_ca("ca");
    tls_make_server("redis", "ca", TLS_HOST);
    tls_redis_listen("redis", "ca", redis_port, sizeof(redis_port));
    tls_ambassador_start(amb, redis_port, "ca", env);
}

/* An idle worker (the queue is not sealed) connected through amb: its BLPOP reached Redis. */
static pid_t idle_worker(const struct tls_ambassador *amb)
{
    struct kwq_client *direct = test_client();
    pid_t w = tls_worker_start(amb->url, "worker.log", NULL);

    wait_blocked(direct, 1);
    kwq_client_free(direct);
    return w;
}

/* idle_worker, once the ambassador has seen it. */
static pid_t seen_worker(const struct tls_ambassador *amb)
{
    pid_t w = idle_worker(amb);

    wait_for_text(amb->log, AMB_SEES_WORKER);
    return w;
}

Test(redis_tls_exit, a_sigkilled_worker_ends_the_ambassador)
{
    struct tls_ambassador amb;
    pid_t w;

    start(&amb, NULL);
    w = seen_worker(&amb);
    cr_assert_eq(kill(w, SIGKILL), 0);
    cr_assert_eq(tls_worker_wait(w), 128 + SIGKILL);
    cr_assert_eq(tls_ambassador_wait(&amb), 0, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: no kwq-worker process left; "
                                     "stunnel stopped\n"));
}

Test(redis_tls_exit, sigterm_keeps_proxying_until_the_worker_is_done)
{
    struct tls_ambassador amb;
    struct kwq_client *via;
    struct kwq_client_opts o;
    pid_t w;

    start(&amb, NULL);
    w = seen_worker(&amb);
    cr_assert_eq(kill(amb.pid, SIGTERM), 0);
    wait_for_text(amb.log, "kwq-tls-ambassador: SIGTERM: proxying until kwq-worker has exited\n");

    /* A new connection after the SIGTERM still gets through, and the worker drains. */
    kwq_client_opts_init(&o);
    o.url = amb.url;
    via = kwq_client_new(&o);
    cr_assert_eq(kwq_client_connect(via), 0, "%s", kwq_client_errstr(via));
    enqueue_n(via, 1, "last-", NULL);
    cr_assert_eq(kwq_seal(via, TEST_QUEUE), 0, "%s", kwq_client_errstr(via));
    kwq_client_free(via);
    cr_assert_eq(tls_worker_wait(w), 0, "see %s", test_path("worker.log"));

    cr_assert_eq(tls_ambassador_wait(&amb), 0, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: no kwq-worker process left; "
                                     "stunnel stopped\n"));
}

Test(redis_tls_exit, watch_none_runs_until_sigterm)
{
    struct tls_ambassador amb;
    char port[8];

    start(&amb, (const char *[]){"KWQ_TLS_WATCH=none", NULL});
    (void)snprintf(port, sizeof(port), "%s", amb.port);
    cr_assert_eq(kill(amb.pid, SIGTERM), 0);
    cr_assert_eq(tls_ambassador_wait(&amb), 0, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: SIGTERM; stunnel stopped\n"));
    /* Its stunnel is gone with it: nothing listens on the port any more. */
    {
        struct kwq_client_opts o;
        struct kwq_client *c;

        kwq_client_opts_init(&o);
        o.url = amb.url;
        c = kwq_client_new(&o);
        cr_expect_neq(kwq_client_connect(c), 0);
        cr_expect(strstr(kwq_client_errstr(c), "Connection refused"), "%s", kwq_client_errstr(c));
        kwq_client_free(c);
    }
}

Test(redis_tls_exit, no_worker_in_sight_is_exit_78)
{
    struct tls_ambassador amb;
    char parent[64];
    pid_t w;

    /*
     * A kwq-worker runs all along, but as this test's child, and the
     * ambassador counts only the children of the Redis server: what it does
     * beside other pods' or tests' workers on one machine. (The worker's
     * Redis does not matter here: it retries.)
     */
    w = tls_worker_start("redis://127.0.0.1:1/0", "worker.log", NULL);
    wait_for_text(test_path("worker.log"), "\"msg\":\"worker started\"");
    (void)snprintf(parent, sizeof(parent), "KWQ_TLS_WATCH_PARENT=%ld", (long)test_redis.pid);
    start(&amb, (const char *[]){"KWQ_TLS_WORKER_WAIT=1", parent, NULL});
    cr_assert_eq(tls_ambassador_wait(&amb), 78, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: no kwq-worker process appeared within "
                                     "1s: does the pod set shareProcessNamespace: true?\n"));
    cr_expect_not(file_contains(amb.log, AMB_SEES_WORKER));
    cr_assert_eq(kill(w, SIGTERM), 0);
    cr_expect_eq(tls_worker_wait(w), 75);
}

Test(redis_tls_exit, a_stunnel_that_cannot_start_is_exit_78)
{
    struct tls_ambassador amb;

    tls_ambassador_spawn(&amb, "6379", "/nonexistent/ca.crt", NULL);
    cr_assert_eq(tls_ambassador_wait(&amb), 78, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: stunnel ended by itself (status 1): see "
                                     "its log above\n"),
              "see %s", amb.log);
}

Test(redis_tls_exit, a_bad_setting_is_exit_78)
{
    struct tls_ambassador amb;

    tls_ambassador_spawn(&amb, "6379", "/nonexistent/ca.crt",
                         (const char *[]){"KWQ_TLS_WORKER_WAIT=soon", NULL});
    cr_assert_eq(tls_ambassador_wait(&amb), 78, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: KWQ_TLS_WORKER_WAIT must be whole "
                                     "seconds, got 'soon'\n"),
              "see %s", amb.log);
}
