/*
 * cmd_status.c - `kwq status`: a queue's counts, rates, oldest pending age,
 * and whether it is sealed and drained, as text or one JSON object.
 */
#include <stdio.h>

#include <cjson/cJSON.h>

#include "kwq/client.h"
#include "kwq/exit.h"
#include "kwq/util.h"

#include "cli.h"

struct status_cfg {
    bool json;          /* --json */
    uint64_t sample_ms; /* --sample: window for rates, 0 = none */
};

static const struct kwq_opt opts[] = {
    {"json", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "print one JSON object",
     offsetof(struct status_cfg, json)},
    {"sample", 0, NULL, KWQ_OPT_DURATION, "1s", 0, 60000, "DUR",
     "measure rates over DUR (0: no rates, answer at once)",
     offsetof(struct status_cfg, sample_ms)},
};

static const struct cli_spec spec = {
    .name = "status",
    .usage = "[options]",
    .description =
        "Show the queue: pending, leased, delayed and dead tasks, all-time counters, done and\n"
        "enqueue rates (measured over --sample), the age of the oldest pending task, and whether\n"
        "the queue is sealed and drained (sealed with nothing pending, leased or delayed).",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

struct rates {
    bool have;       /* measured */
    double done_ps;  /* acks per second */
    double enq_ps;   /* new tasks per second */
    uint64_t window; /* ms between the two reads (server clock) */
};

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    (void)cJSON_AddNumberToObject(o, k, (double)v);
}

static int print_json(const struct kwq_stats *st, const struct rates *rt, const char *url)
{
    cJSON *o = cJSON_CreateObject(), *r;

    if (!o)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    (void)cJSON_AddStringToObject(o, "queue", cli.queue);
    (void)cJSON_AddStringToObject(o, "redis", url);
    (void)cJSON_AddBoolToObject(o, "sealed", st->sealed);
    (void)cJSON_AddBoolToObject(o, "drained", st->drained);
    add_u64(o, "pending", st->pending);
    add_u64(o, "leased", st->leased);
    add_u64(o, "delayed", st->delayed);
    add_u64(o, "dead", st->dead);
    add_u64(o, "done", st->done);
    add_u64(o, "enqueued", st->enqueued);
    add_u64(o, "duplicates", st->duplicates);
    add_u64(o, "failed", st->failed);
    add_u64(o, "retries", st->retries);
    add_u64(o, "expired", st->expired);
    add_u64(o, "released", st->released);
    add_u64(o, "cancelled", st->cancelled);
    add_u64(o, "requeued", st->requeued);
    add_u64(o, "results", st->results);
    add_u64(o, "restarts", st->restarts);
    (void)cJSON_AddNumberToObject(o, "oldest_pending_ms", (double)st->oldest_pending_ms);
    (void)cJSON_AddNumberToObject(o, "server_time_ms", (double)st->server_time_ms);
    if (rt->have) {
        r = cJSON_AddObjectToObject(o, "rates");
        if (r) {
            (void)cJSON_AddNumberToObject(r, "done_per_s", rt->done_ps);
            (void)cJSON_AddNumberToObject(r, "enqueued_per_s", rt->enq_ps);
            add_u64(r, "window_ms", rt->window);
        }
    }
    return cli_json_print(o);
}

static void print_text(const struct kwq_stats *st, const struct rates *rt, const char *url)
{
    char age[32] = "";

    if (st->oldest_pending_ms >= 0)
        (void)snprintf(age, sizeof(age), " (oldest %.1fs)", (double)st->oldest_pending_ms / 1000.0);
    (void)printf("queue:     %s (%s%s)\n", cli.queue, st->sealed ? "sealed" : "open",
                 st->drained ? ", drained" : "");
    (void)printf("redis:     %s\n", url);
    (void)printf("pending:   %llu%s\n", (unsigned long long)st->pending, age);
    (void)printf("leased:    %llu\ndelayed:   %llu\ndead:      %llu\ndone:      %llu\n",
                 (unsigned long long)st->leased, (unsigned long long)st->delayed,
                 (unsigned long long)st->dead, (unsigned long long)st->done);
    if (rt->have)
        (void)printf("rates:     %.1f/s done, %.1f/s enqueued (over %llums)\n", rt->done_ps,
                     rt->enq_ps, (unsigned long long)rt->window);
    (void)printf("all time:  %llu enqueued, %llu duplicates, %llu failed attempts, %llu retries, "
                 "%llu expired leases, %llu released, %llu cancelled, %llu requeued\n",
                 (unsigned long long)st->enqueued, (unsigned long long)st->duplicates,
                 (unsigned long long)st->failed, (unsigned long long)st->retries,
                 (unsigned long long)st->expired, (unsigned long long)st->released,
                 (unsigned long long)st->cancelled, (unsigned long long)st->requeued);
    (void)printf("results:   %llu kept\n", (unsigned long long)st->results);
    if (st->restarts > 0)
        (void)printf("restarts:  %llu seen by this queue (Redis restarted or failed over)\n",
                     (unsigned long long)st->restarts);
}

/*
 * A restart may have lost the last writes before it (docs/PROTOCOL.md
 * "Rollbacks"): a seal among them leaves a queue that never drains.
 */
static void note_restarts(const struct kwq_stats *st)
{
    if (st->restarts > 0 && !st->sealed)
        cli_note("Redis restarted while this queue was in use: a seal written just before a "
                 "restart can be lost; if all its work is in, run 'kwq seal' again");
}

int cmd_status(int argc, char **argv)
{
    struct status_cfg cfg = {0};
    struct kwq_stats a, b;
    struct rates rt = {0};
    struct kwq_client *c;
    int r;

    r = cli_start(&spec, &cfg, argc, argv, &c);
    if (!c)
        return r;
    r = kwq_stats(c, cli.queue, &a);
    if (r == 0 && cfg.sample_ms > 0) {
        cli_sleep_ms(cfg.sample_ms);
        r = kwq_stats(c, cli.queue, &b);
        if (r == 0 && b.server_time_ms > a.server_time_ms) {
            rt.have = true;
            rt.window = (uint64_t)(b.server_time_ms - a.server_time_ms);
            /* A purge in between resets the counters: no negative rates. */
            rt.done_ps =
                b.done > a.done ? (double)(b.done - a.done) * 1000.0 / (double)rt.window : 0.0;
            rt.enq_ps = b.enqueued > a.enqueued
                            ? (double)(b.enqueued - a.enqueued) * 1000.0 / (double)rt.window
                            : 0.0;
            a = b;
        }
    }
    if (r == 0)
        note_restarts(&a);
    if (r < 0)
        r = cli_fail(c, r, NULL);
    else if (cfg.json)
        r = print_json(&a, &rt, kwq_client_url_redacted(c));
    else
        print_text(&a, &rt, kwq_client_url_redacted(c));
    kwq_client_free(c);
    return r;
}
