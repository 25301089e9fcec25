/*
 * scaler.h - the one scaler of kwq: observe -> target -> apply, shared by
 * `kwq run --local` (worker processes) and the Kubernetes backend (a Job's
 * spec.parallelism). The rule itself (how many workers a backlog needs) is
 * kwq/scale.h; this adds what both backends must honour around it:
 *
 *   - raise at once to the rule's target;
 *   - lower only as far as max(target, busy): a worker holding a task is
 *     never stopped (a Job's controller deletes NotReady pods first, and a
 *     pod is Ready exactly while its worker holds a task, so parallelism >=
 *     busy spares the busy pods);
 *   - lower only once the wish to lower has lasted hold_ms, so that the
 *     dip between one task's ack and the next lease does not delete a pod
 *     about to lease;
 *   - change nothing while the backend is frozen (a Job with a succeeded
 *     pod, or finished: patching it no longer changes anything);
 *   - done once the queue is sealed and drained: the workers leave by
 *     themselves.
 *
 * scaler_decide() is that decision, pure (the time is an argument).
 * scaler_start() runs it on a libev loop against a backend (struct
 * scaler_backend): it waits on the queue's wake list, so a depth change
 * is seen within a second without polling, and rides out Redis and
 * backend outages within a bound. `kwq scale`, `kwq autoscale` and `kwq run
 * --kube` run that driver with the Kubernetes backend; `kwq run --local`
 * calls scaler_decide() from its own poll loop (runner.c), its backend
 * being the worker processes it starts.
 */
#ifndef KWQ_SCALER_H
#define KWQ_SCALER_H

#include <stdbool.h>
#include <stdint.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/scale.h"

struct ev_loop;

/* ---- The decision ------------------------------------------------------------------------ */

/* What a backend sees of its workers. */
struct scaler_workers {
    uint32_t running;  /* workers (pods) that exist now */
    uint32_t busy;     /* of them, those holding a task (a Job: Ready pods) */
    uint32_t setpoint; /* the count currently asked of the backend (a Job: spec.parallelism) */
    bool frozen; /* the count can no longer be changed (a Job: a pod succeeded, or finished) */
};

/* One observation: the queue's stats and the backend's workers. */
struct scaler_obs {
    uint64_t pending;              /* tasks waiting to be leased */
    uint64_t leased;               /* tasks under a lease */
    bool drained;                  /* sealed, and nothing pending, leased or delayed */
    struct scaler_workers workers; /* the backend's view */
};

enum scaler_verdict {
    SCALER_KEEP,   /* the setpoint is right: nothing to do */
    SCALER_APPLY,  /* apply decision.setpoint */
    SCALER_HOLD,   /* would lower, but the wish is younger than hold_ms: look again later */
    SCALER_FROZEN, /* the backend cannot change any more: nothing to do */
    SCALER_DONE,   /* the queue is sealed and drained: stop scaling */
};

struct scaler_decision {
    enum scaler_verdict verdict;
    uint32_t target;      /* the rule's target for the observed backlog */
    uint32_t setpoint;    /* SCALER_APPLY: the setpoint to apply; else the current one */
    uint64_t hold_end_ms; /* SCALER_HOLD: the time at which the lowering would be applied */
};

/* What scaler_decide remembers between observations: when the wish to lower began. */
struct scaler_hold {
    uint64_t since_ms; /* time of the first observation of the current wish to lower; 0 none */
};

/*
 * Decide the step for observation o made at now_ms (a monotonic clock, > 0)
 * under rule r (checked with kwq_scale_rule_check). hold carries the
 * lowering wish from one call to the next (zero it to begin); hold_ms 0
 * lowers at once. The result, when a change is due:
 *     target >= setpoint:  target                              (raise, or keep)
 *     target <  setpoint:  min(setpoint, max(target, busy))    (lower, never below busy)
 */
struct scaler_decision scaler_decide(const struct kwq_scale_rule *r, const struct scaler_obs *o,
                                     struct scaler_hold *hold, uint64_t hold_ms, uint64_t now_ms);

/* "keep", "apply", "hold", "frozen", "done". */
const char *scaler_verdict_name(enum scaler_verdict v);

/* ---- Backends ---------------------------------------------------------------------------- */

/* The outcome of an observe: w is NULL when err->code != 0. */
typedef void scaler_observe_done(void *arg, const struct scaler_workers *w,
                                 const struct kwq_error *err);
/* The outcome of an apply: err->code == 0 when the backend accepted the setpoint. */
typedef void scaler_apply_done(void *arg, const struct kwq_error *err);

/*
 * A backend: how to see and change its workers. Each call calls its done
 * exactly once, from the loop later (the Kubernetes backend: after an HTTP
 * request) or before it returns (a backend with nothing to wait for): the
 * scaler accepts both.
 * The scaler makes at most one call at a time. Errors are KWQ_E* codes:
 * kwq_err_is_transient() ones are retried within the scaler's bound, any
 * other stops it.
 */
struct scaler_backend {
    const char *name; /* for messages: "kwq-worker processes", "Job 'x'" */
    void *ctx;        /* the backend's own state, passed to each call */
    void (*observe)(void *ctx, scaler_observe_done *done, void *arg);
    void (*apply)(void *ctx, uint32_t setpoint, scaler_apply_done *done, void *arg);
};

/* ---- The driver --------------------------------------------------------------------------- */

struct scaler;

enum scaler_end {
    SCALER_END_DRAINED, /* the queue is sealed and drained */
    SCALER_END_SIGNAL,  /* SIGINT or SIGTERM (with catch_signals) */
    SCALER_END_STOPPED, /* scaler_stop() */
    SCALER_END_ERROR,   /* a permanent error, or an outage longer than retry_ms: see err */
    SCALER_END_ONCE,    /* the one step of a once scaler was taken */
};

struct scaler_cfg {
    const char *queue;             /* the queue (borrowed for the scaler's life) */
    struct kwq_client_opts redis;  /* how to reach Redis (the scaler makes two connections) */
    struct kwq_scale_rule rule;    /* checked with kwq_scale_rule_check */
    struct scaler_backend backend; /* the workers */
    uint64_t hold_ms;              /* lower only after this long (see SCALER_HOLD_MS) */
    uint64_t wait_ms;              /* longest wait on the wake list; 0 = SCALER_WAIT_MS */
    uint64_t min_step_ms;          /* shortest time between two steps; 0 = SCALER_MIN_STEP_MS */
    uint64_t retry_ms;             /* ride out Redis or backend outages this long; 0 = none */
    bool catch_signals;            /* SIGINT/SIGTERM end the scaler (SCALER_END_SIGNAL) */
    bool once; /* one step, then SCALER_END_ONCE (`kwq scale`); with hold_ms 0 it also lowers */
    /* Called after every decision (may be NULL): for logs, progress, a successor Job. */
    void (*on_step)(void *arg, const struct scaler_obs *o, const struct scaler_decision *d);
    /* Called on each transient failure that will be retried (may be NULL): for a note. */
    void (*on_retry)(void *arg, const struct kwq_error *err);
    /* Called once when the scaler ends, never from scaler_free; err->code is 0 unless
       SCALER_END_ERROR. May call ev_break, not scaler_free. */
    void (*on_end)(void *arg, enum scaler_end why, const struct kwq_error *err);
    void *arg; /* for on_step, on_retry and on_end */
};

/*
 * A dip shorter than the hold lowers nothing. For a Job it must outlast the
 * readiness probe's period (1 s in the documented Job, docs/kwq-worker.md):
 * a pod that has just leased is NotReady until its next probe, and lowering
 * before then could have the controller delete it (it would finish within
 * its --grace or release the task uncharged, but the work is interrupted).
 */
#define SCALER_HOLD_MS     3000
#define SCALER_WAIT_MS     1000 /* a depth change that leaves no wake token is seen this late */
#define SCALER_MIN_STEP_MS 150  /* a queue whose wake token is always set costs ~7 steps/s */

/*
 * Start scaling on loop with a copy of cfg (the strings it points to stay
 * borrowed): connect, then step (stats, observe, decide, apply) whenever the
 * wake list stirs or wait_ms passes, at most once per min_step_ms. Returns 0
 * with *ret set, or KWQ_EINVAL/KWQ_ENOMEM with err set (on_end is never
 * called then).
 */
int scaler_start(struct ev_loop *loop, const struct scaler_cfg *cfg, struct scaler **ret,
                 struct kwq_error *err);

/* End the scaler soon (SCALER_END_STOPPED), unless it ended already. */
void scaler_stop(struct scaler *s);

/* The last setpoint the backend confirmed, -1 before any. */
int64_t scaler_applied(const struct scaler *s);

/* Steps taken so far (a step: one stats read and one decision). */
uint64_t scaler_steps(const struct scaler *s);

/*
 * Free s (watchers stopped, connections closed). s may be NULL. Not from a
 * callback of the scaler's, and only when no backend call is in flight:
 * after on_end, or before the loop ran.
 */
void scaler_free(struct scaler *s);

#endif /* KWQ_SCALER_H */
