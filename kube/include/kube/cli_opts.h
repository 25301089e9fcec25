/*
 * kube/cli_opts.h - the options every kwq program that talks to Kubernetes
 * shares (kwq's job, scale and run --kube; kwq-broker --kube): which API
 * server, kubeconfig, context and namespace, and how long to retry. Rows
 * for a program's own kwq/opts.h table, so that the flags, variables and
 * help read the same everywhere.
 */
#ifndef KUBE_CLI_OPTS_H
#define KUBE_CLI_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "kwq/opts.h"

#include "kube/config.h"

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
     "retry an API server that is unreachable or overloaded for up to DUR per request",            \
     offsetof(T, F.retry_ms)}
/* clang-format on */

#endif /* KUBE_CLI_OPTS_H */
