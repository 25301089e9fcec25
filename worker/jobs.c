/*
 * jobs.c - the life of a job: leased (running at once, or queued when
 * prefetched), running, finished (outcome known), then freed once Redis has
 * heard the outcome.
 *
 * - Prefetch (exec mode only, see take.c): a queued job is leased
 *   uncharged, and charged when its handler starts (report.c sends the
 *   charge in the batch of that loop turn, after the start), so a worker
 *   killed with tasks queued uses up none of their attempts. A queued job
 *   waits at most PREFETCH_HOLD_MS for a free slot; one that has not started
 *   by then (a handler turned out to be long) is released uncharged, and so
 *   is every queued job on SIGTERM, so no task waits in a worker that cannot
 *   start it promptly.
 * - --max-tasks counts tasks leased, less those given back unstarted.
 * - A handler that cannot be started is not the task's fault: the task is
 *   released uncharged and the worker stops.
 */
#include <stdlib.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "core.h"

#define TASK_MS_WEIGHT 0.25 /* weight of the newest run in the moving average */

uint64_t job_duration_ms(const struct job *j)
{
    return kwq_monotonic_ms() - j->start_ms;
}

static void on_job_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct job *j = t->data;
    char buf[32];

    (void)loop;
    (void)revents;
    kwq_format_duration(j->timeout_ms, buf, sizeof(buf));
    kwq_log(KWQ_LOG_WARN, "task timed out: stopping its handler", KWQ_LS("task", j->task.id),
            KWQ_LI("attempt", j->task.attempt), KWQ_LS("timeout", buf));
    j->w->runner->stop(j, STOP_TIMEOUT);
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

void job_free(struct worker *w, struct job *j)
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

/* The runner's "finished" event: j has its outcome and waits to be reported. */
static void job_finished(struct job *j)
{
    struct worker *w = j->w;
    double ms;

    if (j->state != JOB_RUNNING)
        return;
    ev_timer_stop(w->loop, &j->timeout_w);
    j->state = JOB_REPORT;
    w->running--;
    ms = (double)job_duration_ms(j);
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
            KWQ_LS("task", j->task.id), KWQ_LI("held_ms", job_duration_ms(j)));
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

    if (j->state == JOB_QUEUED) {
        ev_timer_stop(w->loop, &j->timeout_w);
        queue_remove(w, j);
        j->state = JOB_RUNNING;
        w->running++;
        j->start_ms = kwq_monotonic_ms();
    }
    ev_timer_init(&j->timeout_w, on_job_timeout, 0., 0.);
    j->timeout_ms = j->task.timeout_ms ? j->task.timeout_ms : w->cfg->timeout_ms;
    if (j->timeout_ms) {
        ev_timer_set(&j->timeout_w, (double)j->timeout_ms / 1000.0, 0.);
        ev_timer_start(w->loop, &j->timeout_w);
    }
}

/* The runner's "start_failed" event: stop the worker with the code for rc. */
static void start_failed(struct worker *w, int rc)
{
    bool resource = handler_spawn_error_is_resource(rc);

    if (resource)
        kwq_log(KWQ_LOG_ERROR,
                "out of processes, file descriptors or memory for handlers: exiting 71 once the "
                "running handlers are done; lower --concurrency or raise the pod's limits",
                KWQ_LS("err", strerror(-rc)));
    shutdown_fatal(w, resource ? KWQ_EXIT_OSERR : KWQ_EXIT_CONFIG);
}

/* Start the handler of j (new, or taken from the prefetch queue). */
static void job_run(struct worker *w, struct job *j)
{
    int rc;

    job_set_running(j);
    rc = w->runner->start(j);
    if (rc < 0) {
        /* Not the task's fault: give it back uncharged and stop this worker. */
        kwq_log(KWQ_LOG_ERROR, "cannot start the handler: releasing the task and stopping",
                KWQ_LS("task", j->task.id), KWQ_LS("handler", w->cfg->handler_path),
                KWQ_LS("err", strerror(-rc)));
        j->outcome = OUT_RELEASE;
        job_finished(j); /* its run time no longer matters: the worker stops */
        w->tasks_taken--;
        start_failed(w, rc);
    }
}

void job_start(struct worker *w, struct kwq_task *t, bool queued, bool charged)
{
    struct job *j = job_new(w, t, queued);

    if (!j) {
        kwq_log(KWQ_LOG_ERROR, "out of memory: task left to its lease expiry",
                KWQ_LS("task", t->id));
        w->tasks_taken--;
        return;
    }
    j->uncharged = !charged;
    ready_update(w);
    kwq_log(KWQ_LOG_DEBUG, queued ? "task leased (prefetched)" : "task leased",
            KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
    if (!queued)
        job_run(w, j);
}

void jobs_start_queued(struct worker *w)
{
    while (w->qhead && w->running < w->cfg->concurrency && !w->stopping && w->runner->ready(w))
        job_run(w, w->qhead);
}

void jobs_release_queued(struct worker *w)
{
    while (w->qhead)
        queued_release(w->qhead);
}

void job_lost(struct job *j, int status)
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
    else
        j->w->runner->stop(j, STOP_LOST);
}

void jobs_refs(struct job *const *js, size_t n, struct kwq_lease_ref *refs)
{
    for (size_t i = 0; i < n; i++)
        refs[i] = (struct kwq_lease_ref){js[i]->task.id, js[i]->task.token};
}

/*
 * Say how many outcomes were never delivered, and that those tasks run
 * again once their leases expire (a release too: it would have given its
 * task back at once).
 */
void jobs_log_undelivered(const struct worker *w)
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

const struct runner_events jobs_events = {
    .finished = job_finished,
    .start_failed = start_failed,
    .fatal = shutdown_fatal,
};
