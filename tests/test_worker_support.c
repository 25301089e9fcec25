/*
 * test_worker_support.c - see test_worker_support.h. The waits poll with a
 * 10 ms sleep and a safety limit: they bound a broken test, they do not
 * measure anything.
 */
#include "test_worker_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "redis_fixture.h"

#define SLOTS 8

static void nap(void)
{
    struct timespec ts = {0, 10L * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

static char *slot(void)
{
    static char bufs[SLOTS][512];
    static unsigned next;

    return bufs[next++ % SLOTS];
}

const char *helper_path(const char *name)
{
    char *b = slot();

    (void)snprintf(b, 512, "%s/%s", KWQ_TEST_HELPERS_DIR, name);
    return b;
}

pid_t worker_start(const char *log, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    int fd, fds[3];
    pid_t pid;

    argv[n++] = KWQ_TEST_WORKER_BIN;
    argv[n++] = "--redis";
    argv[n++] = test_redis.url;
    argv[n++] = "--queue";
    argv[n++] = TEST_QUEUE;
    argv[n++] = "--log-format";
    argv[n++] = "json";
    for (size_t i = 0; args && args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fd = open(test_path(log), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "cannot open %s: %s", test_path(log), strerror(errno));
    fds[0] = -1;
    fds[1] = fd;
    fds[2] = fd;
    pid = test_proc_start(argv, fds);
    (void)close(fd);
    return pid;
}

int worker_wait(pid_t pid, const char *log)
{
    int code = test_proc_wait(pid, time(NULL) + SAFETY_S);

    if (code < 0)
        cr_assert_fail("worker %d did not exit within %ds; log: %s", (int)pid, SAFETY_S,
                       test_path(log));
    return code;
}

void wait_for_file(const char *path)
{
    for (int i = 0; i < SAFETY_S * 100; i++) {
        if (access(path, F_OK) == 0)
            return;
        nap();
    }
    cr_assert_fail("%s did not appear within %ds", path, SAFETY_S);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;

    if (!f)
        return NULL;
    {
        FILE *m = open_memstream(&buf, &len);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            (void)fwrite(chunk, 1, n, m);
        (void)fclose(m);
    }
    (void)fclose(f);
    return buf;
}

bool file_contains(const char *path, const char *text)
{
    char *s = slurp(path);
    bool found = s && strstr(s, text) != NULL;

    free(s);
    return found;
}

void wait_for_text(const char *path, const char *text)
{
    for (int i = 0; i < SAFETY_S * 100; i++) {
        if (file_contains(path, text))
            return;
        nap();
    }
    cr_assert_fail("'%s' did not appear in %s within %ds", text, path, SAFETY_S);
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert(f != NULL, "cannot create %s: %s", path, strerror(errno));
    cr_assert(fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

size_t file_lines(const char *path)
{
    char *s = slurp(path);
    size_t n = 0;

    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

pid_t read_pid(const char *path)
{
    char *s = slurp(path);
    long pid = s ? strtol(s, NULL, 10) : 0;

    free(s);
    cr_assert(pid > 0, "no pid in %s", path);
    return (pid_t)pid;
}

void enqueue_n(struct kwq_client *c, size_t n, const char *prefix, struct kwq_enqueued *ret)
{
    struct kwq_new_task *t = calloc(n, sizeof(*t));
    char **p = calloc(n, sizeof(*p));
    size_t accepted = 0;
    int rc;

    cr_assert(t && p);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(prefix) + 24;
        p[i] = malloc(len);
        (void)snprintf(p[i], len, "%s%zu", prefix, i);
        t[i].payload = p[i];
        t[i].payload_len = strlen(p[i]);
    }
    rc = kwq_enqueue(c, TEST_QUEUE, t, n, ret, &accepted);
    cr_assert(rc >= 0, "enqueue: %s", kwq_client_errstr(c));
    cr_assert(accepted == n, "enqueued %zu of %zu", accepted, n);
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
    free(t);
}

struct kwq_stats stats_of(struct kwq_client *c)
{
    struct kwq_stats st;

    memset(&st, 0, sizeof(st));
    cr_assert(kwq_stats(c, TEST_QUEUE, &st) == 0, "stats: %s", kwq_client_errstr(c));
    return st;
}

/* Clients blocked in Redis right now (the idle workers' waits). */
long blocked_clients(struct kwq_client *c)
{
    char *info = NULL;
    const char *p;
    long n = -1;

    cr_assert(kwq_server_info(c, "clients", &info) == 0, "%s", kwq_client_errstr(c));
    p = strstr(info, "blocked_clients:");
    if (p)
        n = strtol(p + strlen("blocked_clients:"), NULL, 10);
    free(info);
    return n;
}

long command_calls(struct kwq_client *c, const char *cmd)
{
    char *info = NULL, key[64];
    const char *p;
    long n = 0;

    cr_assert(kwq_server_info(c, "commandstats", &info) == 0, "%s", kwq_client_errstr(c));
    (void)snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
    p = strstr(info, key);
    if (p)
        n = strtol(p + strlen(key), NULL, 10);
    free(info);
    return n;
}

void wait_blocked(struct kwq_client *c, long want)
{
    for (int i = 0; i < SAFETY_S * 100; i++) {
        struct timespec ts = {0, 10L * 1000 * 1000};

        if (blocked_clients(c) == want)
            return;
        (void)nanosleep(&ts, NULL);
    }
    cr_assert_fail("blocked clients did not become %ld", want);
}

void free_port(char *buf, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &slen) == 0);
    (void)snprintf(buf, len, "%u", (unsigned)ntohs(sa.sin_port));
    (void)close(fd);
}

void redis_do(const struct redis_fixture *f, const char **argv)
{
    redisContext *r = redisConnectUnix(f->sock);
    redisReply *rep;
    int argc = 0;

    cr_assert(r && !r->err, "connect to %s", f->sock);
    while (argv[argc])
        argc++;
    rep = redisCommandArgv(r, argc, argv, NULL);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", argv[0],
              rep && rep->str ? rep->str : "no reply");
    freeReplyObject(rep);
    redisFree(r);
}
