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

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"
#include "kwq/util.h"

#include "handler.h"

#define MS_S (1000ULL)
#define MS_H (3600ULL * 1000ULL)

enum opt_type {
    OPT_STR,    /* char * */
    OPT_UINT,   /* uint64_t, [min, max] */
    OPT_DUR,    /* uint64_t ms, [min, max] */
    OPT_SIZE,   /* uint64_t bytes, [min, max] */
    OPT_BOOL,   /* bool; a flag without argument */
    OPT_LOGFMT, /* enum kwq_log_format */
    OPT_LOGLVL, /* enum kwq_log_level */
    OPT_SECRET, /* refused on the command line: say where the secret goes instead */
    OPT_HELP,   /* --help */
    OPT_VERSION /* --version */
};

struct opt {
    const char *flag;   /* long option name, without "--" */
    const char *env;    /* environment variable, or NULL */
    int shortopt;       /* short option letter, or 0 */
    enum opt_type type; /* how the value is parsed */
    size_t off;         /* offset of the value in struct worker_config */
    const char *def;    /* default as text (parsed like user input), or NULL */
    uint64_t min, max;  /* accepted range for numbers, durations and sizes */
    const char *arg;    /* argument name shown in --help */
    const char *help;   /* one line for --help */
};

#define OFF(field) offsetof(struct worker_config, field)

static const struct opt opts[] = {
    {"redis", "KWQ_REDIS_URL", 'r', OPT_STR, OFF(redis_url), "redis://127.0.0.1:6379/0", 0, 0,
     "URL", "Redis to use: redis://host:port/db or unix:///path/to.sock"},
    {"redis-password-file", "KWQ_REDIS_PASSWORD_FILE", 0, OPT_STR, OFF(password_file), NULL, 0, 0,
     "PATH", "file whose first line is the Redis password (or set KWQ_REDIS_PASSWORD)"},
    {"redis-password", NULL, 0, OPT_SECRET, 0, NULL, 0, 0, NULL, NULL},
    {"queue", "KWQ_QUEUE", 'q', OPT_STR, OFF(queue), NULL, 0, 0, "NAME",
     "queue to work on (required)"},
    {"concurrency", "KWQ_CONCURRENCY", 'c', OPT_UINT, OFF(concurrency), "1", 1, 10000, "N",
     "tasks run at once by this worker"},
    {"lease", "KWQ_LEASE", 0, OPT_DUR, OFF(lease_ms), "30s", MS_S, MS_H, "DURATION",
     "lease length; renewed every third of it while the handler runs"},
    {"timeout", "KWQ_TIMEOUT", 't', OPT_DUR, OFF(timeout_ms), "1h", 0, MS_H * 24 * 7, "DURATION",
     "per-task handler time limit when the task sets none; 0 = none"},
    {"grace", "KWQ_GRACE", 0, OPT_DUR, OFF(grace_ms), "20s", 0, MS_H, "DURATION",
     "after SIGTERM, how long running handlers may finish before they are stopped"},
    {"kill-grace", "KWQ_KILL_GRACE", 0, OPT_DUR, OFF(kill_grace_ms), "5s", 0, MS_S * 60 * 10,
     "DURATION", "time between SIGTERM and SIGKILL when a handler is stopped"},
    {"max-tasks", "KWQ_MAX_TASKS", 'n', OPT_UINT, OFF(max_tasks), "0", 0, UINT64_MAX / 2, "N",
     "exit after leasing N tasks (1 = one task per pod); 0 = no limit"},
    {"idle-exit", "KWQ_IDLE_EXIT", 0, OPT_DUR, OFF(idle_exit_ms), "0", 0, MS_H * 24 * 30,
     "DURATION", "exit 7 after this long idle on an unsealed, empty queue; 0 = never"},
    {"redis-retry", "KWQ_REDIS_RETRY", 0, OPT_DUR, OFF(redis_retry_ms), "60s", 0, MS_H * 24,
     "DURATION", "how long to keep reconnecting to Redis before exiting 69"},
    {"max-result", "KWQ_MAX_RESULT", 0, OPT_SIZE, OFF(max_result), "1MiB", 0,
     (uint64_t)KWQ_DEFAULT_MAX_RESULT, "SIZE", "bytes of handler stdout kept as the task's result"},
    {"stream", "KWQ_STREAM", 's', OPT_BOOL, OFF(stream), "false", 0, 0, NULL,
     "stream mode: one long-lived handler gets tasks as JSON lines on stdin"},
    {"ready-file", "KWQ_READY_FILE", 0, OPT_STR, OFF(ready_file), NULL, 0, 0, "PATH",
     "file that exists while this worker holds a task (for a readiness probe)"},
    {"log-format", "KWQ_LOG_FORMAT", 0, OPT_LOGFMT, OFF(log_format), "auto", 0, 0, "FORMAT",
     "json, text, or auto (text at a terminal, else json)"},
    {"log-level", "KWQ_LOG_LEVEL", 0, OPT_LOGLVL, OFF(log_level), "info", 0, 0, "LEVEL",
     "debug, info, warn or error"},
    {"print-config", NULL, 0, OPT_BOOL, OFF(print_config), "false", 0, 0, NULL,
     "print every setting with its source and exit"},
    {"help", NULL, 'h', OPT_HELP, 0, NULL, 0, 0, NULL, "show this help and exit"},
    {"version", NULL, 'V', OPT_VERSION, 0, NULL, 0, 0, NULL, "show the version and exit"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

enum source { SRC_DEFAULT, SRC_ENV, SRC_FLAG };

static const char *const source_names[] = {"default", "env", "flag"};

/* ---- Values ---- */

static int parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (strcmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return KWQ_EINVAL;
}

/* Parse s for o into cfg. what names the origin in messages ("--lease" or "KWQ_LEASE"). */
static int set_value(struct worker_config *cfg, const struct opt *o, const char *s,
                     const char *what, struct kwq_error *err)
{
    void *p = (char *)cfg + o->off;
    char *dup;

    switch (o->type) {
    case OPT_STR:
        dup = strdup(s);
        if (!dup)
            return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
        free(*(char **)p);
        *(char **)p = dup;
        return 0;
    case OPT_UINT:
        return kwq_parse_uint(s, o->min, o->max, what, (uint64_t *)p, err);
    case OPT_DUR:
        return kwq_parse_duration_ms(s, o->min, o->max, what, (uint64_t *)p, err);
    case OPT_SIZE:
        return kwq_parse_size(s, o->min, o->max, what, (uint64_t *)p, err);
    case OPT_BOOL:
        if (parse_bool(s, (bool *)p) < 0)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be true or false, got '%s'", what, s);
        return 0;
    case OPT_LOGFMT:
        if (kwq_log_format_from_string(s, (enum kwq_log_format *)p) < 0)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be json, text or auto, got '%s'", what,
                                 s);
        return 0;
    case OPT_LOGLVL:
        if (kwq_log_level_from_string(s, (enum kwq_log_level *)p) < 0)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be debug, info, warn or error, got '%s'",
                                 what, s);
        return 0;
    case OPT_SECRET:
    case OPT_HELP:
    case OPT_VERSION:
        break;
    }
    return 0;
}

/* ---- Help and printing ---- */

static void print_option(const struct opt *o)
{
    char left[64];

    (void)snprintf(left, sizeof(left), "%c%c%c --%s%s%s", o->shortopt ? '-' : ' ',
                   o->shortopt ? o->shortopt : ' ', o->shortopt ? ',' : ' ', o->flag,
                   o->arg ? " " : "", o->arg ? o->arg : "");
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
        if (opts[i].help)
            print_option(&opts[i]);
    (void)printf(
        "\nThe Redis password comes only from KWQ_REDIS_PASSWORD, KWQ_REDIS_PASSWORD_FILE\n"
        "or --redis-password-file, never from the command line.\n"
        "Exit codes: 0 queue drained, 7 idle exit, 69 Redis unavailable,\n"
        "75 interrupted (SIGTERM, --max-tasks), 78 configuration error.\n"
        "See docs/kwq-worker.md (man kwq-worker) for the full reference.\n");
}

static void print_value(const struct worker_config *cfg, const struct opt *o)
{
    const void *p = (const char *)cfg + o->off;
    char buf[32];

    switch (o->type) {
    case OPT_STR:
        (void)printf("%s", *(char *const *)p ? *(char *const *)p : "");
        break;
    case OPT_UINT:
    case OPT_SIZE:
        (void)printf("%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case OPT_DUR:
        kwq_format_duration(*(const uint64_t *)p, buf, sizeof(buf));
        (void)printf("%s", *(const uint64_t *)p ? buf : "0");
        break;
    case OPT_BOOL:
        (void)printf("%s", *(const bool *)p ? "true" : "false");
        break;
    case OPT_LOGFMT: {
        static const char *const f[] = {"auto", "json", "text"};
        (void)printf("%s", f[*(const enum kwq_log_format *)p]);
        break;
    }
    case OPT_LOGLVL: {
        static const char *const l[] = {"debug", "info", "warn", "error", "off"};
        (void)printf("%s", l[*(const enum kwq_log_level *)p]);
        break;
    }
    case OPT_SECRET:
    case OPT_HELP:
    case OPT_VERSION:
        break;
    }
}

static void print_config(const struct worker_config *cfg, const enum source *src)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];

        if (!o->env)
            continue;
        (void)printf("%-22s ", o->flag);
        print_value(cfg, o);
        (void)printf("  (%s)\n", source_names[src[i]]);
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
    (void)fprintf(stderr, "kwq-worker: %s\n", msg);
    (void)fprintf(stderr, "kwq-worker: see kwq-worker --help\n");
    return KWQ_EXIT_CONFIG;
}

/* ---- Resolution ---- */

static int apply_defaults_and_env(struct worker_config *cfg, enum source *src,
                                  struct kwq_error *err)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        const char *v = o->env ? getenv(o->env) : NULL;

        if (o->def && set_value(cfg, o, o->def, o->flag, err) < 0)
            return err->code;
        src[i] = SRC_DEFAULT;
        if (v) {
            if (set_value(cfg, o, v, o->env, err) < 0)
                return err->code;
            src[i] = SRC_ENV;
        }
    }
    return 0;
}

static void build_getopt(struct option *lo, char *so)
{
    size_t n = 0, s = 0;

    so[s++] = '+'; /* stop at HANDLER: its own options are not ours */
    so[s++] = ':';
    for (size_t i = 0; i < NOPTS; i++) {
        bool has_arg =
            opts[i].type != OPT_BOOL && opts[i].type != OPT_HELP && opts[i].type != OPT_VERSION;
        lo[n++] = (struct option){opts[i].flag, has_arg ? required_argument : no_argument, NULL,
                                  (int)(1000 + i)};
        if (opts[i].shortopt) {
            so[s++] = (char)opts[i].shortopt;
            if (has_arg)
                so[s++] = ':';
        }
    }
    lo[n] = (struct option){NULL, 0, NULL, 0};
    so[s] = '\0';
}

static int opt_index(int c)
{
    if (c >= 1000 && c < 1000 + (int)NOPTS)
        return c - 1000;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].shortopt && opts[i].shortopt == c)
            return (int)i;
    return -1;
}

/* Returns -1 to go on, else an exit code. */
static int apply_flag(struct worker_config *cfg, const struct opt *o, enum source *src,
                      struct kwq_error *err)
{
    char what[64];

    (void)snprintf(what, sizeof(what), "--%s", o->flag);
    switch (o->type) {
    case OPT_HELP:
        print_help();
        return KWQ_EXIT_OK;
    case OPT_VERSION:
        (void)printf("kwq-worker %s\n", KWQ_VERSION);
        return KWQ_EXIT_OK;
    case OPT_SECRET:
        return config_error("--redis-password is not accepted: the command line is visible to "
                            "every process; set KWQ_REDIS_PASSWORD or use --redis-password-file");
    case OPT_BOOL:
        *(bool *)((char *)cfg + o->off) = true;
        break;
    default:
        if (set_value(cfg, o, optarg, what, err) < 0)
            return config_error(err->msg);
        break;
    }
    *src = SRC_FLAG;
    return -1;
}

static int parse_flags(struct worker_config *cfg, int argc, char **argv, enum source *src)
{
    struct option lo[NOPTS + 1];
    char so[3 * NOPTS + 3];
    struct kwq_error err = {0};
    char msg[KWQ_ERRSTR_LEN];
    int c;

    build_getopt(lo, so);
    opterr = 0;
    while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        int i = opt_index(c);
        int rc;

        if (c == '?' || c == ':' || i < 0) {
            const char *bad = argv[optind - 1];
            (void)snprintf(msg, sizeof(msg), "%s option '%s'",
                           c == ':' ? "missing value for" : "unknown", bad ? bad : "?");
            return config_error(msg);
        }
        rc = apply_flag(cfg, &opts[i], &src[i], &err);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

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

static int check_semantics(struct worker_config *cfg, const enum source *src)
{
    struct kwq_error err = {0};
    char msg[KWQ_ERRSTR_LEN];

    if (src[0] == SRC_FLAG && url_has_password(cfg->redis_url))
        return config_error("--redis must not contain a password (the command line is visible "
                            "to every process); set KWQ_REDIS_PASSWORD or use "
                            "--redis-password-file");
    if (!cfg->queue || !*cfg->queue)
        return config_error("no queue given: use --queue NAME or set KWQ_QUEUE");
    if (kwq_queue_name_check(cfg->queue, &err) < 0)
        return config_error(err.msg);
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
    enum source src[NOPTS];
    struct kwq_error err = {0};
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    if (apply_defaults_and_env(cfg, src, &err) < 0)
        return config_error(err.msg);
    rc = parse_flags(cfg, argc, argv, src);
    if (rc >= 0)
        return rc;
    cfg->handler_argv = argv + optind;
    if (cfg->print_config) {
        print_config(cfg, src);
        return KWQ_EXIT_OK;
    }
    return check_semantics(cfg, src);
}

void config_done(struct worker_config *cfg)
{
    free(cfg->redis_url);
    free(cfg->password_file);
    free(cfg->queue);
    free(cfg->ready_file);
    free(cfg->handler_path);
    memset(cfg, 0, sizeof(*cfg));
}
