/*
 * metrics_text.c - render the broker's metrics as Prometheus text. Each
 * family is written once with its HELP and TYPE, then one sample per queue,
 * as the format requires (a family's samples together). Queue counts a
 * scrape could not read are left out, and kwq_broker_scrape_errors says how
 * many: a missing sample is honest, a stale or zero one would not be.
 */
#include "metrics_text.h"

#include <stdio.h>
#include <stdlib.h>

enum kind { GAUGE, COUNTER };

struct family {
    const char *name;
    enum kind kind;
    const char *help;
    double (*value)(const struct kwq_stats *st);
};

#define U(field) (double)st->field

static double pending(const struct kwq_stats *st)
{
    return U(pending);
}
static double leased(const struct kwq_stats *st)
{
    return U(leased);
}
static double delayed(const struct kwq_stats *st)
{
    return U(delayed);
}
static double dead(const struct kwq_stats *st)
{
    return U(dead);
}
static double results(const struct kwq_stats *st)
{
    return U(results);
}
static double oldest(const struct kwq_stats *st)
{
    return st->oldest_pending_ms < 0 ? 0.0 : (double)st->oldest_pending_ms / 1000.0;
}
static double sealed(const struct kwq_stats *st)
{
    return st->sealed ? 1.0 : 0.0;
}
static double drained(const struct kwq_stats *st)
{
    return st->drained ? 1.0 : 0.0;
}
static double overdue(const struct kwq_stats *st)
{
    return U(overdue_leases);
}
static double due(const struct kwq_stats *st)
{
    return U(due_delayed);
}
static double lag(const struct kwq_stats *st)
{
    return (double)st->reap_lag_ms / 1000.0;
}
static double enqueued(const struct kwq_stats *st)
{
    return U(enqueued);
}
static double done(const struct kwq_stats *st)
{
    return U(done);
}
static double failed(const struct kwq_stats *st)
{
    return U(failed);
}
static double retries(const struct kwq_stats *st)
{
    return U(retries);
}
static double expired(const struct kwq_stats *st)
{
    return U(expired);
}
static double released(const struct kwq_stats *st)
{
    return U(released);
}
static double cancelled(const struct kwq_stats *st)
{
    return U(cancelled);
}
static double requeued(const struct kwq_stats *st)
{
    return U(requeued);
}
static double duplicates(const struct kwq_stats *st)
{
    return U(duplicates);
}
static double restarts(const struct kwq_stats *st)
{
    return U(restarts);
}

static const struct family families[] = {
    {"kwq_queue_pending_tasks", GAUGE, "Tasks waiting to be leased.", pending},
    {"kwq_queue_leased_tasks", GAUGE, "Tasks under a lease (being run).", leased},
    {"kwq_queue_delayed_tasks", GAUGE, "Tasks waiting for a due time (retries, delays).", delayed},
    {"kwq_queue_dead_tasks", GAUGE, "Tasks in the dead-letter set.", dead},
    {"kwq_queue_results", GAUGE, "Results kept (approximate while they expire).", results},
    {"kwq_queue_oldest_pending_seconds", GAUGE,
     "Age of the oldest pending task; 0 when none is pending.", oldest},
    {"kwq_queue_sealed", GAUGE, "1 when the queue is sealed (no more enqueues).", sealed},
    {"kwq_queue_drained", GAUGE, "1 when the queue is sealed and has nothing left to run.",
     drained},
    {"kwq_queue_overdue_leases", GAUGE, "Leases past their deadline not yet requeued.", overdue},
    {"kwq_queue_due_delayed_tasks", GAUGE, "Delayed tasks past due not yet pending.", due},
    {"kwq_queue_reap_lag_seconds", GAUGE,
     "How long the oldest overdue lease or due delayed task has waited; 0 when none.", lag},
    {"kwq_queue_enqueued_total", COUNTER, "New tasks accepted.", enqueued},
    {"kwq_queue_done_total", COUNTER, "Tasks acked (done).", done},
    {"kwq_queue_failed_total", COUNTER, "Failed attempts reported by handlers.", failed},
    {"kwq_queue_retries_total", COUNTER, "Failed attempts scheduled for a retry.", retries},
    {"kwq_queue_expired_total", COUNTER, "Leases that expired (worker gone or stalled).", expired},
    {"kwq_queue_released_total", COUNTER, "Leases given back unstarted.", released},
    {"kwq_queue_cancelled_total", COUNTER, "Tasks cancelled.", cancelled},
    {"kwq_queue_requeued_total", COUNTER, "Dead tasks requeued.", requeued},
    {"kwq_queue_duplicates_total", COUNTER,
     "Enqueues answered with an existing task (idempotency keys).", duplicates},
    {"kwq_queue_restarts_total", COUNTER,
     "Times the queue was found on another Redis server process (writes may have been lost).",
     restarts},
};

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    (void)fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A whole number without exponent or fraction, anything else with enough digits. */
static void value(FILE *f, double v)
{
    if (v >= 0 && v < 9007199254740992.0 && v == (double)(uint64_t)v)
        (void)fprintf(f, "%llu\n", (unsigned long long)v);
    else
        (void)fprintf(f, "%.6g\n", v);
}

static void one(FILE *f, const char *name, const char *type, const char *help, double v)
{
    head(f, name, type, help);
    (void)fprintf(f, "%s ", name);
    value(f, v);
}

static void broker_part(FILE *f, const struct metrics_broker *b, uint64_t errors)
{
    head(f, "kwq_broker_info", "gauge", "Build and identity of this broker; always 1.");
    (void)fprintf(f, "kwq_broker_info{version=\"%s\",identity=\"", b->version);
    for (const char *s = b->identity; *s; s++) /* printable ASCII, checked at start */
        (void)fprintf(f, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    (void)fprintf(f, "\",leader_backend=\"%s\"} 1\n", b->leader_backend);
    one(f, "kwq_broker_leader", "gauge", "1 while this broker is the leader.", b->leading ? 1 : 0);
    one(f, "kwq_broker_leader_term", "gauge",
        "The leader term this broker last held or saw; grows with each change of leader.",
        (double)b->term);
    head(f, "kwq_broker_redis_up", "gauge", "1 while the broker's Redis connection is up.");
    (void)fprintf(f, "kwq_broker_redis_up{role=\"master\"} %d\n", b->master_up ? 1 : 0);
    if (b->replica_configured)
        (void)fprintf(f, "kwq_broker_redis_up{role=\"replica\"} %d\n", b->replica_up ? 1 : 0);
    one(f, "kwq_broker_queues", "gauge", "Queues watched (--queues and the registry).",
        (double)b->queues);
    one(f, "kwq_broker_scrape_errors", "gauge",
        "Queues whose counts this scrape could not read (left out above).", (double)errors);
    one(f, "kwq_broker_housekeeping_rounds_total", "counter",
        "Housekeeping rounds completed (one reap call or more per queue each).", (double)b->rounds);
    one(f, "kwq_broker_housekeeping_round_seconds", "gauge",
        "Duration of the last housekeeping round.", b->last_round_s);
    one(f, "kwq_broker_housekeeping_age_seconds", "gauge",
        "Time since the last housekeeping round completed; -1 before the first.", b->since_round_s);
    head(f, "kwq_broker_reaped_total", "counter",
         "Tasks moved by housekeeping: expired leases requeued or dead-lettered, due delayed "
         "tasks promoted.");
    (void)fprintf(f, "kwq_broker_reaped_total{outcome=\"requeued\"} %llu\n",
                  (unsigned long long)b->requeued);
    (void)fprintf(f, "kwq_broker_reaped_total{outcome=\"dead_lettered\"} %llu\n",
                  (unsigned long long)b->dead_lettered);
    (void)fprintf(f, "kwq_broker_reaped_total{outcome=\"promoted\"} %llu\n",
                  (unsigned long long)b->promoted);
    one(f, "kwq_broker_reap_errors_total", "counter", "Reap calls that failed.",
        (double)b->reap_errors);
    one(f, "kwq_broker_http_connections", "gauge", "Open HTTP connections.",
        (double)b->http_connections);
    one(f, "kwq_broker_uptime_seconds", "gauge", "Time since this broker started.", b->uptime_s);
}

char *metrics_render(const struct metrics_broker *b, const struct metrics_queue *q, size_t nq,
                     size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    uint64_t errors = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f)
        return NULL;
    for (size_t i = 0; i < nq; i++)
        errors += q[i].st ? 0 : 1;
    for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
        const struct family *fam = &families[k];

        head(f, fam->name, fam->kind == GAUGE ? "gauge" : "counter", fam->help);
        for (size_t i = 0; i < nq; i++) {
            if (!q[i].st)
                continue;
            (void)fprintf(f, "%s{queue=\"%s\"} ", fam->name, q[i].name);
            value(f, fam->value(q[i].st));
        }
    }
    broker_part(f, b, errors);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
