/*
 * config.c - the option table of kwq-broker and its resolution. Every
 * invalid value is a configuration error (exit 78) found before anything
 * listens or touches Redis.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/opts.h"
#include "kwq/task.h"
#include "kwq/util.h"

#define MS_S (1000ULL)
#define MS_H (3600ULL * 1000ULL)

#define OFF(field) offsetof(struct broker_config, field)

static const struct kwq_opt opts[] = {
    {"redis", 'r', "KWQ_REDIS_URL", KWQ_OPT_STR, "redis://127.0.0.1:6379/0", 0, 0, "URL",
     "Redis master: redis://host:port/db or unix:///path/to.sock", OFF(redis_url)},
    {"redis-password-file", 0, "KWQ_REDIS_PASSWORD_FILE", KWQ_OPT_STR, NULL, 0, 0, "PATH",
     "file whose first line is the Redis password (or set KWQ_REDIS_PASSWORD)", OFF(password_file)},
    {"redis-password", 0, NULL, KWQ_OPT_SECRET, NULL, 0, 0, NULL,
     "--redis-password is not accepted: the command line is visible to every process; set "
     "KWQ_REDIS_PASSWORD or use --redis-password-file",
     0},
    {"read-redis", 0, "KWQ_BROKER_READ_REDIS", KWQ_OPT_STR, NULL, 0, 0, "URL",
     "a replica to read /metrics and the dashboard's counts from (default: --redis)",
     OFF(read_redis_url)},
    {"queues", 'q', "KWQ_BROKER_QUEUES", KWQ_OPT_STR, NULL, 0, 0, "A,B,...",
     "queues to watch besides those in the registry (every queue ever enqueued to)", OFF(queues)},
    {"listen", 'l', "KWQ_BROKER_LISTEN", KWQ_OPT_STR, "127.0.0.1:9471", 0, 0, "ADDR",
     "HTTP address: HOST:PORT, [V6]:PORT, :PORT (every address) or unix:/path", OFF(listen)},
    {"reap-interval", 0, "KWQ_BROKER_REAP_INTERVAL", KWQ_OPT_DURATION, "500ms", 50, MS_S * 60,
     "DURATION", "how often every queue's expired leases and due delayed tasks are handled",
     OFF(reap_interval_ms)},
    {"reap-batch", 0, "KWQ_BROKER_REAP_BATCH", KWQ_OPT_UINT, "100", 1, 1000, "N",
     "leases and delayed tasks handled per queue and call (up to 10 calls a round)",
     OFF(reap_batch)},
    {"registry-interval", 0, "KWQ_BROKER_REGISTRY_INTERVAL", KWQ_OPT_DURATION, "5s", 100, MS_H,
     "DURATION", "how often the queue registry is read again", OFF(registry_interval_ms)},
    {"sample-interval", 0, "KWQ_BROKER_SAMPLE_INTERVAL", KWQ_OPT_DURATION, "5s", 100, MS_S * 60,
     "DURATION", "how often the dashboard's counts and history are sampled",
     OFF(sample_interval_ms)},
    {"leader", 0, "KWQ_BROKER_LEADER", KWQ_OPT_STR, "auto", 0, 0, "MODE",
     "leader election: redis, kubernetes (a Lease), off, or auto (kubernetes with --kube, "
     "else redis)",
     OFF(leader)},
    {"leader-name", 0, "KWQ_BROKER_LEADER_NAME", KWQ_OPT_STR, "kwq-broker", 0, 0, "NAME",
     "name of the leader lease (brokers with one name elect one leader)", OFF(leader_name)},
    {"leader-lease", 0, "KWQ_BROKER_LEADER_LEASE", KWQ_OPT_DURATION, "15s", MS_S, MS_S * 600,
     "DURATION", "leader lease length; renewed every third of it", OFF(leader_lease_ms)},
    {"identity", 0, "KWQ_BROKER_IDENTITY", KWQ_OPT_STR, NULL, 0, 0, "ID",
     "this broker's name in the election (default: $POD_NAME, else HOST-PID)", OFF(identity)},
    {"no-dashboard", 0, "KWQ_BROKER_NO_DASHBOARD", KWQ_OPT_BOOL, "false", 0, 0, NULL,
     "serve no dashboard and no /api/ (only /metrics, /healthz, /readyz)", OFF(no_dashboard)},
    {"dashboard-write", 0, "KWQ_BROKER_DASHBOARD_WRITE", KWQ_OPT_BOOL, "false", 0, 0, NULL,
     "let the dashboard requeue and purge dead letters (POST with a CSRF token)",
     OFF(dashboard_write)},
    {"auth-token-file", 0, "KWQ_BROKER_AUTH_TOKEN_FILE", KWQ_OPT_STR, NULL, 0, 0, "PATH",
     "require 'Authorization: Bearer <first line of PATH>' (not for /healthz, /readyz)",
     OFF(auth_token_file)},
    {"basic-auth-file", 0, "KWQ_BROKER_BASIC_AUTH_FILE", KWQ_OPT_STR, NULL, 0, 0, "PATH",
     "require HTTP basic auth with the 'user:password' on PATH's first line", OFF(basic_auth_file)},
    {"kube", 0, "KWQ_BROKER_KUBE", KWQ_OPT_BOOL, "false", 0, 0, NULL,
     "talk to Kubernetes: show the Jobs working on each queue (and elect through a Lease "
     "with --leader kubernetes)",
     OFF(kube)},
    KUBE_CLI_OPTS(struct broker_config, kube_opts),
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

static void print_help(void)
{
    (void)printf("Usage: kwq-broker [OPTION]...\n"
                 "Keep kwq's queues healthy and visible: requeue expired leases, promote due\n"
                 "delayed tasks and trim results on every queue, elect one leader among the\n"
                 "brokers, and serve /metrics, /healthz, /readyz and a web dashboard.\n\n");
    kwq_opt_print_help(stdout, opts, NOPTS);
    (void)printf(
        "\nThe Redis password comes only from KWQ_REDIS_PASSWORD, KWQ_REDIS_PASSWORD_FILE\n"
        "or --redis-password-file, never from the command line.\n"
        "Exit codes: 0 stopped by SIGTERM/SIGINT, 70 internal error,\n"
        "71 cannot listen (address in use, no permission), 78 configuration error.\n"
        "See docs/kwq-broker.md (man kwq-broker) for the full reference.\n");
}

static int config_error(const char *msg)
{
    (void)fprintf(stderr, "kwq-broker: %s; see 'kwq-broker --help'\n", msg);
    return KWQ_EXIT_CONFIG;
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

/* Split cfg->queues at commas into checked names. */
static int parse_queues(struct broker_config *cfg)
{
    struct kwq_error err = {0};
    char msg[KWQ_ERRSTR_LEN + 64];
    const char *p = cfg->queues;

    if (!p || !*p)
        return -1;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char **grown;
        char *name = strndup(p, len);

        if (!name)
            return config_error("out of memory");
        if (kwq_queue_name_check(name, &err) < 0) {
            (void)snprintf(msg, sizeof(msg), "--queues: %s", err.msg);
            free(name);
            return config_error(msg);
        }
        grown = realloc(cfg->queue_list, (cfg->nqueues + 1) * sizeof(*grown));
        if (!grown) {
            free(name);
            return config_error("out of memory");
        }
        cfg->queue_list = grown;
        cfg->queue_list[cfg->nqueues++] = name;
        p += len;
        if (*p == ',' && !*++p)
            return config_error("--queues ends with a comma: give names as A,B,C");
    }
    return -1;
}

static int parse_leader(struct broker_config *cfg)
{
    static const struct {
        const char *name;
        enum broker_leader_mode mode;
    } modes[] = {
        {"auto", BROKER_LEADER_AUTO},
        {"redis", BROKER_LEADER_REDIS},
        {"kubernetes", BROKER_LEADER_KUBE},
        {"off", BROKER_LEADER_OFF},
    };
    char msg[KWQ_ERRSTR_LEN];

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(cfg->leader, modes[i].name) == 0) {
            cfg->leader_mode = modes[i].mode;
            return -1;
        }
    (void)snprintf(msg, sizeof(msg),
                   "--leader '%.40s' is not a mode: use redis, kubernetes, "
                   "off or auto",
                   cfg->leader);
    return config_error(msg);
}

/* Leader lease and holder names as kwq/leader.h accepts them. */
static int check_leader_names(struct broker_config *cfg)
{
    const char *s;

    if (!*cfg->leader_name || strlen(cfg->leader_name) > 64)
        return config_error("--leader-name must have 1 to 64 characters");
    for (s = cfg->leader_name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return config_error("--leader-name may hold only letters, digits, '-', '_' and '.'");
    if (!cfg->identity) {
        const char *pod = getenv("POD_NAME");
        char host[200] = "";

        if (pod && *pod) {
            (void)snprintf(cfg->identity_buf, sizeof(cfg->identity_buf), "%.200s", pod);
        } else {
            (void)gethostname(host, sizeof(host) - 1);
            (void)snprintf(cfg->identity_buf, sizeof(cfg->identity_buf), "%s-%ld",
                           *host ? host : "broker", (long)getpid());
        }
        cfg->identity = cfg->identity_buf;
    }
    if (!*cfg->identity || strlen(cfg->identity) > 127)
        return config_error("--identity must have 1 to 127 characters");
    for (s = cfg->identity; *s; s++)
        if (*s <= ' ' || *s > '~')
            return config_error("--identity may hold only printable ASCII without spaces");
    return -1;
}

/* Read a secret file's first line; "what" names the option in errors. */
static int read_secret(const char *what, const char *path, char **ret)
{
    struct kwq_error err = {0};
    char msg[KWQ_ERRSTR_LEN + 64];

    if (!path)
        return -1;
    if (kwq_read_secret_file(path, ret, &err) < 0) {
        (void)snprintf(msg, sizeof(msg), "%s: %s", what, err.msg);
        return config_error(msg);
    }
    if (!**ret) {
        (void)snprintf(msg, sizeof(msg), "%s %.200s holds an empty first line", what, path);
        return config_error(msg);
    }
    return -1;
}

static int check_semantics(struct broker_config *cfg, const enum kwq_opt_source *src)
{
    int rc;

    if (src[0] == KWQ_OPT_SRC_FLAG && url_has_password(cfg->redis_url))
        return config_error("--redis must not contain a password (the command line is visible "
                            "to every process); set KWQ_REDIS_PASSWORD or use "
                            "--redis-password-file");
    if (url_has_password(cfg->read_redis_url))
        return config_error("--read-redis must not contain a password: the replica is reached "
                            "with the master's password (KWQ_REDIS_PASSWORD or "
                            "--redis-password-file)");
    if (!*cfg->listen)
        return config_error("--listen is empty: give HOST:PORT, :PORT or unix:/path");
    if ((rc = parse_queues(cfg)) >= 0 || (rc = parse_leader(cfg)) >= 0 ||
        (rc = check_leader_names(cfg)) >= 0)
        return rc;
    if (cfg->leader_mode == BROKER_LEADER_AUTO)
        cfg->leader_mode = cfg->kube ? BROKER_LEADER_KUBE : BROKER_LEADER_REDIS;
    if (cfg->leader_mode == BROKER_LEADER_KUBE)
        cfg->kube = true;
    if (cfg->auth_token_file && cfg->basic_auth_file)
        return config_error("--auth-token-file and --basic-auth-file exclude each other: "
                            "choose one");
    if ((rc = read_secret("--auth-token-file", cfg->auth_token_file, &cfg->auth_token)) >= 0 ||
        (rc = read_secret("--basic-auth-file", cfg->basic_auth_file, &cfg->basic_auth)) >= 0)
        return rc;
    if (cfg->basic_auth && !strchr(cfg->basic_auth, ':'))
        return config_error("--basic-auth-file must hold 'user:password' on its first line");
    if (cfg->dashboard_write && cfg->no_dashboard)
        return config_error("--dashboard-write needs the dashboard: drop --no-dashboard");
    return -1;
}

int broker_config_parse(struct broker_config *cfg, int argc, char **argv)
{
    enum kwq_opt_source src[NOPTS] = {0};
    struct kwq_opt_set set = {.opts = opts, .n = NOPTS, .base = cfg, .sources = src};
    struct kwq_error err = {0};
    int first_arg, rc;

    memset(cfg, 0, sizeof(*cfg));
    if (kwq_opt_load_defaults(&set, NULL, &err) < 0)
        return config_error(err.msg);
    first_arg = kwq_opt_parse(&set, 1, argc, argv, NULL, &err);
    if (first_arg < 0)
        return config_error(err.msg);
    if (cfg->help) {
        print_help();
        return KWQ_EXIT_OK;
    }
    if (cfg->version) {
        (void)printf("kwq-broker %s\n", KWQ_VERSION);
        return KWQ_EXIT_OK;
    }
    if (first_arg < argc) {
        char msg[KWQ_ERRSTR_LEN];

        (void)snprintf(msg, sizeof(msg),
                       "unexpected argument '%.60s': kwq-broker takes only "
                       "options",
                       argv[first_arg]);
        return config_error(msg);
    }
    rc = check_semantics(cfg, src);
    if (rc < 0 && cfg->print_config) {
        kwq_opt_print_config(stdout, &set);
        (void)printf("redis-password = %s\n", getenv("KWQ_REDIS_PASSWORD") ? "***" : "(unset)");
        (void)printf("identity = %s\n", cfg->identity);
        return KWQ_EXIT_OK;
    }
    return rc;
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

void broker_config_warn_env(void)
{
    const struct kwq_opt_set set = {.opts = opts, .n = NOPTS};

    (void)kwq_opt_env_check(&set, 1, warn_unknown_env, NULL);
}

void broker_config_done(struct broker_config *cfg)
{
    for (size_t i = 0; i < cfg->nqueues; i++)
        free(cfg->queue_list[i]);
    free(cfg->queue_list);
    if (cfg->auth_token)
        memset(cfg->auth_token, 0, strlen(cfg->auth_token));
    if (cfg->basic_auth)
        memset(cfg->basic_auth, 0, strlen(cfg->basic_auth));
    free(cfg->auth_token);
    free(cfg->basic_auth);
    memset(cfg, 0, sizeof(*cfg));
}
