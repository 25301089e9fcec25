/*
 * cmd_local_redis.c - `kwq local-redis start|stop|status`: one redis-server
 * kept in the state directory for a series of kwq commands, which use it
 * whenever neither --redis nor KWQ_REDIS_URL is given.
 */
#include <stdio.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/exit.h"

#include "cli.h"
#include "local.h"

static const struct cli_spec spec = {
    .name = "local-redis",
    .usage = "start|stop|status [options]",
    .description =
        "Keep a redis-server for a series of kwq commands on this machine, on a unix socket in\n"
        "the state directory ($KWQ_STATE_DIR, else $XDG_RUNTIME_DIR/kwq, else /tmp/kwq-$UID),\n"
        "with its append-only file on. While it runs, kwq commands without --redis or\n"
        "KWQ_REDIS_URL use it, `kwq run --local` included.\n"
        "  start   start it (or find it running) and print its URL on stdout\n"
        "  stop    stop it; its data stays in the state directory for the next start\n"
        "  status  print its URL when running (exit 0), else exit 1\n"
        "The server binary is $KWQ_REDIS_SERVER, else redis-server from PATH.",
};

static int lr_start(void)
{
    struct local_redis lr;
    struct kwq_error err = {0};
    bool started;
    int r = local_redis_start_kept(&lr, &started, &err);

    if (r < 0)
        return cli_error(cli_exit_code(r), "%s", err.msg);
    (void)printf("%s\n", lr.url);
    cli_note("local Redis %s (pid %d); kwq commands without --redis use it until 'kwq "
             "local-redis stop'",
             started ? "started" : "already running", (int)lr.pid);
    return KWQ_EXIT_OK;
}

static int lr_stop(void)
{
    struct local_redis lr;
    struct kwq_error err = {0};
    int r;

    if (local_redis_find(&lr) < 0) {
        cli_note("no local Redis was running");
        return KWQ_EXIT_OK;
    }
    r = local_redis_stop(&lr, &err);
    if (r < 0)
        return cli_error(cli_exit_code(r), "%s", err.msg);
    cli_note("local Redis stopped");
    return KWQ_EXIT_OK;
}

static int lr_status(void)
{
    struct local_redis lr;

    if (local_redis_find(&lr) < 0) {
        cli_note("no local Redis is running; 'kwq local-redis start' starts one");
        return KWQ_EXIT_FAILURE;
    }
    (void)printf("%s\n", lr.url);
    return KWQ_EXIT_OK;
}

int cmd_local_redis(int argc, char **argv)
{
    bool stop;
    int ind, r;

    r = cli_parse(&spec, NULL, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (ind >= argc)
        return cli_usage_error(spec.name, "give a local-redis command: start, stop or status");
    if (ind + 1 < argc)
        return cli_usage_error(spec.name, "unexpected argument '%s'", argv[ind + 1]);
    if (strcmp(argv[ind], "start") == 0)
        return lr_start();
    if (strcmp(argv[ind], "stop") == 0)
        return lr_stop();
    if (strcmp(argv[ind], "status") == 0)
        return lr_status();
    return cli_usage_error(spec.name, "unknown local-redis command '%s' (start, stop or status)",
                           argv[ind]);
}
