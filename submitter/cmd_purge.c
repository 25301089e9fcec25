/*
 * cmd_purge.c - `kwq purge`: delete every task, result, counter and setting
 * of a queue. It cannot be undone, so it asks at a terminal and otherwise
 * requires --yes.
 */
#include <stdio.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "cli.h"

struct purge_cfg {
    bool yes; /* --yes */
};

static const struct kwq_opt opts[] = {
    {"yes", 'y', NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "do not ask for confirmation",
     offsetof(struct purge_cfg, yes)},
};

static const struct cli_spec spec = {
    .name = "purge",
    .usage = "[options]",
    .description =
        "Delete every task (pending, leased, delayed, dead), result, counter and setting of the\n"
        "queue. Workers holding leases lose them. Task IDs are never reused. At a terminal kwq\n"
        "asks first; otherwise --yes is required.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* Ask at the terminal; true for "y" or "yes". */
static bool confirm(struct kwq_client *c)
{
    struct kwq_stats st;
    char line[32];

    if (kwq_stats(c, cli.queue, &st) == 0)
        (void)fprintf(stderr,
                      "Queue '%s' holds %llu pending, %llu leased, %llu delayed, %llu dead tasks "
                      "and %llu results.\n",
                      cli.queue, (unsigned long long)st.pending, (unsigned long long)st.leased,
                      (unsigned long long)st.delayed, (unsigned long long)st.dead,
                      (unsigned long long)st.results);
    (void)fprintf(stderr, "Delete all of it? [y/N] ");
    (void)fflush(stderr);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

int cmd_purge(int argc, char **argv)
{
    struct purge_cfg cfg = {0};
    struct kwq_client *c = NULL;
    bool stop;
    int ind, r;

    r = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (ind < argc)
        return cli_usage_error(spec.name, "unexpected argument '%s'", argv[ind]);
    if (!cfg.yes && !cli_stdin_is_tty())
        return cli_usage_error(spec.name,
                               "purge deletes every task of queue '%s' and stdin is not a "
                               "terminal to ask; confirm with --yes",
                               cli.queue);
    r = cli_open(&c);
    if (r != 0)
        return r;
    if (!cfg.yes && !confirm(c)) {
        r = cli_error(KWQ_EXIT_FAILURE, "purge not confirmed; nothing was deleted");
        goto out;
    }
    r = kwq_purge(c, cli.queue);
    if (r < 0) {
        r = cli_fail(c, r, "purge failed");
        goto out;
    }
    if (!cli.quiet)
        (void)printf("queue '%s' purged\n", cli.queue);
out:
    kwq_client_free(c);
    return r;
}
