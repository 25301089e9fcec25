/*
 * test_redis_tls.c - kwq through the TLS ambassador of
 * manifests/components/redis-tls against a Redis that speaks only TLS: tasks
 * enqueued with libkwq and drained by a real kwq-worker, each done once; a
 * server certificate from another CA, or for another host, refused.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "test_redis_tls_support.h"
#include "test_worker_support.h"

#define TASKS 200

TestSuite(redis_tls, .init = tls_setup, .fini = tls_teardown, .timeout = 60);

/* A client of the ambassador's plain-text port (asserts the connect). */
static struct kwq_client *client_via(const struct tls_ambassador *a)
{
    struct kwq_client_opts o;
    struct kwq_client *c;

    kwq_client_opts_init(&o);
    o.url = a->url;
    c = kwq_client_new(&o);
    cr_assert(c);
    cr_assert_eq(kwq_client_connect(c), 0, "through the ambassador: %s", kwq_client_errstr(c));
    return c;
}

Test(redis_tls, tasks_go_through_the_ambassador_each_done_once)
{
    struct tls_ambassador amb;
    struct kwq_client *via, *direct;
    struct kwq_stats st;
    char redis_port[8];
    pid_t w;

    tls_make_ca("ca");
    tls_make_server("redis", "ca", TLS_HOST);
    tls_redis_listen("redis", "ca", redis_port, sizeof(redis_port));
    tls_ambassador_start(&amb, redis_port, "ca", NULL);

    via = client_via(&amb);
    enqueue_n(via, TASKS, "task-", NULL);
    w = tls_worker_start(amb.url, "worker.log", NULL);
    /* The ambassador looks once a second: seal only once it has seen the worker. */
    wait_for_text(amb.log, AMB_SEES_WORKER);
    cr_assert_eq(kwq_seal(via, TEST_QUEUE), 0, "%s", kwq_client_errstr(via));
    kwq_client_free(via);
    cr_assert_eq(tls_worker_wait(w), 0, "kwq-worker did not drain the queue: see %s",
                 test_path("worker.log"));

    /* Read on the unix socket, beside the ambassador: what Redis itself holds. */
    direct = test_client();
    st = stats_of(direct);
    kwq_client_free(direct);
    cr_expect_eq(st.enqueued, TASKS);
    cr_expect_eq(st.done, TASKS);
    cr_expect_eq(st.results, TASKS);
    cr_expect_eq(st.failed, 0);
    cr_expect_eq(st.expired, 0);
    cr_expect_eq(st.released, 0);
    cr_expect_eq(st.dead, 0);
    cr_expect(st.drained);

    cr_assert_eq(tls_ambassador_wait(&amb), 0, "see %s", amb.log);
    cr_expect(file_contains(amb.log, "kwq-tls-ambassador: no kwq-worker process left; "
                                     "stunnel stopped\n"));
}

/*
 * A worker that cannot get through retries and says why: stunnel closes the
 * connection after the refused handshake, and the worker has written its
 * first command by then (ECONNRESET); or, should stunnel be quicker, it
 * reads the end of the stream. Then SIGTERM: it exits 75, and the
 * ambassador after it.
 */
static void expect_refused(struct tls_ambassador *amb, const char *stunnel_says)
{
    char reset[300], closed[300];
    const char *log = test_path("worker.log");
    pid_t w = tls_worker_start(amb->url, "worker.log", NULL);

    (void)snprintf(reset, sizeof(reset),
                   "\"msg\":\"cannot reach Redis: retrying\",\"err\":\"cannot connect to Redis "
                   "at %s: Connection reset by peer\"",
                   amb->url);
    (void)snprintf(closed, sizeof(closed),
                   "\"msg\":\"cannot reach Redis: retrying\",\"err\":\"cannot connect to Redis "
                   "at %s: Server closed the connection\"",
                   amb->url);
    wait_for_text(amb->log, AMB_SEES_WORKER);
    wait_for_text(log, "\"msg\":\"cannot reach Redis: retrying\"");
    cr_expect(file_contains(log, reset) || file_contains(log, closed), "see %s", log);
    cr_expect_not(file_contains(log, "\"msg\":\"connected to Redis\""), "see %s", log);
    cr_expect(file_contains(amb->log, stunnel_says), "see %s", amb->log);
    cr_expect_not(file_contains(amb->log, "Certificate accepted"), "see %s", amb->log);

    cr_assert_eq(kill(w, SIGTERM), 0);
    cr_expect_eq(tls_worker_wait(w), 75, "see %s", log);
    cr_assert_eq(tls_ambassador_wait(amb), 0, "see %s", amb->log);
}

Test(redis_tls, a_server_certificate_from_another_ca_is_refused)
{
    struct tls_ambassador amb;
    char redis_port[8];

    tls_make_ca("ca");
    tls_make_ca("other-ca");
    tls_make_server("redis", "ca", TLS_HOST);
    tls_redis_listen("redis", "ca", redis_port, sizeof(redis_port));
    tls_ambassador_start(&amb, redis_port, "other-ca", NULL);

    expect_refused(&amb, "CERT: Pre-verification error: self-signed certificate in certificate "
                         "chain\n");
}

Test(redis_tls, a_server_certificate_for_another_host_is_refused)
{
    struct tls_ambassador amb;
    char redis_port[8];

    tls_make_ca("ca");
    tls_make_server("redis", "ca", "redis.elsewhere.example");
    tls_redis_listen("redis", "ca", redis_port, sizeof(redis_port));
    tls_ambassador_start(&amb, redis_port, "ca", NULL);

    expect_refused(&amb, "CERT: Subject checks failed\n");
}
