/*
 * kube_run.h - the Kubernetes backend of `kwq run`: the workers are the
 * pods of a worker Job, its parallelism set by the one scaler (scaler.h,
 * kube_scale.h), progress on stderr and results gathered as they are acked,
 * as with the local backend (runner.h).
 */
#ifndef KWQ_KUBE_RUN_H
#define KWQ_KUBE_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kwq/scale.h"

#include "kube/job.h"
#include "results_out.h"
#include "runner.h"

struct ev_loop;
struct kube_client;
struct kwq_client;

struct kube_run_cfg {
    const char *queue;           /* the (sealed) queue */
    const char *redis_url;       /* for the scaler's own connections */
    const char *password_file;   /* the same, or NULL */
    struct kwq_scale_rule rule;  /* how many pods */
    struct kube_job_spec job;    /* the Job to create; its parallelism is set here */
    struct ev_loop *loop;        /* the loop k runs on */
    struct kube_client *k;       /* the API server */
    bool keep_job;               /* --keep-job: never delete the Job */
    uint64_t retry_ms;           /* ride out Redis and API outages this long */
    enum results_format results; /* how gathered results are written */
    FILE *out;                   /* where they are written */
    const char *out_name;        /* its name for messages */
    bool quiet;                  /* no progress */
};

/*
 * Create the Job (or follow the one of that name when it can still run the
 * queue, or make its successor when it cannot), scale it until the queue
 * drains and the Job completes, gathering results meanwhile; delete it at
 * the end unless cfg->keep_job or it failed. Returns 0 or an exit code
 * after printing the error: the Job failed (78 when a worker exited 78: the
 * handler cannot run or a setting is wrong; 8 when the queue vanished; 1
 * otherwise), SIGINT/SIGTERM (75: the Job is deleted, or paused with
 * --keep-job, and the pods give their tasks back), the API server or Redis
 * unavailable longer than retry_ms (69), credentials or permissions (78).
 */
/*
 * Before anything is enqueued: 0 when the Job is free to make or follow,
 * else the exit code after printing why (a Job of that name runs another
 * queue: 78; the API server's errors as kube_cli_fail).
 */
int kube_run_check(const struct kube_run_cfg *cfg);

int kube_run(struct kwq_client *c, const struct kube_run_cfg *cfg, struct runner_summary *sum);

#endif /* KWQ_KUBE_RUN_H */
