/*
 * cmd_seal.c - `kwq seal` and `kwq unseal`: mark a queue complete (workers
 * exit 0 once it drains) or open it for enqueues again.
 */
#include <stdio.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "cli.h"

static int seal_op(int argc, char **argv, const struct cli_spec *spec, bool seal)
{
    struct kwq_client *c;
    int r = cli_start(spec, NULL, argc, argv, &c);

    if (!c)
        return r;
    r = seal ? kwq_seal(c, cli.queue) : kwq_unseal(c, cli.queue);
    if (r < 0)
        r = cli_fail(c, r, NULL);
    else if (!cli.quiet)
        (void)printf("queue '%s' %s\n", cli.queue, seal ? "sealed" : "unsealed");
    kwq_client_free(c);
    return r > 0 ? r : KWQ_EXIT_OK;
}

int cmd_seal(int argc, char **argv)
{
    static const struct cli_spec spec = {
        .name = "seal",
        .usage = "[options]",
        .description = "Seal the queue: every item is in. Enqueues are refused from now on, and\n"
                       "workers exit 0 once nothing is pending, leased or delayed. Idempotent.",
    };
    return seal_op(argc, argv, &spec, true);
}

int cmd_unseal(int argc, char **argv)
{
    static const struct cli_spec spec = {
        .name = "unseal",
        .usage = "[options]",
        .description = "Unseal the queue: enqueues are accepted again, and idle workers wait for\n"
                       "more work instead of exiting. Idempotent.",
    };
    return seal_op(argc, argv, &spec, false);
}
