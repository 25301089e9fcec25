/*
 * runner.h - the local backend of `kwq run`: kwq-worker processes in place
 * of a Job's pods, their number set by the scaler of scaler.h (the
 * decision the Kubernetes backend applies to a Job's parallelism), progress on
 * stderr, results gathered as they are acked.
 */
#ifndef KWQ_RUNNER_H
#define KWQ_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kwq/scale.h"

#include "results_out.h"

struct kwq_client;
struct local_redis;

struct runner_cfg {
    const char *url;             /* Redis URL the workers are given */
    const char *queue;           /* queue name */
    const char *worker_bin;      /* kwq-worker to exec */
    char **handler;              /* HANDLER [ARG...], NULL-terminated */
    struct kwq_scale_rule rule;  /* how many workers */
    uint64_t concurrency;        /* tasks at once per worker */
    uint64_t lease_ms;           /* worker --lease, 0 = its default */
    uint64_t timeout_ms;         /* worker --timeout, 0 = its default */
    uint64_t redis_retry_ms;     /* how long the run and its workers ride out a Redis outage */
    bool stream;                 /* worker --stream */
    const char *password_file;   /* given to workers as KWQ_REDIS_PASSWORD_FILE, or NULL */
    const char *log_format;      /* worker --log-format, NULL: text at a terminal, else json */
    enum results_format results; /* how gathered results are written */
    FILE *out;                   /* where they are written */
    const char *out_name;        /* its name for messages: "stdout" or the --output path */
    struct local_redis *redis;   /* the run's private redis-server, or NULL (not ours) */
    bool quiet;                  /* no progress */
};

struct runner_summary {
    uint64_t done;         /* tasks acked during the run */
    uint64_t failed;       /* failed attempts during the run */
    uint64_t dead;         /* tasks dead-lettered during the run */
    uint64_t results;      /* results written */
    uint64_t ms;           /* wall time of the run */
    uint32_t peak_workers; /* most workers at once */
    bool interrupted;      /* stopped by SIGINT/SIGTERM before draining */
};

/*
 * Catch SIGINT, SIGTERM and SIGHUP from now on (for the rest of the process): the
 * first asks the run to stop, the second to stop at once. Call it before
 * anything that must be cleaned up (a private redis-server).
 */
void runner_catch_signals(void);

/* True once SIGINT or SIGTERM arrived. */
bool runner_interrupted(void);

/*
 * Run workers until the (sealed) queue drains, or until SIGINT/SIGTERM
 * (workers get SIGTERM and release their tasks; a second signal kills
 * them); runner_catch_signals() must have been called. c is a connected
 * client for stats and results. A passing Redis error (kwq_err_is_transient:
 * unreachable, restarting, loading) is ridden out for cfg->redis_retry_ms,
 * by the run and by its workers, which get the same bound. Returns 0 or an
 * exit code after printing the error: a configuration error of the run's or
 * a worker's (78), workers failing over and over (1), the results' output
 * failing (1), Redis lost for longer than the bound or the private
 * redis-server gone (69). On every error the workers get SIGTERM and 30s
 * to release their tasks, then SIGKILL (at once when the private
 * redis-server is gone: nothing can be released); none outlives the call.
 */
int runner_run(struct kwq_client *c, const struct runner_cfg *cfg, struct runner_summary *ret);

#endif /* KWQ_RUNNER_H */
