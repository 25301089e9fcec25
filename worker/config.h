/*
 * config.h - kwq-worker's settings: one option table (kwq/opts.h) drives
 * the flags, the KWQ_* environment variables, --help and --print-config.
 * Precedence: defaults, then environment, then flags (flags win). String
 * settings are borrowed from argv, environ or the table's defaults.
 */
#ifndef KWQ_WORKER_CONFIG_H
#define KWQ_WORKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kwq/log.h"

/* Exit code the handler uses to say "bad input, never retry" (sysexits EX_DATAERR). */
#define WORKER_NO_RETRY_CODE 65

struct worker_config {
    const char *redis_url;          /* Redis URL, borrowed; NULL = the library default */
    const char *password_file;      /* file holding the Redis password, borrowed, or NULL */
    const char *queue;              /* queue name, borrowed */
    uint64_t concurrency;           /* tasks in flight at once in this process */
    uint64_t lease_ms;              /* lease length, ms; renewed every lease_ms / 3 */
    uint64_t timeout_ms;            /* default per-task handler timeout, ms; 0 = none */
    uint64_t grace_ms;              /* after SIGTERM: time running handlers get to finish, ms */
    uint64_t kill_grace_ms;         /* SIGTERM to SIGKILL of a handler's process group, ms */
    uint64_t max_tasks;             /* tasks to lease before exiting; 0 = no limit */
    uint64_t idle_exit_ms;          /* exit KWQ_EXIT_IDLE after this long idle; 0 = never */
    uint64_t redis_retry_ms;        /* give up (exit 69) after Redis is unreachable this long */
    uint64_t max_result;            /* bytes of handler stdout kept as the result */
    uint64_t result_ttl_ms;         /* how long Redis keeps a result, ms; 0 = library default */
    bool no_result;                 /* --no-result: ack without keeping the stdout */
    bool stream;                    /* stream mode: one long-lived handler, NDJSON */
    const char *ready_file;         /* readiness file, borrowed, or NULL */
    enum kwq_log_format log_format; /* json, text or auto */
    enum kwq_log_level log_level;   /* lowest level logged */
    bool print_config;              /* --print-config: print the settings and exit */
    bool help;                      /* --help: print the help and exit */
    bool version;                   /* --version: print the version and exit */
    char **handler_argv;            /* HANDLER [ARG...], borrowed from main's argv */
    char *handler_path;             /* HANDLER resolved to an executable file, owned */
};

/*
 * Resolve the settings from the environment and argv into cfg (which the
 * caller then releases with config_done). Returns -1 when the worker should
 * run, or the exit code to exit with at once: 0 after --help/--version/
 * --print-config, KWQ_EXIT_CONFIG after a one-line error on stderr.
 */
int config_parse(struct worker_config *cfg, int argc, char **argv);

/* Log a warning for each KWQ_* variable of the environment that no kwq program reads (a typo). */
void config_warn_env(void);

/* Free what cfg owns (the resolved handler path). */
void config_done(struct worker_config *cfg);

#endif /* KWQ_WORKER_CONFIG_H */
