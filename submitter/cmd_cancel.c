/*
 * cmd_cancel.c - `kwq cancel ID`: remove a pending or delayed task now, or a
 * leased one when its worker next reports (the worker stops its handler).
 */
#include <stdio.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"

#include "cli.h"

static const struct cli_spec spec = {
    .name = "cancel",
    .usage = "[options] ID...",
    .description =
        "Cancel tasks by ID. A pending or delayed task is removed at once; a leased one is "
        "removed\n"
        "when its worker next renews its lease, and the worker stops the handler. A dead task is\n"
        "not cancelled: use 'kwq dlq purge ID'.",
};

static int cancel_one(struct kwq_client *c, const char *id)
{
    char context[96];
    int r = kwq_cancel(c, cli.queue, id);

    if (r == KWQ_ESTATE)
        return cli_error(KWQ_EXIT_FAILURE,
                         "cannot cancel task %s: it is dead-lettered; use 'kwq dlq purge %s'", id,
                         id);
    if (r == KWQ_ENOTFOUND)
        return cli_error(KWQ_EXIT_NOTFOUND,
                         "no task %s in queue '%s' (never enqueued, done, or cancelled already); "
                         "check the ID and --queue",
                         id, cli.queue);
    if (r < 0) {
        (void)snprintf(context, sizeof(context), "cannot cancel task %s", id);
        return cli_fail(c, r, context);
    }
    if (!cli.quiet)
        (void)printf("task %s cancelled\n", id);
    return KWQ_EXIT_OK;
}

int cmd_cancel(int argc, char **argv)
{
    struct kwq_client *c = NULL;
    bool stop;
    int ind, r;

    r = cli_parse(&spec, NULL, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (ind >= argc)
        return cli_usage_error(spec.name, "give the ID of the task to cancel");
    r = cli_check_ids(spec.name, argv + ind, argc - ind);
    if (r != 0)
        return r;
    r = cli_open(&c);
    if (r != 0)
        return r;
    for (int i = ind; i < argc; i++) {
        int one = cancel_one(c, argv[i]);
        if (one != KWQ_EXIT_OK && r == 0)
            r = one;
        if (!kwq_client_is_connected(c))
            break;
    }
    kwq_client_free(c);
    return r;
}
