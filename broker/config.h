/*
 * config.h - kwq-broker's settings: one option table (kwq/opts.h) drives the
 * flags, the KWQ_* environment variables, --help and --print-config.
 * Precedence: defaults, then environment, then flags (flags win). Strings
 * are borrowed from argv, environ or the table's defaults unless noted.
 */
#ifndef KWQ_BROKER_CONFIG_H
#define KWQ_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kwq/log.h"

#include "kube/cli_opts.h"

enum broker_leader_mode {
    BROKER_LEADER_AUTO = 0, /* kubernetes with --kube, else redis */
    BROKER_LEADER_REDIS,
    BROKER_LEADER_KUBE,
    BROKER_LEADER_OFF,
};

struct broker_config {
    const char *redis_url;          /* the master: housekeeping, leader lease, dashboard */
    const char *password_file;      /* file holding the Redis password, or NULL */
    const char *read_redis_url;     /* a replica for /metrics and samples, or NULL */
    const char *queues;             /* comma-separated queue names always watched, or NULL */
    const char *listen;             /* HTTP address, "127.0.0.1:9471" */
    uint64_t reap_interval_ms;      /* housekeeping round period */
    uint64_t reap_batch;            /* items per reap call (1..1000) */
    uint64_t registry_interval_ms;  /* re-read of the queue registry */
    uint64_t sample_interval_ms;    /* dashboard history sampling */
    const char *leader;             /* auto, redis, kubernetes, off */
    const char *leader_name;        /* the lease's name */
    const char *identity;           /* this broker in the election; NULL = pod name or host-pid */
    uint64_t leader_lease_ms;       /* leader lease length */
    bool no_dashboard;              /* serve no dashboard and no /api/ */
    bool dashboard_write;           /* allow requeue/purge from the dashboard */
    const char *auth_token_file;    /* file holding the bearer token, or NULL */
    const char *basic_auth_file;    /* file holding "user:password", or NULL */
    bool kube;                      /* talk to Kubernetes: the Jobs of a queue, a Lease */
    struct kube_cli_opts kube_opts; /* which API server and namespace */
    enum kwq_log_format log_format; /* json, text or auto */
    enum kwq_log_level log_level;   /* lowest level logged */
    bool print_config;              /* --print-config: print the settings and exit */
    bool help;                      /* --help */
    bool version;                   /* --version */

    /* Resolved by broker_config_parse (owned): */
    char **queue_list; /* the names of queues, checked */
    size_t nqueues;    /* entries in queue_list */
    enum broker_leader_mode leader_mode;
    char *auth_token;       /* the token, or NULL */
    char *basic_auth;       /* "user:password", or NULL */
    char identity_buf[256]; /* the identity when none was given */
};

/*
 * Resolve cfg from the environment and argv. Returns -1 when the broker
 * should run, or the exit code to exit with at once: 0 after --help,
 * --version or --print-config, KWQ_EXIT_CONFIG (78) after a one-line error
 * on stderr.
 */
int broker_config_parse(struct broker_config *cfg, int argc, char **argv);

/* Log a warning for each KWQ_* variable no kwq program reads (a typo). */
void broker_config_warn_env(void);

/* Free what cfg owns. */
void broker_config_done(struct broker_config *cfg);

#endif /* KWQ_BROKER_CONFIG_H */
