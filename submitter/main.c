/*
 * main.c - kwq, the command line of the kwq work queue: the table of
 * commands and the entry point. Each command lives in cmd_<name>.c; what
 * they share is in cli.c (options, messages, connecting), input.c (items),
 * progress.c (the progress bar), local.c (a local redis-server), runner.c
 * (local worker processes) and progpath.c (finding programs).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"

#include "cli.h"

static const struct cli_command commands[] = {
    {"enqueue", cmd_enqueue, "add items to a queue (arguments, --file, stdin; lines, NUL, NDJSON)"},
    {"seal", cmd_seal, "mark a queue complete: no more enqueues; workers exit once it drains"},
    {"unseal", cmd_unseal, "accept enqueues again"},
    {"status", cmd_status, "counts, rates, oldest pending age, sealed/drained (--json)"},
    {"wait", cmd_wait, "wait until the queue drains, with progress (--timeout)"},
    {"dlq", cmd_dlq, "dead letters: list, requeue, purge"},
    {"task", cmd_task, "one task: state, attempts, history, result"},
    {"results", cmd_results, "results in completion order (--follow)"},
    {"cancel", cmd_cancel, "cancel a pending, delayed or leased task"},
    {"purge", cmd_purge, "delete every task, result and setting of a queue"},
    {"queues", cmd_queues, "the queues an enqueue wrote to (--json: their counts); forget one"},
    {"run", cmd_run, "run a whole job: enqueue, seal, start workers, show progress, gather"},
    {"job", cmd_job, "the Kubernetes Job of kwq-worker pods: create, status, delete"},
    {"scale", cmd_scale, "set a worker Job's parallelism to the queue's depth, once"},
    {"autoscale", cmd_autoscale, "keep a worker Job's parallelism matched to its queue"},
    {"local-redis", cmd_local_redis, "start/stop a redis-server kept for a series of commands"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(void)
{
    (void)printf("Usage: kwq [global options] COMMAND [options] [ARG...]\n\n"
                 "kwq puts work items on a Redis-backed queue and runs them with kwq-worker,\n"
                 "locally (kwq run --local) or as the pods of a Kubernetes Job.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        (void)printf("  %-12s %s\n", commands[i].name, commands[i].summary);
    (void)printf("\nGlobal options (also accepted after the command):\n");
    kwq_opt_print_help(stdout, cli_global_opts, cli_global_nopts);
    (void)printf("\n'kwq COMMAND --help' describes a command; docs/kwq.md describes them all,\n"
                 "with exit codes and examples.\n");
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static void warn_unknown_env(const char *name, const char *closest, void *arg)
{
    (void)arg;
    if (closest)
        (void)fprintf(stderr,
                      "kwq: warning: %s is not a kwq variable (did you mean %s?); ignored\n", name,
                      closest);
    else
        (void)fprintf(stderr, "kwq: warning: %s is not a kwq variable; ignored\n", name);
}

/* Global options before the command; returns the command's index in argv, or -exit code. */
static int parse_global(int argc, char **argv)
{
    struct kwq_opt_set g = {.opts = cli_global_opts,
                            .n = cli_global_nopts,
                            .base = &cli,
                            .sources = cli_global_sources};
    const struct kwq_opt_rules rules = {.stop_at_arg = true}; /* the command ends them */
    struct kwq_error err = {0};
    enum kwq_log_format fmt;
    int ind;

    (void)kwq_opt_env_check(&g, 1, warn_unknown_env, NULL);
    if (kwq_opt_load_defaults(&g, &rules, &err) < 0)
        return -cli_usage_error(NULL, "%s", err.msg);
    ind = kwq_opt_parse(&g, 1, argc, argv, &rules, &err);
    if (ind < 0)
        return -cli_usage_error(NULL, "%s", err.msg);
    if (kwq_log_format_from_string(cli.log_format, &fmt) < 0)
        return -cli_usage_error(NULL, "--log-format must be auto, text or json, got '%s'",
                                cli.log_format);
    kwq_log_init("kwq", fmt, cli.quiet ? KWQ_LOG_WARN : KWQ_LOG_INFO);
    return ind;
}

int main(int argc, char **argv)
{
    const struct cli_command *cmd;
    char *help_argv[] = {NULL, (char *)"--help", NULL};
    int ind;

    (void)signal(SIGPIPE, SIG_IGN);
    ind = parse_global(argc, argv);
    if (ind < 0)
        return -ind;
    if (cli.version) {
        cli_version();
        return cli_stdout_finish(KWQ_EXIT_OK);
    }
    if (cli.help) {
        usage();
        return cli_stdout_finish(KWQ_EXIT_OK);
    }
    if (cli.print_config && ind >= argc) {
        struct kwq_opt_set g = {.opts = cli_global_opts,
                                .n = cli_global_nopts,
                                .base = &cli,
                                .sources = cli_global_sources};
        kwq_opt_print_config(stdout, &g);
        return cli_stdout_finish(KWQ_EXIT_OK);
    }
    if (ind >= argc)
        return cli_usage_error(NULL, "no command given");
    if (strcmp(argv[ind], "help") == 0) {
        if (ind + 1 >= argc) {
            usage();
            return cli_stdout_finish(KWQ_EXIT_OK);
        }
        cmd = find_command(argv[ind + 1]);
        if (!cmd)
            return cli_usage_error(NULL, "unknown command '%s'", argv[ind + 1]);
        help_argv[0] = argv[ind + 1];
        return cli_stdout_finish(cmd->run(2, help_argv));
    }
    cmd = find_command(argv[ind]);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", argv[ind]);
    return cli_stdout_finish(cmd->run(argc - ind, argv + ind));
}
