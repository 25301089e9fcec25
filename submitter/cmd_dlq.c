/*
 * cmd_dlq.c - `kwq dlq list|requeue|purge`: the dead-letter set, where
 * tasks go when out of attempts or refused as bad input (handler exit 65).
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/client.h"
#include "kwq/exit.h"
#include "kwq/task.h"

#include "cli.h"

struct dlq_cfg {
    bool json;       /* list --json */
    bool all;        /* purge --all */
    uint64_t offset; /* list --offset */
    uint64_t limit;  /* list --limit */
};

#define D(field) offsetof(struct dlq_cfg, field)
static const struct kwq_opt opts[] = {
    {"json", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "list: one JSON object per line", D(json)},
    {"offset", 0, NULL, KWQ_OPT_UINT, "0", 0, 100000000, "N", "list: skip the N oldest", D(offset)},
    {"limit", 'n', NULL, KWQ_OPT_UINT, "100", 1, 100000, "N", "list: show at most N", D(limit)},
    {"all", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "purge: every dead task", D(all)},
};
#undef D

static const struct cli_spec spec = {
    .name = "dlq",
    .usage = "list|requeue|purge [options] [ID...]",
    .description =
        "The dead-letter set: tasks out of attempts, or refused as bad input.\n"
        "  list             the dead tasks, oldest death first: ID, time, attempts, last exit\n"
        "                   code and the first line of the last error\n"
        "  requeue [ID...]  put the given dead tasks (none given: all) back on the queue with\n"
        "                   their attempts reset, for workers to run again\n"
        "  purge ID...      delete the given dead tasks; --all deletes every one",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* ---- list ------------------------------------------------------------------------------ */

static int list_json(const struct kwq_dead_task *d)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    (void)cJSON_AddStringToObject(o, "id", d->id);
    (void)cJSON_AddNumberToObject(o, "died_ms", (double)d->died_ms);
    (void)cJSON_AddNumberToObject(o, "attempts", d->attempts);
    (void)cJSON_AddNumberToObject(o, "last_code", d->last_code);
    (void)cJSON_AddStringToObject(o, "last_error", d->last_error ? d->last_error : "");
    return cli_json_print(o);
}

static void list_text(const struct kwq_dead_task *d)
{
    const char *e = d->last_error ? d->last_error : "";
    char t[40], code[16] = "-";

    if (d->last_code >= 0)
        (void)snprintf(code, sizeof(code), "%d", d->last_code);
    (void)printf("%-10s %-24s %8u %5s  %.*s\n", d->id, cli_time(d->died_ms, t, sizeof(t)),
                 d->attempts, code, (int)strcspn(e, "\n"), e);
}

static int dlq_list(struct kwq_client *c, const struct dlq_cfg *cfg)
{
    struct kwq_dead_task *list = NULL;
    size_t n = 0;
    int r = kwq_dead_list(c, cli.queue, (size_t)cfg->offset, (size_t)cfg->limit, &list, &n);

    if (r < 0)
        return cli_fail(c, r, NULL);
    if (n == 0)
        cli_note("no dead tasks in queue '%s'", cli.queue);
    else if (!cfg->json)
        (void)printf("%-10s %-24s %8s %5s  %s\n", "ID", "DIED", "ATTEMPTS", "CODE", "LAST ERROR");
    for (size_t i = 0; i < n; i++) {
        if (cfg->json)
            (void)list_json(&list[i]);
        else
            list_text(&list[i]);
    }
    kwq_dead_list_free(list, n);
    return KWQ_EXIT_OK;
}

/* ---- requeue and purge ---------------------------------------------------------------------- */

static int dlq_change(struct kwq_client *c, bool requeue, char **ids, int n)
{
    const char *verb = requeue ? "requeued" : "purged";
    int r = requeue ? kwq_dead_requeue(c, cli.queue, (const char *const *)ids, (size_t)n)
                    : kwq_dead_purge(c, cli.queue, (const char *const *)ids, (size_t)n);

    if (r < 0)
        return cli_fail(c, r, NULL);
    if (!cli.quiet)
        (void)printf("%s %d dead task%s of queue '%s'\n", verb, r, r == 1 ? "" : "s", cli.queue);
    if (ids && r < n)
        return cli_error(KWQ_EXIT_NOTFOUND,
                         "%d of the %d given IDs were not dead tasks of queue '%s' (skipped); "
                         "see 'kwq dlq list'",
                         n - r, n, cli.queue);
    return KWQ_EXIT_OK;
}

static int dlq_run(struct dlq_cfg *cfg, const char *sub, char **args, int nargs)
{
    struct kwq_client *c = NULL;
    bool list = strcmp(sub, "list") == 0, requeue = strcmp(sub, "requeue") == 0;
    int r;

    if (!list && !requeue && strcmp(sub, "purge") != 0)
        return cli_usage_error(spec.name, "unknown dlq command '%s' (list, requeue or purge)", sub);
    if (list && nargs > 0)
        return cli_usage_error(spec.name, "unexpected argument '%s'", args[0]);
    if (!list && !requeue && nargs == 0 && !cfg->all)
        return cli_usage_error(spec.name, "give the IDs of the dead tasks to purge, or --all");
    if (cfg->all && nargs > 0)
        return cli_usage_error(spec.name, "give IDs or --all, not both");
    r = cli_check_ids(spec.name, args, nargs);
    if (r != 0)
        return r;
    r = cli_open(&c);
    if (r != 0)
        return r;
    if (list)
        r = dlq_list(c, cfg);
    else
        r = dlq_change(c, requeue, nargs > 0 ? args : NULL, nargs);
    kwq_client_free(c);
    return r;
}

int cmd_dlq(int argc, char **argv)
{
    struct dlq_cfg cfg = {0};
    bool stop;
    int ind, r;

    r = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (ind >= argc)
        return cli_usage_error(spec.name, "give a dlq command: list, requeue or purge");
    return dlq_run(&cfg, argv[ind], argv + ind + 1, argc - ind - 1);
}
