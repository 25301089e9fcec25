/*
 * bench_kube.h - what kwq-bench-scale reads from the API server on its own,
 * apart from the scaler under measurement: a watch on one Job (when did the
 * server commit a new spec.parallelism) and the server's request counters
 * (how many requests the scaler made). Plain blocking libcurl on threads of
 * their own, so that neither shares the scaler's loop or its connection.
 */
#ifndef KWQ_BENCH_KUBE_H
#define KWQ_BENCH_KUBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* How to reach the API server: the admin's server URL, CA file and token. */
struct bench_api {
    const char *server;  /* "https://127.0.0.1:PORT" */
    const char *ca_file; /* PEM */
    const char *token;   /* bearer token */
};

/* What the watch saw; read and written under the caller's mutex (see bench_watch_start). */
struct bench_watch_seen {
    int64_t parallelism; /* spec.parallelism as last committed, -1 before the first event */
    uint64_t change_ns;  /* CLOCK_MONOTONIC when it last changed */
    uint64_t raise_ns;   /* first change to a parallelism > 0 since it was zeroed, 0 none */
    uint64_t events;     /* watch events read */
    uint64_t reconnects; /* watches opened again after the server closed one */
};

struct bench_watch;

/*
 * Watch Job name in ns on a thread of its own
 * (?watch=1&fieldSelector=metadata.name=NAME, reopened whenever the server
 * closes it). Each event is timestamped the moment its line is complete;
 * seen is updated under *mu and *cv broadcast. Dies on failure to start.
 */
struct bench_watch *bench_watch_start(const struct bench_api *api, const char *ns, const char *name,
                                      pthread_mutex_t *mu, pthread_cond_t *cv,
                                      struct bench_watch_seen *seen);

/* Stop the watch (within about a second) and free it. w may be NULL. */
void bench_watch_stop(struct bench_watch *w);

/* Completed requests on Jobs by verb, from the server's apiserver_request_total. */
struct bench_api_counts {
    uint64_t get;   /* GET of one Job */
    uint64_t patch; /* PATCH */
    uint64_t other; /* every other verb on jobs but WATCH (LIST, POST, PUT of the status...) */
};

/* Read the counters from /metrics (blocking). Returns 0, or -1 with a line on stderr. */
int bench_api_counts_read(const struct bench_api *api, struct bench_api_counts *ret);

/*
 * Time n GETs of path, one after the other on one kept-alive connection
 * (after one untimed GET that opens it), into ms[0..n-1]: the API server's
 * bare round trip, the yardstick of the reaction. Returns 0, or -1 with a
 * line on stderr.
 */
int bench_api_get_rtt(const struct bench_api *api, const char *path, size_t n, double *ms);

#endif /* KWQ_BENCH_KUBE_H */
