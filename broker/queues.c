/*
 * queues.c - which queues the broker looks after: those named by --queues,
 * plus every queue in libkwq's registry (kwq:queues), read again every
 * --registry-interval. No SCAN: it does not work on Redis Cluster and costs
 * a walk of the whole keyspace.
 *
 * Queue structs are allocated one by one and never move, so a Redis call in
 * flight can point at its queue; one that leaves the registry (kwq queues
 * forget) is freed only once no call uses it.
 */
#include <stdlib.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/log.h"

#include "broker.h"

static size_t lower_bound(const struct queue_set *s, const char *name)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(s->q[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct queue *queues_find(struct broker *b, const char *name)
{
    struct queue_set *s = &b->queues;
    size_t i = lower_bound(s, name);

    return i < s->n && strcmp(s->q[i]->name, name) == 0 ? s->q[i] : NULL;
}

/* The queue named name, added when new. NULL on OOM or a name too long. */
static struct queue *queues_add(struct broker *b, const char *name)
{
    struct queue_set *s = &b->queues;
    size_t i = lower_bound(s, name);
    struct queue *q;

    if (i < s->n && strcmp(s->q[i]->name, name) == 0)
        return s->q[i];
    if (strlen(name) > KWQ_QUEUE_NAME_MAX)
        return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct queue **grown = realloc(s->q, cap * sizeof(*grown));

        if (!grown)
            return NULL;
        s->q = grown;
        s->cap = cap;
    }
    q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->owner = b;
    memcpy(q->name, name, strlen(name) + 1);
    memmove(s->q + i + 1, s->q + i, (s->n - i) * sizeof(*s->q));
    s->q[i] = q;
    s->n++;
    return q;
}

static void remove_at(struct queue_set *s, size_t i)
{
    free(s->q[i]);
    memmove(s->q + i, s->q + i + 1, (s->n - i - 1) * sizeof(*s->q));
    s->n--;
}

void queue_release(struct broker *b, struct queue *q)
{
    struct queue_set *s = &b->queues;
    size_t i;

    if (q->busy || q->configured || q->registered)
        return;
    i = lower_bound(s, q->name);
    if (i < s->n && s->q[i] == q) {
        kwq_log(KWQ_LOG_INFO, "queue no longer watched", KWQ_LS("queue", q->name));
        remove_at(s, i);
    }
}

static void on_registry(struct kwq_async *a, int rc, char *const *names, size_t n, void *data)
{
    struct broker *b = data;
    struct queue_set *s = &b->queues;

    (void)a;
    s->refreshing = false;
    if (rc < 0) {
        if (!link_failed(b->reader, rc))
            kwq_log(KWQ_LOG_WARN, "cannot read the queue registry",
                    KWQ_LS("err", kwq_async_errstr(b->reader->a)));
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        s->q[i]->registered = false;
    for (size_t i = 0; i < n; i++) {
        struct queue *q = queues_find(b, names[i]);

        if (!q) {
            q = queues_add(b, names[i]);
            if (!q) {
                kwq_log(KWQ_LOG_WARN, "registry name skipped (too long or out of memory)",
                        KWQ_LS("queue", names[i]));
                continue;
            }
            kwq_log(KWQ_LOG_INFO, "queue found in the registry", KWQ_LS("queue", q->name));
        }
        q->registered = true;
    }
    for (size_t i = s->n; i-- > 0;)
        queue_release(b, s->q[i]);
    s->registry_read = true;
}

void queues_refresh(struct broker *b)
{
    struct queue_set *s = &b->queues;

    if (s->refreshing || !b->reader->up || b->stopping)
        return;
    if (kwq_async_queues_list(b->reader->a, on_registry, b) == 0)
        s->refreshing = true;
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    queues_refresh(t->data);
}

int queues_init(struct broker *b)
{
    const struct broker_config *cfg = b->cfg;
    struct queue_set *s = &b->queues;
    double every = (double)cfg->registry_interval_ms / 1000.0;

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < cfg->nqueues; i++) {
        struct queue *q = queues_add(b, cfg->queue_list[i]);

        if (!q)
            return KWQ_ENOMEM;
        q->configured = true;
    }
    ev_timer_init(&s->timer, on_timer, every, every);
    s->timer.data = b;
    return 0;
}

void queues_start(struct broker *b)
{
    ev_timer_start(b->loop, &b->queues.timer);
    queues_refresh(b);
}

void queues_done(struct broker *b)
{
    struct queue_set *s = &b->queues;

    ev_timer_stop(b->loop, &s->timer);
    for (size_t i = 0; i < s->n; i++)
        free(s->q[i]);
    free(s->q);
    memset(s, 0, sizeof(*s));
}
