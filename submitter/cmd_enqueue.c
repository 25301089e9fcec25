/*
 * cmd_enqueue.c - `kwq enqueue`: items from arguments, a file or stdin onto
 * a queue, with an exact report of what went in.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/exit.h"
#include "kwq/task.h"

#include "cli.h"
#include "enqueue.h"

struct enqueue_cfg {
    const char *file;      /* --file */
    bool null;             /* --null */
    bool json;             /* --json */
    bool seal;             /* --seal */
    bool ids;              /* --ids */
    uint64_t delay_ms;     /* --delay */
    uint64_t timeout_ms;   /* --timeout */
    uint64_t max_attempts; /* --max-attempts, 0 = queue default */
    uint64_t max_item;     /* --max-item, bytes */
    uint64_t max_input;    /* --max-input, bytes */
};

#define E(field) offsetof(struct enqueue_cfg, field)

static const struct kwq_opt opts[] = {
    {"file", 'f', NULL, KWQ_OPT_STR, NULL, 0, 0, "FILE", "read items from FILE ('-' for stdin)",
     E(file)},
    ENQUEUE_ITEM_OPTS(struct enqueue_cfg),
    {"seal", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "seal the queue once every item is in",
     E(seal)},
    {"ids", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "print each task ID on stdout, one per line",
     E(ids)},
};

static const struct cli_spec spec = {
    .name = "enqueue",
    .usage = "[options] [ITEM...]",
    .description =
        "Add items to the queue: the arguments, else the lines of --file FILE, else the lines of\n"
        "stdin. Empty lines are skipped; bytes are kept exactly. All input is read and checked\n"
        "before anything is enqueued, so a bad item changes nothing. Items go in batches; the\n"
        "report says how many were added and how many were duplicates (NDJSON idempotency\n"
        "keys). With --seal the queue is sealed once every item is in.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

static int report(const struct enqueue_report *rep, bool sealed, bool ids)
{
    FILE *f = ids ? stderr : stdout;

    if (cli.quiet)
        return KWQ_EXIT_OK;
    (void)fprintf(f, "queue '%s': %zu added, %zu duplicate%s%s\n", cli.queue, rep->added,
                  rep->duplicates, rep->duplicates == 1 ? "" : "s", sealed ? ", sealed" : "");
    return KWQ_EXIT_OK;
}

int cmd_enqueue(int argc, char **argv)
{
    struct enqueue_cfg cfg = {0};
    struct input_set set = {0};
    struct enqueue_report rep;
    struct kwq_client *c = NULL;
    char urlbuf[4200];
    bool stop;
    int ind, r;

    r = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (cfg.null && cfg.json)
        return cli_usage_error(spec.name, "--null and --json cannot be combined");
    struct enqueue_source src = {
        .file = cfg.file,
        .args = argv + ind,
        .nargs = argc - ind,
        .rules = {.format = cfg.json ? INPUT_JSON : (cfg.null ? INPUT_NUL : INPUT_LINES),
                  .max_item = (size_t)cfg.max_item,
                  .max_input = (size_t)cfg.max_input},
    };
    struct enqueue_defaults d = {.delay_ms = cfg.delay_ms,
                                 .timeout_ms = cfg.timeout_ms,
                                 .max_attempts = (uint32_t)cfg.max_attempts};
    cli.max_payload = cfg.max_item;
    r = enqueue_read(spec.name, &src, &set);
    if (r == 0)
        r = cli_connect(cli_redis_url(urlbuf, sizeof(urlbuf)), &c);
    if (r != 0)
        goto out;
    r = enqueue_items(c, cli.queue, &set, &d, cfg.ids, &rep);
    if (r < 0) {
        r = enqueue_fail(c, r, &rep);
        goto out;
    }
    if (cfg.seal) {
        r = kwq_seal(c, cli.queue);
        if (r < 0) {
            (void)report(&rep, false, cfg.ids);
            r = cli_fail(c, r, "every item is in, but sealing failed");
            goto out;
        }
    }
    if (cfg.ids && fflush(stdout) != 0) {
        int e = errno;
        cli.stdout_reported = true;
        if (e != EPIPE) { /* EPIPE: the reader left (| head); the items are in all the same */
            r = cli_error(KWQ_EXIT_FAILURE,
                          "every item is in (%zu added, %zu duplicates%s), but their IDs could "
                          "not be written to stdout: %s; 'kwq status' shows the queue",
                          rep.added, rep.duplicates, cfg.seal ? ", sealed" : "", strerror(e));
            goto out;
        }
    }
    r = report(&rep, cfg.seal, cfg.ids);
out:
    input_set_done(&set);
    kwq_client_free(c);
    return r;
}
