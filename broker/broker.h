/*
 * broker.h - kwq-broker's state and what its files give each other. One
 * libev loop, no threads: every Redis call is non-blocking (kwq/async.h),
 * every HTTP connection too (http.h).
 *
 *   main.c       start, signals, stop
 *   link.c       a Redis connection kept up: connect, backoff, reconnect
 *   queues.c     which queues: --queues plus the registry, re-read
 *   housekeep.c  rounds of reaping on every queue
 *   sample.c     the counts kept for the dashboard (history, rates)
 *   metrics.c    /metrics: a read of every queue, rendered as Prometheus text
 *   routes.c     HTTP: authentication and dispatch; /healthz, /readyz
 *   api.c        the dashboard's JSON API (docs/broker-api.md)
 *   kube_jobs.c  the Kubernetes client (--kube) and the Jobs of a queue
 */
#ifndef KWQ_BROKER_BROKER_H
#define KWQ_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "kwq/client.h"
#include "kwq/task.h"

#include "config.h"

struct broker;
struct http_exchange;
struct http_server;
struct kube_client;
struct kwq_async;
struct leader;

/* ---- link.c ---------------------------------------------------------------- */

/* A Redis connection the broker keeps up by itself. */
struct link {
    struct broker *b;
    const char *role;              /* "master" or "replica" (logs, /readyz) */
    struct kwq_async *a;           /* the client */
    bool up;                       /* connected, handshake done */
    bool connecting;               /* a connect is outstanding */
    ev_timer retry;                /* the next connect attempt */
    uint64_t backoff_ms;           /* delay before the next attempt after a failure */
    uint64_t connects;             /* successful connects, all time */
    char reason[256];              /* why it is down, "" while up */
    void (*on_up)(struct link *l); /* after each successful connect, or NULL */
};

/* Set l up for url (read_only: a replica is fine). NULL-free: returns < 0 on OOM. */
int link_init(struct link *l, struct broker *b, const char *role, const char *url, bool read_only);

/* Connect now (and keep reconnecting with backoff). Returns KWQ_EINVAL for a bad URL. */
int link_start(struct link *l);

/*
 * Report a call's failure: a transport error (kwq_err_is_transient) drops
 * the connection and schedules a reconnect; other errors are the call's own.
 * Returns true when the error was a transport error.
 */
bool link_failed(struct link *l, int rc);

/*
 * True when l is up. A call made by someone else on l->a (the leader's) may
 * have found the connection gone: this notices it and schedules the
 * reconnect. Called before each round of calls.
 */
bool link_check(struct link *l);

void link_done(struct link *l);

/* ---- queues.c -------------------------------------------------------------- */

#define HISTORY_MAX 120 /* samples kept per queue: 10 minutes at 5 s */

struct sample {
    int64_t t_ms; /* server time */
    uint64_t pending, leased, dead, done, enqueued;
};

struct queue {
    struct broker *owner;
    char name[KWQ_QUEUE_NAME_MAX + 1];
    bool configured; /* named in --queues */
    bool registered; /* in the registry at its last read */
    unsigned busy;   /* calls outstanding that point at this queue */
    /* housekeeping */
    unsigned reap_calls; /* calls made in the current round */
    /* sampling */
    bool have_stats;
    struct kwq_stats stats; /* the last sample */
    double done_per_s;      /* rates between the last two samples */
    double enqueued_per_s;
    struct sample history[HISTORY_MAX]; /* ring */
    size_t hist_start, hist_n;
};

/* The queues, sorted by name. */
struct queue_set {
    struct queue **q;
    size_t n, cap;
    bool registry_read; /* the registry was read at least once */
    bool refreshing;    /* a read is outstanding */
    ev_timer timer;
};

int queues_init(struct broker *b);
void queues_start(struct broker *b);
/* Read the registry again now (no-op while a read is outstanding or the reader is down). */
void queues_refresh(struct broker *b);
void queues_done(struct broker *b);
struct queue *queues_find(struct broker *b, const char *name);
/* A queue left neither configured nor registered is freed once nothing uses it. */
void queue_release(struct broker *b, struct queue *q);

/* ---- housekeep.c ----------------------------------------------------------- */

struct housekeeping {
    ev_timer timer;
    unsigned outstanding;             /* calls of the current round */
    uint64_t round_start_ms;          /* monotonic */
    uint64_t rounds;                  /* completed rounds, all time */
    uint64_t last_round_ms;           /* how long the last round took */
    uint64_t last_done_ms;            /* monotonic time the last round completed, 0 never */
    uint64_t expired, dead, promoted; /* items handled, all time */
    uint64_t errors;                  /* reap calls that failed, all time */
};

void housekeep_init(struct broker *b);
void housekeep_start(struct broker *b);
void housekeep_stop(struct broker *b);

/* ---- sample.c -------------------------------------------------------------- */

struct sampling {
    ev_timer timer;
    unsigned outstanding;
};

void sample_init(struct broker *b);
void sample_start(struct broker *b);
/* Sample every queue now (no-op while a round is outstanding or the reader is down). */
void sample_now(struct broker *b);
void sample_stop(struct broker *b);

/* ---- metrics.c ------------------------------------------------------------- */

void metrics_serve(struct broker *b, struct http_exchange *x);

/* ---- kube_jobs.c ------------------------------------------------------------ */

/* Open the Kubernetes client when --kube: -1 to go on, else the exit code (line printed). */
int kube_jobs_open(struct broker *b);
/* /api/queues/{q}/jobs: {"enabled": false} without --kube. */
void kube_jobs_serve(struct broker *b, struct http_exchange *x, struct queue *q);

/* ---- routes.c, api.c ------------------------------------------------------- */

void routes_handle(struct http_exchange *x, void *data);
/* path below /api/: answers x. */
void api_handle(struct broker *b, struct http_exchange *x, const char *path);

/* ---- the broker ------------------------------------------------------------ */

struct broker {
    const struct broker_config *cfg;
    struct ev_loop *loop;
    struct link master;  /* housekeeping, the leader lease, the dashboard's reads and writes */
    struct link replica; /* /metrics and samples when --read-redis is given */
    struct link *reader; /* &replica, or &master without --read-redis */
    struct queue_set queues;
    struct housekeeping hk;
    struct sampling sampling;
    struct http_server *http;
    struct leader *leader;
    struct kube_client *kube; /* with --kube, else NULL */
    bool leading;
    char csrf[33]; /* random hex, per process */
    bool stopping;
    int exit_code;
    uint64_t started_ms; /* monotonic */
    ev_signal sigterm, sigint;
    ev_timer stop_timer;
};

#endif /* KWQ_BROKER_BROKER_H */
