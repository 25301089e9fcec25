/*
 * cmd_queues.c - `kwq queues [--json]` and `kwq queues forget QUEUE...`:
 * the queue registry (docs/PROTOCOL.md "Queue registry"), every queue an
 * enqueue wrote to, as kwq-broker finds them.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"

#include "cli.h"

struct queues_cfg {
    bool json; /* --json */
};

static const struct kwq_opt opts[] = {
    {"json", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "list: one JSON array of {name, pending, leased, delayed, dead}",
     offsetof(struct queues_cfg, json)},
};

static const struct cli_spec spec = {
    .name = "queues",
    .usage = "[--json] | forget QUEUE...",
    .description =
        "The queue registry: every queue an enqueue wrote to, as kwq-broker finds them.\n"
        "  (no command)      the names, one per line, sorted; --json adds each queue's counts\n"
        "  forget QUEUE...   remove names from the registry; the queues' tasks and keys are\n"
        "                    untouched, and the next enqueue to one registers it again",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* ---- list ---------------------------------------------------------------------------- */

/* {name, pending, leased, delayed, dead} of queue into arr, from kwq_stats as `kwq status`. */
static int add_json(struct kwq_client *c, cJSON *arr, const char *queue)
{
    struct kwq_stats st;
    cJSON *o;
    int r = kwq_stats(c, queue, &st);

    if (r < 0)
        return cli_fail(c, r, queue);
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    }
    (void)cJSON_AddStringToObject(o, "name", queue);
    (void)cJSON_AddNumberToObject(o, "pending", (double)st.pending);
    (void)cJSON_AddNumberToObject(o, "leased", (double)st.leased);
    (void)cJSON_AddNumberToObject(o, "delayed", (double)st.delayed);
    (void)cJSON_AddNumberToObject(o, "dead", (double)st.dead);
    return KWQ_EXIT_OK;
}

static int list_json(struct kwq_client *c, char **names, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    int r = arr ? KWQ_EXIT_OK : cli_error(KWQ_EXIT_SOFTWARE, "out of memory");

    for (size_t i = 0; r == KWQ_EXIT_OK && i < n; i++)
        r = add_json(c, arr, names[i]);
    if (r != KWQ_EXIT_OK) {
        cJSON_Delete(arr);
        return r;
    }
    return cli_json_print(arr);
}

static int queues_list(struct kwq_client *c, const struct queues_cfg *cfg)
{
    char **names = NULL;
    size_t n = 0;
    int r = kwq_queues_list(c, &names, &n);

    if (r < 0)
        return cli_fail(c, r, NULL);
    if (n == 0)
        cli_note("no queues in the registry (an enqueue registers its queue)");
    if (cfg->json) {
        r = list_json(c, names, n);
    } else {
        for (size_t i = 0; i < n; i++)
            (void)printf("%s\n", names[i]);
        r = KWQ_EXIT_OK;
    }
    kwq_queues_free(names, n);
    return r;
}

/* ---- forget -------------------------------------------------------------------------- */

static int queues_forget(struct kwq_client *c, char **names, int n)
{
    int missing = 0;

    for (int i = 0; i < n; i++) {
        int r = kwq_queue_forget(c, names[i]);

        if (r < 0)
            return cli_fail(c, r, NULL);
        if (r == 0) {
            missing++;
            (void)cli_error(KWQ_EXIT_NOTFOUND,
                            "queue '%s' is not in the registry; see 'kwq queues'", names[i]);
        } else if (!cli.quiet) {
            (void)printf("queue '%s' removed from the registry\n", names[i]);
        }
    }
    return missing ? KWQ_EXIT_NOTFOUND : KWQ_EXIT_OK;
}

/* Every name is checked before anything is changed. */
static int check_names(char **names, int n)
{
    for (int i = 0; i < n; i++) {
        struct kwq_error e = {0};

        if (kwq_queue_name_check(names[i], &e) < 0)
            return cli_usage_error(spec.name, "'%s': %s", names[i], e.msg);
    }
    return 0;
}

int cmd_queues(int argc, char **argv)
{
    struct queues_cfg cfg = {0};
    struct kwq_client *c = NULL;
    bool stop, forget;
    int ind, r;

    r = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    forget = ind < argc && strcmp(argv[ind], "forget") == 0;
    if (ind < argc && !forget)
        return cli_usage_error(spec.name, "unknown queues command '%s' (forget, or none to list)",
                               argv[ind]);
    if (forget && ind + 1 >= argc)
        return cli_usage_error(spec.name, "give the name of the queue to forget");
    r = forget ? check_names(argv + ind + 1, argc - ind - 1) : 0;
    if (r != 0)
        return r;
    r = cli_open(&c);
    if (r != 0)
        return r;
    r = forget ? queues_forget(c, argv + ind + 1, argc - ind - 1) : queues_list(c, &cfg);
    kwq_client_free(c);
    return r;
}
