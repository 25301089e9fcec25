/*
 * cmd_results.c - `kwq results`: the kept results, in completion order; with
 * --follow, new ones as they arrive until the queue drains.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"

#include "cli.h"
#include "results_out.h"

#define READ_COUNT          1000
#define RESULTS_READER_LEFT 1000 /* not an exit code: stop, then exit 0 */
#define BLOCK_MS            1000

struct results_cfg {
    bool follow;       /* --follow */
    bool json;         /* --json */
    const char *from;  /* --after: cursor */
    uint64_t limit;    /* --limit, 0 = all */
    uint64_t retry_ms; /* --redis-retry, with --follow */
};

static const struct kwq_opt opts[] = {
    {"follow", 'f', NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "keep printing new results until the queue is drained", offsetof(struct results_cfg, follow)},
    {"json", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "one JSON object per result: id, cursor, done_ms, result", offsetof(struct results_cfg, json)},
    {"after", 0, NULL, KWQ_OPT_STR, "0", 0, 0, "CURSOR",
     "start after this cursor (from --json output); 0 = the oldest kept",
     offsetof(struct results_cfg, from)},
    {"limit", 'n', NULL, KWQ_OPT_UINT, "0", 0, UINT32_MAX, "N",
     "stop after N results (0: no limit)", offsetof(struct results_cfg, limit)},
    CLI_REDIS_RETRY_OPT(struct results_cfg, retry_ms),
};

static const struct cli_spec spec = {
    .name = "results",
    .usage = "[options] [ID...]",
    .description =
        "Print the results of done tasks (each handler's stdout) in completion order: the bytes\n"
        "of each, with a newline added when missing, or NDJSON with --json. Results are kept\n"
        "for a day by default. --follow waits for new ones and stops once the\n"
        "queue is drained and every result is printed, riding out a Redis outage of up to\n"
        "--redis-retry (then exit 69). With IDs, print those tasks' results.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/*
 * stdout failed with -errno e after `printed` results. A reader that left
 * (EPIPE: `kwq results | head`) ends the command quietly with success.
 * Returns the exit code, never 0 for a real failure.
 */
static int write_failed(int e, uint64_t printed)
{
    cli.stdout_reported = true;
    if (e == -EPIPE)
        return RESULTS_READER_LEFT;
    return cli_error(KWQ_EXIT_FAILURE,
                     "cannot write the results to stdout after %llu results: %s; check the disk "
                     "or the pipe",
                     (unsigned long long)printed, strerror(-e));
}

/* One read; 1 when some were printed, 0 none, or a negative exit code. */
static int read_some(struct kwq_client *c, const struct results_cfg *cfg, struct cli_outage *o,
                     char *cursor, size_t cursor_len, uint64_t *printed, uint64_t block_ms)
{
    struct kwq_result *list = NULL;
    size_t n = 0, want = READ_COUNT;
    int r;

    if (cfg->limit && cfg->limit - *printed < want)
        want = (size_t)(cfg->limit - *printed);
    /* The cursor stays where the last printed result was: nothing is skipped or repeated. */
    while ((r = kwq_results_read(c, cli.queue, cursor, want, block_ms, &list, &n)) < 0) {
        r = cli_outage_retry(c, o, r);
        if (r < 0)
            return -cli_fail(c, r, NULL);
    }
    cli_outage_over(c, o);
    if (n > 0)
        (void)snprintf(cursor, cursor_len, "%s", list[n - 1].cursor);
    r = results_write(stdout, cfg->json ? RESULTS_JSON : RESULTS_RAW, list, n);
    kwq_results_free(list, n);
    if (r < 0)
        return -write_failed(r, *printed);
    *printed += n;
    return n > 0;
}

static int results_loop(struct kwq_client *c, const struct results_cfg *cfg)
{
    char cursor[64];
    uint64_t printed = 0;
    bool drained = false;
    /* Only --follow waits for more: a one-off read fails at once. */
    struct cli_outage o = {.limit_ms = cfg->follow ? cfg->retry_ms : 0};

    (void)snprintf(cursor, sizeof(cursor), "%s", cfg->from);
    for (;;) {
        int r;
        if (cfg->limit && printed >= cfg->limit)
            return KWQ_EXIT_OK;
        r = read_some(c, cfg, &o, cursor, sizeof(cursor), &printed,
                      cfg->follow && !drained ? BLOCK_MS : 0);
        if (r == -RESULTS_READER_LEFT)
            return KWQ_EXIT_OK;
        if (r < 0)
            return -r;
        if (r > 0)
            continue;
        if (!cfg->follow || drained)
            return KWQ_EXIT_OK;
        /* Nothing new: once drained, one last read catches results acked just before. */
        while ((r = kwq_drained(c, cli.queue, &drained)) < 0) {
            r = cli_outage_retry(c, &o, r);
            if (r < 0)
                return cli_fail(c, r, NULL);
        }
    }
}

/* The kept results of the given task IDs, in the order given. */
static int results_by_id(struct kwq_client *c, const struct results_cfg *cfg, char **ids, int n)
{
    uint64_t printed = 0;
    int rc = KWQ_EXIT_OK;

    for (int i = 0; i < n; i++) {
        struct kwq_result res = {.done_ms = 0};
        int r = kwq_result_get(c, cli.queue, ids[i], &res.data, &res.len);

        if (r == KWQ_ENOTFOUND) {
            rc = cli_error(KWQ_EXIT_NOTFOUND,
                           "no result kept for task %s in queue '%s' (not done yet, done without "
                           "output, or expired); see 'kwq task %s'",
                           ids[i], cli.queue, ids[i]);
            continue;
        }
        if (r < 0)
            return cli_fail(c, r, NULL);
        (void)snprintf(res.id, sizeof(res.id), "%s", ids[i]);
        r = results_write(stdout, cfg->json ? RESULTS_JSON : RESULTS_RAW, &res, 1);
        free(res.data);
        if (r < 0) {
            r = write_failed(r, printed);
            return r == RESULTS_READER_LEFT ? rc : r;
        }
        printed++;
    }
    return rc;
}

/* A results stream position: "MS-SEQ" or "MS", as --json prints it ("0" = the start). */
static bool cursor_valid(const char *s)
{
    size_t ms = strspn(s, "0123456789");

    if (ms == 0 || ms > 20)
        return false;
    if (s[ms] == '\0')
        return true;
    return s[ms] == '-' && strspn(s + ms + 1, "0123456789") == strlen(s + ms + 1) &&
           s[ms + 1] != '\0' && strlen(s + ms + 1) <= 20;
}

int cmd_results(int argc, char **argv)
{
    struct results_cfg cfg = {0};
    struct kwq_client *c = NULL;
    bool stop;
    int ind, r;

    r = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    r = cli_check_ids(spec.name, argv + ind, argc - ind);
    if (r != 0)
        return r;
    if (ind < argc && (cfg.follow || cfg.limit))
        return cli_usage_error(spec.name, "--follow and --limit apply to the stream, not to IDs");
    if (!cursor_valid(cfg.from))
        return cli_usage_error(spec.name,
                               "--after '%.60s' is not a results cursor: give the \"cursor\" of a "
                               "result in --json output, such as 1733312345678-0, or 0 for the "
                               "oldest kept",
                               cfg.from);
    r = cli_open(&c);
    if (r != 0)
        return r;
    r = ind < argc ? results_by_id(c, &cfg, argv + ind, argc - ind) : results_loop(c, &cfg);
    kwq_client_free(c);
    return r;
}
