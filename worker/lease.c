/*
 * lease.c - the worker's side of the queue: connection, leasing, waiting,
 * renewing and reporting outcomes.
 *
 * Invariants:
 * - Leasing happens in one place, the prepare watcher, once per loop turn
 *   and only when a slot is free (or the prefetch below runs low), the
 *   worker is not stopping, and no wait is outstanding. In the same turn,
 *   first prefetched tasks are started in the slots that freed up, then
 *   outcomes are sent in batches, then the lease is made.
 * - Prefetch (exec mode only): while handlers are short (their moving
 *   average under PREFETCH_TASK_MS), the worker leases up to PREFETCH_MAX
 *   tasks beyond its free slots, so that a finished handler's slot gets its
 *   next task at once, and the ack and the next lease (two round trips) are
 *   made while that task runs instead of before it. A prefetched task is
 *   renewed like any other; one that has not started within
 *   PREFETCH_HOLD_MS (a handler turned out to be long) is released, and so
 *   is every prefetched task on SIGTERM, uncharged, so no task waits in a
 *   worker that cannot start it promptly.
 * - A job stays in w->jobs, and its lease is renewed, until Redis has
 *   answered its ack, fail or release. A transport failure keeps the job
 *   and reconnects with capped exponential backoff; handlers keep running.
 *   After SIGTERM, jobs held that way keep the worker reconnecting until
 *   the grace period is over (then it says how many outcomes were lost).
 * - --max-tasks counts tasks leased, less those given back unstarted
 *   (prefetched): a worker runs exactly N tasks when the queue has them.
 * - Idle waiting is a blocking wait on a second connection (waitc) watched
 *   with ev_io; its timeout is the lease reply's next_due_ms, so a lease
 *   that expires on a dead peer is noticed without polling.
 * - Exit 0 only on a lease reply that says drained while this worker holds
 *   nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "worker.h"

#define WAIT_MAX_MS      10000 /* longest single wait: bounds the cost of a lost wake token */
#define WAIT_SLACK_MS    10    /* wake a little after next_due so the deadline has passed */
#define WAIT_GUARD_MS    15000 /* the wait's reply is overdue this long after its timeout */
#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   5000
#define BATCH_MAX        1000 /* items per renew/ack/fail/release call */
#define PREFETCH_MAX     4    /* tasks leased beyond the free slots, at most */
#define PREFETCH_TASK_MS 20   /* prefetch only while handlers take less than this on average */
#define PREFETCH_HOLD_MS 250  /* a prefetched task not started by then is released */
#define TASK_MS_WEIGHT   0.25 /* weight of the newest run in the moving average */

extern char **environ;

static void conn_lost(struct worker *w, const char *op, const char *why);
static struct kwq_client *client_new(const struct worker_config *cfg);

/* ---- Jobs ---- */

uint64_t lease_job_duration_ms(const struct job *j)
{
    return kwq_monotonic_ms() - j->start_ms;
}

uint64_t lease_job_timeout_ms(const struct job *j)
{
    return j->task.timeout_ms ? j->task.timeout_ms : j->w->cfg->timeout_ms;
}

static void on_job_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct job *j = t->data;
    char buf[32];

    (void)loop;
    (void)revents;
    kwq_format_duration(lease_job_timeout_ms(j), buf, sizeof(buf));
    kwq_log(KWQ_LOG_WARN, "task timed out: stopping its handler", KWQ_LS("task", j->task.id),
            KWQ_LI("attempt", j->task.attempt), KWQ_LS("timeout", buf));
    if (j->w->cfg->stream)
        stream_job_timeout(j);
    else
        exec_stop(j, STOP_TIMEOUT, false);
}

/* Link j into w's list and map. 0, or KWQ_ENOMEM (j not linked). */
static int job_link(struct worker *w, struct job *j)
{
    if (jobmap_put(&w->byid, j->task.id, j) < 0)
        return KWQ_ENOMEM;
    j->next = w->jobs;
    if (w->jobs)
        w->jobs->prev = j;
    w->jobs = j;
    w->njobs++;
    return 0;
}

/* Take queued j out of w's prefetch queue (short: at most PREFETCH_MAX entries). */
static void queue_remove(struct worker *w, struct job *j)
{
    struct job **pp = &w->qhead, *prev = NULL;

    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = j->qnext;
    if (w->qtail == j)
        w->qtail = prev;
    j->qnext = NULL;
    w->queued--;
}

/* Unlink j from w (its owner) and free it. */
static void job_free(struct worker *w, struct job *j)
{
    ev_timer_stop(w->loop, &j->timeout_w);
    if (w->jobs == j)
        w->jobs = j->next;
    else if (j->prev)
        j->prev->next = j->next;
    if (j->next)
        j->next->prev = j->prev;
    jobmap_del(&w->byid, j->task.id, j);
    w->njobs--;
    if (j->state == JOB_RUNNING)
        w->running--;
    else if (j->state == JOB_QUEUED)
        queue_remove(w, j);
    kwq_task_done(&j->task);
    free(j->result);
    free(j->error);
    free(j);
}

void lease_job_finished(struct job *j)
{
    struct worker *w = j->w;
    double ms;

    if (j->state != JOB_RUNNING)
        return;
    ev_timer_stop(w->loop, &j->timeout_w);
    j->state = JOB_REPORT;
    w->running--;
    ms = (double)lease_job_duration_ms(j);
    w->task_ms_avg =
        w->task_ms_known ? w->task_ms_avg + TASK_MS_WEIGHT * (ms - w->task_ms_avg) : ms;
    w->task_ms_known = true;
}

/*
 * Give a prefetched job back (uncharged) with the next batch of reports. It
 * never ran here, so it does not count toward --max-tasks.
 */
static void queued_release(struct job *j)
{
    ev_timer_stop(j->w->loop, &j->timeout_w);
    queue_remove(j->w, j);
    j->w->tasks_taken--;
    j->state = JOB_REPORT;
    j->outcome = OUT_RELEASE;
}

static void on_queued_expiry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct job *j = t->data;
    struct worker *w = j->w;

    (void)loop;
    (void)revents;
    kwq_log(KWQ_LOG_INFO, "prefetched task not started in time: releasing it",
            KWQ_LS("task", j->task.id), KWQ_LI("held_ms", lease_job_duration_ms(j)));
    queued_release(j);
    /* Handlers are long now: no prefetch until short runs bring the average down again. */
    if (w->task_ms_avg < PREFETCH_HOLD_MS)
        w->task_ms_avg = PREFETCH_HOLD_MS;
}

/*
 * A new job owning *t (then zeroed), linked into w: running (time limit
 * armed) or queued. NULL when out of memory (*t untouched).
 */
static struct job *job_new(struct worker *w, struct kwq_task *t, bool queued)
{
    struct job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->w = w;
    j->task = *t;
    if (job_link(w, j) < 0) {
        free(j);
        return NULL;
    }
    memset(t, 0, sizeof(*t));
    j->start_ms = kwq_monotonic_ms();
    j->timeout_w.data = j;
    if (queued) {
        j->state = JOB_QUEUED;
        if (w->qtail)
            w->qtail->qnext = j;
        else
            w->qhead = j;
        w->qtail = j;
        w->queued++;
        ev_timer_init(&j->timeout_w, on_queued_expiry, PREFETCH_HOLD_MS / 1000.0, 0.);
        ev_timer_start(w->loop, &j->timeout_w);
    } else {
        j->state = JOB_RUNNING;
        w->running++;
    }
    return j;
}

/* j becomes running: its duration and time limit count from now. */
static void job_set_running(struct job *j)
{
    struct worker *w = j->w;
    uint64_t timeout;

    if (j->state == JOB_QUEUED) {
        ev_timer_stop(w->loop, &j->timeout_w);
        queue_remove(w, j);
        j->state = JOB_RUNNING;
        w->running++;
        j->start_ms = kwq_monotonic_ms();
    }
    ev_timer_init(&j->timeout_w, on_job_timeout, 0., 0.);
    timeout = lease_job_timeout_ms(j);
    if (timeout) {
        ev_timer_set(&j->timeout_w, (double)timeout / 1000.0, 0.);
        ev_timer_start(w->loop, &j->timeout_w);
    }
}

/* Start the handler of j (new, or taken from the prefetch queue). */
static void job_run(struct worker *w, struct job *j)
{
    int rc;

    job_set_running(j);
    if (w->cfg->stream) {
        stream_submit(j);
        return;
    }
    rc = exec_start(j);
    if (rc < 0) {
        /* Not the task's fault: give it back uncharged and stop this worker. */
        kwq_log(KWQ_LOG_ERROR, "cannot start the handler: releasing the task and stopping",
                KWQ_LS("task", j->task.id), KWQ_LS("handler", w->cfg->handler_path),
                KWQ_LS("err", strerror(-rc)));
        j->outcome = OUT_RELEASE;
        lease_job_finished(j); /* its run time no longer matters: the worker stops */
        w->tasks_taken--;
        lease_spawn_failed(w, rc);
    }
}

void lease_spawn_failed(struct worker *w, int rc)
{
    if (handler_spawn_error_is_resource(rc))
        kwq_log(KWQ_LOG_ERROR,
                "out of processes, file descriptors or memory for handlers: exiting 71 once the "
                "running handlers are done; lower --concurrency or raise the pod's limits",
                KWQ_LS("err", strerror(-rc)));
    if (!w->fatal_code)
        w->fatal_code = handler_spawn_error_is_resource(rc) ? KWQ_EXIT_OSERR : KWQ_EXIT_CONFIG;
    shutdown_start(w);
}

/* Take ownership of *t (zeroed): start its handler, or queue it when queued (prefetch). */
static void job_start(struct worker *w, struct kwq_task *t, bool queued)
{
    struct job *j = job_new(w, t, queued);

    if (!j) {
        kwq_log(KWQ_LOG_ERROR, "out of memory: task left to its lease expiry",
                KWQ_LS("task", t->id));
        w->tasks_taken--;
        return;
    }
    ready_update(w);
    kwq_log(KWQ_LOG_DEBUG, queued ? "task leased (prefetched)" : "task leased",
            KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
    if (!queued)
        job_run(w, j);
}

/* Start prefetched tasks in the slots that are free, oldest first. */
static void start_queued(struct worker *w)
{
    while (w->qhead && w->running < w->cfg->concurrency && !w->stopping)
        job_run(w, w->qhead);
}

/* SIGTERM or a fatal error: nothing more starts, so every prefetched task goes back. */
static void release_queued(struct worker *w)
{
    while (w->qhead)
        queued_release(w->qhead);
}

/* ---- Connection ---- */

/*
 * On the way out with jobs still held (Redis unreachable): say how many
 * outcomes were never delivered, and that those tasks run again once their
 * leases expire (a release too: it would have given its task back at once).
 */
static void log_undelivered(const struct worker *w)
{
    size_t acks = 0, fails = 0, releases = 0, unfinished = 0;
    char lease[32];

    for (const struct job *j = w->jobs; j; j = j->next) {
        if (j->state == JOB_QUEUED)
            releases++; /* prefetched, never started: it would have been given back */
        else if (j->state != JOB_REPORT)
            unfinished++; /* its handler is killed on the way out */
        else if (j->outcome == OUT_ACK)
            acks++;
        else if (j->outcome == OUT_FAIL)
            fails++;
        else if (j->outcome == OUT_RELEASE)
            releases++;
    }
    if (acks + fails + releases + unfinished == 0)
        return;
    kwq_format_duration(w->cfg->lease_ms, lease, sizeof(lease));
    kwq_log(KWQ_LOG_WARN,
            "exiting with outcomes not delivered to Redis: those tasks will run again after "
            "their leases expire",
            KWQ_LI("undelivered", acks + fails + releases), KWQ_LI("acks", acks),
            KWQ_LI("fails", fails), KWQ_LI("releases", releases), KWQ_LI("unfinished", unfinished),
            KWQ_LS("lease", lease));
}

void lease_finish(struct worker *w, int code)
{
    if (w->exit_code < 0)
        w->exit_code = code;
    ev_break(w->loop, EVBREAK_ALL);
}

static void wait_end(struct worker *w)
{
    ev_io_stop(w->loop, &w->wait_w);
    ev_timer_stop(w->loop, &w->wait_guard_w);
    w->waiting = false;
}

/* Drop an outstanding wait: the connection is mid-command, so it is replaced. */
static void wait_abort(struct worker *w)
{
    if (!w->waiting)
        return;
    wait_end(w);
    kwq_client_free(w->waitc);
    w->waitc = client_new(w->cfg);
}

static void schedule_reconnect(struct worker *w, uint64_t delay_ms)
{
    ev_timer_stop(w->loop, &w->reconnect_w);
    ev_timer_set(&w->reconnect_w, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(w->loop, &w->reconnect_w);
}

static void conn_lost(struct worker *w, const char *op, const char *why)
{
    if (w->connected) {
        w->connected = false;
        w->down_since_ms = kwq_monotonic_ms();
        w->backoff_ms = BACKOFF_MIN_MS;
        kwq_log(KWQ_LOG_WARN, "Redis call failed: reconnecting; running handlers continue",
                KWQ_LS("op", op), KWQ_LS("err", why), KWQ_LI("held", w->njobs));
    }
    wait_abort(w);
    if (!ev_is_active(&w->reconnect_w))
        schedule_reconnect(w, w->backoff_ms);
}

static void connected(struct worker *w)
{
    bool again = w->ever_connected;

    w->connected = true;
    w->ever_connected = true;
    kwq_log(KWQ_LOG_INFO, again ? "reconnected to Redis" : "connected to Redis",
            KWQ_LS("redis", kwq_client_url_redacted(w->cmd)), KWQ_LS("queue", w->cfg->queue));
    if (!ev_is_active(&w->renew_w))
        ev_timer_again(w->loop, &w->renew_w);
}

static void on_reconnect(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    uint64_t down, left;
    char buf[32];
    int rc;

    (void)loop;
    (void)revents;
    rc = kwq_client_connect(w->cmd);
    if (rc == 0) {
        connected(w);
        return;
    }
    if (rc == KWQ_EINVAL || rc == KWQ_EAUTH || rc == KWQ_EPOLICY) {
        kwq_log(KWQ_LOG_ERROR, "cannot use Redis", KWQ_LS("err", kwq_client_errstr(w->cmd)));
        lease_finish(w, rc == KWQ_EINVAL ? KWQ_EXIT_CONFIG : KWQ_EXIT_UNAVAILABLE);
        return;
    }
    down = kwq_monotonic_ms() - w->down_since_ms;
    if (down >= w->cfg->redis_retry_ms) {
        kwq_format_duration(w->cfg->redis_retry_ms, buf, sizeof(buf));
        kwq_log(KWQ_LOG_ERROR, "Redis unreachable: giving up", KWQ_LS("for", buf),
                KWQ_LS("err", kwq_client_errstr(w->cmd)));
        log_undelivered(w);
        lease_finish(w, KWQ_EXIT_UNAVAILABLE);
        return;
    }
    left = w->cfg->redis_retry_ms - down;
    kwq_log(KWQ_LOG_WARN, "cannot reach Redis: retrying", KWQ_LS("err", kwq_client_errstr(w->cmd)),
            KWQ_LI("retry_in_ms", w->backoff_ms < left ? w->backoff_ms : left));
    schedule_reconnect(w, w->backoff_ms < left ? w->backoff_ms : left);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/* ---- Waiting ---- */

static void on_wait_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = io->data;
    int rc;

    (void)loop;
    (void)revents;
    rc = kwq_wait_finish(w->waitc);
    if (rc == KWQ_WAIT_AGAIN)
        return;
    wait_end(w);
    w->woke = rc == KWQ_WAIT_WOKEN;
    if (rc < 0) {
        char why[KWQ_ERRSTR_LEN];
        (void)snprintf(why, sizeof(why), "%s", kwq_client_errstr(w->waitc));
        kwq_client_free(w->waitc);
        w->waitc = client_new(w->cfg);
        conn_lost(w, "wait", why);
    }
}

static void on_wait_guard(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;

    (void)loop;
    (void)revents;
    wait_abort(w);
    conn_lost(w, "wait", "no reply to the blocking wait in time");
}

static struct kwq_client *client_new(const struct worker_config *cfg)
{
    struct kwq_client_opts o;

    kwq_client_opts_init(&o);
    o.url = cfg->redis_url;
    o.password_file = cfg->password_file;
    if (cfg->max_result)
        o.max_result = cfg->max_result;
    return kwq_client_new(&o);
}

static void wait_begin(struct worker *w, int64_t next_due_ms)
{
    uint64_t t = WAIT_MAX_MS;
    int rc;

    if (next_due_ms >= 0 && (uint64_t)next_due_ms + WAIT_SLACK_MS < t)
        t = (uint64_t)next_due_ms + WAIT_SLACK_MS;
    if (!w->waitc)
        w->waitc = client_new(w->cfg);
    if (!w->waitc) {
        conn_lost(w, "wait", "out of memory");
        return;
    }
    if (!kwq_client_is_connected(w->waitc) || kwq_client_fd(w->waitc) < 0) {
        rc = kwq_client_connect(w->waitc);
        if (rc < 0) {
            conn_lost(w, "wait", kwq_client_errstr(w->waitc));
            return;
        }
    }
    rc = kwq_wait_start(w->waitc, w->cfg->queue, t);
    if (rc < 0) {
        conn_lost(w, "wait", kwq_client_errstr(w->waitc));
        return;
    }
    ev_io_set(&w->wait_w, kwq_client_fd(w->waitc), EV_READ);
    ev_io_start(w->loop, &w->wait_w);
    ev_timer_set(&w->wait_guard_w, (double)(t + WAIT_GUARD_MS) / 1000.0, 0.);
    ev_timer_start(w->loop, &w->wait_guard_w);
    w->waiting = true;
}

/* ---- Leasing ---- */

static size_t slots_free(const struct worker *w)
{
    uint64_t n;

    if (w->cfg->stream && !stream_ready(w))
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

/* Lease up to slots + ahead tasks: the first slots start now, the rest are queued. */
static void lease_some(struct worker *w, size_t slots, size_t ahead)
{
    size_t want = slots + ahead;
    struct kwq_lease_result r;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = kwq_lease(w->cmd, w->cfg->queue, want, w->cfg->lease_ms, 0, &r);
    if (rc < 0) {
        conn_lost(w, "lease", kwq_client_errstr(w->cmd));
        return;
    }
    w->woke = false;
    for (size_t i = 0; i < r.n; i++) {
        w->tasks_taken++;
        /* Once a start failed the worker is stopping: the rest are queued, then released. */
        job_start(w, &r.tasks[i], i >= slots || w->stopping);
    }
    w->prefetch_dry = r.n < want;
    if (r.n == 0 && r.drained && w->njobs == 0) {
        kwq_log(KWQ_LOG_INFO, "queue drained: exiting", KWQ_LS("queue", w->cfg->queue),
                KWQ_LI("tasks", w->tasks_taken));
        lease_finish(w, KWQ_EXIT_OK);
    } else if (r.n < slots && !w->stopping) {
        /*
         * Nothing more pending right now: block until woken or the next lease
         * expiry. Only with a slot left empty: a worker that waited for
         * prefetch alone could take a wake token it then has no use for.
         */
        wait_begin(w, r.next_due_ms);
    }
    kwq_lease_result_done(&r);
    shutdown_idle(w, w->njobs == 0);
}

/* --max-tasks reached and nothing held: exit 0 only if the queue is drained. */
static void finish_quota(struct worker *w)
{
    bool drained = false;
    int rc = kwq_drained(w->cmd, w->cfg->queue, &drained);

    if (rc < 0) {
        conn_lost(w, "drained", kwq_client_errstr(w->cmd));
        return;
    }
    kwq_log(KWQ_LOG_INFO,
            drained ? "--max-tasks reached and queue drained: exiting"
                    : "--max-tasks reached: exiting (queue not drained)",
            KWQ_LI("tasks", w->tasks_taken));
    lease_finish(w, drained ? KWQ_EXIT_OK : KWQ_EXIT_INTERRUPTED);
}

/* ---- Reporting ---- */

static void log_ack(const struct job *j, int status)
{
    if (status == 0)
        kwq_log(KWQ_LOG_INFO, "task done", KWQ_LS("task", j->task.id),
                KWQ_LI("attempt", j->task.attempt), KWQ_LI("duration_ms", lease_job_duration_ms(j)),
                KWQ_LI("result_bytes", j->result_len));
    else
        kwq_log(KWQ_LOG_WARN,
                status == KWQ_ECANCELLED ? "task was cancelled: result discarded"
                                         : "ack refused: lease lost, the task may run again",
                KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
}

/* Ack up to n jobs. Returns 0 or a call failure (jobs kept). */
static int send_acks(struct worker *w, struct job **js, size_t n)
{
    struct kwq_ack acks[BATCH_MAX] = {0};
    int st[BATCH_MAX];
    int rc;

    for (size_t i = 0; i < n; i++)
        acks[i] =
            (struct kwq_ack){js[i]->task.id, js[i]->task.token, js[i]->result, js[i]->result_len};
    rc = kwq_ack(w->cmd, w->cfg->queue, acks, n, st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (st[i] == KWQ_ETOOBIG) {
            /* Retrying would give the same result: dead-letter it with the reason. */
            js[i]->outcome = OUT_FAIL;
            js[i]->no_retry = true;
            js[i]->code = 0;
            free(js[i]->error);
            js[i]->error = strdup("result is over the size limit (--max-result)");
            continue;
        }
        log_ack(js[i], st[i]);
        job_free(w, js[i]);
    }
    return 0;
}

static void log_fail(const struct job *j, const struct kwq_fail_outcome *o)
{
    if (o->status != 0)
        kwq_log(KWQ_LOG_WARN, "failure not recorded: lease lost or task cancelled",
                KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
    else if (o->dead)
        kwq_log(KWQ_LOG_WARN, "task failed: dead-lettered", KWQ_LS("task", j->task.id),
                KWQ_LI("attempt", j->task.attempt), KWQ_LI("code", j->code),
                KWQ_LI("duration_ms", lease_job_duration_ms(j)),
                KWQ_LS("reason", j->no_retry ? "no retry" : "out of attempts"));
    else
        kwq_log(KWQ_LOG_WARN, "task failed: will be retried", KWQ_LS("task", j->task.id),
                KWQ_LI("attempt", j->task.attempt), KWQ_LI("code", j->code),
                KWQ_LI("duration_ms", lease_job_duration_ms(j)),
                KWQ_LI("retry_at_ms", o->retry_at_ms));
}

static int send_fails(struct worker *w, struct job **js, size_t n)
{
    struct kwq_failure f[BATCH_MAX] = {0};
    struct kwq_fail_outcome o[BATCH_MAX];
    int rc;

    for (size_t i = 0; i < n; i++)
        f[i] = (struct kwq_failure){js[i]->task.id, js[i]->task.token, js[i]->error, js[i]->code,
                                    js[i]->no_retry};
    rc = kwq_fail(w->cmd, w->cfg->queue, f, n, o);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        log_fail(js[i], &o[i]);
        job_free(w, js[i]);
    }
    return 0;
}

static int send_releases(struct worker *w, struct job **js, size_t n)
{
    struct kwq_lease_ref refs[BATCH_MAX] = {0};
    int st[BATCH_MAX];
    int rc;

    for (size_t i = 0; i < n; i++)
        refs[i] = (struct kwq_lease_ref){js[i]->task.id, js[i]->task.token};
    rc = kwq_release(w->cmd, w->cfg->queue, refs, n, st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        kwq_log(st[i] == 0 ? KWQ_LOG_INFO : KWQ_LOG_WARN,
                st[i] == 0 ? "task released: back in the queue, attempt not charged"
                           : "release refused: lease lost or task cancelled",
                KWQ_LS("task", js[i]->task.id), KWQ_LI("attempt", js[i]->task.attempt));
        job_free(w, js[i]);
    }
    return 0;
}

typedef int (*send_fn)(struct worker *w, struct job **js, size_t n);

/* Send every job in JOB_REPORT with outcome out, BATCH_MAX at a time. 0 or a call failure. */
static int flush_outcome(struct worker *w, enum job_outcome out, send_fn send)
{
    struct job *js[BATCH_MAX];

    for (;;) {
        size_t n = 0;
        int rc;

        for (struct job *j = w->jobs; j && n < BATCH_MAX; j = j->next)
            if (j->state == JOB_REPORT && j->outcome == out)
                js[n++] = j;
        if (n == 0)
            return 0;
        rc = send(w, js, n);
        if (rc < 0)
            return rc;
    }
}

static void flush_drops(struct worker *w)
{
    struct job *next;

    for (struct job *j = w->jobs; j; j = next) {
        next = j->next;
        if (j->state == JOB_REPORT && j->outcome == OUT_DROP)
            job_free(w, j);
    }
}

void lease_flush_reports(struct worker *w)
{
    static const struct {
        enum job_outcome out; /* which outcome */
        send_fn send;         /* how it is sent */
        const char *op;       /* name for logs */
    } kinds[] = {{OUT_ACK, send_acks, "ack"},
                 {OUT_FAIL, send_fails, "fail"},
                 {OUT_RELEASE, send_releases, "release"}};

    flush_drops(w);
    /* A TOOBIG ack turns into a fail, so fails come after acks. */
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && w->connected; i++) {
        if (flush_outcome(w, kinds[i].out, kinds[i].send) < 0)
            conn_lost(w, kinds[i].op, kwq_client_errstr(w->cmd));
    }
    ready_update(w);
}

/* ---- Renewing ---- */

static void job_lost(struct job *j, int status)
{
    kwq_log(KWQ_LOG_WARN,
            status == KWQ_ECANCELLED ? "task cancelled: stopping its handler, no ack"
                                     : "lease lost: stopping the handler, no ack",
            KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
    if (j->state == JOB_QUEUED) {
        queued_release(j);
        j->outcome = OUT_DROP;
    } else if (j->state != JOB_RUNNING)
        j->outcome = OUT_DROP;
    else if (j->w->cfg->stream)
        stream_job_lost(j);
    else
        exec_stop(j, STOP_LOST, false);
}

static void renew_batch(struct worker *w, struct job **js, size_t n)
{
    struct kwq_lease_ref refs[BATCH_MAX] = {0};
    int st[BATCH_MAX];
    int rc;

    for (size_t i = 0; i < n; i++)
        refs[i] = (struct kwq_lease_ref){js[i]->task.id, js[i]->task.token};
    rc = kwq_renew(w->cmd, w->cfg->queue, refs, n, w->cfg->lease_ms, st);
    if (rc < 0) {
        conn_lost(w, "renew", kwq_client_errstr(w->cmd));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (st[i] == KWQ_ELEASELOST || st[i] == KWQ_ECANCELLED)
            job_lost(js[i], st[i]);
}

static void on_renew(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    struct job *js[BATCH_MAX];
    size_t n = 0;

    (void)loop;
    (void)revents;
    if (!w->connected)
        return;
    for (struct job *j = w->jobs; j && w->connected; j = j->next) {
        bool dropped = j->state == JOB_REPORT && j->outcome == OUT_DROP;
        bool stopping_lost = j->state == JOB_RUNNING && j->stop == STOP_LOST;
        if (dropped || stopping_lost)
            continue;
        js[n++] = j;
        if (n == BATCH_MAX) {
            renew_batch(w, js, n);
            n = 0;
        }
    }
    if (n > 0 && w->connected)
        renew_batch(w, js, n);
}

/* ---- Stopping ---- */

/*
 * Idle waiters share one wake token, each passing it on by leasing. A
 * worker that stops (SIGTERM, idle exit) holding a token it took, or with a
 * wait outstanding (Redis may have handed it the token already), drops the
 * wait and puts the token back; else its idle peers would only notice on
 * their next periodic lease, up to WAIT_MAX_MS later. kwq_drained sets the
 * token when the queue is drained: the case in which those peers exit 0 and
 * the Job completes (libkwq has no call that sets it for pending work).
 * Best effort: the worker is on its way out either way.
 */
void lease_pass_wake(struct worker *w)
{
    bool drained = false;
    bool took = w->woke || w->waiting;

    wait_abort(w);
    w->woke = false;
    if (!took || !w->connected)
        return;
    if (kwq_drained(w->cmd, w->cfg->queue, &drained) < 0) {
        kwq_log(KWQ_LOG_DEBUG, "could not pass the wake-up on",
                KWQ_LS("err", kwq_client_errstr(w->cmd)));
        return;
    }
    kwq_log(KWQ_LOG_DEBUG, "wake-up passed on to idle workers", KWQ_LI("drained", drained));
}

/*
 * Stopped (SIGTERM or a fatal problem) with nothing left running: exit. The
 * wake token was passed on by shutdown_start, and no wait begins after it.
 */
static void lease_exit_stopped(struct worker *w)
{
    log_undelivered(w);
    lease_finish(w, w->fatal_code ? w->fatal_code : KWQ_EXIT_INTERRUPTED);
}

void lease_grace_over(struct worker *w)
{
    /* The reconnect timer may be seconds away (backoff): try now, before the exit. */
    if (w->connected || w->njobs == w->running || w->exit_code >= 0)
        return;
    ev_timer_stop(w->loop, &w->reconnect_w);
    on_reconnect(w->loop, &w->reconnect_w, 0);
}

/* ---- The loop turn ---- */

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = p->data;
    size_t want, ahead;

    (void)loop;
    (void)revents;
    /* Start prefetched tasks before the round trips below, so they run during them. */
    if (!w->stopping)
        start_queued(w);
    if (w->stopping) /* also when a start just failed */
        release_queued(w);
    if (w->connected)
        lease_flush_reports(w);
    if (w->stopping) {
        /*
         * Outcomes held for an unreachable Redis keep the worker reconnecting
         * until the grace period is over or a second signal comes.
         */
        bool give_up = !w->connected && (w->grace_over || w->stop_now);

        if (w->running == 0 && (w->njobs == 0 || give_up))
            lease_exit_stopped(w);
        return;
    }
    if (!w->connected || w->waiting)
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
    /*
     * A start that failed during the lease stopped the worker, or left a
     * task to report: the next turn does that, and must not wait for an
     * unrelated event (the next renewal may be minutes away).
     */
    if (w->stopping || w->njobs > w->running + w->queued) {
        ev_timer_stop(w->loop, &w->kick_w);
        ev_timer_set(&w->kick_w, 0., 0.);
        ev_timer_start(w->loop, &w->kick_w);
    }
}

static void on_kick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents; /* the turn itself is the point: on_prepare runs before the next poll */
}

/* ---- Set-up ---- */

static bool env_kept(const char *e)
{
    static const char *const drop[] = {
        "KWQ_REDIS_PASSWORD=", "KWQ_REDIS_PASSWORD_FILE=", "KWQ_TASK_ID=",
        "KWQ_ATTEMPT=",        "KWQ_MAX_ATTEMPTS=",        "KWQ_QUEUE="};

    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (strncmp(e, drop[i], strlen(drop[i])) == 0)
            return false;
    return true;
}

/* The handler's environment: ours without the Redis secrets, plus KWQ_QUEUE. */
static int env_build(struct worker *w)
{
    size_t n = 0, k = 0;
    size_t qlen = strlen("KWQ_QUEUE=") + strlen(w->cfg->queue) + 1;

    while (environ && environ[n])
        n++;
    w->env_base = calloc(n + 2, sizeof(*w->env_base));
    if (!w->env_base)
        return KWQ_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (env_kept(environ[i]))
            w->env_base[k++] = environ[i];
    w->env_base[k] = malloc(qlen);
    if (!w->env_base[k])
        return KWQ_ENOMEM;
    (void)snprintf(w->env_base[k], qlen, "KWQ_QUEUE=%s", w->cfg->queue);
    w->env_n = k + 1;
    return 0;
}

int lease_init(struct worker *w)
{
    w->exit_code = -1;
    w->cmd = client_new(w->cfg);
    w->waitc = client_new(w->cfg);
    /* The most jobs held at once: every slot, plus the tasks leased ahead (grown if ever more). */
    if (!w->cmd || !w->waitc || env_build(w) < 0 ||
        jobmap_init(&w->byid, w->cfg->concurrency + PREFETCH_MAX) < 0)
        return KWQ_ENOMEM;
    ev_prepare_init(&w->prep_w, on_prepare);
    w->prep_w.data = w;
    ev_io_init(&w->wait_w, on_wait_readable, 0, EV_READ);
    w->wait_w.data = w;
    ev_timer_init(&w->wait_guard_w, on_wait_guard, 0., 0.);
    w->wait_guard_w.data = w;
    ev_init(&w->renew_w, on_renew);
    w->renew_w.repeat = (double)w->cfg->lease_ms / 3000.0;
    w->renew_w.data = w;
    ev_timer_init(&w->reconnect_w, on_reconnect, 0., 0.);
    w->reconnect_w.data = w;
    ev_timer_init(&w->kick_w, on_kick, 0., 0.);
    return 0;
}

void lease_start(struct worker *w)
{
    w->down_since_ms = kwq_monotonic_ms();
    w->backoff_ms = BACKOFF_MIN_MS;
    ev_prepare_start(w->loop, &w->prep_w);
    schedule_reconnect(w, 0);
}

void lease_done(struct worker *w)
{
    ev_prepare_stop(w->loop, &w->prep_w);
    wait_end(w);
    ev_timer_stop(w->loop, &w->renew_w);
    ev_timer_stop(w->loop, &w->reconnect_w);
    ev_timer_stop(w->loop, &w->kick_w);
    while (w->jobs)
        job_free(w, w->jobs);
    jobmap_done(&w->byid);
    kwq_client_free(w->cmd);
    kwq_client_free(w->waitc);
    if (w->env_base && w->env_n)
        free(w->env_base[w->env_n - 1]);
    free(w->env_base);
    w->cmd = w->waitc = NULL;
    w->env_base = NULL;
}
