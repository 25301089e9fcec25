/*
 * report.c - telling Redis what became of the tasks: the starts of tasks
 * leased ahead uncharged (so Redis charges their attempts), then the
 * outcomes: acks, fails and releases; each in batches of up to BATCH_MAX,
 * every batch of a loop turn pipelined on the command connection. The
 * starts go in the turn in which the handlers started, after them: the
 * charge never delays a handler.
 *
 * A job stays held, and its lease renewed, until Redis has answered its
 * ack, fail or release; while its batch travels the job is marked sending
 * (not sent again, not freed). A call that fails keeps every job of its
 * batch for the next attempt; an ack call refused at maxmemory keeps only
 * the acks Redis refused. A dropped job (lease lost, task cancelled) is
 * freed without a word to Redis.
 */
#include <stdlib.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/log.h"

#include "core.h"

/* The jobs of one report call, in the order of its items. */
struct batch {
    struct worker *w;
    const char *op; /* "ack", "fail" or "release", for logs */
    size_t n;
    struct job *js[];
};

/* The batch's jobs are no longer on their way; a failed call leaves them to the next turn. */
static bool batch_end(struct batch *b, int rc, const char *errstr)
{
    for (size_t i = 0; i < b->n; i++)
        b->js[i]->sending = false;
    if (rc < 0) {
        conn_failed(b->w, b->op, rc, errstr);
        return false;
    }
    conn_ok(b->w);
    return true;
}

/* ---- Starts: prefetched tasks charged when they start ---- */

static void on_starts_reply(struct kwq_async *a, int rc, const int *st, size_t n, void *data)
{
    struct batch *b = data;

    (void)n;
    /* A failed call leaves them uncharged, for the next turn (an outcome would charge them). */
    if (batch_end(b, rc, kwq_async_errstr(a))) {
        for (size_t i = 0; i < b->n; i++) {
            struct job *j = b->js[i];

            j->uncharged = false;
            if (st[i] != 0 && j->stop != STOP_LOST)
                job_lost(j, st[i]);
        }
    }
    free(b);
}

static int send_starts(struct worker *w, struct batch *b)
{
    struct kwq_lease_ref refs[BATCH_MAX];

    jobs_refs(b->js, b->n, refs);
    return kwq_async_start(w->cmd, w->cfg->queue, refs, b->n, on_starts_reply, b);
}

/* ---- Acks ---- */

static void log_ack(const struct job *j, int status)
{
    if (status == 0)
        kwq_log(KWQ_LOG_INFO, "task done", KWQ_LS("task", j->task.id),
                KWQ_LI("attempt", j->task.attempt), KWQ_LI("duration_ms", job_duration_ms(j)),
                KWQ_LI("result_bytes", j->result_len));
    else
        kwq_log(KWQ_LOG_WARN,
                status == KWQ_ECANCELLED ? "task was cancelled: result discarded"
                                         : "ack refused: lease lost, the task may run again",
                KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
}

/*
 * Redis at its maxmemory limit refuses acks that keep a result (KWQ_EOOM),
 * with a status for every item: the ones that went in are done, only the
 * refused ones are held (batch_end started the hold) and sent again later.
 */
static void on_acks_reply(struct kwq_async *a, int rc, const int *st, size_t n, void *data)
{
    struct batch *b = data;
    bool refused = rc == KWQ_EOOM && st;

    (void)n;
    if (batch_end(b, rc, kwq_async_errstr(a)) || refused) {
        for (size_t i = 0; i < b->n; i++) {
            struct job *j = b->js[i];

            if (st[i] == KWQ_EOOM)
                continue; /* still leased: renewed, and sent again after the hold */
            if (st[i] == KWQ_ETOOBIG) {
                /* Retrying would give the same result: dead-letter it with the reason. */
                j->outcome = OUT_FAIL;
                j->no_retry = true;
                j->code = 0;
                free(j->error);
                j->error = strdup("result is over the size limit (--max-result)");
                continue;
            }
            log_ack(j, st[i]);
            job_free(b->w, j);
        }
    }
    free(b);
}

static int send_acks(struct worker *w, struct batch *b)
{
    struct kwq_ack acks[BATCH_MAX];

    for (size_t i = 0; i < b->n; i++) {
        const struct job *j = b->js[i];

        acks[i] = (struct kwq_ack){j->task.id, j->task.token, j->result, j->result_len};
    }
    return kwq_async_ack(w->cmd, w->cfg->queue, acks, b->n, on_acks_reply, b);
}

/* ---- Fails ---- */

static void log_fail(const struct job *j, const struct kwq_fail_outcome *o)
{
    if (o->status != 0)
        kwq_log(KWQ_LOG_WARN, "failure not recorded: lease lost or task cancelled",
                KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
    else if (o->dead)
        kwq_log(KWQ_LOG_WARN, "task failed: dead-lettered", KWQ_LS("task", j->task.id),
                KWQ_LI("attempt", j->task.attempt), KWQ_LI("code", j->code),
                KWQ_LI("duration_ms", job_duration_ms(j)),
                KWQ_LS("reason", j->no_retry ? "no retry" : "out of attempts"));
    else
        kwq_log(KWQ_LOG_WARN, "task failed: will be retried", KWQ_LS("task", j->task.id),
                KWQ_LI("attempt", j->task.attempt), KWQ_LI("code", j->code),
                KWQ_LI("duration_ms", job_duration_ms(j)), KWQ_LI("retry_at_ms", o->retry_at_ms));
}

static void on_fails_reply(struct kwq_async *a, int rc, const struct kwq_fail_outcome *o, size_t n,
                           void *data)
{
    struct batch *b = data;

    (void)n;
    if (batch_end(b, rc, kwq_async_errstr(a))) {
        for (size_t i = 0; i < b->n; i++) {
            log_fail(b->js[i], &o[i]);
            job_free(b->w, b->js[i]);
        }
    }
    free(b);
}

static int send_fails(struct worker *w, struct batch *b)
{
    struct kwq_failure f[BATCH_MAX];

    for (size_t i = 0; i < b->n; i++) {
        const struct job *j = b->js[i];

        f[i] = (struct kwq_failure){j->task.id, j->task.token, j->error, j->code, j->no_retry};
    }
    return kwq_async_fail(w->cmd, w->cfg->queue, f, b->n, on_fails_reply, b);
}

/* ---- Releases ---- */

static void on_releases_reply(struct kwq_async *a, int rc, const int *st, size_t n, void *data)
{
    struct batch *b = data;

    (void)n;
    if (batch_end(b, rc, kwq_async_errstr(a))) {
        for (size_t i = 0; i < b->n; i++) {
            struct job *j = b->js[i];

            kwq_log(st[i] == 0 ? KWQ_LOG_INFO : KWQ_LOG_WARN,
                    st[i] == 0 ? "task released: back in the queue, attempt not charged"
                               : "release refused: lease lost or task cancelled",
                    KWQ_LS("task", j->task.id), KWQ_LI("attempt", j->task.attempt));
            job_free(b->w, j);
        }
    }
    free(b);
}

static int send_releases(struct worker *w, struct batch *b)
{
    struct kwq_lease_ref refs[BATCH_MAX];

    jobs_refs(b->js, b->n, refs);
    return kwq_async_release(w->cmd, w->cfg->queue, refs, b->n, on_releases_reply, b);
}

/* ---- Flushing ---- */

typedef int (*send_fn)(struct worker *w, struct batch *b);

/* The kinds of call: the jobs each is for, how it is sent. */
static const struct {
    enum job_state state; /* JOB_RUNNING: starts to charge; JOB_REPORT: outcomes */
    enum job_outcome out; /* which outcome, for JOB_REPORT */
    send_fn send;         /* how it is sent */
    const char *op;       /* name for logs */
} kinds[] = {{JOB_RUNNING, OUT_ACK, send_starts, "start"},
             {JOB_REPORT, OUT_ACK, send_acks, "ack"},
             {JOB_REPORT, OUT_FAIL, send_fails, "fail"},
             {JOB_REPORT, OUT_RELEASE, send_releases, "release"}};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* True when kinds[k] is for j (j not already on its way). */
static bool wanted(const struct job *j, size_t k)
{
    if (j->state != kinds[k].state)
        return false;
    return j->state == JOB_RUNNING ? j->uncharged : j->outcome == kinds[k].out;
}

/*
 * Send the n jobs of js (kinds[k]) as one call. 0, KWQ_ENOMEM (no call
 * made: the next turn tries again), or the error of a call not made.
 */
static int send_batch(struct worker *w, size_t k, struct job *const *js, size_t n)
{
    struct batch *b = malloc(sizeof(*b) + n * sizeof(struct job *));
    int rc;

    if (!b)
        return KWQ_ENOMEM;
    b->w = w;
    b->op = kinds[k].op;
    b->n = n;
    memcpy(b->js, js, n * sizeof(*js));
    rc = kinds[k].send(w, b);
    if (rc < 0) {
        free(b);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        js[i]->sending = true;
    return 0;
}

/*
 * One pass over the jobs: dropped ones are freed, and every start and
 * outcome not already on its way is sent, BATCH_MAX per call; acks not
 * while a maxmemory hold lasts (starts, fails and releases free memory:
 * they go). True when a batch was full (another pass may find more).
 */
static bool flush_pass(struct worker *w)
{
    static struct job *js[NKINDS][BATCH_MAX];
    size_t n[NKINDS] = {0};
    bool full = false, holding = conn_holding(w);
    struct job *next;

    for (struct job *j = w->jobs; j; j = next) {
        next = j->next;
        if (j->sending)
            continue;
        if (j->state == JOB_REPORT && j->outcome == OUT_DROP) {
            job_free(w, j);
            continue;
        }
        for (size_t k = 0; k < NKINDS; k++)
            if (wanted(j, k) && n[k] < BATCH_MAX && !(holding && kinds[k].send == send_acks))
                js[k][n[k]++] = j;
    }
    for (size_t k = 0; k < NKINDS && conn_usable(w); k++) {
        int rc = n[k] ? send_batch(w, k, js[k], n[k]) : 0;

        if (rc == KWQ_ENOMEM)
            return false;
        if (rc < 0)
            conn_failed(w, kinds[k].op, rc, kwq_async_errstr(w->cmd));
        full = full || n[k] == BATCH_MAX;
    }
    return full;
}

/* True when an ack is still to be delivered (or on its way). */
static bool acks_held(const struct worker *w)
{
    for (const struct job *j = w->jobs; j; j = j->next)
        if (j->state == JOB_REPORT && j->outcome == OUT_ACK)
            return true;
    return false;
}

void report_flush(struct worker *w)
{
    if (w->oom && !acks_held(w))
        conn_room(w); /* the acks refused for memory went in, or their leases were lost */
    /* A TOOBIG ack turns into a fail, sent in the turn after its reply. */
    while (flush_pass(w) && conn_usable(w))
        ;
    ready_update(w);
}
