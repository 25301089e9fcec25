/*
 * leader.h - leader election for kwq-broker: of all brokers on one Redis
 * (or in one namespace), one leads and does what must run once. Two
 * backends: the Redis leader lease of kwq/leader.h, or a Kubernetes Lease
 * object (coordination.k8s.io/v1) when running in a cluster. Both give a
 * term that grows with every change of leader.
 *
 * The rule that keeps two leaders from overlapping: a broker counts itself
 * leader only until (time it SENT its last successful acquire/renew) +
 * lease - margin, by its own monotonic clock, so a renew that stalls or a
 * partition makes it step down before anyone else can take the lease.
 * Renewal runs every lease/3. A stop (SIGTERM) releases the lease at once,
 * so that another broker leads without waiting for it to expire.
 */
#ifndef KWQ_BROKER_LEADER_H
#define KWQ_BROKER_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

struct kwq_async;
struct kube_client;
struct leader;

struct leader_opts {
    const char *name;     /* the lease's name, e.g. "kwq-broker" */
    const char *identity; /* this broker, unique: e.g. "<hostname>-<pid>" or the pod name */
    uint64_t lease_ms;    /* how long a lease lasts without renewal; default 15000 */
};

/* leading: this broker leads from now on (true) or no longer does (false). */
typedef void leader_change_cb(struct leader *l, bool leading, uint64_t term, void *data);

/* Elect through Redis on a (connected, or reconnecting: the caller owns a and its reconnects). */
struct leader *leader_new_redis(struct ev_loop *loop, struct kwq_async *a,
                                const struct leader_opts *o, leader_change_cb *cb, void *data);

/* Elect through the Lease `o->name` in namespace ns of the API server k talks to. */
struct leader *leader_new_kube(struct ev_loop *loop, struct kube_client *k, const char *ns,
                               const struct leader_opts *o, leader_change_cb *cb, void *data);

/* Begin campaigning (the first attempt at once). */
void leader_start(struct leader *l);

/* Called once the lease is released (or it could not be, err != 0: it will expire). */
typedef void leader_stopped_cb(struct leader *l, int err, void *data);

/*
 * Stop campaigning; when leading, change to not leading at once (cb with
 * false) and release the lease. done runs once, from the loop.
 */
void leader_stop(struct leader *l, leader_stopped_cb *done, void *data);

bool leader_is_leader(const struct leader *l);
uint64_t leader_term(const struct leader *l);            /* current or last term, 0 never */
const char *leader_holder(const struct leader *l);       /* last seen holder, "" unknown */
const char *leader_backend_name(const struct leader *l); /* "redis" or "kubernetes" */

/* Free l (stop first for a clean release; without it the lease simply expires). */
void leader_free(struct leader *l);

#endif /* KWQ_BROKER_LEADER_H */
