/*
 * cmd_wait.c - `kwq wait`: block until the queue drains, showing progress.
 * The exit code tells a script what happened: drained (0), drained with
 * dead letters (3), or timed out (4).
 *
 * It reads kwq_stats a few times a second rather than waiting on the queue's
 * wake list: a wake token taken by a watcher would be one a worker missed.
 */
#include <stdio.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/util.h"

#include "cli.h"
#include "progress.h"

#define POLL_MS 250

struct wait_cfg {
    uint64_t timeout_ms;  /* --timeout, 0 = none */
    uint64_t interval_ms; /* --interval between plain progress lines */
    uint64_t retry_ms;    /* --redis-retry */
};

static const struct kwq_opt opts[] = {
    {"timeout", 't', "KWQ_WAIT_TIMEOUT", KWQ_OPT_DURATION, "0", 0, 3650ULL * 86400000ULL, "DUR",
     "give up after DUR (exit 4); 0 waits for ever", offsetof(struct wait_cfg, timeout_ms)},
    {"interval", 0, NULL, KWQ_OPT_DURATION, "5s", 100, 3600000, "DUR",
     "time between progress lines when stderr is not a terminal",
     offsetof(struct wait_cfg, interval_ms)},
    CLI_REDIS_RETRY_OPT(struct wait_cfg, retry_ms),
};

static const struct cli_spec spec = {
    .name = "wait",
    .usage = "[options]",
    .description =
        "Wait until the queue is drained: sealed, with nothing pending, leased or delayed. On a\n"
        "terminal a progress bar shows done/total, rate and ETA; otherwise a line every\n"
        "--interval. Exit 0 when drained, 3 when drained with dead-lettered tasks, 4 when\n"
        "--timeout passed first, 69 when Redis stays unreachable for --redis-retry, 78 when\n"
        "Redis refuses the password or user, or is a replica. An unsealed queue never drains:\n"
        "seal it when all work is in. A queue never used yet gets a note, and is waited for\n"
        "like any other.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

static uint64_t delta(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* kwq_stats, riding out an outage of Redis; pg (NULL before it is shown) is cleared for notes. */
static int read_stats(struct kwq_client *c, struct cli_outage *o, struct progress *pg,
                      struct kwq_stats *st)
{
    int r;

    while ((r = kwq_stats(c, cli.queue, st)) < 0) {
        if (pg)
            progress_clear(pg);
        r = cli_outage_retry(c, o, r);
        if (r < 0)
            return r;
    }
    cli_outage_over(c, o);
    return 0;
}

/*
 * Why the queue cannot drain yet. A queue that never held a task is often a
 * misspelt name: waiting goes on (a submitter may not have started yet), but
 * the note says what to check.
 */
static void note_not_sealed(const struct kwq_stats *st)
{
    if (st->enqueued == 0 && st->duplicates == 0 && st->done == 0 && st->dead == 0)
        cli_note("queue '%s' has never been used (nothing enqueued, not sealed): waiting for it; "
                 "check the queue name (--queue, KWQ_QUEUE)",
                 cli.queue);
    else
        cli_note("queue '%s' is not sealed: it drains only once sealed ('kwq seal')", cli.queue);
}

static int finish(const struct kwq_stats *st, const struct progress_counts *pc, uint64_t ms)
{
    if (!cli.quiet)
        (void)printf("queue '%s' drained: %llu done, %llu dead-lettered in %.1fs\n", cli.queue,
                     (unsigned long long)pc->done, (unsigned long long)pc->dead,
                     (double)ms / 1000.0);
    if (st->dead > 0)
        return cli_error(KWQ_EXIT_DEAD,
                         "queue '%s' drained with %llu dead-lettered task%s; see 'kwq dlq list', "
                         "then 'kwq dlq requeue' once fixed",
                         cli.queue, (unsigned long long)st->dead, st->dead == 1 ? "" : "s");
    return KWQ_EXIT_OK;
}

static int wait_loop(struct kwq_client *c, const struct wait_cfg *cfg)
{
    struct kwq_stats st0, st;
    struct progress pg;
    struct progress_counts pc = {0};
    bool told = false;
    struct cli_outage o = {.limit_ms = cfg->retry_ms};
    int r;

    if (cfg->timeout_ms)
        o.end_ms = kwq_monotonic_ms() + cfg->timeout_ms;
    r = read_stats(c, &o, NULL, &st0);
    if (r < 0)
        return cli_fail(c, r, NULL);
    progress_init(&pg, cli.quiet, cfg->interval_ms);
    for (;; cli_sleep_ms(POLL_MS)) {
        r = read_stats(c, &o, &pg, &st);
        if (r < 0) {
            progress_end(&pg);
            return cli_fail(c, r, NULL);
        }
        pc.done = delta(st.done, st0.done);
        pc.dead = delta(st.dead, st0.dead);
        pc.total = pc.done + pc.dead + st.pending + st.leased + st.delayed;
        progress_update(&pg, &pc, st.drained);
        if (st.drained)
            break;
        if (!st.sealed && !told) {
            progress_clear(&pg);
            note_not_sealed(&st);
            told = true;
        }
        if (cfg->timeout_ms && progress_elapsed_ms(&pg) >= cfg->timeout_ms) {
            progress_end(&pg);
            return cli_error(KWQ_EXIT_TIMEOUT,
                             "queue '%s' did not drain within the --timeout (%llu pending, %llu "
                             "leased, %llu delayed); wait longer or see 'kwq status'",
                             cli.queue, (unsigned long long)st.pending,
                             (unsigned long long)st.leased, (unsigned long long)st.delayed);
        }
    }
    progress_end(&pg);
    return finish(&st, &pc, progress_elapsed_ms(&pg));
}

int cmd_wait(int argc, char **argv)
{
    struct wait_cfg cfg = {0};
    struct kwq_client *c;
    int r;

    r = cli_start(&spec, &cfg, argc, argv, &c);
    if (!c)
        return r;
    r = wait_loop(c, &cfg);
    kwq_client_free(c);
    return r;
}
