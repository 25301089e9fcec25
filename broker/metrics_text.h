/*
 * metrics_text.h - the Prometheus text exposition (format 0.0.4) of the
 * broker's metrics, from values already read: pure, so that a test can
 * check it line by line and promtool can lint it.
 */
#ifndef KWQ_BROKER_METRICS_TEXT_H
#define KWQ_BROKER_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kwq/client.h"

struct metrics_queue {
    const char *name;           /* a queue name ([A-Za-z0-9._:-]: no label escaping needed) */
    const struct kwq_stats *st; /* its counts, or NULL when this scrape could not read them */
};

struct metrics_broker {
    const char *version;
    const char *identity;
    const char *leader_backend; /* "redis", "kubernetes" or "off" */
    bool leading;
    uint64_t term;
    bool master_up;
    bool replica_configured, replica_up;
    uint64_t queues;      /* queues watched */
    uint64_t rounds;      /* housekeeping rounds completed */
    double last_round_s;  /* duration of the last round */
    double since_round_s; /* time since the last round completed; -1 never */
    uint64_t requeued, dead_lettered, promoted, reap_errors; /* housekeeping totals */
    uint64_t http_connections;
    double uptime_s;
};

/* The whole page, malloc'd and NUL-terminated, its length in *len; NULL on OOM. */
char *metrics_render(const struct metrics_broker *b, const struct metrics_queue *q, size_t nq,
                     size_t *len);

#endif /* KWQ_BROKER_METRICS_TEXT_H */
