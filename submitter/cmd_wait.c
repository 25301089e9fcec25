/*
 * cmd_wait.c - `kwq wait`: block until the queue drains, showing progress.
 * The exit code tells a script what happened: drained (0), drained with
 * dead letters (3), or timed out (4).
 *
 * It reads kwq_stats a few times a second rather than waiting on the queue's
 * wake list: a wake token taken by a watcher would be one a worker missed.
 */
#include <stdio.h>
#include <time.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/util.h"

#include "cli.h"
#include "progress.h"

#define POLL_MS       250
#define RECONNECT_MAX 30

struct wait_cfg {
    uint64_t timeout_ms;  /* --timeout, 0 = none */
    uint64_t interval_ms; /* --interval between plain progress lines */
};

static const struct kwq_opt opts[] = {
    {"timeout", 't', "KWQ_WAIT_TIMEOUT", KWQ_OPT_DURATION, "0", 0, 3650ULL * 86400000ULL, "DUR",
     "give up after DUR (exit 4); 0 waits for ever", offsetof(struct wait_cfg, timeout_ms)},
    {"interval", 0, NULL, KWQ_OPT_DURATION, "5s", 100, 3600000, "DUR",
     "time between progress lines when stderr is not a terminal",
     offsetof(struct wait_cfg, interval_ms)},
};

static const struct cli_spec spec = {
    .name = "wait",
    .usage = "[options]",
    .description =
        "Wait until the queue is drained: sealed, with nothing pending, leased or delayed. On a\n"
        "terminal a progress bar shows done/total, rate and ETA; otherwise a line every\n"
        "--interval. Exit 0 when drained, 3 when drained with dead-lettered tasks, 4 when\n"
        "--timeout passed first, 69 when Redis stays unreachable for 30s. An unsealed queue\n"
        "never drains: seal it when all work is in. A queue never used yet gets a note, and\n"
        "is waited for like any other.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    (void)nanosleep(&ts, NULL);
}

static uint64_t delta(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* kwq_stats, reconnecting for a while when Redis goes away. */
static int read_stats(struct kwq_client *c, struct kwq_stats *st)
{
    int r = kwq_stats(c, cli.queue, st);

    for (int i = 0; i < RECONNECT_MAX && (r == KWQ_ECONN || r == KWQ_ETIMEOUT); i++) {
        if (i == 0)
            cli_note("lost Redis (%s); reconnecting", kwq_client_errstr(c));
        sleep_ms(1000);
        r = kwq_client_connect(c);
        if (r == 0)
            r = kwq_stats(c, cli.queue, st);
    }
    return r;
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
    int r = read_stats(c, &st0);

    if (r < 0)
        return cli_fail(c, r, NULL);
    progress_init(&pg, cli.quiet, cfg->interval_ms);
    for (;; sleep_ms(POLL_MS)) {
        r = read_stats(c, &st);
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
