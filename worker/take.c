/*
 * take.c - taking work: leasing into the free slots, prefetch, the
 * blocking wait, and the wake token.
 *
 * - Leasing happens once per loop turn (loop.c), only when a slot is free
 *   (or the prefetch below runs low), the worker is not stopping, and no
 *   wait is outstanding.
 * - Prefetch (exec mode only): while handlers are short (their moving
 *   average under PREFETCH_TASK_MS), the worker leases up to PREFETCH_MAX
 *   tasks beyond its free slots, so that a finished handler's slot gets its
 *   next task at once, and the ack and the next lease (two round trips) are
 *   made while that task runs instead of before it (jobs.c holds them).
 *   Tasks leased ahead are leased uncharged: a worker that dies before
 *   starting them uses up none of their attempts.
 * - Idle waiting is a blocking wait on a second connection (waitc) watched
 *   with ev_io; its timeout is the lease reply's next_due_ms, so a lease
 *   that expires on a dead peer is noticed without polling.
 * - Exit 0 only on a lease reply that says drained while this worker holds
 *   nothing. A drained reply while it holds jobs (stopping ones, which
 *   Redis no longer counts) waits for one of them to go before the next
 *   lease: no wait, as the wake token of a drained queue stays set.
 */
#include <stdio.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"

#include "core.h"

#define WAIT_MAX_MS   10000 /* longest single wait: bounds the cost of a lost wake token */
#define WAIT_SLACK_MS 10    /* wake a little after next_due so the deadline has passed */

/* ---- Waiting ---- */

void take_wait_abort(struct worker *w)
{
    if (!w->waiting)
        return;
    /* Marked first: the disconnect calls on_wait_reply, which then ignores the failure. */
    w->waiting = false;
    kwq_async_disconnect(w->waitc);
}

/* On reply of the wait: woken when it took a wake token; rc < 0 a failure. */
static void on_wait_reply(struct kwq_async *a, int rc, bool woken, void *data)
{
    struct worker *w = data;

    (void)a;
    if (!w->waiting)
        return; /* aborted */
    w->waiting = false;
    w->woke = woken;
    if (rc < 0) {
        conn_failed(w, "wait", rc, kwq_async_errstr(w->waitc));
        return;
    }
    conn_ok(w);
}

/* Send the wait on waitc, now connected. */
static void wait_send(struct worker *w)
{
    int rc = kwq_async_wait(w->waitc, w->cfg->queue, w->wait_ms, on_wait_reply, w);

    if (rc < 0) {
        w->waiting = false;
        conn_failed(w, "wait", rc, kwq_async_errstr(w->waitc));
    }
}

static void on_waitc_connected(struct kwq_async *a, int rc, void *data)
{
    struct worker *w = data;

    (void)a;
    if (!w->waiting)
        return; /* aborted */
    if (rc < 0) {
        w->waiting = false;
        conn_failed(w, "wait", rc, kwq_async_errstr(w->waitc));
        return;
    }
    wait_send(w);
}

/* Block (on waitc) until woken or the next lease expiry; connect waitc first if need be. */
static void wait_begin(struct worker *w, int64_t next_due_ms)
{
    int rc;

    w->wait_ms = WAIT_MAX_MS;
    if (next_due_ms >= 0 && (uint64_t)next_due_ms + WAIT_SLACK_MS < w->wait_ms)
        w->wait_ms = (uint64_t)next_due_ms + WAIT_SLACK_MS;
    w->waiting = true;
    if (kwq_async_is_connected(w->waitc)) {
        wait_send(w);
        return;
    }
    rc = kwq_async_connect(w->waitc, on_waitc_connected, w);
    if (rc < 0) {
        w->waiting = false;
        conn_failed(w, "wait", rc, kwq_async_errstr(w->waitc));
    }
}

/* ---- Leasing ---- */

static size_t slots_free(const struct worker *w)
{
    uint64_t n;

    if (!w->runner->ready(w))
        return 0;
    if (w->running + w->queued >= w->cfg->concurrency)
        return 0;
    n = w->cfg->concurrency - w->running - w->queued;
    if (w->cfg->max_tasks && w->cfg->max_tasks - w->tasks_taken < n)
        n = w->cfg->max_tasks - w->tasks_taken;
    return (size_t)n;
}

/*
 * Tasks to lease beyond the free slots: exec mode only, while handlers are
 * short, and only once the prefetch queue is down to half, so that leases go
 * in batches. Within --max-tasks.
 */
static size_t prefetch_want(const struct worker *w, size_t slots)
{
    uint64_t n;

    if (w->cfg->stream || !w->task_ms_known || w->task_ms_avg >= PREFETCH_TASK_MS)
        return 0;
    /* The queue had no more last time: lease ahead again only along with a free slot. */
    if (slots == 0 && w->prefetch_dry)
        return 0;
    if (w->queued >= PREFETCH_MAX || (slots == 0 && w->queued > PREFETCH_MAX / 2))
        return 0;
    n = PREFETCH_MAX - w->queued;
    if (w->cfg->max_tasks) {
        uint64_t left = w->cfg->max_tasks - w->tasks_taken - slots;
        n = n < left ? n : left;
    }
    return (size_t)n;
}

/* On the lease reply r (asked for slots + ahead): the first slots start, the rest are queued. */
static void on_lease_reply(struct kwq_async *a, int rc, struct kwq_lease_result *r, void *data)
{
    struct worker *w = data;
    size_t slots = w->lease_slots;

    (void)a;
    w->leasing = false;
    if (rc < 0) {
        conn_failed(w, "lease", rc, kwq_async_errstr(w->cmd));
        return;
    }
    conn_ok(w);
    if (w->exit_code >= 0)
        return; /* the tasks go back to the library, their leases expire */
    w->woke = false;
    for (size_t i = 0; i < r->n; i++) {
        w->tasks_taken++;
        /*
         * Once a start failed the worker is stopping: the rest are queued,
         * then released; so are tasks for a stream handler that went away
         * while the lease travelled.
         */
        job_start(w, &r->tasks[i], i >= slots || w->stopping || !w->runner->ready(w), i < slots);
    }
    w->prefetch_dry = r->n < w->lease_want;
    w->drained_held = 0;
    if (r->n == 0 && r->drained && w->njobs == 0) {
        kwq_log(KWQ_LOG_INFO, "queue drained: exiting", KWQ_LS("queue", w->cfg->queue),
                KWQ_LI("tasks", w->tasks_taken));
        worker_finish(w, KWQ_EXIT_OK);
    } else if (r->n == 0 && r->drained) {
        /*
         * Drained, yet jobs are held: jobs Redis no longer counts (lost or
         * cancelled, their handlers stopping). A drained queue keeps the wake
         * token set, so a wait would return at once: lease again only once
         * one of these jobs is gone.
         */
        w->drained_held = w->njobs;
    } else if (r->n < slots && !w->stopping) {
        /*
         * Nothing more pending right now: block until woken or the next lease
         * expiry. Only with a slot left empty: a worker that waited for
         * prefetch alone could take a wake token it then has no use for.
         */
        wait_begin(w, r->next_due_ms);
    }
    shutdown_idle(w, w->njobs == 0);
}

/* Send a lease for up to slots + ahead tasks. */
static void lease_some(struct worker *w, size_t slots, size_t ahead)
{
    int rc;

    w->lease_slots = slots;
    w->lease_want = slots + ahead;
    w->leasing = true;
    /* Only the tasks for the free slots are charged now; those leased ahead when they start. */
    rc = kwq_async_lease_prefetch(w->cmd, w->cfg->queue, slots + ahead, slots, w->cfg->lease_ms,
                                  on_lease_reply, w);
    if (rc < 0) {
        w->leasing = false;
        conn_failed(w, "lease", rc, kwq_async_errstr(w->cmd));
    }
}

/* On the drained reply after --max-tasks: exit 0 only if the queue is drained. */
static void on_quota_drained_reply(struct kwq_async *a, int rc, bool drained, void *data)
{
    struct worker *w = data;

    (void)a;
    w->asking_drained = false;
    if (rc < 0) {
        conn_failed(w, "drained", rc, kwq_async_errstr(w->cmd));
        return;
    }
    conn_ok(w);
    kwq_log(KWQ_LOG_INFO,
            drained ? "--max-tasks reached and queue drained: exiting"
                    : "--max-tasks reached: exiting (queue not drained)",
            KWQ_LI("tasks", w->tasks_taken));
    worker_finish(w, drained ? KWQ_EXIT_OK : KWQ_EXIT_INTERRUPTED);
}

/* --max-tasks reached and nothing held: send the drained check. */
static void finish_quota(struct worker *w)
{
    int rc;

    w->asking_drained = true;
    rc = kwq_async_drained(w->cmd, w->cfg->queue, on_quota_drained_reply, w);
    if (rc < 0) {
        w->asking_drained = false;
        conn_failed(w, "drained", rc, kwq_async_errstr(w->cmd));
    }
}

void take_turn(struct worker *w)
{
    size_t want, ahead;

    if (!conn_usable(w) || w->oom || w->waiting || w->leasing || w->asking_drained ||
        (w->drained_held && w->njobs >= w->drained_held))
        return;
    if (w->cfg->max_tasks && w->tasks_taken >= w->cfg->max_tasks) {
        if (w->njobs == 0)
            finish_quota(w);
        return;
    }
    want = slots_free(w);
    /* Stream mode: while tasks are in flight, lease in batches, not one slot at a time. */
    if (w->cfg->stream && w->running > 0 && want < (w->cfg->concurrency + 7) / 8)
        return;
    ahead = prefetch_want(w, want);
    if (want + ahead > 0)
        lease_some(w, want, ahead);
}

/* ---- The wake token ---- */

static void on_pass_wake_reply(struct kwq_async *a, int rc, bool drained, void *data)
{
    (void)data;
    if (rc < 0) {
        kwq_log(KWQ_LOG_DEBUG, "could not pass the wake-up on", KWQ_LS("err", kwq_async_errstr(a)));
        return;
    }
    kwq_log(KWQ_LOG_DEBUG, "wake-up passed on to idle workers", KWQ_LI("drained", drained));
}

/*
 * Idle waiters share one wake token, each passing it on by leasing. A
 * worker that stops (SIGTERM, idle exit) holding a token it took, or with a
 * wait outstanding (Redis may have handed it the token already), drops the
 * wait and puts the token back; else its idle peers would only notice on
 * their next periodic lease, up to WAIT_MAX_MS later. kwq_drained sets the
 * token when the queue is drained: the case in which those peers exit 0 and
 * the Job completes (libkwq has no call that sets it for pending work).
 * Best effort: the worker is on its way out either way (its exit waits a
 * moment for the reply, see worker_finish).
 */
void take_pass_wake(struct worker *w)
{
    bool took = w->woke || w->waiting;

    take_wait_abort(w);
    w->woke = false;
    if (!took || !w->connected)
        return;
    if (kwq_async_drained(w->cmd, w->cfg->queue, on_pass_wake_reply, w) < 0)
        kwq_log(KWQ_LOG_DEBUG, "could not pass the wake-up on",
                KWQ_LS("err", kwq_async_errstr(w->cmd)));
}

/* ---- Set-up ---- */

void take_done(struct worker *w)
{
    take_wait_abort(w);
}
