/*
 * worker.h - the state of one kwq-worker process and the job it tracks per
 * leased task, shared by the files of worker/:
 *
 *   lease.c     Redis connections, leasing, waiting, renewing, reporting
 *   jobmap.c    the jobs held, by task ID
 *   exec.c      exec mode: one handler process per task
 *   stream.c    stream mode: one long-lived handler, tasks as JSON lines
 *   shutdown.c  signals, grace period, idle exit
 *   ready.c     the readiness file
 *
 * Everything runs on one libev loop in one thread. A job lives from the
 * lease until Redis has heard its outcome (ack, fail or release); until
 * then its lease is renewed, so a result is never lost to an expiry while
 * Redis is briefly away.
 */
#ifndef KWQ_WORKER_WORKER_H
#define KWQ_WORKER_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "kwq/task.h"

#include "config.h"
#include "handler.h"
#include "jobmap.h"
#include "linebuf.h"

#define STDERR_TAIL_MAX 2048 /* bytes of a handler's stderr kept for its failure report */

enum job_state {
    JOB_QUEUED,  /* exec mode: leased ahead (prefetched), waiting for a free slot */
    JOB_RUNNING, /* its handler works on it */
    JOB_REPORT,  /* outcome known, waiting to be sent to Redis */
};

enum job_outcome {
    OUT_ACK,     /* done: ack with result */
    OUT_FAIL,    /* failed attempt: retry or dead-letter */
    OUT_RELEASE, /* give back without charging the attempt */
    OUT_DROP,    /* lease lost or task cancelled: tell Redis nothing */
};

enum job_stop {
    STOP_NONE,
    STOP_TIMEOUT,  /* the task's time limit passed */
    STOP_LOST,     /* renew said the lease is lost or the task cancelled */
    STOP_SHUTDOWN, /* the grace period after SIGTERM ended */
};

/* Exec mode: the handler process of one task. */
struct job_proc {
    struct handler_proc p;      /* pid and pipes */
    ev_child child_w;           /* its exit */
    ev_io in_w, out_w, err_w;   /* payload to stdin, result from stdout, log from stderr */
    ev_timer kill_w;            /* SIGKILL after kill grace */
    ev_timer drain_w;           /* after exit, how long to wait for pipes held by leftovers */
    size_t in_off;              /* payload bytes written */
    char *out;                  /* stdout bytes, owned, at most max_result */
    size_t out_len;             /* bytes in out */
    bool out_over;              /* stdout exceeded max_result */
    struct linebuf errlb;       /* stderr lines */
    char tail[STDERR_TAIL_MAX]; /* last stderr bytes, ring */
    size_t tail_len;            /* bytes of stderr seen in total (ring position) */
    int status;                 /* wait status once exited */
    bool exited;                /* child reaped */
    char **envp;                /* its environment, owned (base strings borrowed) */
};

struct job {
    struct worker *w;         /* owner */
    struct job *prev, *next;  /* in w->jobs */
    struct job *qnext;        /* JOB_QUEUED: next in w->qhead, oldest first */
    struct kwq_task task;     /* the leased task, owned */
    uint64_t start_ms;        /* monotonic start, for duration_ms */
    enum job_state state;     /* running or waiting to report */
    enum job_outcome outcome; /* when state == JOB_REPORT */
    enum job_stop stop;       /* why the worker stopped its handler, if it did */
    ev_timer timeout_w;       /* the task's time limit; JOB_QUEUED: how long it may wait */
    char *result;             /* ack: result bytes, owned, or NULL */
    size_t result_len;        /* bytes in result */
    char *error;              /* fail: error text, owned */
    int code;                 /* fail: exit code or -1 */
    bool no_retry;            /* fail: dead-letter at once */
    struct job_proc *proc;    /* exec mode: the handler process, owned; NULL otherwise */
};

struct stream;

struct worker {
    struct ev_loop *loop;            /* the default loop (ev_child needs it) */
    const struct worker_config *cfg; /* settings, borrowed */
    struct kwq_client *cmd;          /* lease/renew/ack/fail/release */
    struct kwq_client *waitc;        /* the blocking wait only */
    struct job *jobs;                /* every job held, any state */
    size_t njobs;                    /* jobs in the list */
    struct jobmap byid;              /* every job in the list, by task ID (newest per ID) */
    size_t running;                  /* jobs in JOB_RUNNING */
    struct job *qhead, *qtail;       /* jobs in JOB_QUEUED, oldest first */
    size_t queued;                   /* jobs in JOB_QUEUED */
    double task_ms_avg;              /* exec mode: moving average of handler run times, ms */
    bool task_ms_known;              /* task_ms_avg holds at least one run */
    uint64_t tasks_taken;            /* leased, less those given back unstarted: --max-tasks */
    char **env_base;                 /* handler environment without per-task variables */
    size_t env_n;                    /* entries in env_base */
    bool connected;                  /* cmd is usable */
    bool ever_connected;             /* first connect succeeded */
    uint64_t down_since_ms;          /* monotonic time Redis became unreachable */
    uint64_t backoff_ms;             /* next reconnect delay */
    bool waiting;                    /* a wait is outstanding on waitc */
    bool stopping;                   /* SIGTERM/SIGINT seen: lease nothing more */
    bool stop_now;                   /* second signal: stop handlers at once */
    bool grace_over;                 /* --grace has passed since the first signal */
    int fatal_code;                  /* exit code of a problem that stops the worker, 0 none */
    bool woke;                       /* the last wait took a wake token not yet acted on */
    bool prefetch_dry;       /* the last lease came back short: no lease for prefetch only */
    int exit_code;           /* code to exit with once the loop ends */
    ev_prepare prep_w;       /* once per loop turn: start prefetched tasks, report, lease */
    ev_io wait_w;            /* waitc readable */
    ev_timer wait_guard_w;   /* the wait's reply is overdue */
    ev_timer renew_w;        /* renew every lease / 3 */
    ev_timer reconnect_w;    /* next reconnect attempt */
    ev_timer kick_w;         /* zero delay: one more loop turn, work left for it */
    ev_timer idle_w;         /* --idle-exit */
    ev_timer grace_w;        /* --grace after SIGTERM */
    ev_signal term_w, int_w; /* SIGTERM, SIGINT */
    struct stream *stream;   /* stream mode state, or NULL */
    bool ready_on;           /* the readiness file exists */
};

/* ---- lease.c ---- */
int lease_init(struct worker *w);
void lease_done(struct worker *w);
/* Start the connection (asynchronously via the reconnect timer) and the loop's watchers. */
void lease_start(struct worker *w);
/* A job reached JOB_REPORT: bookkeeping for free slots. */
void lease_job_finished(struct job *j);
/* Send every reported outcome now (used on the way out). */
void lease_flush_reports(struct worker *w);
/* The grace period ended: one last reconnect if outcomes are still held for Redis. */
void lease_grace_over(struct worker *w);
/* Before an exit other than drained: give back a wake token this worker will not use. */
void lease_pass_wake(struct worker *w);
/* End the loop with code. */
void lease_finish(struct worker *w, int code);
/* A handler could not be started (handler_spawn error rc): stop with the matching code. */
void lease_spawn_failed(struct worker *w, int rc);
/* Time since the job was leased, ms (monotonic). */
uint64_t lease_job_duration_ms(const struct job *j);
/* The task's time limit (its own, else --timeout), ms; 0 = none. */
uint64_t lease_job_timeout_ms(const struct job *j);

/* ---- exec.c ---- */
/* Start the handler for j. Returns 0, or -errno when it cannot be started. */
int exec_start(struct job *j);
/* Stop j's handler for why: SIGTERM to its group, SIGKILL after kill grace (at once if now). */
void exec_stop(struct job *j, enum job_stop why, bool now);
/* After the loop: kill and reap every remaining handler. */
void exec_reap_all(struct worker *w);

/* ---- stream.c ---- */
int stream_init(struct worker *w);
void stream_free(struct worker *w);
/* True when the stream handler runs and can take tasks. */
bool stream_ready(const struct worker *w);
/* Hand j to the stream handler. */
void stream_submit(struct job *j);
/* A task of the stream lost its lease, timed out, or shutdown: see stream.c. */
void stream_job_lost(struct job *j);
void stream_job_timeout(struct job *j);
void stream_stop(struct worker *w, bool now);

/* ---- shutdown.c ---- */
void shutdown_start(struct worker *w);
/* Called when the worker becomes idle / busy (for --idle-exit). */
void shutdown_idle(struct worker *w, bool idle);

/* ---- ready.c ---- */
/* Create or remove the readiness file to match whether w holds any job. */
void ready_update(struct worker *w);
/* Remove the readiness file (exit path). */
void ready_clear(struct worker *w);

#endif /* KWQ_WORKER_WORKER_H */
