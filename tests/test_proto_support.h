/*
 * test_proto_support.h - shared steps of the libkwq tests: connect to the
 * test's private redis-server, enqueue and lease in one line, read counters,
 * and look at the raw keys of a queue (docs/PROTOCOL.md "Key layout") to
 * prove that an operation left nothing behind or changed nothing.
 *
 * Every helper asserts its own success, so a test reads as the scenario it
 * checks; only tp_wait_blocked_clients, made for forked children (where a
 * Criterion assert must not run), returns a status instead.
 */
#ifndef KWQ_TEST_PROTO_SUPPORT_H
#define KWQ_TEST_PROTO_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/task.h"

#include "redis_fixture.h"

#define TP_QUEUE "jobs"

/* String equality for const strings (Criterion's str tag is a char *). */
#define tp_assert_str_eq(a, b) cr_assert(eq(str, (char *)(a), (char *)(b)))
#define tp_assert_str_ne(a, b) cr_assert(ne(str, (char *)(a), (char *)(b)))

/* A connected client for url (NULL: the test's server), with default options. */
struct kwq_client *tp_client(const char *url);

/* A connected client for the test's server with o's options (o->url is set here). */
struct kwq_client *tp_client_opts(struct kwq_client_opts *o);

/* Enqueue one task holding the NUL-terminated payload; its ID goes to id (may be NULL). */
void tp_enqueue(struct kwq_client *c, const char *q, const char *payload, char *id);

/* Enqueue one task of len bytes; its ID goes to id (may be NULL). */
void tp_enqueue_bin(struct kwq_client *c, const char *q, const void *payload, size_t len, char *id);

/* Enqueue n tasks with payloads "<prefix><i>", i = 0..n-1, in one call. */
void tp_enqueue_n(struct kwq_client *c, const char *q, const char *prefix, size_t n);

/*
 * Lease exactly one task (max 1) into *t, which the caller frees with
 * kwq_task_done. Fails the test when none is leased.
 */
void tp_lease1(struct kwq_client *c, const char *q, uint64_t lease_ms, uint64_t wait_ms,
               struct kwq_task *t);

/* Lease with wait 0 and assert that nothing was leased. */
void tp_lease_none(struct kwq_client *c, const char *q);

/* Ack one lease without a result and assert status 0. */
void tp_ack1(struct kwq_client *c, const char *q, const struct kwq_task *t);

/* The queue's statistics (asserts success): kwq_stats, or kwq_stats_read when read_only. */
struct kwq_stats tp_stats(struct kwq_client *c, const char *q);
struct kwq_stats tp_stats_ro(struct kwq_client *c, const char *q);

/* Assert that every counter and flag of a and b is equal (the clock and ages excluded). */
void tp_assert_same_stats(const struct kwq_stats *a, const struct kwq_stats *b);

/* A raw hiredis connection to the test's server (for inspecting keys). */
redisContext *tp_redis(void);

/* Run a raw command (argv) and return its integer reply; asserts the reply is an integer. */
long long tp_redis_int(redisContext *r, int argc, const char **argv);

/* HLEN / ZCARD / LLEN / EXISTS of kwq:{q}:<suffix>. */
long long tp_key_len(redisContext *r, const char *cmd, const char *q, const char *suffix);

/*
 * Wait ms on the server's clock: a BLPOP on a key nobody writes. Used only
 * where no kwq call can block until the awaited state (kwq_reap, kwq_stats).
 */
void tp_server_wait_ms(redisContext *r, uint64_t ms);

/*
 * Block until at least n clients of the server are in a blocking command
 * (BLPOP, XREAD BLOCK): CLIENT LIST, retried for up to ~20 s. Lets a forked
 * helper act only once the test's waiting clients are really waiting. Never
 * asserts (it runs in forked children); returns 0, or -1 on timeout.
 */
int tp_wait_blocked_clients(redisContext *r, int n);

/*
 * A loopback TCP port the kernel just handed out (bound to port 0, then
 * released) rather than a fixed one, so that parallel tests do not collide;
 * a server started on it also keeps its unix socket for the fixture.
 */
void tp_free_port(char *buf, size_t buflen);

/* True when haystack contains needle. */
int tp_contains(const char *haystack, const char *needle);

#endif /* KWQ_TEST_PROTO_SUPPORT_H */
