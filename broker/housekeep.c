/*
 * housekeep.c - rounds of housekeeping: every --reap-interval, one reap
 * call per queue (kwq_async_reap: expired leases back to pending or to the
 * dead letters, due delayed tasks to pending, old results trimmed), all
 * pipelined on the master connection. A queue whose call hit --reap-batch
 * gets another call in the same round, up to ROUND_CALLS_MAX, so a backlog
 * drains fast while each script stays short (Redis runs nothing else
 * during a script). A round starts only when the last one has finished.
 *
 * Every step is idempotent and atomic in its script, so two brokers (or a
 * broker and the workers' inline reaping) can do it at once: each expired
 * lease is handled by whichever call reaches it first.
 */
#include "kwq/async.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "broker.h"

#define ROUND_CALLS_MAX 10

static void reap_queue(struct broker *b, struct queue *q);

static void round_end(struct broker *b)
{
    struct housekeeping *hk = &b->hk;
    uint64_t now = kwq_monotonic_ms();

    hk->rounds++;
    hk->last_round_ms = now - hk->round_start_ms;
    hk->last_done_ms = now;
}

static void on_reap(struct kwq_async *a, int rc, const struct kwq_reap_result *r, void *data)
{
    struct queue *q = data;
    struct broker *b = q->owner;
    struct housekeeping *hk = &b->hk;

    (void)a;
    q->busy--;
    hk->outstanding--;
    if (rc < 0) {
        hk->errors++;
        if (!link_failed(&b->master, rc))
            kwq_log(KWQ_LOG_WARN, "reap failed", KWQ_LS("queue", q->name),
                    KWQ_LS("err", kwq_async_errstr(b->master.a)));
    } else {
        hk->expired += r->expired;
        hk->dead += r->dead;
        hk->promoted += r->promoted;
        if (r->expired + r->dead > 0 || r->promoted > 0)
            kwq_log(KWQ_LOG_DEBUG, "reaped", KWQ_LS("queue", q->name),
                    KWQ_LI("expired", r->expired), KWQ_LI("dead", r->dead),
                    KWQ_LI("promoted", r->promoted));
        if ((r->expired + r->dead >= b->cfg->reap_batch || r->promoted >= b->cfg->reap_batch) &&
            q->reap_calls < ROUND_CALLS_MAX && !b->stopping)
            reap_queue(b, q);
    }
    queue_release(b, q);
    if (hk->outstanding == 0)
        round_end(b);
}

static void reap_queue(struct broker *b, struct queue *q)
{
    if (!b->master.up)
        return;
    if (kwq_async_reap(b->master.a, q->name, (size_t)b->cfg->reap_batch, on_reap, q) < 0)
        return;
    q->busy++;
    q->reap_calls++;
    b->hk.outstanding++;
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct broker *b = t->data;
    struct housekeeping *hk = &b->hk;

    (void)loop;
    (void)revents;
    if (hk->outstanding > 0 || !link_check(&b->master) || b->stopping)
        return;
    hk->round_start_ms = kwq_monotonic_ms();
    for (size_t i = 0; i < b->queues.n; i++) {
        b->queues.q[i]->reap_calls = 0;
        reap_queue(b, b->queues.q[i]);
    }
    if (hk->outstanding == 0)
        round_end(b);
}

void housekeep_init(struct broker *b)
{
    double every = (double)b->cfg->reap_interval_ms / 1000.0;

    ev_timer_init(&b->hk.timer, on_tick, every, every);
    b->hk.timer.data = b;
}

void housekeep_start(struct broker *b)
{
    ev_timer_start(b->loop, &b->hk.timer);
}

void housekeep_stop(struct broker *b)
{
    ev_timer_stop(b->loop, &b->hk.timer);
}
