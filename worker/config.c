/*
 * config.c - the option table of kwq-worker and its resolution.
 *
 * Every setting is one row of opts[]: flag, environment variable, type,
 * default, range and help. The same rows drive getopt_long, the KWQ_*
 * lookup, --help and --print-config, so a new option cannot be half-wired.
 * Values are resolved once: defaults, then the environment, then flags.
 * Any invalid value is a configuration error (exit 78), before anything
 * touches Redis, so no task is leased by a worker that cannot run it.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/opts.h"
#include "kwq/task.h"
#include "kwq/util.h"

#include "handler.h"

#define MS_S (1000ULL)
#define MS_H (3600ULL * 1000ULL)

#define OFF(field) offsetof(struct worker_config, field)

static const struct kwq_opt opts[] = {
    {"redis", 'r', "KWQ_REDIS_URL", KWQ_OPT_STR, "redis://127.0.0.1:6379/0", 0, 0, "URL",
     "Redis to use: redis://host:port/db or unix:///path/to.sock", OFF(redis_url)},
    {"redis-password-file", 0, "KWQ_REDIS_PASSWORD_FILE", KWQ_OPT_STR, NULL, 0, 0, "PATH",
     "file whose first line is the Redis password (or set KWQ_REDIS_PASSWORD)", OFF(password_file)},
    {"redis-password", 0, NULL, KWQ_OPT_SECRET, NULL, 0, 0, NULL,
     "--redis-password is not accepted: the command line is visible to every process; set "
     "KWQ_REDIS_PASSWORD or use --redis-password-file",
     0},
    {"queue", 'q', "KWQ_QUEUE", KWQ_OPT_STR, NULL, 0, 0, "NAME", "queue to work on (required)",
     OFF(queue)},
    {"concurrency", 'c', "KWQ_CONCURRENCY", KWQ_OPT_UINT, "1", 1, 10000, "N",
     "tasks run at once by this worker", OFF(concurrency)},
    {"lease", 0, "KWQ_LEASE", KWQ_OPT_DURATION, "30s", MS_S, MS_H, "DURATION",
     "lease length; renewed every third of it while the handler runs", OFF(lease_ms)},
    {"timeout", 't', "KWQ_TIMEOUT", KWQ_OPT_DURATION, "1h", 0, MS_H * 24 * 7, "DURATION",
     "per-task handler time limit when the task sets none; 0 = none", OFF(timeout_ms)},
    {"grace", 0, "KWQ_GRACE", KWQ_OPT_DURATION, "20s", 0, MS_H, "DURATION",
     "after SIGTERM, how long running handlers may finish before they are stopped (and "
     "outcomes wait for an unreachable Redis)",
     OFF(grace_ms)},
    {"kill-grace", 0, "KWQ_KILL_GRACE", KWQ_OPT_DURATION, "5s", 0, MS_S * 60 * 10, "DURATION",
     "time between SIGTERM and SIGKILL when a handler is stopped", OFF(kill_grace_ms)},
    {"max-tasks", 'n', "KWQ_MAX_TASKS", KWQ_OPT_UINT, "0", 0, UINT64_MAX / 2, "N",
     "exit after running N tasks (1 = one task per pod); 0 = no limit", OFF(max_tasks)},
    {"idle-exit", 0, "KWQ_IDLE_EXIT", KWQ_OPT_DURATION, "0", 0, MS_H * 24 * 30, "DURATION",
     "exit 7 after this long idle on an unsealed, empty queue; 0 = never", OFF(idle_exit_ms)},
    {"redis-retry", 0, "KWQ_REDIS_RETRY", KWQ_OPT_DURATION, "0", 0, MS_H * 24, "DURATION",
     "give up (exit 69) after Redis is unavailable this long; 0 = keep retrying",
     OFF(redis_retry_ms)},
    {"max-result", 0, "KWQ_MAX_RESULT", KWQ_OPT_SIZE, "1MiB", 0, (uint64_t)KWQ_DEFAULT_MAX_RESULT,
     "SIZE", "bytes of handler stdout kept as the task's result", OFF(max_result)},
    {"result-ttl", 0, "KWQ_RESULT_TTL", KWQ_OPT_DURATION, "0", 0, MS_H * 24 * 365, "DURATION",
     "how long Redis keeps each task's result; 0 = one day", OFF(result_ttl_ms)},
    {"no-result", 0, "KWQ_NO_RESULT", KWQ_OPT_BOOL, "false", 0, 0, NULL,
     "keep no result: the handler's stdout is read and dropped", OFF(no_result)},
    {"stream", 's', "KWQ_STREAM", KWQ_OPT_BOOL, "false", 0, 0, NULL,
     "stream mode: one long-lived handler gets tasks as JSON lines on stdin", OFF(stream)},
    {"ready-file", 0, "KWQ_READY_FILE", KWQ_OPT_STR, NULL, 0, 0, "PATH",
     "file that exists while this worker holds a task (for a readiness probe)", OFF(ready_file)},
    {"log-format", 0, "KWQ_LOG_FORMAT", KWQ_OPT_LOG_FORMAT, "auto", 0, 0, "FORMAT",
     "json, text, or auto (text at a terminal, else json)", OFF(log_format)},
    {"log-level", 0, "KWQ_LOG_LEVEL", KWQ_OPT_LOG_LEVEL, "info", 0, 0, "LEVEL",
     "debug, info, warn or error", OFF(log_level)},
    {"print-config", 0, NULL, KWQ_OPT_BOOL, "false", 0, 0, NULL,
     "print every setting with its source and exit", OFF(print_config)},
    {"help", 'h', NULL, KWQ_OPT_EXIT, NULL, 0, 0, NULL, "show this help and exit", OFF(help)},
    {"version", 'V', NULL, KWQ_OPT_EXIT, NULL, 0, 0, NULL, "show the version and exit",
     OFF(version)},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* HANDLER's options are not ours: the worker's end at the handler's name. */
static const struct kwq_opt_rules rules = {
    .stop_at_arg = true,
};

/* ---- Help and printing ---- */

static void print_option(const struct kwq_opt *o)
{
    char left[64];

    (void)snprintf(left, sizeof(left), "%c%c%c --%s%s%s", o->short_name ? '-' : ' ',
                   o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ', o->name,
                   o->metavar ? " " : "", o->metavar ? o->metavar : "");
    (void)printf("  %-34s %s\n", left, o->help);
    if (o->env && o->def)
        (void)printf("  %-34s [env %s, default %s]\n", "", o->env, o->def);
    else if (o->env)
        (void)printf("  %-34s [env %s]\n", "", o->env);
}

static void print_help(void)
{
    (void)printf("Usage: kwq-worker [OPTION]... [--] HANDLER [ARG]...\n"
                 "Lease tasks from a kwq queue and run HANDLER for each one (payload on stdin,\n"
                 "result on stdout), until the queue is sealed and drained.\n\n");
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type != KWQ_OPT_SECRET)
            print_option(&opts[i]);
    (void)printf(
        "\nThe Redis password comes only from KWQ_REDIS_PASSWORD, KWQ_REDIS_PASSWORD_FILE\n"
        "or --redis-password-file, never from the command line.\n"
        "Exit codes: 0 queue drained, 7 idle exit, 8 queue gone from Redis,\n"
        "69 Redis unavailable (finite --redis-retry),\n"
        "70 internal error, 71 no process, fd or memory for a handler,\n"
        "75 interrupted (SIGTERM, --max-tasks), 78 configuration error.\n"
        "See docs/kwq-worker.md (man kwq-worker) for the full reference.\n");
}

/* "name value  (source)" per setting that has a variable, then the password and handler. */
static void print_config(const struct worker_config *cfg, const enum kwq_opt_source *src)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct kwq_opt *o = &opts[i];
        uint64_t v = 0;
        char val[4200];

        if (!o->env)
            continue;
        if (o->type == KWQ_OPT_DURATION)
            memcpy(&v, (const char *)cfg + o->offset, sizeof(v));
        if (o->type == KWQ_OPT_DURATION && v == 0)
            (void)snprintf(val, sizeof(val), "0");
        else
            kwq_opt_format(o, cfg, true, val, sizeof(val));
        (void)printf("%-22s %s  (%s)\n", o->name, val,
                     src[i] == KWQ_OPT_SRC_ENV    ? "env"
                     : src[i] == KWQ_OPT_SRC_FLAG ? "flag"
                                                  : "default");
    }
    (void)printf("%-22s %s  (env)\n", "redis-password",
                 getenv("KWQ_REDIS_PASSWORD") ? "***" : "(unset)");
    (void)printf("%-22s", "handler");
    for (char **a = cfg->handler_argv; a && *a; a++)
        (void)printf(" %s", *a);
    (void)printf("\n");
}

static int config_error(const char *msg)
{
    (void)fprintf(stderr, "kwq-worker: %s; see 'kwq-worker --help'\n", msg);
    return KWQ_EXIT_CONFIG;
}

/* ---- Resolution ---- */

/* A password inside a URL given as a flag would sit in argv for all to read. */
static bool url_has_password(const char *url)
{
    const char *at, *slash;

    if (!url || strncmp(url, "redis://", 8) != 0)
        return false;
    at = strchr(url + 8, '@');
    slash = strchr(url + 8, '/');
    return at && (!slash || at < slash);
}

/* Why the readiness file cannot be made in dir, or NULL when it can. */
static const char *dir_problem(const char *dir)
{
    struct stat st;

    if (stat(dir, &st) < 0)
        return errno == ENOENT ? "does not exist" : strerror(errno);
    if (!S_ISDIR(st.st_mode))
        return "is not a directory";
    if (access(dir, W_OK | X_OK) < 0)
        return "is not writable";
    return NULL;
}

/*
 * The readiness file is created and removed while the worker runs, where a
 * failure can only be logged: a directory that is missing or not writable is
 * found here instead, before any task is leased.
 */
static int check_ready_file(const char *path)
{
    char dir[4096], msg[KWQ_ERRSTR_LEN + 4200];
    const char *slash = strrchr(path, '/');
    const char *problem;

    if (!*path)
        return config_error("--ready-file is empty: give the path of the readiness file");
    if (!slash)
        (void)snprintf(dir, sizeof(dir), ".");
    else
        (void)snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    problem = dir_problem(dir);
    if (!problem)
        return -1;
    (void)snprintf(msg, sizeof(msg),
                   "--ready-file %s: its directory %s %s: create it or choose "
                   "another path",
                   path, dir, problem);
    return config_error(msg);
}

static int check_semantics(struct worker_config *cfg, const enum kwq_opt_source *src)
{
    struct kwq_error err = {0};
    char msg[KWQ_ERRSTR_LEN];

    if (src[0] == KWQ_OPT_SRC_FLAG && url_has_password(cfg->redis_url))
        return config_error("--redis must not contain a password (the command line is visible "
                            "to every process); set KWQ_REDIS_PASSWORD or use "
                            "--redis-password-file");
    if (!cfg->queue || !*cfg->queue)
        return config_error("no queue given: use --queue NAME or set KWQ_QUEUE");
    if (kwq_queue_name_check(cfg->queue, &err) < 0)
        return config_error(err.msg);
    if (cfg->ready_file && check_ready_file(cfg->ready_file) >= 0)
        return KWQ_EXIT_CONFIG;
    if (!cfg->handler_argv || !cfg->handler_argv[0]) {
        return config_error("no handler given: kwq-worker [OPTION]... -- HANDLER [ARG]...");
    }
    if (handler_resolve(cfg->handler_argv[0], &cfg->handler_path, &err) < 0) {
        (void)snprintf(msg, sizeof(msg), "%s", err.msg);
        return config_error(msg);
    }
    return -1;
}

int config_parse(struct worker_config *cfg, int argc, char **argv)
{
    enum kwq_opt_source src[NOPTS] = {0};
    struct kwq_opt_set set = {.opts = opts, .n = NOPTS, .base = cfg, .sources = src};
    struct kwq_error err = {0};
    int first_arg;

    memset(cfg, 0, sizeof(*cfg));
    if (kwq_opt_load_defaults(&set, &rules, &err) < 0)
        return config_error(err.msg);
    first_arg = kwq_opt_parse(&set, 1, argc, argv, &rules, &err);
    if (first_arg < 0)
        return config_error(err.msg);
    if (cfg->help) {
        print_help();
        return KWQ_EXIT_OK;
    }
    if (cfg->version) {
        (void)printf("kwq-worker %s\n", KWQ_VERSION);
        return KWQ_EXIT_OK;
    }
    cfg->handler_argv = argv + first_arg;
    if (cfg->print_config) {
        print_config(cfg, src);
        return KWQ_EXIT_OK;
    }
    return check_semantics(cfg, src);
}

static void warn_unknown_env(const char *name, const char *closest, void *arg)
{
    (void)arg;
    if (closest)
        kwq_log(KWQ_LOG_WARN, "unknown KWQ_ variable: ignored", KWQ_LS("name", name),
                KWQ_LS("did_you_mean", closest));
    else
        kwq_log(KWQ_LOG_WARN, "unknown KWQ_ variable: ignored", KWQ_LS("name", name));
}

void config_warn_env(void)
{
    const struct kwq_opt_set set = {.opts = opts, .n = NOPTS};

    (void)kwq_opt_env_check(&set, 1, warn_unknown_env, NULL);
}

void config_done(struct worker_config *cfg)
{
    free(cfg->handler_path);
    memset(cfg, 0, sizeof(*cfg));
}
