/*
 * test_proto_support.c - shared steps of the libkwq tests (see the header).
 */
#include "test_proto_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

struct kwq_client *tp_client_opts(struct kwq_client_opts *o)
{
    struct kwq_client *c;
    int rc;

    if (!o->url)
        o->url = test_redis.url;
    c = kwq_client_new(o);
    cr_assert(c != NULL);
    rc = kwq_client_connect(c);
    cr_assert(eq(int, rc, 0), "connect %s: %s (%s)", o->url, kwq_err_name(rc),
              kwq_client_errstr(c));
    cr_assert(kwq_client_is_connected(c));
    return c;
}

struct kwq_client *tp_client(const char *url)
{
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    o.url = url;
    return tp_client_opts(&o);
}

void tp_enqueue_bin(struct kwq_client *c, const char *q, const void *payload, size_t len, char *id)
{
    struct kwq_new_task t = {.payload = payload, .payload_len = len};
    struct kwq_enqueued e;
    size_t accepted = 99;
    int rc = kwq_enqueue(c, q, &t, 1, &e, &accepted);

    cr_assert(eq(int, rc, 0), "enqueue: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(sz, accepted, 1));
    cr_assert(not(e.duplicate));
    cr_assert(kwq_id_is_valid(e.id), "enqueue returned the ID '%s'", e.id);
    if (id)
        memcpy(id, e.id, KWQ_ID_MAX);
}

void tp_enqueue(struct kwq_client *c, const char *q, const char *payload, char *id)
{
    tp_enqueue_bin(c, q, payload, strlen(payload), id);
}

void tp_enqueue_n(struct kwq_client *c, const char *q, const char *prefix, size_t n)
{
    struct kwq_new_task *t = calloc(n, sizeof(*t));
    char **bufs = calloc(n, sizeof(*bufs));
    size_t accepted = 0;
    int rc;

    cr_assert(t && bufs);
    for (size_t i = 0; i < n; i++) {
        cr_assert(asprintf(&bufs[i], "%s%zu", prefix, i) > 0);
        t[i].payload = bufs[i];
        t[i].payload_len = strlen(bufs[i]);
    }
    rc = kwq_enqueue(c, q, t, n, NULL, &accepted);
    cr_assert(eq(int, rc, 0), "enqueue %zu: %s (%s)", n, kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(sz, accepted, n));
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(t);
}

void tp_lease1(struct kwq_client *c, const char *q, uint64_t lease_ms, uint64_t wait_ms,
               struct kwq_task *t)
{
    struct kwq_lease_result r;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = kwq_lease(c, q, 1, lease_ms, wait_ms, &r);
    cr_assert(eq(int, rc, 1), "lease: %d %s (%s)", rc, rc < 0 ? kwq_err_name(rc) : "",
              kwq_client_errstr(c));
    cr_assert(eq(sz, r.n, 1));
    *t = r.tasks[0];
    /* The task now belongs to *t: only the array is left to free. */
    memset(&r.tasks[0], 0, sizeof(r.tasks[0]));
    kwq_lease_result_done(&r);
}

void tp_lease_none(struct kwq_client *c, const char *q)
{
    struct kwq_lease_result r;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = kwq_lease(c, q, 10, 60000, 0, &r);
    cr_assert(eq(int, rc, 0), "lease: %d (%s)", rc, kwq_client_errstr(c));
    cr_assert(eq(sz, r.n, 0));
    kwq_lease_result_done(&r);
}

void tp_ack1(struct kwq_client *c, const char *q, const struct kwq_task *t)
{
    struct kwq_ack a = {.id = t->id, .token = t->token};
    int st = 99;
    int rc = kwq_ack(c, q, &a, 1, &st);

    cr_assert(eq(int, rc, 0), "ack: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(int, st, 0), "ack status %s", kwq_err_name(st));
}

static struct kwq_stats stats_of(struct kwq_client *c, const char *q, bool read_only)
{
    struct kwq_stats s;
    int rc;

    memset(&s, 0xa5, sizeof(s));
    rc = read_only ? kwq_stats_read(c, q, &s) : kwq_stats(c, q, &s);
    cr_assert(eq(int, rc, 0), "%s: %s (%s)", read_only ? "stats_read" : "stats", kwq_err_name(rc),
              kwq_client_errstr(c));
    return s;
}

struct kwq_stats tp_stats(struct kwq_client *c, const char *q)
{
    return stats_of(c, q, false);
}

struct kwq_stats tp_stats_ro(struct kwq_client *c, const char *q)
{
    return stats_of(c, q, true);
}

void tp_assert_same_stats(const struct kwq_stats *a, const struct kwq_stats *b)
{
    cr_assert(eq(u64, a->pending, b->pending));
    cr_assert(eq(u64, a->leased, b->leased));
    cr_assert(eq(u64, a->delayed, b->delayed));
    cr_assert(eq(u64, a->dead, b->dead));
    cr_assert(eq(u64, a->done, b->done));
    cr_assert(eq(u64, a->enqueued, b->enqueued));
    cr_assert(eq(u64, a->duplicates, b->duplicates));
    cr_assert(eq(u64, a->expired, b->expired));
    cr_assert(eq(u64, a->failed, b->failed));
    cr_assert(eq(u64, a->retries, b->retries));
    cr_assert(eq(u64, a->released, b->released));
    cr_assert(eq(u64, a->cancelled, b->cancelled));
    cr_assert(eq(u64, a->requeued, b->requeued));
    cr_assert(eq(u64, a->results, b->results));
    cr_assert(eq(int, a->sealed, b->sealed));
    cr_assert(eq(int, a->drained, b->drained));
}

redisContext *tp_redis(void)
{
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *r = redisConnectUnixWithTimeout(test_redis.sock, tv);

    cr_assert(r != NULL && !r->err, "raw connect to %s failed", test_redis.sock);
    return r;
}

long long tp_redis_int(redisContext *r, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r, argc, argv, NULL);
    long long v;

    cr_assert(rep != NULL, "raw %s: %s", argv[0], r->errstr);
    cr_assert(eq(int, rep->type, REDIS_REPLY_INTEGER), "raw %s: reply type %d %s", argv[0],
              rep->type, rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    v = rep->integer;
    freeReplyObject(rep);
    return v;
}

long long tp_key_len(redisContext *r, const char *cmd, const char *q, const char *suffix)
{
    char key[300];
    const char *argv[2] = {cmd, key};

    (void)snprintf(key, sizeof(key), "kwq:{%s}:%s", q, suffix);
    return tp_redis_int(r, 2, argv);
}

void tp_server_wait_ms(redisContext *r, uint64_t ms)
{
    char secs[32];
    const char *argv[3] = {"BLPOP", "kwq-test:never-written", secs};
    redisReply *rep;

    (void)snprintf(secs, sizeof(secs), "%.3f", (double)ms / 1000.0);
    rep = redisCommandArgv(r, 3, argv, NULL);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_NIL, "BLPOP wait failed");
    freeReplyObject(rep);
}

/* How many lines of CLIENT LIST have a flags field holding 'b' (blocked). */
static int count_blocked(const char *list)
{
    int n = 0;

    for (const char *p = strstr(list, " flags="); p; p = strstr(p + 1, " flags=")) {
        size_t len = strcspn(p + 7, " \n");
        if (memchr(p + 7, 'b', len))
            n++;
    }
    return n;
}

int tp_wait_blocked_clients(redisContext *r, int n)
{
    for (int i = 0; i < 20000; i++) {
        redisReply *rep = redisCommand(r, "CLIENT LIST");
        int found;

        if (!rep || rep->type != REDIS_REPLY_STRING) {
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        found = count_blocked(rep->str);
        freeReplyObject(rep);
        if (found >= n)
            return 0;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int tp_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

void tp_free_port(char *buf, size_t buflen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(ge(int, fd, 0));
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&sa, &len), 0));
    (void)snprintf(buf, buflen, "%u", (unsigned)ntohs(sa.sin_port));
    (void)close(fd);
}
