/*
 * kube_cli.h - what the kwq commands that talk to Kubernetes share: the
 * options that say which API server and namespace (rows for a command's own
 * option table), opening a client from them, and turning a Kubernetes error
 * into one line and an exit code (kwq/exit.h).
 */
#ifndef KWQ_KUBE_CLI_H
#define KWQ_KUBE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "kwq/opts.h"

#include "kube/config.h"

struct ev_loop;
struct kube_client;
struct kwq_error;

/* The Kubernetes options of one command. */
struct kube_cli_opts {
    struct kube_config_opts cfg; /* --kube-api, --kubeconfig, --context, --namespace */
    uint64_t retry_ms;           /* --kube-retry: how long 429/5xx/unreachable are retried */
};

/*
 * The option rows of a command whose config struct is T with a struct
 * kube_cli_opts field F: --kube-api URL (KWQ_KUBE_API), --kubeconfig PATH,
 * --context NAME, --namespace NS (KWQ_NAMESPACE), --kube-retry DUR
 * (KWQ_KUBE_RETRY, 60s). Put KUBE_CLI_OPTS(T, F) in the command's table.
 */
/* One row per line reads better than the formatter's split. */
/* clang-format off */
#define KUBE_CLI_OPTS(T, F)                                                                        \
    {"kube-api", 0, "KWQ_KUBE_API", KWQ_OPT_STR, NULL, 0, 0, "URL",                                \
     "talk to this API server as is, e.g. 'kubectl proxy' at http://127.0.0.1:8001",               \
     offsetof(T, F.cfg.kube_api)},                                                                 \
    {"kubeconfig", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "PATH",                                       \
     "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)",                         \
     offsetof(T, F.cfg.kubeconfig)},                                                               \
    {"context", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "NAME",                                          \
     "kubeconfig context (default: its current-context)", offsetof(T, F.cfg.context)},             \
    {"namespace", 0, "KWQ_NAMESPACE", KWQ_OPT_STR, NULL, 0, 0, "NS",                               \
     "Kubernetes namespace (default: the context's, the pod's, else default)",                     \
     offsetof(T, F.cfg.namespace)},                                                                \
    {"kube-retry", 0, "KWQ_KUBE_RETRY", KWQ_OPT_DURATION, "60s", 0, 86400000, "DUR",               \
     "retry an API server that is unreachable or overloaded for up to DUR (exit 69 after)",        \
     offsetof(T, F.retry_ms)}
/* clang-format on */

/*
 * Load the configuration and make a client on loop. On failure prints one
 * line ("kwq: <what>; <what to do>") and returns its exit code with *ret
 * NULL; 0 on success.
 */
int kube_cli_open(const struct kube_cli_opts *o, struct ev_loop *loop, struct kube_client **ret);

/*
 * The exit code for a failed Kubernetes call: 69 when it may pass
 * (kwq_err_is_transient), 78 for credentials, permissions, TLS and invalid
 * objects, 5 for a Job that does not exist, 1 otherwise.
 */
int kube_cli_exit_code(int err);

/* Print "kwq: <context>: <err->msg>" (context may be NULL) and return kube_cli_exit_code. */
int kube_cli_fail(const struct kwq_error *err, const char *context);

#endif /* KWQ_KUBE_CLI_H */
