/*
 * renew.c - renewing every lease the worker holds, every lease / 3: jobs
 * running, queued (prefetched) and waiting to be reported alike, so that an
 * outcome held while Redis is away is not lost to an expiry. A renewal that
 * says the lease is lost or the task cancelled stops that job's handler.
 */
#include "kwq/client.h"
#include "kwq/error.h"

#include "core.h"

static void on_renew_reply(struct worker *w, struct job **js, size_t n, int rc, const int *st)
{
    if (rc < 0) {
        conn_failed(w, "renew", rc, kwq_client_errstr(w->cmd));
        return;
    }
    conn_ok(w);
    for (size_t i = 0; i < n; i++)
        if (st[i] == KWQ_ELEASELOST || st[i] == KWQ_ECANCELLED)
            job_lost(js[i], st[i]);
}

static void send_renew(struct worker *w, struct job **js, size_t n)
{
    struct kwq_lease_ref refs[BATCH_MAX];
    int st[BATCH_MAX];
    int rc;

    jobs_refs(js, n, refs);
    rc = kwq_renew(w->cmd, w->cfg->queue, refs, n, w->cfg->lease_ms, st);
    on_renew_reply(w, js, n, rc, st);
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
