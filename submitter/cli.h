/*
 * cli.h - what the files of the kwq CLI share: the global options, the
 * command table entries, and the helpers that turn a failure into one line
 * on stderr plus an exit code from kwq/exit.h.
 *
 * Every message has the shape "kwq: <what was wrong>; <what to do>". Usage
 * errors end with "see 'kwq <command> --help'" and exit KWQ_EXIT_USAGE.
 */
#ifndef KWQ_CLI_H
#define KWQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kwq/opts.h"

struct kwq_client;

/* Options every command accepts, before or after the command name. */
struct cli_global {
    const char *redis;         /* --redis / KWQ_REDIS_URL; NULL: local Redis or the default */
    const char *queue;         /* --queue / KWQ_QUEUE */
    const char *password_file; /* --redis-password-file (env: read by libkwq itself) */
    const char *log_format;    /* --log-format / KWQ_LOG_FORMAT: auto, text or json */
    bool quiet;                /* --quiet / KWQ_QUIET: no progress, no summaries */
    bool help;                 /* --help */
    bool version;              /* --version */
    bool print_config;         /* --print-config */
    uint64_t max_payload;      /* not an option: set by commands that enqueue; 0 = default */
    bool stdout_reported;      /* not an option: a failure writing stdout was already reported */
};

extern struct cli_global cli;
extern const struct kwq_opt cli_global_opts[];
extern const size_t cli_global_nopts;
extern enum kwq_opt_source cli_global_sources[]; /* where each global value came from */

/* One subcommand: cmd_<name>() in cmd_<name>.c. */
struct cli_command {
    const char *name;                  /* as typed: "enqueue", "local-redis" */
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns an exit code */
    const char *summary;               /* one line for `kwq --help` */
};

int cmd_enqueue(int argc, char **argv);
int cmd_seal(int argc, char **argv);
int cmd_unseal(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_dlq(int argc, char **argv);
int cmd_task(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_purge(int argc, char **argv);
int cmd_queues(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_local_redis(int argc, char **argv);
int cmd_job(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_autoscale(int argc, char **argv);

/* ---- Messages and exit codes --------------------------------------------- */

/* Print "kwq: <fmt>" and a newline on stderr. Returns code. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "kwq: <fmt>; see 'kwq <cmd> --help'" (cmd NULL: 'kwq --help'). Returns KWQ_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print a note for people ("kwq: ...") on stderr unless --quiet. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The KWQ_EXIT_* code for a libkwq error code. */
int cli_exit_code(int err);

/*
 * Report a failed libkwq call on c: "kwq: <context>: <errstr>; <hint>" (the
 * hint only when errstr has none). context may be NULL. Returns the exit code.
 */
int cli_fail(struct kwq_client *c, int err, const char *context);

/* ---- Connecting ----------------------------------------------------------- */

/*
 * The Redis URL to use: --redis / KWQ_REDIS_URL, else a running
 * `kwq local-redis` (written to buf), else NULL (libkwq's default).
 */
const char *cli_redis_url(char *buf, size_t len);

/*
 * Check the queue name, then connect to Redis. On failure prints the error
 * and returns its exit code (*ret stays NULL); 0 on success.
 */
int cli_connect(const char *url, struct kwq_client **ret);

/* cli_connect to cli_redis_url(): what most commands do first. */
int cli_open(struct kwq_client **ret);

/*
 * Riding out a Redis outage in a long-running command (`wait`, `results
 * --follow`, `run`): after a transient error (kwq_err_is_transient) it
 * reconnects with capped backoff (0.25 s doubling to 5 s) until limit_ms
 * have passed since the outage began, or end_ms (a kwq_monotonic_ms time,
 * e.g. the end of --timeout) if that comes first. An operation that succeeds
 * ends the outage. A permanent error ends the retrying at once.
 */
struct cli_outage {
    uint64_t limit_ms; /* --redis-retry; 0 = no retrying */
    uint64_t end_ms;   /* no retrying after this monotonic time; 0 = none */
    uint64_t since_ms; /* when the current outage began, 0 = none */
    uint64_t delay_ms; /* the next backoff */
    uint64_t retry_ms; /* during an outage: when to reconnect (monotonic) */
};

/*
 * Call when an operation on c failed with err. Returns 0 once reconnected
 * (repeat the operation), or the error that ends the command: err itself
 * when it is permanent, or the last one when the outage outlasted its bound.
 * It sleeps meanwhile.
 */
int cli_outage_retry(struct kwq_client *c, struct cli_outage *o, int err);

/*
 * The same in steps, for a command whose loop must go on meanwhile (`run`
 * relays logs and reaps workers during an outage). Call cli_outage_failed
 * when an operation failed with err: it returns the error that ends the
 * command, or 0 while the outage is within its bounds; then, from
 * o->retry_ms on, cli_outage_reconnect and, if that returns 0, repeat the
 * operation (a failure goes to cli_outage_failed again).
 */
int cli_outage_failed(struct kwq_client *c, struct cli_outage *o, int err);
int cli_outage_reconnect(struct kwq_client *c);

/* Call when an operation succeeded: ends the outage, saying so if one was noted. */
void cli_outage_over(struct kwq_client *c, struct cli_outage *o);

/* The --redis-retry option row of a command whose config struct is T, field F. */
#define CLI_REDIS_RETRY_OPT(T, F)                                                                  \
    {                                                                                              \
        "redis-retry", 0, "KWQ_REDIS_RETRY", KWQ_OPT_DURATION, "60s", 0, 86400000, "DUR",          \
            "keep reconnecting to a Redis that went away for up to DUR (exit 69 after)",           \
            offsetof(T, F)                                                                         \
    }

/* A command's command line: what --help prints and what is parsed. */
struct cli_spec {
    const char *name;           /* command name, "enqueue" */
    const char *usage;          /* after "kwq <name> ": "[options] [ITEM...]" */
    const char *description;    /* paragraph(s) for --help */
    const struct kwq_opt *opts; /* the command's own options (may be NULL) */
    size_t nopts;               /* rows in opts */
    bool stop_at_arg;           /* options end at the first argument (a handler command line) */
};

/*
 * Parse a command's options, global ones included (defaults, environment,
 * flags), the command's own into base (the struct its rows fill; NULL when
 * it has none). --help and --version print and set *ret_exit with exit code
 * 0; a usage error prints and sets *ret_exit with KWQ_EXIT_USAGE.
 * *ret_optind is the first argument.
 */
int cli_parse(const struct cli_spec *spec, void *base, int argc, char **argv, int *ret_optind,
              bool *ret_exit);

/*
 * For a command that takes options but no arguments: cli_parse, refuse any
 * argument, then cli_open. Returns 0 with *ret connected (the caller frees
 * it), or the exit code to return at once with *ret NULL: 0 after --help,
 * --version or --print-config, KWQ_EXIT_USAGE, or cli_open's failures.
 */
int cli_start(const struct cli_spec *spec, void *base, int argc, char **argv,
              struct kwq_client **ret);

/*
 * 0 when every one of ids[0..n) is a task ID, else KWQ_EXIT_USAGE after
 * "kwq: 'x' is not a task ID ...; see 'kwq <cmd> --help'" on stderr.
 */
int cli_check_ids(const char *cmd, char *const *ids, int n);

/* Print a command's help to stdout. */
void cli_help(const struct cli_spec *spec);

/* Print "kwq <version> (protocol <n>)" to stdout. */
void cli_version(void);

/* Group digits: 1234567 -> "1,234,567". Returns buf. */
const char *cli_num(uint64_t v, char *buf, size_t len);

/* Unix ms as UTC ISO 8601 with ms: "2026-11-25T10:01:02.123Z". Returns buf. */
const char *cli_time(int64_t ms, char *buf, size_t len);

/* Add payload-like bytes to a JSON object: a string when valid UTF-8, else base64 + "<key>_enc". */
struct cJSON;
int cli_json_add_bytes(struct cJSON *obj, const char *key, const char *p, size_t n);

/* Print a cJSON value as one line on stdout and delete it. Returns an exit code. */
int cli_json_print(struct cJSON *v);

/*
 * Flush stdout at the end of a command whose exit code is rc. A reader that
 * left early (EPIPE: `kwq results | head -1`) is not an error: rc stands.
 * Any other failure (a full disk) prints "kwq: cannot write to stdout: ..."
 * unless already reported, and turns a success into KWQ_EXIT_FAILURE.
 */
int cli_stdout_finish(int rc);

/*
 * The last (up to) max lines of text[0..n) that hold more than blanks, oldest
 * first: start[i] and len[i] (without the newline). Returns how many. For
 * quoting the end of a log or a stderr tail in a message.
 */
size_t cli_last_lines(const char *text, size_t n, size_t max, const char **start, size_t *len);

/* Sleep ms milliseconds, the whole time even when a caught signal interrupts it. */
void cli_sleep_ms(uint64_t ms);

/* True when stdin is a terminal (for confirmations). */
bool cli_stdin_is_tty(void);

#endif /* KWQ_CLI_H */
