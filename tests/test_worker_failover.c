/*
 * test_worker_failover.c - a master demoted in mid-session (a failover
 * behind a stable address): the worker's call gets READONLY, and instead of
 * exiting at once it reconnects once and lets connect decide. Connect's
 * role check exits 78 if the address still reaches a replica; if it now
 * reaches the new master, the worker goes on and drains.
 *
 * The stable address is a symlink to a server's unix socket, repointed as a
 * Service would be: server A (the fixture) is the master, B its replica;
 * the failover promotes B and makes A a replica of B.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

static char a_port[16], b_port[16];
static struct redis_fixture b;

static void pair_setup(void)
{
    static const char *a_args[] = {"--port", a_port, "--bind", "127.0.0.1", NULL};
    static const char *b_args[] = {"--port",      b_port,      "--bind", "127.0.0.1",
                                   "--replicaof", "127.0.0.1", a_port,   NULL};

    free_port(a_port, sizeof(a_port));
    redis_fixture_start(&test_redis, a_args);
    free_port(b_port, sizeof(b_port));
    redis_fixture_start(&b, b_args);
}

static void pair_teardown(void)
{
    redis_fixture_stop(&b);
    redis_teardown();
}

TestSuite(worker_failover, .init = pair_setup, .fini = pair_teardown, .timeout = 120);

static void nap(void)
{
    struct timespec ts = {0, 10L * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

/* Run a command (printf-style, as redisCommand) on the server at sock; returns the reply. */
static redisReply *redis_on(const char *sock, const char *fmt, const char *arg1, const char *arg2)
{
    redisContext *r = redisConnectUnix(sock);
    redisReply *rep;

    cr_assert(r && !r->err, "connect to %s", sock);
    rep = redisCommand(r, fmt, arg1, arg2);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
              rep && rep->str ? rep->str : "no reply");
    redisFree(r);
    return rep;
}

static void redis_ok(const char *sock, const char *fmt, const char *arg1, const char *arg2)
{
    freeReplyObject(redis_on(sock, fmt, arg1, arg2));
}

/* Point the stable address (symlink) at the server socket sock, atomically. */
static void point_at(const char *sock)
{
    char tmp[420], link[400];

    (void)snprintf(link, sizeof(link), "%s", test_path("stable.sock"));
    (void)snprintf(tmp, sizeof(tmp), "%s.new", link);
    (void)unlink(tmp);
    cr_assert(symlink(sock, tmp) == 0);
    cr_assert(rename(tmp, link) == 0);
}

/* Wait until B holds everything A wrote (A's writes acknowledged by its replica). */
static void wait_replicated(void)
{
    for (int i = 0; i < SAFETY_S * 100; i++) {
        redisReply *rep = redis_on(test_redis.sock, "WAIT %s %s", "1", "100");
        long long acked = rep->integer;

        freeReplyObject(rep);
        if (acked == 1)
            return;
        nap();
    }
    cr_assert_fail("the replica never caught up");
}

/* The failover: B becomes the master, A its replica. */
static void fail_over(void)
{
    redis_ok(b.sock, "REPLICAOF %s %s", "NO", "ONE");
    redis_ok(test_redis.sock, "REPLICAOF %s %s", "127.0.0.1", b_port);
}

/*
 * A worker on the stable address runs a task (held at a gate) when the
 * failover happens; then the gate opens and its ack meets READONLY. Returns
 * the worker's pid.
 */
static pid_t run_into_failover(bool repoint)
{
    struct kwq_client *c = test_client();
    char url[420];
    const char *args[] = {"--redis",
                          url,
                          "--lease",
                          "10m",
                          "--",
                          helper_path("helper_wait_go"),
                          test_path("handler.pid"),
                          test_path("go"),
                          NULL};
    pid_t w;

    point_at(test_redis.sock);
    (void)snprintf(url, sizeof(url), "unix://%s", test_path("stable.sock"));
    enqueue_n(c, 1, "t", NULL);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    kwq_client_free(c);
    w = worker_start("w.log", args);
    wait_for_file(test_path("handler.pid"));
    wait_replicated();
    fail_over();
    if (repoint)
        point_at(b.sock);
    write_file(test_path("go"), "");
    return w;
}

/* The address still reaches the demoted server: connect says replica, exit 78. */
Test(worker_failover, demoted_master_behind_the_address_exits_78_after_one_reconnect)
{
    pid_t w = run_into_failover(false);

    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_CONFIG);
    cr_assert(file_contains(test_path("w.log"), "Redis answered READONLY"));
    cr_assert(file_contains(test_path("w.log"), "is a read-only replica of"),
              "connect's role check decided");
    cr_assert(!file_contains(test_path("w.log"), "reconnected to Redis"));
}

/* The address now reaches the new master: the worker goes on, acks there, and drains. */
Test(worker_failover, address_moved_to_the_new_master_goes_on_and_drains)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    pid_t w = run_into_failover(true);

    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("w.log"), "Redis answered READONLY"),
              "the ack met READONLY (not a dropped connection)");
    cr_assert(file_contains(test_path("w.log"), "reconnected to Redis"));
    kwq_client_opts_init(&o);
    o.url = b.url;
    c = kwq_client_new(&o);
    cr_assert(c && kwq_client_connect(c) == 0);
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 1, "acked on the new master");
    cr_assert_eq(st.pending + st.leased + st.dead, 0);
    kwq_client_free(c);
}
