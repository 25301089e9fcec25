/*
 * test_leader_support.h - two brokers' elections (broker/leader.h) in one
 * libev loop, as test_leader_elect (Redis) and test_leader_kube (the
 * Kubernetes Lease) run them: what each broker's change callback saw, the
 * rule that two never lead at once (asserted at every change), and running
 * the loop until a condition with a hang guard.
 */
#ifndef KWQ_TEST_LEADER_SUPPORT_H
#define KWQ_TEST_LEADER_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "leader.h"

struct kwq_async;
struct kube_client;

struct lt_broker {
    const char *id;
    struct kwq_async *a;   /* the Redis backend's client */
    struct kube_client *k; /* the Kubernetes backend's client */
    struct leader *l;
    bool leading;
    uint64_t term;
    int changes; /* change callbacks */
    int order;   /* the event number of its last change callback */
};

extern struct ev_loop *lt_loop;
extern struct lt_broker lt_a, lt_b; /* "broker-a", "broker-b" */

/* Run the loop until cond() (NULL: none) or for at most guard_s (a hang guard, not a speed check). */
bool lt_run_until(bool (*cond)(void), double guard_s);

/* The change callback of both brokers (data: its struct lt_broker). */
void lt_on_change(struct leader *l, bool leading, uint64_t term, void *data);

bool lt_a_leads(void);
bool lt_b_leads(void);

/* A leader_stopped_cb recording err into lt_stopped_err (1 until it runs). */
extern int lt_stopped_err;
void lt_on_stopped(struct leader *l, int err, void *data);
bool lt_stop_done(void);

#endif /* KWQ_TEST_LEADER_SUPPORT_H */
