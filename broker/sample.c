/*
 * sample.c - the counts the dashboard shows: every --sample-interval, a
 * read-only stats call per queue on the reader (a replica when given),
 * kept as the queue's last sample and appended to its history ring (the
 * chart of throughput and depth), with rates from the last two samples.
 */
#include "kwq/async.h"
#include "kwq/log.h"

#include "broker.h"

static void record(struct queue *q, const struct kwq_stats *st)
{
    struct sample *s;
    size_t i;

    if (q->have_stats && st->server_time_ms > q->stats.server_time_ms) {
        double dt = (double)(st->server_time_ms - q->stats.server_time_ms) / 1000.0;

        q->done_per_s = st->done >= q->stats.done ? (double)(st->done - q->stats.done) / dt : 0;
        q->enqueued_per_s =
            st->enqueued >= q->stats.enqueued ? (double)(st->enqueued - q->stats.enqueued) / dt : 0;
    }
    q->stats = *st;
    q->have_stats = true;
    if (q->hist_n < HISTORY_MAX) {
        i = (q->hist_start + q->hist_n++) % HISTORY_MAX;
    } else {
        i = q->hist_start;
        q->hist_start = (q->hist_start + 1) % HISTORY_MAX;
    }
    s = &q->history[i];
    s->t_ms = st->server_time_ms;
    s->pending = st->pending;
    s->leased = st->leased;
    s->dead = st->dead;
    s->done = st->done;
    s->enqueued = st->enqueued;
}

static void on_stats(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    struct queue *q = data;
    struct broker *b = q->owner;

    (void)a;
    q->busy--;
    b->sampling.outstanding--;
    if (rc < 0) {
        if (!link_failed(b->reader, rc))
            kwq_log(KWQ_LOG_WARN, "cannot read a queue's counts", KWQ_LS("queue", q->name),
                    KWQ_LS("err", kwq_async_errstr(b->reader->a)));
    } else {
        record(q, st);
    }
    queue_release(b, q);
}

void sample_now(struct broker *b)
{
    if (b->sampling.outstanding > 0 || !link_check(b->reader) || b->stopping)
        return;
    for (size_t i = 0; i < b->queues.n; i++) {
        struct queue *q = b->queues.q[i];

        if (kwq_async_stats_read(b->reader->a, q->name, on_stats, q) < 0)
            break;
        q->busy++;
        b->sampling.outstanding++;
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    sample_now(t->data);
}

void sample_init(struct broker *b)
{
    double every = (double)b->cfg->sample_interval_ms / 1000.0;

    ev_timer_init(&b->sampling.timer, on_tick, every, every);
    b->sampling.timer.data = b;
}

void sample_start(struct broker *b)
{
    ev_timer_start(b->loop, &b->sampling.timer);
}

void sample_stop(struct broker *b)
{
    ev_timer_stop(b->loop, &b->sampling.timer);
}
