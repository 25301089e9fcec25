/*
 * report.c - telling Redis the outcomes: acks, fails and releases, each in
 * batches of up to BATCH_MAX, every batch of a loop turn pipelined on the
 * command connection.
 *
 * A job stays held, and its lease renewed, until Redis has answered its
 * ack, fail or release; while its batch travels the job is marked sending
 * (not sent again, not freed). A call that fails keeps every job of its
 * batch for the next attempt. A dropped job (lease lost, task cancelled) is
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

static void on_acks_reply(struct kwq_async *a, int rc, const int *st, size_t n, void *data)
{
    struct batch *b = data;

    (void)n;
    if (batch_end(b, rc, kwq_async_errstr(a))) {
        for (size_t i = 0; i < b->n; i++) {
            struct job *j = b->js[i];

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

static const struct {
    enum job_outcome out; /* which outcome */
    send_fn send;         /* how it is sent */
    const char *op;       /* name for logs */
} kinds[] = {{OUT_ACK, send_acks, "ack"},
             {OUT_FAIL, send_fails, "fail"},
             {OUT_RELEASE, send_releases, "release"}};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/*
 * Send the n jobs of js (outcome kinds[k]) as one call. 0, KWQ_ENOMEM (no
 * call made: the next turn tries again), or the error of a call not made.
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
 * One pass over the jobs: dropped ones are freed, and every outcome not
 * already on its way is sent, BATCH_MAX per call. True when a batch was
 * full (another pass may find more).
 */
static bool flush_pass(struct worker *w)
{
    static struct job *js[NKINDS][BATCH_MAX];
    size_t n[NKINDS] = {0};
    bool full = false;
    struct job *next;

    for (struct job *j = w->jobs; j; j = next) {
        next = j->next;
        if (j->state != JOB_REPORT || j->sending)
            continue;
        if (j->outcome == OUT_DROP) {
            job_free(w, j);
            continue;
        }
        for (size_t k = 0; k < NKINDS; k++)
            if (j->outcome == kinds[k].out && n[k] < BATCH_MAX)
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

void report_flush(struct worker *w)
{
    /* A TOOBIG ack turns into a fail, sent in the turn after its reply. */
    while (flush_pass(w) && conn_usable(w))
        ;
    ready_update(w);
}
