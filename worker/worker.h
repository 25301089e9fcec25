/*
 * worker.h - the state of one kwq-worker process, the job it tracks per
 * leased task, and the interface between the core and the runners. The
 * files of worker/:
 *
 *   main.c      options, the loop, the exit
 *   The core (core.h):
 *   loop.c      the loop turn (start, report, lease), set-up, the exit
 *   jobs.c      job lifecycle: leased, queued, running, finished, freed
 *   conn.c      the Redis connection: connect, reconnect, backoff, down clock
 *   take.c      leasing, prefetch, the blocking wait, the wake token
 *   report.c    charges of prefetched tasks started; ack, fail, release; in batches
 *   renew.c     renewing every lease held
 *   shutdown.c  signals, grace period, idle exit
 *   ready.c     the readiness file
 *   jobmap.c    the jobs held, by task ID
 *   The runners (struct runner, below):
 *   exec.c      exec mode: one handler process per task
 *   stream.c    stream mode: one long-lived handler, tasks as JSON lines
 *   handler.c   finding and starting handler processes
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
    uint64_t timeout_ms;      /* its time limit (its own, else --timeout), ms; 0 = none */
    enum job_state state;     /* running or waiting to report */
    enum job_outcome outcome; /* when state == JOB_REPORT */
    enum job_stop stop;       /* why the worker stopped its handler, if it did */
    ev_timer timeout_w;       /* the task's time limit; JOB_QUEUED: how long it may wait */
    char *result;             /* ack: result bytes, owned, or NULL */
    size_t result_len;        /* bytes in result */
    char *error;              /* fail: error text, owned */
    int code;                 /* fail: exit code or -1 */
    bool no_retry;            /* fail: dead-letter at once */
    bool uncharged;           /* leased ahead uncharged; started, Redis not yet told (charge) */
    bool sending;             /* a call about it (its start or outcome) is on its way to Redis */
    struct job_proc *proc;    /* exec mode: the handler process, owned; NULL otherwise */
};

struct stream;
struct runner;
struct runner_events;

struct worker {
    struct ev_loop *loop;               /* the default loop (ev_child needs it) */
    const struct worker_config *cfg;    /* settings, borrowed */
    const struct runner *runner;        /* exec or stream mode */
    const struct runner_events *events; /* the core's callbacks for the runner */
    struct kwq_async *cmd;              /* lease/renew/ack/fail/release, pipelined */
    struct kwq_async *waitc;            /* the blocking wait only */
    struct job *jobs;                   /* every job held, any state */
    size_t njobs;                       /* jobs in the list */
    struct jobmap byid;                 /* every job in the list, by task ID (newest per ID) */
    size_t running;                     /* jobs in JOB_RUNNING */
    struct job *qhead, *qtail;          /* jobs in JOB_QUEUED, oldest first */
    size_t queued;                      /* jobs in JOB_QUEUED */
    double task_ms_avg;                 /* exec mode: moving average of handler run times, ms */
    bool task_ms_known;                 /* task_ms_avg holds at least one run */
    uint64_t tasks_taken;               /* leased, less those given back unstarted: --max-tasks */
    char **env_base;                    /* handler environment without per-task variables */
    size_t env_n;                       /* entries in env_base */
    bool connected;                     /* cmd is usable */
    bool connecting;                    /* a connect of cmd is outstanding */
    bool ever_connected;                /* first connect succeeded */
    bool down;                          /* calls fail since down_since_ms; none succeeded since */
    uint64_t down_since_ms;             /* monotonic time of the first failure in a row */
    uint64_t backoff_ms;                /* next reconnect delay */
    uint64_t hold_ms;                   /* next delay of a retry after KWQ_EOOM, 0 = first */
    bool oom;                           /* results refused at maxmemory held: lease nothing */
    bool demoted;                       /* READONLY: reconnected once, no call succeeded since */
    bool waiting;                       /* a wait (or waitc's connect) is outstanding */
    uint64_t wait_ms;                   /* timeout of that wait */
    bool leasing;                       /* a lease is outstanding on cmd */
    size_t lease_slots, lease_want;     /* what it asked for: slots to start, slots + prefetch */
    bool asking_drained;                /* a drained call after --max-tasks is outstanding */
    size_t renewing;                    /* renew calls outstanding (a new one waits for them) */
    bool idle_checking;                 /* the --idle-exit stats call is outstanding */
    bool stopping;                      /* SIGTERM/SIGINT seen: lease nothing more */
    bool stop_now;                      /* second signal: stop handlers at once */
    bool grace_over;                    /* --grace has passed since the first signal */
    int fatal_code;                     /* exit code of a problem that stops the worker, 0 none */
    bool woke;                          /* the last wait took a wake token not yet acted on */
    bool prefetch_dry;       /* the last lease came back short: no lease for prefetch only */
    size_t drained_held;     /* jobs held when a lease said drained; no lease while as many */
    int exit_code;           /* code to exit with once the loop ends */
    ev_prepare prep_w;       /* once per loop turn: start prefetched tasks, report, lease */
    ev_timer finish_w;       /* exit: how long outstanding calls may take to be answered */
    ev_timer renew_w;        /* renew every lease / 3 */
    ev_timer reconnect_w;    /* next reconnect attempt */
    ev_timer hold_w;         /* Redis at maxmemory: no reports or leases until it fires */
    ev_timer kick_w;         /* zero delay: one more loop turn, work left for it */
    ev_timer idle_w;         /* --idle-exit */
    ev_timer grace_w;        /* --grace after SIGTERM */
    ev_signal term_w, int_w; /* SIGTERM, SIGINT */
    struct stream *stream;   /* stream mode state, or NULL */
    bool ready_on;           /* the readiness file exists */
};

/*
 * Runners run the handlers: exec.c (a process per task) and stream.c (one
 * long-lived process). The core (every other file, core.h) drives one
 * through struct runner; a runner reports back only through the
 * runner_events the core put in w->events, as libuv's exit_cb, and calls
 * none of the core's functions.
 */
struct runner_events {
    /* j's outcome (result or error) is set: j leaves JOB_RUNNING to be reported. */
    void (*finished)(struct job *j);
    /* A handler could not be started (handler_spawn's rc): the worker stops with its code. */
    void (*start_failed)(struct worker *w, int rc);
    /* A problem that stops the worker as SIGTERM would; it exits code once stopped. */
    void (*fatal)(struct worker *w, int code);
};

struct runner {
    /* Set up (stream mode: start the handler). 0 or -errno from handler_spawn. */
    int (*init)(struct worker *w);
    /* After the loop: stop and reap every handler, free the runner's state. */
    void (*free)(struct worker *w);
    /* True when a task given now would start at once. */
    bool (*ready)(const struct worker *w);
    /* Run j (JOB_RUNNING). -errno when its handler cannot be started (j untouched). */
    int (*start)(struct job *j);
    /* Stop j's handler for why (STOP_TIMEOUT or STOP_LOST); its end calls finished. */
    void (*stop)(struct job *j, enum job_stop why);
    /* Stop every handler for shutdown: SIGTERM, SIGKILL after kill grace (at once if now). */
    void (*stop_all)(struct worker *w, bool now);
};

extern const struct runner exec_runner;   /* exec.c */
extern const struct runner stream_runner; /* stream.c */

#endif /* KWQ_WORKER_WORKER_H */
