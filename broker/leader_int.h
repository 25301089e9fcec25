/*
 * leader_int.h - what the election state machine (leader.c) and its two
 * backends (leader_redis.c, leader_kube.c) share. Not part of broker/leader.h.
 *
 * A backend makes one attempt at a time (acquire or renew) and reports it
 * with leader__attempt_done; a release reports with leader__released. Its
 * calls carry a leader_call ticket rather than the leader itself, so that a
 * leader freed while a call is in flight (a broker that stops abruptly) is
 * never touched by the late answer.
 */
#ifndef KWQ_BROKER_LEADER_INT_H
#define KWQ_BROKER_LEADER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "leader.h"

#define LEADER_HOLDER_MAX 256 /* the longest holder identity kept for leader_holder */

struct leader_backend {
    const char *name; /* "redis", "kubernetes" */
    /* Start an attempt; 0, or an error (then no report follows; why: one line). */
    int (*attempt)(struct leader *l, const char **why);
    /* Release the lease held in l->held_term; 0 or an error as attempt. */
    int (*release)(struct leader *l, const char **why);
    void (*free)(struct leader *l);
};

/* What an attempt found: whether we hold the lease, its term and its holder. */
struct leader_seen {
    bool held;
    uint64_t term;
    const char *holder; /* "" when free; NULL when unknown (a lost race) */
};

struct leader_call {
    struct leader *l; /* NULL once the leader was freed */
};

struct leader {
    struct ev_loop *loop;
    const struct leader_backend *be;
    void *be_data; /* the backend's state */
    char *name, *identity;
    uint64_t lease_ms;
    leader_change_cb *cb;
    void *data;
    leader_stopped_cb *done;
    void *done_data;
    int stop_err;
    bool running;  /* between leader_start and leader_stop */
    bool stopping; /* stop called, done not run yet */
    bool leading;
    bool held;          /* the last answer said we hold the lease, in held_term */
    uint64_t held_term; /* our term while held */
    uint64_t term;      /* the current or last term seen */
    char holder[LEADER_HOLDER_MAX];
    struct leader_call *call; /* the backend call in flight, or NULL */
    double sent;              /* monotonic seconds the attempt in flight started */
    ev_timer tick;            /* the next attempt */
    ev_timer until;           /* the end of leadership unless renewed */
    ev_timer later;           /* runs done from the loop */
    int depth;                /* entry points running (callbacks may free l) */
    bool freeing;             /* leader_free came inside a callback */
    int last_err;             /* the error of the last attempt (logged once per streak) */
};

/* A new leader on loop for backend be, options checked; NULL (errno, logged) on bad opts/OOM. */
struct leader *leader__new(struct ev_loop *loop, const struct leader_backend *be,
                           const struct leader_opts *o, leader_change_cb *cb, void *data);

/* A ticket for a backend call of l (l->call), or NULL on OOM. */
struct leader_call *leader__call_begin(struct leader *l);
/* The ticket's leader, or NULL after freeing the ticket of a leader that is gone. */
struct leader *leader__call_peek(struct leader_call *c);
/* The call is over: free the ticket (l->call cleared). */
void leader__call_finish(struct leader_call *c);

/* Reports from the backends; rc < 0 with why on failure (seen NULL). */
void leader__attempt_done(struct leader *l, int rc, const char *why,
                          const struct leader_seen *seen);
void leader__released(struct leader *l, int rc, const char *why);

/* Monotonic clock, seconds. */
double leader__now(void);

#endif /* KWQ_BROKER_LEADER_INT_H */
