/*
 * cli.c - the parts every kwq command shares: the global options table,
 * error lines and their exit codes, connecting to Redis, and --help.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"
#include "kwq/util.h"

#include "local.h"

struct cli_global cli;

#define G(field) offsetof(struct cli_global, field)
const struct kwq_opt cli_global_opts[] = {
    {"redis", 0, "KWQ_REDIS_URL", KWQ_OPT_STR, NULL, 0, 0, "URL",
     "Redis: redis://[:pw@]host:port/db or unix:///path (default: a running 'kwq local-redis', "
     "else redis://127.0.0.1:6379/0)",
     G(redis)},
    {"queue", 'q', "KWQ_QUEUE", KWQ_OPT_STR, "default", 0, 0, "NAME", "queue name", G(queue)},
    {"redis-password-file", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "FILE",
     "read the Redis password from FILE, one trailing newline dropped (or set "
     "KWQ_REDIS_PASSWORD_FILE / KWQ_REDIS_PASSWORD)",
     G(password_file)},
    {"log-format", 0, "KWQ_LOG_FORMAT", KWQ_OPT_STR, "auto", 0, 0, "FMT",
     "log format of kwq and its workers: auto, text or json", G(log_format)},
    {"quiet", 0, "KWQ_QUIET", KWQ_OPT_BOOL, NULL, 0, 0, NULL, "no progress, notes or summaries",
     G(quiet)},
    {"help", 'h', NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "show help and exit", G(help)},
    {"version", 'V', NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "show the version and exit", G(version)},
    {"print-config", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL,
     "print every option's value and where it came from, and exit", G(print_config)},
};
#undef G
const size_t cli_global_nopts = sizeof(cli_global_opts) / sizeof(cli_global_opts[0]);
enum kwq_opt_source cli_global_sources[sizeof(cli_global_opts) / sizeof(cli_global_opts[0])];

#define CMD_OPTS_MAX 32

/* ---- Messages ----------------------------------------------------------------- */

int cli_error(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, "kwq: %s\n", msg);
    return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd)
        (void)fprintf(stderr, "kwq: %s; see 'kwq %s --help'\n", msg, cmd);
    else
        (void)fprintf(stderr, "kwq: %s; see 'kwq --help'\n", msg);
    return KWQ_EXIT_USAGE;
}

void cli_note(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (cli.quiet)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, "kwq: %s\n", msg);
}

int cli_exit_code(int err)
{
    /* libkwq's one classification: retrying may help, or a setting must change. */
    if (kwq_err_is_transient(err))
        return KWQ_EXIT_UNAVAILABLE;
    if (kwq_err_is_config(err))
        return KWQ_EXIT_CONFIG;
    switch (err) {
    case 0:
        return KWQ_EXIT_OK;
    case KWQ_ESEALED:
        return KWQ_EXIT_SEALED;
    case KWQ_ENOTFOUND:
        return KWQ_EXIT_NOTFOUND;
    case KWQ_ETOOBIG:
        return KWQ_EXIT_DATAERR;
    case KWQ_ENOMEM:
    case KWQ_EPROTO:
        return KWQ_EXIT_SOFTWARE;
    default:
        return KWQ_EXIT_FAILURE;
    }
}

/* What to do about a failure whose message does not already say. */
static const char *hint_for(int err)
{
    switch (err) {
    case KWQ_ECONN:
    case KWQ_ETIMEOUT:
        return "check --redis or KWQ_REDIS_URL ('kwq local-redis start' runs a local one)";
    case KWQ_EOOM:
        return "let workers drain queues or raise Redis's maxmemory";
    case KWQ_EAUTH:
        return "check KWQ_REDIS_PASSWORD or --redis-password-file";
    case KWQ_ENOPERM:
        return "grant the Redis user the ACL rules in docs/PROTOCOL.md \"Client rules\"";
    case KWQ_EREADONLY:
        return "point --redis or KWQ_REDIS_URL at the master";
    case KWQ_EPOLICY:
        return "run CONFIG SET maxmemory-policy noeviction";
    case KWQ_ESEALED:
        return "run 'kwq unseal' or use another queue";
    case KWQ_ENOTFOUND:
        return "check the ID; a done task without a kept result is gone";
    case KWQ_EPROTO:
    case KWQ_ENOMEM:
        return "this is a bug in kwq: please report it";
    default:
        return NULL;
    }
}

int cli_fail(struct kwq_client *c, int err, const char *context)
{
    const char *what = c ? kwq_client_errstr(c) : "";
    const char *hint = hint_for(err);

    if (!what || !*what)
        what = kwq_strerror(err);
    (void)fprintf(stderr, "kwq: %s%s%s", context ? context : "", context ? ": " : "", what);
    if (hint && !strchr(what, ';'))
        (void)fprintf(stderr, "; %s", hint);
    (void)fputc('\n', stderr);
    return cli_exit_code(err);
}

void cli_sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- Connecting ---------------------------------------------------------------- */

const char *cli_redis_url(char *buf, size_t len)
{
    struct local_redis lr;

    if (cli.redis && *cli.redis)
        return cli.redis;
    if (local_redis_find(&lr) == 0) {
        (void)snprintf(buf, len, "%s", lr.url);
        return buf;
    }
    return NULL;
}

int cli_connect(const char *url, struct kwq_client **ret)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    struct kwq_error qerr = {0};
    int r;

    *ret = NULL;
    if (kwq_queue_name_check(cli.queue, &qerr) < 0)
        return cli_usage_error(NULL, "%s", qerr.msg);
    kwq_client_opts_init(&o);
    o.url = url;
    o.password_file = cli.password_file;
    if (cli.max_payload)
        o.max_payload = (size_t)cli.max_payload;
    c = kwq_client_new(&o);
    if (!c)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    r = kwq_client_connect(c);
    if (r == KWQ_EINVAL) { /* a bad --redis URL or password file: the command line's fault */
        r = cli_usage_error(NULL, "%s", kwq_client_errstr(c));
        kwq_client_free(c);
        return r;
    }
    if (r < 0) {
        r = cli_fail(c, r, NULL);
        kwq_client_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

int cli_open(struct kwq_client **ret)
{
    char url[4200];

    return cli_connect(cli_redis_url(url, sizeof(url)), ret);
}

/* ---- Riding out an outage --------------------------------------------------- */

#define OUTAGE_FIRST_DELAY_MS 250
#define OUTAGE_MAX_DELAY_MS   5000

int cli_outage_retry(struct kwq_client *c, struct cli_outage *o, int err)
{
    uint64_t now = kwq_monotonic_ms();
    char dur[32];

    if (!kwq_err_is_transient(err))
        return err;
    if (!o->since_ms) {
        o->since_ms = now;
        o->delay_ms = OUTAGE_FIRST_DELAY_MS;
        if (o->limit_ms > 0) {
            kwq_format_duration(o->limit_ms, dur, sizeof(dur));
            cli_note("%s; retrying for up to %s (--redis-retry)", kwq_client_errstr(c), dur);
        }
    }
    for (;;) {
        uint64_t end = o->since_ms + o->limit_ms, wait = o->delay_ms;

        if (o->end_ms && o->end_ms < end)
            end = o->end_ms;
        if (now >= end)
            return err;
        if (wait > end - now)
            wait = end - now;
        cli_sleep_ms(wait);
        o->delay_ms = o->delay_ms * 2 > OUTAGE_MAX_DELAY_MS ? OUTAGE_MAX_DELAY_MS : o->delay_ms * 2;
        /* KWQ_EOOM leaves the connection up: only the operation is to be repeated. */
        err = kwq_client_is_connected(c) ? 0 : kwq_client_connect(c);
        if (err == 0)
            return 0;
        if (!kwq_err_is_transient(err))
            return err;
        now = kwq_monotonic_ms();
    }
}

void cli_outage_over(struct kwq_client *c, struct cli_outage *o)
{
    if (o->since_ms && o->limit_ms > 0)
        cli_note("Redis at %s answers again after %.1fs", kwq_client_url_redacted(c),
                 (double)(kwq_monotonic_ms() - o->since_ms) / 1000.0);
    o->since_ms = 0;
}

/* ---- Options and help ----------------------------------------------------------- */

void cli_help(const struct cli_spec *spec)
{
    (void)printf("Usage: kwq %s %s\n\n%s\n", spec->name, spec->usage, spec->description);
    if (spec->nopts > 0) {
        (void)printf("\nOptions:\n");
        kwq_opt_print_help(stdout, spec->opts, spec->nopts);
    }
    (void)printf("\nGlobal options:\n");
    kwq_opt_print_help(stdout, cli_global_opts, cli_global_nopts);
    (void)printf("\nExit codes and examples: docs/kwq.md.\n");
}

void cli_version(void)
{
    (void)printf("kwq %s (protocol %d)\n", KWQ_VERSION, KWQ_PROTOCOL_VERSION);
}

int cli_parse(const struct cli_spec *spec, void *base, int argc, char **argv, int *ret_optind,
              bool *ret_exit)
{
    static enum kwq_opt_source sources[CMD_OPTS_MAX];
    struct kwq_opt_set sets[2] = {
        {.opts = cli_global_opts,
         .n = cli_global_nopts,
         .base = &cli,
         .sources = cli_global_sources},
        {.opts = spec->opts,
         .n = spec->nopts,
         .base = base,
         .sources = spec->nopts <= CMD_OPTS_MAX ? sources : NULL},
    };
    const struct kwq_opt_rules rules = {.stop_at_arg = spec->stop_at_arg};
    struct kwq_error err = {0};

    *ret_exit = true;
    if (spec->nopts > 0 && kwq_opt_load_defaults(&sets[1], &rules, &err) < 0)
        return cli_usage_error(spec->name, "%s", err.msg);
    *ret_optind = kwq_opt_parse(sets, 2, argc, argv, &rules, &err);
    if (*ret_optind < 0)
        return cli_usage_error(spec->name, "%s", err.msg);
    if (cli.help) {
        cli_help(spec);
        return KWQ_EXIT_OK;
    }
    if (cli.version) {
        cli_version();
        return KWQ_EXIT_OK;
    }
    if (cli.print_config) {
        kwq_opt_print_config(stdout, &sets[0]);
        if (spec->nopts > 0 && spec->nopts <= CMD_OPTS_MAX)
            kwq_opt_print_config(stdout, &sets[1]);
        return KWQ_EXIT_OK;
    }
    *ret_exit = false;
    return 0;
}

int cli_start(const struct cli_spec *spec, void *base, int argc, char **argv,
              struct kwq_client **ret)
{
    bool stop;
    int ind, r;

    *ret = NULL;
    r = cli_parse(spec, base, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (ind < argc)
        return cli_usage_error(spec->name, "unexpected argument '%s'", argv[ind]);
    return cli_open(ret);
}

int cli_check_ids(const char *cmd, char *const *ids, int n)
{
    for (int i = 0; i < n; i++) {
        if (!kwq_id_is_valid(ids[i]))
            return cli_usage_error(cmd, "'%s' is not a task ID (IDs are numbers, e.g. 42)", ids[i]);
    }
    return 0;
}

const char *cli_num(uint64_t v, char *buf, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t o = 0;

    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

int cli_stdout_finish(int rc)
{
    int e;

    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    e = errno ? errno : EIO;
    if (e == EPIPE || cli.stdout_reported)
        return rc;
    (void)cli_error(KWQ_EXIT_FAILURE, "cannot write to stdout: %s; check the disk or the pipe",
                    strerror(e));
    return rc == KWQ_EXIT_OK ? KWQ_EXIT_FAILURE : rc;
}

bool cli_stdin_is_tty(void)
{
    return isatty(STDIN_FILENO) == 1;
}

const char *cli_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || !gmtime_r(&t, &tm)) {
        (void)snprintf(buf, len, "-");
        return buf;
    }
    (void)snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

int cli_json_add_bytes(struct cJSON *obj, const char *key, const char *p, size_t n)
{
    char enc_key[64];
    char *b64;
    bool ok;

    if (kwq_utf8_valid(p, n)) {
        char *copy = strndup(p, n); /* p need not be NUL-terminated */
        ok = copy && cJSON_AddStringToObject(obj, key, copy);
        free(copy);
        return ok ? 0 : KWQ_ENOMEM;
    }
    b64 = malloc(kwq_base64_len(n) + 1);
    if (!b64)
        return KWQ_ENOMEM;
    kwq_base64_encode(p, n, b64);
    (void)snprintf(enc_key, sizeof(enc_key), "%s_enc", key);
    ok = cJSON_AddStringToObject(obj, key, b64) && cJSON_AddStringToObject(obj, enc_key, "base64");
    free(b64);
    return ok ? 0 : KWQ_ENOMEM;
}

int cli_json_print(struct cJSON *v)
{
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;

    cJSON_Delete(v);
    if (!text)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    (void)printf("%s\n", text);
    cJSON_free(text);
    return KWQ_EXIT_OK;
}

size_t cli_last_lines(const char *text, size_t n, size_t max, const char **start, size_t *len)
{
    size_t k = 0;

    for (size_t end = n; end > 0 && k < max;) {
        size_t b = end;

        while (b > 0 && text[b - 1] != '\n')
            b--;
        if (end > b && strspn(text + b, " \r\t") < end - b) {
            start[k] = text + b;
            len[k++] = end - b;
        }
        end = b > 0 ? b - 1 : 0;
    }
    for (size_t i = 0; i < k / 2; i++) { /* oldest first */
        const char *s = start[i];
        size_t l = len[i];

        start[i] = start[k - 1 - i];
        len[i] = len[k - 1 - i];
        start[k - 1 - i] = s;
        len[k - 1 - i] = l;
    }
    return k;
}
