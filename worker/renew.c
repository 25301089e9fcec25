/*
 * renew.c - renewing every lease the worker holds, every lease / 3: jobs
 * running, queued (prefetched) and waiting to be reported alike, so that an
 * outcome held while Redis is away is not lost to an expiry. A renewal that
 * says the lease is lost or the task cancelled stops that job's handler.
 *
 * A renewal carries copies of the IDs and tokens it renews, and its reply
 * finds each job again by ID: a job may be acked and freed while the
 * renewal travels. While renewals are outstanding (a Redis slow to answer)
 * no new one is sent: they would only queue up behind it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/task.h"

#include "core.h"

/* The leases of one renew call, in the order of its items. */
struct renewal {
    struct worker *w;
    size_t n;
    struct {
        char id[KWQ_ID_MAX]; /* task ID */
        uint64_t token;      /* its lease's fencing token */
    } items[];
};

static void on_renew_reply(struct kwq_async *a, int rc, const int *st, size_t n, void *data)
{
    struct renewal *r = data;
    struct worker *w = r->w;

    (void)n;
    w->renewing--;
    if (rc < 0) {
        conn_failed(w, "renew", rc, kwq_async_errstr(a));
    } else {
        conn_ok(w);
        for (size_t i = 0; i < r->n; i++) {
            struct job *j = jobmap_get(&w->byid, r->items[i].id);

            if (j && j->task.token == r->items[i].token &&
                (st[i] == KWQ_ELEASELOST || st[i] == KWQ_ECANCELLED))
                job_lost(j, st[i]);
        }
    }
    free(r);
}

static void send_renew(struct worker *w, struct job **js, size_t n)
{
    struct kwq_lease_ref refs[BATCH_MAX];
    struct renewal *r = malloc(sizeof(*r) + n * sizeof(r->items[0]));
    int rc;

    if (!r)
        return; /* the next period tries again */
    r->w = w;
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(r->items[i].id, sizeof(r->items[i].id), "%s", js[i]->task.id);
        r->items[i].token = js[i]->task.token;
    }
    jobs_refs(js, n, refs);
    rc = kwq_async_renew(w->cmd, w->cfg->queue, refs, n, w->cfg->lease_ms, on_renew_reply, r);
    if (rc < 0) {
        free(r);
        conn_failed(w, "renew", rc, kwq_async_errstr(w->cmd));
        return;
    }
    w->renewing++;
}

static void on_renew(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    struct job *js[BATCH_MAX];
    size_t n = 0;

    (void)loop;
    (void)revents;
    if (!w->connected || w->renewing > 0 || w->exit_code >= 0)
        return;
    for (struct job *j = w->jobs; j && w->connected; j = j->next) {
        bool dropped = j->state == JOB_REPORT && j->outcome == OUT_DROP;
        bool stopping_lost = j->state == JOB_RUNNING && j->stop == STOP_LOST;
        if (dropped || stopping_lost)
            continue;
        js[n++] = j;
        if (n == BATCH_MAX) {
            send_renew(w, js, n);
            n = 0;
        }
    }
    if (n > 0 && w->connected)
        send_renew(w, js, n);
}

void renew_arm(struct worker *w)
{
    if (!ev_is_active(&w->renew_w))
        ev_timer_again(w->loop, &w->renew_w);
}

void renew_init(struct worker *w)
{
    ev_init(&w->renew_w, on_renew);
    w->renew_w.repeat = (double)w->cfg->lease_ms / 3000.0;
    w->renew_w.data = w;
}

void renew_done(struct worker *w)
{
    ev_timer_stop(w->loop, &w->renew_w);
}
