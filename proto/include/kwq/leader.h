/*
 * kwq/leader.h - a named leader lease in Redis with a fenced term
 * (docs/PROTOCOL.md "Leader lease"): at most one holder at a time, and a
 * term that grows with every change of holder and never repeats, not even
 * after Redis lost its last writes (the run_id fence of "Rollbacks"). Whoever
 * acts as leader passes its term along, so that the work of a deposed leader
 * can be told from its successor's.
 *
 * One script does it all: take the lease when it is free or expired, renew it
 * when the caller holds it, or report who holds it. Times are Redis's (TIME).
 */
#ifndef KWQ_LEADER_H
#define KWQ_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "kwq/async.h"
#include "kwq/client.h"

#define KWQ_LEADER_NAME_MAX   64  /* lease name: letters, digits, '-', '_', '.' */
#define KWQ_LEADER_HOLDER_MAX 128 /* holder identity: printable ASCII, no spaces */

struct kwq_leader_state {
    bool held_by_me;                    /* the caller holds the lease now */
    char holder[KWQ_LEADER_HOLDER_MAX]; /* current holder, "" when free */
    uint64_t term;                      /* the holder's term (0: never held) */
    int64_t expires_ms;                 /* server time the lease ends, Unix ms; 0 when free */
    int64_t server_time_ms;             /* server clock at the call */
};

struct kwq_error;

/*
 * Check a lease name and a holder identity (holder may be NULL) by the rules
 * above, as every call below does first: 0, or KWQ_EINVAL with one line in
 * err. For programs that check their options before they connect
 * (kwq-broker's election).
 */
int kwq_leader_check(const char *name, const char *holder, struct kwq_error *err);

/*
 * Take or renew the lease `name` for holder, for ttl_ms (100..3600000).
 * Taken when free or expired (term + 1, or the fenced jump after a server
 * change), renewed when holder holds it (same term). *ret says the outcome
 * either way (rc 0 also when someone else holds it). Errors: KWQ_EINVAL (bad
 * name, holder or ttl).
 */
int kwq_leader_acquire(struct kwq_client *c, const char *name, const char *holder, uint64_t ttl_ms,
                       struct kwq_leader_state *ret);

/*
 * Give the lease up at once when holder holds it in term (a step-down);
 * the term is kept, so the next holder gets term + 1. Returns 1 when
 * released, 0 when holder did not hold it in that term.
 */
int kwq_leader_release(struct kwq_client *c, const char *name, const char *holder, uint64_t term);

/* Who holds the lease, writing nothing (works on a replica). */
int kwq_leader_read(struct kwq_client *c, const char *name, struct kwq_leader_state *ret);

/* The same on the async client; st is NULL when rc < 0. */
typedef void kwq_async_leader_cb(struct kwq_async *a, int rc, const struct kwq_leader_state *st,
                                 void *data);
int kwq_async_leader_acquire(struct kwq_async *a, const char *name, const char *holder,
                             uint64_t ttl_ms, kwq_async_leader_cb *cb, void *data);
/* rc: 1 released, 0 not held by holder in term, < 0 the error. */
int kwq_async_leader_release(struct kwq_async *a, const char *name, const char *holder,
                             uint64_t term, kwq_async_count_cb *cb, void *data);
int kwq_async_leader_read(struct kwq_async *a, const char *name, kwq_async_leader_cb *cb,
                          void *data);

#endif /* KWQ_LEADER_H */
