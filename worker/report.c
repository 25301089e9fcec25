/*
 * report.c - telling Redis the outcomes: acks, fails and releases, each in
 * batches of up to BATCH_MAX.
 *
 * A job stays held, and its lease renewed, until Redis has answered its
 * ack, fail or release; a call that fails keeps every job of its batch for
 * the next attempt. A dropped job (lease lost, task cancelled) is freed
 * without a word to Redis.
 */
#include <stdlib.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/log.h"

#include "core.h"

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

static void on_acks_reply(struct worker *w, struct job **js, size_t n, const int *st)
{
    conn_ok(w);
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
}

static int send_acks(struct worker *w, struct job **js, size_t n)
{
    struct kwq_ack acks[BATCH_MAX] = {0};
    int st[BATCH_MAX];
    int rc;

    for (size_t i = 0; i < n; i++)
        acks[i] =
            (struct kwq_ack){js[i]->task.id, js[i]->task.token, js[i]->result, js[i]->result_len};
    rc = kwq_ack(w->cmd, w->cfg->queue, acks, n, st);
    if (rc == 0)
        on_acks_reply(w, js, n, st);
    return rc;
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

static void on_fails_reply(struct worker *w, struct job **js, size_t n,
                           const struct kwq_fail_outcome *o)
{
    conn_ok(w);
    for (size_t i = 0; i < n; i++) {
        log_fail(js[i], &o[i]);
        job_free(w, js[i]);
    }
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
    if (rc == 0)
        on_fails_reply(w, js, n, o);
    return rc;
}

/* ---- Releases ---- */

static void on_releases_reply(struct worker *w, struct job **js, size_t n, const int *st)
{
    conn_ok(w);
    for (size_t i = 0; i < n; i++) {
        kwq_log(st[i] == 0 ? KWQ_LOG_INFO : KWQ_LOG_WARN,
                st[i] == 0 ? "task released: back in the queue, attempt not charged"
                           : "release refused: lease lost or task cancelled",
                KWQ_LS("task", js[i]->task.id), KWQ_LI("attempt", js[i]->task.attempt));
        job_free(w, js[i]);
    }
}

static int send_releases(struct worker *w, struct job **js, size_t n)
{
    struct kwq_lease_ref refs[BATCH_MAX];
    int st[BATCH_MAX];
    int rc;

    jobs_refs(js, n, refs);
    rc = kwq_release(w->cmd, w->cfg->queue, refs, n, st);
    if (rc == 0)
        on_releases_reply(w, js, n, st);
    return rc;
}

/* ---- Flushing ---- */

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

void report_flush(struct worker *w)
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
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && conn_usable(w); i++) {
        int rc = flush_outcome(w, kinds[i].out, kinds[i].send);

        if (rc < 0)
            conn_failed(w, kinds[i].op, rc, kwq_client_errstr(w->cmd));
    }
    ready_update(w);
}
