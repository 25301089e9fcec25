/*
 * redis_fixture.c - start and stop a private redis-server for one test.
 *
 * Criterion runs every test in its own process and several at once, so each
 * test gets a server in a fresh mkdtemp dir listening only on a unix socket
 * (--port 0). The server dies with the test process (PR_SET_PDEATHSIG) even
 * when the test crashes.
 */
#include "redis_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

struct redis_fixture test_redis;

static void spawn(struct redis_fixture *f)
{
    const char *argv[64];
    char logfile[320];
    size_t n = 0;

    (void)snprintf(logfile, sizeof(logfile), "%s/redis.log", f->dir);
    argv[n++] = KWQ_TEST_REDIS_SERVER;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--unixsocket";
    argv[n++] = f->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    argv[n++] = "--dir";
    argv[n++] = f->dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--logfile";
    argv[n++] = logfile;
    for (size_t i = 0; f->extra[i] && i < REDIS_FIXTURE_MAX_ARGS; i++)
        argv[n++] = f->extra[i];
    argv[n] = NULL;

    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    f->pid = pid;
}

/* 1 when the server answers PING; with any_reply, also when it answers -LOADING. */
static int ping(const struct redis_fixture *f, int any_reply)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *c = redisConnectUnixWithTimeout(f->sock, tv);
    int ok = 0;

    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        /* A server still loading its AOF answers -LOADING: not ready yet. */
        ok = r && (r->type == REDIS_REPLY_STATUS || (any_reply && r->type == REDIS_REPLY_ERROR));
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

static void wait_ready(struct redis_fixture *f, int any_reply)
{
    for (int i = 0; i < 2000; i++) {
        int st;
        if (ping(f, any_reply))
            return;
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            f->pid = 0;
            cr_assert_fail("redis-server exited during start-up; see %s/redis.log", f->dir);
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("redis-server did not answer PING within 10s");
}

void redis_fixture_start(struct redis_fixture *f, const char *const *extra)
{
    const char *tmp = getenv("TMPDIR");
    size_t i = 0;

    memset(f, 0, sizeof(*f));
    (void)snprintf(f->dir, sizeof(f->dir), "%s/kwq-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(f->dir) != NULL, "mkdtemp: %s", strerror(errno));
    (void)snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
    (void)snprintf(f->url, sizeof(f->url), "unix://%s", f->sock);
    for (; extra && extra[i] && i + 1 < REDIS_FIXTURE_MAX_ARGS; i++)
        f->extra[i] = extra[i];
    f->extra[i] = NULL;
    spawn(f);
    wait_ready(f, 0);
}

void redis_fixture_kill(struct redis_fixture *f)
{
    if (f->pid > 0) {
        (void)kill(f->pid, SIGKILL);
        (void)waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
}

void redis_fixture_restart(struct redis_fixture *f)
{
    redis_fixture_kill(f);
    spawn(f);
    wait_ready(f, 0);
}

void redis_fixture_restart_loading(struct redis_fixture *f, const char *const *more)
{
    size_t i = 0;

    while (f->extra[i])
        i++;
    for (size_t k = 0; more && more[k]; k++) {
        cr_assert(i + 1 < REDIS_FIXTURE_MAX_ARGS, "too many redis-server arguments");
        f->extra[i++] = more[k];
    }
    f->extra[i] = NULL;
    redis_fixture_kill(f);
    spawn(f);
    wait_ready(f, 1);
}

void redis_fixture_stop(struct redis_fixture *f)
{
    char cmd[400];

    if (f->pid > 0) {
        struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
        redisContext *c = redisConnectUnixWithTimeout(f->sock, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "SHUTDOWN NOSAVE");
            if (r)
                freeReplyObject(r);
        }
        if (c)
            redisFree(c);
        redis_fixture_kill(f);
    }
    if (f->dir[0]) {
        /* The dir holds only what the server and the test wrote there. */
        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            (void)fprintf(stderr, "could not remove %s\n", f->dir);
        f->dir[0] = '\0';
    }
}

void redis_setup(void)
{
    redis_fixture_start(&test_redis, NULL);
}

void redis_teardown(void)
{
    redis_fixture_stop(&test_redis);
}
