/*
 * metrics.c - /metrics: each scrape reads every queue afresh through the
 * read-only stats script (on the replica when --read-redis is given), all
 * calls pipelined, and answers when the last one is back: the values are
 * what `kwq status --json` would print at that moment, not a cached sample.
 * Nothing is written to Redis for a scrape.
 */
#include <stdlib.h>
#include <string.h>

#include "kwq/async.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "broker.h"
#include "http.h"
#include "leader.h"
#include "metrics_text.h"

struct scrape {
    struct broker *b;
    struct http_exchange *x;
    size_t n, outstanding;
    struct scrape_item {
        struct scrape *s;
        char name[KWQ_QUEUE_NAME_MAX + 1];
        bool ok;
        struct kwq_stats st;
    } items[];
};

static void finish(struct scrape *s)
{
    struct broker *b = s->b;
    struct metrics_queue *mq = calloc(s->n ? s->n : 1, sizeof(*mq));
    struct metrics_broker mb = {0};
    uint64_t now = kwq_monotonic_ms();
    size_t len = 0;
    char *text = NULL;

    mb.version = KWQ_VERSION;
    mb.identity = b->cfg->identity;
    mb.leader_backend = b->leader ? leader_backend_name(b->leader) : "off";
    mb.leading = b->leading;
    mb.term = b->leader ? leader_term(b->leader) : 0;
    mb.master_up = b->master.up;
    mb.replica_configured = b->reader != &b->master;
    mb.replica_up = b->replica.up;
    mb.queues = b->queues.n;
    mb.rounds = b->hk.rounds;
    mb.last_round_s = (double)b->hk.last_round_ms / 1000.0;
    mb.since_round_s = b->hk.last_done_ms ? (double)(now - b->hk.last_done_ms) / 1000.0 : -1;
    mb.requeued = b->hk.expired;
    mb.dead_lettered = b->hk.dead;
    mb.promoted = b->hk.promoted;
    mb.reap_errors = b->hk.errors;
    mb.http_connections = b->http ? http_server_connections(b->http) : 0;
    mb.uptime_s = (double)(now - b->started_ms) / 1000.0;
    if (mq) {
        for (size_t i = 0; i < s->n; i++) {
            mq[i].name = s->items[i].name;
            mq[i].st = s->items[i].ok ? &s->items[i].st : NULL;
        }
        text = metrics_render(&mb, mq, s->n, &len);
    }
    if (text)
        http_reply(s->x, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    else
        http_reply(s->x, 500, "text/plain; charset=utf-8", "out of memory\n", 14, NULL);
    free(text);
    free(mq);
    free(s);
}

static void on_stats(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    struct scrape_item *it = data;
    struct scrape *s = it->s;

    (void)a;
    if (rc < 0) {
        if (!link_failed(s->b->reader, rc))
            kwq_log(KWQ_LOG_WARN, "/metrics: cannot read a queue's counts",
                    KWQ_LS("queue", it->name), KWQ_LS("err", kwq_async_errstr(s->b->reader->a)));
    } else {
        it->st = *st;
        it->ok = true;
    }
    if (--s->outstanding == 0)
        finish(s);
}

void metrics_serve(struct broker *b, struct http_exchange *x)
{
    size_t n = b->queues.n;
    struct scrape *s = calloc(1, sizeof(*s) + n * sizeof(s->items[0]));

    if (!s) {
        http_reply(x, 500, "text/plain; charset=utf-8", "out of memory\n", 14, NULL);
        return;
    }
    s->b = b;
    s->x = x;
    s->n = n;
    s->outstanding = 1; /* held until every call is made */
    (void)link_check(b->reader);
    for (size_t i = 0; i < n; i++) {
        struct scrape_item *it = &s->items[i];

        it->s = s;
        memcpy(it->name, b->queues.q[i]->name, sizeof(it->name));
        if (b->reader->up && kwq_async_stats_read(b->reader->a, it->name, on_stats, it) == 0)
            s->outstanding++;
    }
    if (--s->outstanding == 0)
        finish(s);
}
