/*
 * test_proto_conn.c - connecting and losing the connection: options and
 * their defaults, URL errors, unreachable servers, passwords from every
 * source (and never in errstr), a server that may evict keys, command
 * timeouts, a server killed mid-session or mid-wait, database selection,
 * ACL permissions, maxmemory, a replica and a demoted master, and a
 * restart with AOF on that keeps every acknowledged enqueue.
 *
 * Every failure must come back as a code and one line, quickly: a hang is
 * caught by the test timeout, a crash by the sanitizers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

#define PASSWORD       "s3cret-Pw-42"
#define WRONG_PASSWORD "wr0ng-Pw-17"

/* A client for url with short timeouts, not connected yet. */
static struct kwq_client *new_client(const char *url, const char *password)
{
    struct kwq_client_opts o;
    struct kwq_client *c;

    kwq_client_opts_init(&o);
    o.url = url;
    o.password = password;
    o.connect_timeout_ms = 2000;
    o.command_timeout_ms = 2000;
    c = kwq_client_new(&o);
    cr_assert(c != NULL);
    return c;
}

/* errstr holds something, and neither password. */
static void assert_clean_errstr(const struct kwq_client *c)
{
    const char *e = kwq_client_errstr(c);

    cr_assert(e != NULL);
    tp_assert_str_ne(e, "");
    cr_assert(not(tp_contains(e, PASSWORD)), "errstr shows the password: %s", e);
    cr_assert(not(tp_contains(e, WRONG_PASSWORD)), "errstr shows the password: %s", e);
    cr_assert(not(tp_contains(e, "\n")), "errstr is not one line: %s", e);
}

/* ---- Without a server ---------------------------------------------------- */

Test(conn_nosrv, opts_defaults)
{
    struct kwq_client_opts o;

    memset(&o, 0x5a, sizeof(o));
    kwq_client_opts_init(&o);
    cr_assert(o.url == NULL);
    cr_assert(o.password == NULL);
    cr_assert(o.password_file == NULL);
    cr_assert(eq(u32, o.connect_timeout_ms, 5000));
    cr_assert(eq(u32, o.command_timeout_ms, 10000));
    cr_assert(eq(sz, o.max_payload, KWQ_DEFAULT_MAX_PAYLOAD));
    cr_assert(eq(sz, o.max_result, KWQ_DEFAULT_MAX_RESULT));
    cr_assert(eq(u64, o.result_ttl_ms, 86400000));
}

/* The free functions documented as taking NULL do. */
Test(conn_nosrv, free_functions_accept_null)
{
    struct kwq_lease_result r;
    struct kwq_task_info info;

    kwq_client_free(NULL);
    kwq_lease_result_done(NULL);
    kwq_task_done(NULL);
    kwq_dead_list_free(NULL, 0);
    kwq_results_free(NULL, 0);
    memset(&r, 0, sizeof(r));
    kwq_lease_result_done(&r);
    memset(&info, 0, sizeof(info));
    kwq_task_info_done(&info);
    cr_assert(eq(sz, r.n, 0));
}

Test(conn_nosrv, missing_socket_is_econn)
{
    struct kwq_client *c = new_client("unix:///nonexistent-kwq-dir/redis.sock", NULL);
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};

    cr_assert(not(kwq_client_is_connected(c)));
    cr_assert(eq(int, kwq_client_connect(c), KWQ_ECONN));
    cr_assert(tp_contains(kwq_client_errstr(c), "/nonexistent-kwq-dir/redis.sock"), "errstr: %s",
              kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "No such file"), "errstr: %s",
              kwq_client_errstr(c));
    cr_assert(not(kwq_client_is_connected(c)));
    cr_assert(eq(int, kwq_client_fd(c), -1));
    /* Operations on a client that never connected fail the same way. */
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL), KWQ_ECONN));
    assert_clean_errstr(c);
    kwq_client_free(c);
}

/* Loopback TCP port 1: nothing listens, the connection is refused at once. */
Test(conn_nosrv, refused_tcp_port_is_econn_without_the_password)
{
    struct kwq_client *c = new_client("redis://:" PASSWORD "@127.0.0.1:1/0", NULL);
    const char *red;

    cr_assert(eq(int, kwq_client_connect(c), KWQ_ECONN));
    assert_clean_errstr(c);
    red = kwq_client_url_redacted(c);
    cr_assert(red != NULL);
    cr_assert(not(tp_contains(red, PASSWORD)), "redacted URL: %s", red);
    cr_assert(tp_contains(red, "***"), "redacted URL: %s", red);
    cr_assert(tp_contains(red, "127.0.0.1:1"), "redacted URL: %s", red);
    kwq_client_free(c);
}

Test(conn_nosrv, bad_urls_are_einval)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379/0",
        "redis://",
        "redis://127.0.0.1:notaport/0",
        "redis://127.0.0.1:70000/0",
        "redis://127.0.0.1:-1/0",
        "redis://127.0.0.1:6379/x",
        "redis://127.0.0.1:6379/-1",
        "redis://:" PASSWORD "@127.0.0.1:99999/0",
        "unix://",
        "unix:///tmp/redis.sock?db=abc",
        "unix:///tmp/redis.sock?db=",
        "",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kwq_client *c = new_client(bad[i], NULL);
        int rc = kwq_client_connect(c);
        cr_assert(eq(int, rc, KWQ_EINVAL), "URL '%s': %s (%s)", bad[i], kwq_err_name(rc),
                  kwq_client_errstr(c));
        assert_clean_errstr(c);
        cr_assert(not(kwq_client_is_connected(c)));
        kwq_client_free(c);
    }
}

/*
 * A server that accepts the connection but never answers (a socket that is
 * listened on and never read): the command timeout ends the wait.
 */
Test(conn_nosrv, silent_server_times_out)
{
    char dir[] = "/tmp/kwq-silent-XXXXXX";
    char url[160];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct kwq_client_opts o;
    struct kwq_client *c;
    int fd, rc;

    cr_assert(mkdtemp(dir) != NULL);
    (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.sock", dir);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(ge(int, fd, 0));
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0), "%s", strerror(errno));
    cr_assert(eq(int, listen(fd, 4), 0));
    (void)snprintf(url, sizeof(url), "unix://%s", sa.sun_path);

    kwq_client_opts_init(&o);
    o.url = url;
    o.connect_timeout_ms = 300;
    o.command_timeout_ms = 300;
    c = kwq_client_new(&o);
    cr_assert(c != NULL);
    rc = kwq_client_connect(c);
    cr_assert(eq(int, rc, KWQ_ETIMEOUT), "%s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    assert_clean_errstr(c);
    cr_assert(not(kwq_client_is_connected(c)));
    kwq_client_free(c);
    (void)close(fd);
    (void)unlink(sa.sun_path);
    (void)rmdir(dir);
}

/* ---- With a server --------------------------------------------------------- */

TestSuite(conn, .init = redis_setup, .fini = redis_teardown);

Test(conn, url_from_environment)
{
    struct kwq_client *c;

    cr_assert(eq(int, setenv("KWQ_REDIS_URL", test_redis.url, 1), 0));
    c = new_client(NULL, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    tp_assert_str_eq(kwq_client_url_redacted(c), test_redis.url);
    kwq_client_free(c);
}

Test(conn, db_from_the_url_is_selected)
{
    char url[400];
    struct kwq_client *c;
    redisContext *r = tp_redis();
    const char *dbsize[] = {"DBSIZE"};
    const char *select3[] = {"SELECT", "3"};
    redisReply *rep;

    (void)snprintf(url, sizeof(url), "%s?db=3", test_redis.url);
    c = tp_client(url);
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(llong, tp_redis_int(r, 1, dbsize), 0));
    rep = redisCommandArgv(r, 2, select3, NULL);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(gt(llong, tp_redis_int(r, 1, dbsize), 0));
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 1));
    redisFree(r);
    kwq_client_free(c);
}

/* A db the server does not have is the URL's fault, not an unreachable Redis. */
Test(conn, db_out_of_range_is_einval)
{
    char url[400], want[600];
    struct kwq_client *c;

    (void)snprintf(url, sizeof(url), "%s?db=99", test_redis.url);
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EINVAL), "%s", kwq_client_errstr(c));
    (void)snprintf(want, sizeof(want),
                   "Redis at %s has fewer databases than the URL's db (DB index is out of range); "
                   "use a db below its 'databases' setting (16 by default)",
                   url);
    tp_assert_str_eq(kwq_client_errstr(c), want);
    cr_assert(not(kwq_client_is_connected(c)));
    kwq_client_free(c);
}

/* Run an admin command (CONFIG SET, REPLICAOF) through a plain connection: it must say OK. */
static void admin(int argc, const char **argv)
{
    redisContext *r = tp_redis();
    redisReply *rep = redisCommandArgv(r, argc, argv, NULL);

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "%s: %s", argv[0],
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    redisFree(r);
}

static void config_set(const char *name, const char *value)
{
    admin(4, (const char *[]){"CONFIG", "SET", name, value});
}

/*
 * At maxmemory (noeviction) an enqueue is refused: KWQ_EOOM, a transient
 * error on a connection that stays usable, apart from the queue's own
 * max_tasks limit (KWQ_EFULL); the same call succeeds once memory is free.
 */
Test(conn, enqueue_at_maxmemory_is_a_transient_eoom)
{
    struct kwq_client *c = tp_client(test_redis.url);
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    int rc;

    tp_enqueue(c, TP_QUEUE, "before", NULL);
    config_set("maxmemory", "1");
    rc = kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL);
    cr_assert(eq(int, rc, KWQ_EOOM), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(kwq_err_is_transient(rc));
    cr_assert(tp_contains(kwq_client_errstr(c), "is at its maxmemory limit and refused the write "
                                                "(OOM); let workers drain queues or raise "
                                                "maxmemory"),
              "%s", kwq_client_errstr(c));
    cr_assert(kwq_client_is_connected(c));
    config_set("maxmemory", "0");
    cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).enqueued, 2));
    kwq_client_free(c);
}

/*
 * A script running past busy-reply-threshold makes Redis answer BUSY: a
 * passing state (KWQ_ECONN, the connection dropped), never a permanent
 * error; once the script is killed, connecting works again.
 */
Test(conn, busy_script_is_a_passing_econn)
{
    struct kwq_client *c = tp_client(test_redis.url);
    redisContext *r = tp_redis();
    redisReply *rep;
    struct kwq_stats st;
    pid_t pid;
    int rc, status = 0;

    config_set("busy-reply-threshold", "50");
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        redisContext *busy = tp_redis();

        rep = redisCommand(busy, "EVAL %s 0", "while true do end");
        /* Killed by SCRIPT KILL: an error reply. */
        _exit(rep && rep->type == REDIS_REPLY_ERROR ? 0 : 81);
    }
    /* Until the script runs: then every plain command answers BUSY. */
    for (int i = 0;; i++) {
        struct timespec ts = {0, 5L * 1000 * 1000};
        bool busy;

        rep = redisCommand(r, "GET x");
        cr_assert(rep != NULL);
        busy = rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSY ", 5) == 0;
        freeReplyObject(rep);
        if (busy)
            break;
        cr_assert(i < 2000, "the script never made Redis busy");
        (void)nanosleep(&ts, NULL);
    }
    rc = kwq_stats(c, TP_QUEUE, &st);
    cr_assert(eq(int, rc, KWQ_ECONN), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "is busy running a script past its time limit "
                                                "(BUSY); retry in a moment"),
              "%s", kwq_client_errstr(c));
    cr_assert(not(kwq_client_is_connected(c)));
    rc = kwq_client_connect(c);
    cr_assert(eq(int, rc, KWQ_ECONN), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    rep = redisCommand(r, "SCRIPT KILL");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "%s", rep ? rep->str : "?");
    freeReplyObject(rep);
    cr_assert(eq(int, waitpid(pid, &status, 0), pid));
    cr_assert(eq(int, status, 0));
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "after", NULL);
    redisFree(r);
    kwq_client_free(c);
}

/* A password for a server whose default user has none: an authorisation error that says so. */
Test(conn, password_for_a_server_without_one_is_eauth)
{
    struct kwq_client *c = new_client(test_redis.url, WRONG_PASSWORD);

    cr_assert(eq(int, kwq_client_connect(c), KWQ_EAUTH), "%s", kwq_client_errstr(c));
    cr_assert(
        tp_contains(kwq_client_errstr(c), "a password was given but this Redis user has none"),
        "%s", kwq_client_errstr(c));
    assert_clean_errstr(c);
    kwq_client_free(c);
}

/* Processes the caller starts (handlers, workers) never inherit the connection. */
Test(conn, connection_is_close_on_exec)
{
    struct kwq_client *c = tp_client(test_redis.url);
    int fd;

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    fd = kwq_client_fd(c);
    cr_assert(ge(int, fd, 0));
    cr_assert(eq(int, fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC));
    kwq_client_free(c);
}

/* A server that may evict keys is refused, naming both policies. */
Test(conn, eviction_policy_is_refused)
{
    redisContext *r = tp_redis();
    struct kwq_client *c = new_client(test_redis.url, NULL);
    redisReply *rep;

    rep = redisCommand(r, "CONFIG SET maxmemory-policy volatile-ttl");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EPOLICY));
    cr_assert(tp_contains(kwq_client_errstr(c), "noeviction"), "%s", kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "volatile-ttl"), "%s", kwq_client_errstr(c));
    cr_assert(not(kwq_client_is_connected(c)));

    rep = redisCommand(r, "CONFIG SET maxmemory-policy noeviction");
    freeReplyObject(rep);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    redisFree(r);
    kwq_client_free(c);
}

/* A command that does not return within command_timeout_ms is KWQ_ETIMEOUT. */
Test(conn, paused_server_times_out)
{
    struct kwq_client_opts o;
    struct kwq_client *c, *c2;
    redisContext *r = tp_redis();
    struct kwq_stats s;
    redisReply *rep;
    int rc;

    kwq_client_opts_init(&o);
    o.command_timeout_ms = 200;
    c = tp_client_opts(&o);
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    rep = redisCommand(r, "CLIENT PAUSE 1500 ALL");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rc = kwq_stats(c, TP_QUEUE, &s);
    cr_assert(eq(int, rc, KWQ_ETIMEOUT), "%s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    assert_clean_errstr(c);
    cr_assert(not(kwq_client_is_connected(c)));
    /* A client with the default timeout waits the pause out. */
    c2 = tp_client(NULL);
    s = tp_stats(c2, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 1));
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 1));
    redisFree(r);
    kwq_client_free(c);
    kwq_client_free(c2);
}

Test(conn, killed_server_is_a_clean_error_and_reconnect_works)
{
    struct kwq_client *c = new_client(test_redis.url, NULL);
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    struct kwq_lease_result lr;
    struct kwq_stats s;
    int rc;

    cr_assert(eq(int, kwq_client_connect(c), 0));
    tp_enqueue(c, TP_QUEUE, "before", NULL);
    redis_fixture_kill(&test_redis);

    rc = kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL);
    cr_assert(rc == KWQ_ECONN || rc == KWQ_ETIMEOUT, "enqueue: %s", kwq_err_name(rc));
    assert_clean_errstr(c);
    cr_assert(not(kwq_client_is_connected(c)));
    rc = kwq_lease(c, TP_QUEUE, 1, 60000, 1000, &lr);
    cr_assert(rc == KWQ_ECONN || rc == KWQ_ETIMEOUT, "lease: %s", kwq_err_name(rc));
    rc = kwq_stats(c, TP_QUEUE, &s);
    cr_assert(rc == KWQ_ECONN || rc == KWQ_ETIMEOUT, "stats: %s", kwq_err_name(rc));
    cr_assert(eq(int, kwq_client_connect(c), KWQ_ECONN));

    redis_fixture_restart(&test_redis);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "after", NULL);
    kwq_client_free(c);
}

/* The server dies while the client is blocked waiting for work. */
Test(conn, server_killed_during_a_blocking_wait)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result lr;
    pid_t server = test_redis.pid;
    pid_t pid;
    int rc, st = 0;

    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
        redisContext *r = redisConnectUnixWithTimeout(test_redis.sock, tv);
        if (!r || r->err)
            _exit(80);
        if (tp_wait_blocked_clients(r, 1) != 0)
            _exit(79);
        _exit(kill(server, SIGKILL) == 0 ? 0 : 81);
    }
    memset(&lr, 0, sizeof(lr));
    rc = kwq_lease(c, TP_QUEUE, 1, 60000, 60000, &lr);
    cr_assert(rc == KWQ_ECONN || rc == KWQ_ETIMEOUT, "lease: %d %s", rc, kwq_err_name(rc));
    assert_clean_errstr(c);
    cr_assert(not(kwq_client_is_connected(c)));
    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    cr_assert(eq(int, st, 0));
    redis_fixture_kill(&test_redis); /* reap the killed server */
    kwq_client_free(c);
}

/* ---- Passwords --------------------------------------------------------------- */

/*
 * The fixture's readiness PING has no password, so the password is set once
 * the server answers; teardown's unauthenticated SHUTDOWN then falls back to
 * SIGKILL.
 */
static void auth_setup(void)
{
    redisContext *r;
    redisReply *rep;

    redis_setup();
    r = tp_redis();
    rep = redisCommand(r, "CONFIG SET requirepass %s", PASSWORD);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(r);
}

TestSuite(conn_auth, .init = auth_setup, .fini = redis_teardown);

Test(conn_auth, wrong_password_is_eauth)
{
    struct kwq_client *c = new_client(test_redis.url, WRONG_PASSWORD);

    cr_assert(eq(int, kwq_client_connect(c), KWQ_EAUTH));
    assert_clean_errstr(c);
    cr_assert(not(kwq_client_is_connected(c)));
    kwq_client_free(c);
}

Test(conn_auth, no_password_is_eauth)
{
    struct kwq_client *c;

    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD_FILE"), 0));
    c = new_client(test_redis.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EAUTH));
    assert_clean_errstr(c);
    cr_assert(tp_contains(kwq_client_errstr(c), "password"), "%s", kwq_client_errstr(c));
    kwq_client_free(c);
}

Test(conn_auth, password_from_options)
{
    struct kwq_client *c;

    /* opts.password wins over the environment. */
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", WRONG_PASSWORD, 1), 0));
    c = new_client(test_redis.url, PASSWORD);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    kwq_client_free(c);
}

Test(conn_auth, password_from_environment)
{
    struct kwq_client *c;

    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", PASSWORD, 1), 0));
    c = new_client(test_redis.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    kwq_client_free(c);
}

/*
 * Write text to a password file in the server's dir, e.g. the password with
 * the newline that a Kubernetes Secret made from a file keeps.
 */
static void write_password_file(char *path, size_t len, const char *text)
{
    FILE *f;

    (void)snprintf(path, len, "%s/password", test_redis.dir);
    f = fopen(path, "w");
    cr_assert(f != NULL);
    cr_assert(ge(int, fputs(text, f), 0));
    cr_assert(eq(int, fclose(f), 0));
}

Test(conn_auth, password_from_file_option)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    char path[400];

    write_password_file(path, sizeof(path), PASSWORD "\n");
    /* The file option wins over the environment. */
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", WRONG_PASSWORD, 1), 0));
    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    o.password_file = path;
    c = kwq_client_new(&o);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    kwq_client_free(c);
}

Test(conn_auth, password_file_from_environment)
{
    struct kwq_client *c;
    char path[400];

    write_password_file(path, sizeof(path), PASSWORD "\n");
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD_FILE", path, 1), 0));
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", WRONG_PASSWORD, 1), 0));
    c = new_client(test_redis.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    kwq_client_free(c);
}

/* The one newline a Secret or `echo` leaves goes, from the environment as from a file. */
Test(conn_auth, environment_password_loses_one_trailing_newline)
{
    struct kwq_client *c;

    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD_FILE"), 0));
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", PASSWORD "\n", 1), 0));
    c = new_client(test_redis.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", PASSWORD "\r\n", 1), 0));
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    /* Two lines are a mistake, said as such rather than sent as a wrong password. */
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", PASSWORD "\n\n", 1), 0));
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EINVAL));
    tp_assert_str_eq(kwq_client_errstr(c), "KWQ_REDIS_PASSWORD holds a line break inside: a "
                                           "password is one line (one trailing newline is "
                                           "dropped)");
    kwq_client_free(c);
}

Test(conn_auth, password_file_with_crlf_or_a_second_line)
{
    struct kwq_client *c;
    char path[400], want[600];

    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    write_password_file(path, sizeof(path), PASSWORD "\r\n");
    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD_FILE", path, 1), 0));
    c = new_client(test_redis.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    write_password_file(path, sizeof(path), PASSWORD "\n# a comment\n");
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EINVAL));
    (void)snprintf(want, sizeof(want),
                   "the password file %s holds a line break inside: a password is one line (one "
                   "trailing newline is dropped)",
                   path);
    tp_assert_str_eq(kwq_client_errstr(c), want);
    assert_clean_errstr(c);
    kwq_client_free(c);
}

Test(conn_auth, unreadable_password_file_is_einval)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    char path[400];

    (void)snprintf(path, sizeof(path), "%s/no-such-password-file", test_redis.dir);
    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    o.password_file = path;
    c = kwq_client_new(&o);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EINVAL));
    cr_assert(tp_contains(kwq_client_errstr(c), path), "%s", kwq_client_errstr(c));
    kwq_client_free(c);
}

/* ---- TCP on loopback: the password and db in a redis:// URL --------------- */

static char tcp_port[16];

static void tcp_setup(void)
{
    static const char *args[] = {"--port", tcp_port, "--bind", "127.0.0.1", NULL};
    redisContext *r;
    redisReply *rep;

    tp_free_port(tcp_port, sizeof(tcp_port));
    redis_fixture_start(&test_redis, args);
    r = tp_redis();
    rep = redisCommand(r, "CONFIG SET requirepass %s", PASSWORD);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(r);
}

TestSuite(conn_tcp, .init = tcp_setup, .fini = redis_teardown);

/* redis://:pw@127.0.0.1:<port>/2 with the test's port, into buf. */
static void tcp_url(char *buf, size_t len, const char *pw, const char *db)
{
    (void)snprintf(buf, len, "redis://%s%s%s127.0.0.1:%s%s", pw ? ":" : "", pw ? pw : "",
                   pw ? "@" : "", tcp_port, db);
}

Test(conn_tcp, password_and_db_from_the_url)
{
    char url[200];
    struct kwq_client *c;
    const char *red;
    redisContext *r;
    redisReply *rep;

    tcp_url(url, sizeof(url), PASSWORD, "/2");
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "over tcp", NULL);
    red = kwq_client_url_redacted(c);
    cr_assert(not(tp_contains(red, PASSWORD)), "redacted URL: %s", red);
    cr_assert(tp_contains(red, "***"), "redacted URL: %s", red);
    cr_assert(tp_contains(red, tcp_port), "redacted URL: %s", red);

    r = tp_redis();
    rep = redisCommand(r, "AUTH %s", PASSWORD);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rep = redisCommand(r, "SELECT 2");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert(eq(llong, tp_key_len(r, "LLEN", TP_QUEUE, "pending"), 1));
    redisFree(r);
    kwq_client_free(c);
}

Test(conn_tcp, wrong_password_in_the_url_is_eauth)
{
    char url[200];
    struct kwq_client *c;

    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD_FILE"), 0));
    tcp_url(url, sizeof(url), WRONG_PASSWORD, "/0");
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EAUTH));
    assert_clean_errstr(c);
    kwq_client_free(c);
}

/* The environment's password wins over the URL's; no db means db 0. */
Test(conn_tcp, environment_password_wins_over_the_url)
{
    char url[200];
    struct kwq_client *c;

    cr_assert(eq(int, setenv("KWQ_REDIS_PASSWORD", PASSWORD, 1), 0));
    tcp_url(url, sizeof(url), WRONG_PASSWORD, "");
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "x", NULL);
    kwq_client_free(c);
}

/* Run ACL SETUSER name with rules (space-separated) as the default user. */
static void acl_user(const char *name, const char *rules)
{
    redisContext *r = tp_redis();
    const char *argv[32] = {"ACL", "SETUSER", name};
    char buf[512];
    int argc = 3;
    redisReply *rep;

    rep = redisCommand(r, "AUTH %s", PASSWORD);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    (void)snprintf(buf, sizeof(buf), "%s", rules);
    for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " "))
        argv[argc++] = t;
    rep = redisCommandArgv(r, argc, argv, NULL);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "ACL SETUSER %s: %s", name,
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    redisFree(r);
}

/* The least-privilege ACL that docs/PROTOCOL.md gives is enough for every operation. */
Test(conn_tcp, documented_acl_user_can_do_everything)
{
    char url[200];
    struct kwq_client *c;
    struct kwq_task t;
    struct kwq_lease_result lr;
    struct kwq_result *res = NULL;
    size_t nres = 0;
    int st = 1;
    struct kwq_fail_outcome fo;
    bool d = false;

    acl_user("kwqapp", "reset on >apppw ~kwq:* resetchannels +@read +@write +@scripting "
                       "+@connection +@blocking +time +info +select");
    (void)snprintf(url, sizeof(url), "redis://kwqapp:apppw@127.0.0.1:%s", tcp_port);
    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_enqueue(c, TP_QUEUE, "a", NULL);
    tp_enqueue(c, TP_QUEUE, "b", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    {
        struct kwq_ack ack = {.id = t.id, .token = t.token, .result = "r", .result_len = 1};
        cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &ack, 1, &st), 0), "%s", kwq_client_errstr(c));
        cr_assert(eq(int, st, 0));
    }
    kwq_task_done(&t);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    {
        struct kwq_failure f = {.id = t.id, .token = t.token, .error = "no", .no_retry = true};
        cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &fo), 0), "%s", kwq_client_errstr(c));
        cr_assert(fo.dead);
    }
    kwq_task_done(&t);
    cr_assert(eq(int, kwq_dead_requeue(c, TP_QUEUE, NULL, 0), 1), "%s", kwq_client_errstr(c));
    cr_assert(eq(int, kwq_seal(c, TP_QUEUE), 0));
    cr_assert(eq(int, kwq_drained(c, TP_QUEUE, &d), 0));
    cr_assert(not(d));
    /* A lease that may wait (BLPOP) and the results stream (XREAD) too. */
    memset(&lr, 0, sizeof(lr));
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 5, 60000, 10, &lr), 1), "%s", kwq_client_errstr(c));
    cr_assert(eq(sz, lr.n, 1));
    kwq_lease_result_done(&lr);
    memset(&lr, 0, sizeof(lr));
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, 5, 60000, 10, &lr), 0), "%s", kwq_client_errstr(c));
    kwq_lease_result_done(&lr);
    cr_assert(eq(int, kwq_results_read(c, TP_QUEUE, "0", 10, 0, &res, &nres), 0), "%s",
              kwq_client_errstr(c));
    cr_assert(eq(sz, nres, 1));
    kwq_results_free(res, nres);
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).done, 1));
    /* The registry and the read-only stats too. */
    {
        struct kwq_stats ro;
        char **names = NULL;
        size_t n = 0;

        cr_assert(eq(int, kwq_stats_read(c, TP_QUEUE, &ro), 0), "%s", kwq_client_errstr(c));
        cr_assert(eq(u64, ro.done, 1));
        cr_assert(eq(int, kwq_queues_list(c, &names, &n), 0), "%s", kwq_client_errstr(c));
        cr_assert(eq(sz, n, 1));
        tp_assert_str_eq(names[0], TP_QUEUE);
        kwq_queues_free(names, n);
        cr_assert(eq(int, kwq_queue_forget(c, TP_QUEUE), 1), "%s", kwq_client_errstr(c));
    }
    kwq_client_free(c);
}

/* A user without the scripting commands: one clear permission error, not a Redis error. */
Test(conn_tcp, user_without_permission_is_enoperm)
{
    char url[200];
    struct kwq_client *c;

    acl_user("nolua", "reset on >pw2 ~kwq:* resetchannels +@connection +info +select");
    (void)snprintf(url, sizeof(url), "redis://nolua:pw2@127.0.0.1:%s", tcp_port);
    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_ENOPERM), "%s", kwq_client_errstr(c));
    cr_assert(not(kwq_err_is_transient(KWQ_ENOPERM)));
    cr_assert(tp_contains(kwq_client_errstr(c), "the Redis user may not do what kwq needs (NOPERM"),
              "%s", kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "docs/PROTOCOL.md"), "%s", kwq_client_errstr(c));
    assert_clean_errstr(c);
    kwq_client_free(c);
}

/* Permission for the scripts but not for this queue's keys: the operation is KWQ_ENOPERM. */
Test(conn_tcp, operation_on_keys_not_granted_is_enoperm)
{
    char url[200];
    struct kwq_client *c;
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    int rc;

    acl_user("otherq", "reset on >pw3 ~kwq:{other}:* ~kwq:queues resetchannels +@read +@write "
                       "+@scripting +@connection +@blocking +time +info +select");
    (void)snprintf(url, sizeof(url), "redis://otherq:pw3@127.0.0.1:%s", tcp_port);
    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    rc = kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL);
    cr_assert(eq(int, rc, KWQ_ENOPERM), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(kwq_err_is_config(rc));
    cr_assert(tp_contains(kwq_client_errstr(c), "grant it the ACL rules in docs/PROTOCOL.md"), "%s",
              kwq_client_errstr(c));
    cr_assert(eq(int, kwq_enqueue(c, "other", &t, 1, NULL, NULL), 0), "%s", kwq_client_errstr(c));
    kwq_client_free(c);
}

/*
 * A user granted its queue's keys but not the registry: the enqueue says so
 * (KWQ_ENOPERM naming kwq:queues), though its tasks went in, as accepted says.
 */
Test(conn_tcp, enqueue_without_the_registry_key_is_enoperm)
{
    char url[200];
    struct kwq_client *c;
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    size_t accepted = 99;
    int rc;

    acl_user("noreg", "reset on >pw4 ~kwq:{other}:* resetchannels +@read +@write +@scripting "
                      "+@connection +@blocking +time +info +select");
    (void)snprintf(url, sizeof(url), "redis://noreg:pw4@127.0.0.1:%s", tcp_port);
    cr_assert(eq(int, unsetenv("KWQ_REDIS_PASSWORD"), 0));
    c = new_client(url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    rc = kwq_enqueue(c, "other", &t, 1, NULL, &accepted);
    cr_assert(eq(int, rc, KWQ_ENOPERM), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    tp_assert_str_eq(kwq_client_errstr(c),
                     "the Redis user may not add queue 'other' to the queue registry kwq:queues "
                     "(NOPERM); grant it the key ~kwq:queues (docs/PROTOCOL.md \"Client rules\")");
    cr_assert(eq(sz, accepted, 1));
    cr_assert(eq(u64, tp_stats(c, "other").pending, 1));
    kwq_client_free(c);
}

/* ---- A replica, and a master demoted under a client -------------------------- */

static char master_port[16];

/* The master listens on loopback too, so that a replica can follow it. */
static void repl_setup(void)
{
    static const char *args[] = {"--port", master_port, "--bind", "127.0.0.1", NULL};

    tp_free_port(master_port, sizeof(master_port));
    redis_fixture_start(&test_redis, args);
}

TestSuite(conn_repl, .init = repl_setup, .fini = redis_teardown);

/* A URL that points at a replica: a configuration error at connect that names its master. */
Test(conn_repl, replica_is_refused_at_connect)
{
    static const char *args[] = {"--replicaof", "127.0.0.1", master_port, NULL};
    struct redis_fixture replica = {.pid = 0};
    struct kwq_client *c;
    char want[600];
    redisContext *r;
    const char *dbsize[] = {"DBSIZE"};

    redis_fixture_start(&replica, args);
    c = new_client(replica.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EREADONLY), "%s", kwq_client_errstr(c));
    (void)snprintf(want, sizeof(want),
                   "Redis at %s is a read-only replica of 127.0.0.1:%s; point the Redis URL at "
                   "the master",
                   replica.url, master_port);
    tp_assert_str_eq(kwq_client_errstr(c), want);
    cr_assert(not(kwq_client_is_connected(c)));
    cr_assert(kwq_err_is_config(KWQ_EREADONLY));
    cr_assert(not(kwq_err_is_transient(KWQ_EREADONLY)));
    /* Nothing reached the master. */
    r = tp_redis();
    cr_assert(eq(llong, tp_redis_int(r, 1, dbsize), 0));
    redisFree(r);
    kwq_client_free(c);
    redis_fixture_stop(&replica);
}

/* Make the fixture's server a replica of a port where nothing listens. */
static void demote(const char *port)
{
    admin(3, (const char *[]){"REPLICAOF", "127.0.0.1", port});
}

/*
 * The master becomes a replica after connect (a failover): the next write is
 * KWQ_EREADONLY, permanent, not a lost connection to retry; connecting again
 * says the URL points at a replica.
 */
Test(conn_repl, master_demoted_after_connect_is_ereadonly)
{
    struct kwq_client *c = tp_client(test_redis.url);
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    struct kwq_lease_result lr = {.n = 0};
    char nowhere[16];
    int rc;

    tp_enqueue(c, TP_QUEUE, "before", NULL);
    tp_free_port(nowhere, sizeof(nowhere));
    demote(nowhere);
    rc = kwq_enqueue(c, TP_QUEUE, &t, 1, NULL, NULL);
    cr_assert(eq(int, rc, KWQ_EREADONLY), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(not(kwq_err_is_transient(rc)));
    cr_assert(tp_contains(kwq_client_errstr(c), "the URL points at a replica; use the master"),
              "%s", kwq_client_errstr(c));
    rc = kwq_lease(c, TP_QUEUE, 1, 60000, 0, &lr);
    cr_assert(eq(int, rc, KWQ_EREADONLY), "%s: %s", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EREADONLY), "%s", kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "is a read-only replica of 127.0.0.1:"), "%s",
              kwq_client_errstr(c));
    kwq_client_free(c);
}

/* Demoted while a lease waits on the wake list: the wait ends, and reconnecting says why. */
Test(conn_repl, master_demoted_during_a_blocking_wait)
{
    struct kwq_client *c = tp_client(test_redis.url);
    struct kwq_lease_result lr;
    char nowhere[16];
    pid_t pid;
    int rc, st = 0;

    tp_free_port(nowhere, sizeof(nowhere));
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
        redisContext *r = redisConnectUnixWithTimeout(test_redis.sock, tv);
        redisReply *rep;

        if (!r || r->err || tp_wait_blocked_clients(r, 1) != 0)
            _exit(80);
        rep = redisCommand(r, "REPLICAOF 127.0.0.1 %s", nowhere);
        _exit(rep && rep->type == REDIS_REPLY_STATUS ? 0 : 81);
    }
    memset(&lr, 0, sizeof(lr));
    rc = kwq_lease(c, TP_QUEUE, 1, 60000, 60000, &lr);
    cr_assert(eq(int, rc, KWQ_ECONN), "lease: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    cr_assert(eq(int, st, 0));
    cr_assert(eq(int, kwq_client_connect(c), KWQ_EREADONLY), "%s", kwq_client_errstr(c));
    kwq_client_free(c);
}

/* ---- A server still loading its data ------------------------------------------ */

static void loading_setup(void)
{
    static const char *const args[] = {"--appendonly", "yes", "--enable-debug-command", "local",
                                       NULL};

    redis_fixture_start(&test_redis, args);
}

TestSuite(conn_loading, .init = loading_setup, .fini = redis_teardown);

/* The integer after "name:" in INFO persistence; -1 when absent. */
static long persistence_field(redisContext *r, const char *name)
{
    redisReply *rep = redisCommand(r, "INFO persistence");
    const char *p;
    long v = -1;

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING);
    p = strstr(rep->str, name);
    if (p)
        v = strtol(p + strlen(name) + 1, NULL, 10);
    freeReplyObject(rep);
    return v;
}

/*
 * After a restart Redis replays its data and refuses scripts until it is
 * done: connecting then is a passing KWQ_ECONN that says so (the worker
 * retries it with backoff, kwq exits 69), never a session on half the data.
 */
Test(conn_loading, loading_server_is_a_passing_econn)
{
    /* 20,000 keys loaded at >= 100 us each: seconds of loading, served meanwhile. */
    static const char *const slow[] = {"--key-load-delay", "100",
                                       "--loading-process-events-interval-bytes", "1024", NULL};
    redisContext *r = tp_redis();
    struct kwq_client *c;
    redisReply *rep;

    rep = redisCommand(r, "DEBUG POPULATE 20000");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "%s", rep ? rep->str : "?");
    freeReplyObject(rep);
    rep = redisCommand(r, "BGREWRITEAOF");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS, "%s", rep ? rep->str : "?");
    freeReplyObject(rep);
    for (int i = 0; persistence_field(r, "aof_rewrite_in_progress") != 0; i++) {
        struct timespec ts = {0, 10L * 1000 * 1000};

        cr_assert(i < 6000, "the AOF rewrite did not finish");
        (void)nanosleep(&ts, NULL);
    }
    redisFree(r);
    redis_fixture_restart_loading(&test_redis, slow);

    c = new_client(test_redis.url, NULL);
    cr_assert(eq(int, kwq_client_connect(c), KWQ_ECONN), "%s", kwq_client_errstr(c));
    cr_assert(
        tp_contains(kwq_client_errstr(c), "is still loading its data set into memory (LOADING, "),
        "%s", kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "% done); retry in a moment"), "%s",
              kwq_client_errstr(c));
    cr_assert(not(kwq_client_is_connected(c)));
    kwq_client_free(c);
}

/* ---- Eviction policy given at start ------------------------------------------- */

static void lru_setup(void)
{
    static const char *const args[] = {"--maxmemory-policy", "allkeys-lru", NULL};

    redis_fixture_start(&test_redis, args);
}

TestSuite(conn_lru, .init = lru_setup, .fini = redis_teardown);

Test(conn_lru, allkeys_lru_is_epolicy)
{
    struct kwq_client *c = new_client(test_redis.url, NULL);
    redisContext *r;
    const char *dbsize[] = {"DBSIZE"};

    cr_assert(eq(int, kwq_client_connect(c), KWQ_EPOLICY));
    cr_assert(tp_contains(kwq_client_errstr(c), "'noeviction'"), "%s", kwq_client_errstr(c));
    cr_assert(tp_contains(kwq_client_errstr(c), "allkeys-lru"), "%s", kwq_client_errstr(c));
    assert_clean_errstr(c);
    cr_assert(not(kwq_client_is_connected(c)));
    /* Refused before anything was written. */
    r = tp_redis();
    cr_assert(eq(llong, tp_redis_int(r, 1, dbsize), 0));
    redisFree(r);
    kwq_client_free(c);
}

/* ---- Restart with AOF --------------------------------------------------------- */

static void aof_setup(void)
{
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, args);
}

TestSuite(conn_aof, .init = aof_setup, .fini = redis_teardown);

/*
 * SIGKILL, then restart: every enqueue that was acknowledged is there with
 * its exact payload and order; acked tasks stay done; a held lease is kept.
 */
Test(conn_aof, restart_keeps_every_acknowledged_enqueue, .timeout = 120)
{
    enum { N = 1000, ACKED = 100 };
    struct kwq_client *c = tp_client(NULL);
    unsigned char bin[256];
    struct kwq_lease_result lr;
    struct kwq_stats s;
    struct kwq_task t;
    size_t next = ACKED;
    int rc;

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(255 - i);
    for (size_t b = 0; b < 10; b++) {
        char prefix[16];
        (void)snprintf(prefix, sizeof(prefix), "b%zu-", b);
        tp_enqueue_n(c, TP_QUEUE, prefix, N / 10);
    }
    tp_enqueue_bin(c, TP_QUEUE, bin, sizeof(bin), NULL);
    cr_assert(eq(int, kwq_lease(c, TP_QUEUE, ACKED, 60000, 0, &lr), ACKED));
    for (size_t i = 0; i < lr.n; i++)
        tp_ack1(c, TP_QUEUE, &lr.tasks[i]);
    kwq_lease_result_done(&lr);
    tp_lease1(c, TP_QUEUE, 600000, 0, &t); /* held across the restart */
    next++;

    redis_fixture_restart(&test_redis);
    rc = kwq_stats(c, TP_QUEUE, &s);
    cr_assert(rc == KWQ_ECONN || rc == KWQ_ETIMEOUT, "stats on a dead connection: %s",
              kwq_err_name(rc));
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));

    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.enqueued, N + 1));
    cr_assert(eq(u64, s.done, ACKED));
    cr_assert(eq(u64, s.leased, 1));
    cr_assert(eq(u64, s.pending, N + 1 - ACKED - 1));
    /* The held lease is still valid. */
    tp_ack1(c, TP_QUEUE, &t);
    kwq_task_done(&t);

    while (next < N) {
        cr_assert(
            gt(int, kwq_lease(c, TP_QUEUE, N - next < 300 ? N - next : 300, 60000, 0, &lr), 0));
        for (size_t i = 0; i < lr.n; i++, next++) {
            char want[32];
            (void)snprintf(want, sizeof(want), "b%zu-%zu", next / 100, next % 100);
            tp_assert_str_eq(lr.tasks[i].payload, want);
        }
        kwq_lease_result_done(&lr);
    }
    cr_assert(eq(sz, next, N));
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    cr_assert(eq(sz, t.payload_len, sizeof(bin)));
    cr_assert(eq(int, memcmp(t.payload, bin, sizeof(bin)), 0));
    kwq_task_done(&t);
    tp_lease_none(c, TP_QUEUE);
    kwq_client_free(c);
}
