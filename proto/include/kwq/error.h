/*
 * kwq/error.h - error codes shared by libkwq, kwq-worker, kwq and kwq-broker.
 *
 * Every fallible libkwq function returns 0 (or a count >= 0) on success and a
 * negative code on failure: a KWQ_E* code (all below -1000) for kwq's own
 * causes, or -errno from a system call (above -1000); kwq_strerror names
 * both. The concrete cause (a Redis error reply, errno text, the limit that
 * was exceeded) is in the object that failed: kwq_client_errstr() for a
 * client, struct kwq_error for input validation.
 */
#ifndef KWQ_ERROR_H
#define KWQ_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* Length of every error message buffer, terminating NUL included. */
#define KWQ_ERRSTR_LEN 256

/*
 * XX(name, value, wire, text): name is KWQ_E<name>; wire is the word a Lua
 * script puts first in an error reply (see docs/PROTOCOL.md, "Errors"), or
 * NULL when the code never comes from Redis.
 */
#define KWQ_ERR_MAP(XX)                                                                            \
    XX(INVAL, -1001, "KWQ_INVAL", "invalid argument")                                              \
    XX(NOMEM, -1002, NULL, "out of memory")                                                        \
    XX(CONN, -1003, NULL, "cannot reach Redis")                                                    \
    XX(TIMEOUT, -1004, NULL, "Redis did not answer in time")                                       \
    XX(AUTH, -1005, NULL, "Redis refused the password")                                            \
    XX(POLICY, -1006, NULL, "Redis may evict queue keys")                                          \
    XX(PROTO, -1007, NULL, "unexpected reply from Redis")                                          \
    XX(REDIS, -1008, NULL, "Redis returned an error")                                              \
    XX(TOOBIG, -1009, "KWQ_TOOBIG", "payload or result over the size limit")                       \
    XX(SEALED, -1010, "KWQ_SEALED", "queue is sealed")                                             \
    XX(LEASELOST, -1011, "KWQ_LEASELOST", "lease lost: the token is not current")                  \
    XX(CANCELLED, -1012, "KWQ_CANCELLED", "task was cancelled")                                    \
    XX(NOTFOUND, -1013, "KWQ_NOTFOUND", "no such task")                                            \
    XX(STATE, -1014, "KWQ_STATE", "task is not in a state that allows this")                       \
    XX(FULL, -1015, "KWQ_FULL", "queue is full")                                                   \
    XX(IO, -1016, NULL, "input/output error")                                                      \
    XX(READONLY, -1017, NULL, "Redis is a read-only replica")                                      \
    XX(NOPERM, -1018, NULL, "the Redis user lacks a permission kwq needs")                         \
    XX(OOM, -1019, NULL, "Redis is at its maxmemory limit")                                        \
    XX(GONE, -1020, "KWQ_GONE", "the queue vanished from Redis")

enum kwq_err {
#define KWQ_ERR_ENUM(name, value, wire, text) KWQ_E##name = (value),
    KWQ_ERR_MAP(KWQ_ERR_ENUM)
#undef KWQ_ERR_ENUM
};

/*
 * A one-line message for input that was refused: what was wrong and what to
 * do, e.g. "--lease must be between 1s and 1h, got '0s'". Filled by parsers
 * and validators; code is the KWQ_E* they returned.
 */
struct kwq_error {
    int code;                 /* KWQ_E* code, 0 when no error */
    char msg[KWQ_ERRSTR_LEN]; /* NUL-terminated message, no trailing newline */
};

/*
 * True when retrying the same call later can succeed with nobody changing
 * anything: the connection failed or was lost (KWQ_ECONN; also every passing
 * state Redis answers with: LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN,
 * MISCONF, NOREPLICAS, max clients, UNBLOCKED, after which libkwq drops the
 * connection), Redis did not answer in time (KWQ_ETIMEOUT), or it is at its
 * maxmemory limit (KWQ_EOOM: workers draining queues free memory; the
 * connection stays up). Every other error is permanent: a person must change
 * a setting, the input or the code first. The worker, the CLI, the broker and
 * the Kubernetes client all decide "retry or give up" with this one predicate.
 */
bool kwq_err_is_transient(int code);

/*
 * True for a permanent error that lies in how Redis or kwq is configured,
 * not in the call: a refused password (KWQ_EAUTH), a missing ACL permission
 * (KWQ_ENOPERM), a replica instead of the master (KWQ_EREADONLY), an
 * evicting maxmemory-policy (KWQ_EPOLICY). Programs exit KWQ_EXIT_CONFIG
 * (78) for it. KWQ_EINVAL from connecting (a bad URL, a db the server does
 * not have, an unreadable password file) is not in it, since KWQ_EINVAL is
 * also bad input to a call: the worker exits 78 for it, kwq 2 (its command
 * line).
 */
bool kwq_err_is_config(int code);

/* Static text for a KWQ_E* code or a -errno value ("unknown error" otherwise). */
const char *kwq_strerror(int code);

/* Static symbolic name for a KWQ_E* code, e.g. "KWQ_ESEALED". */
const char *kwq_err_name(int code);

/*
 * Map the first word of a Redis error reply to a KWQ_E* code. Returns
 * KWQ_EREDIS for a reply that is not one of kwq's own.
 */
int kwq_err_from_wire(const char *reply, size_t len);

/*
 * Fill err with code and a printf-style message (truncated to fit). Returns
 * code, so that a validator can write `return kwq_error_set(err, ...)`.
 * err may be NULL.
 */
int kwq_error_set(struct kwq_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* KWQ_ERROR_H */
