/*
 * kube_cli.c - what the kwq commands that talk to Kubernetes share: opening
 * a client from --kube-api/--kubeconfig/--context/--namespace, and turning
 * a failed call into one line and an exit code. The messages themselves
 * come from kube/ (the configuration's and the API's); this adds only the
 * "kwq: " and the exit code, so every kube command reads the same.
 */
#include "kube_cli.h"

#include <stdio.h>

#include "kwq/error.h"
#include "kwq/exit.h"

#include "cli.h"
#include "kube/http.h"

int kube_cli_exit_code(int err)
{
    if (err == 0)
        return KWQ_EXIT_OK;
    /* The same predicates as for Redis: unreachable, overloaded, slow may pass. */
    if (kwq_err_is_transient(err))
        return KWQ_EXIT_UNAVAILABLE;
    /* Credentials (401, a CA that does not verify the server) and RBAC (403). */
    if (kwq_err_is_config(err))
        return KWQ_EXIT_CONFIG;
    switch (err) {
    case KWQ_EINVAL: /* 400, 422: an object or a setting the API server refuses */
        return KWQ_EXIT_CONFIG;
    case KWQ_ENOTFOUND:
        return KWQ_EXIT_NOTFOUND;
    case KWQ_ENOMEM:
        return KWQ_EXIT_SOFTWARE;
    default:
        return KWQ_EXIT_FAILURE;
    }
}

/* For an error that came without a message: kwq_strerror's texts speak of Redis. */
static const char *kube_text(int err)
{
    switch (err) {
    case KWQ_ECONN:
        return "cannot reach the Kubernetes API server";
    case KWQ_ETIMEOUT:
        return "the Kubernetes API server did not answer in time";
    case KWQ_EAUTH:
        return "the Kubernetes API server refused kwq's credentials";
    case KWQ_ENOPERM:
        return "the Kubernetes API server forbids this (RBAC)";
    case KWQ_EPROTO:
        return "unexpected answer from the Kubernetes API server";
    default:
        return kwq_strerror(err);
    }
}

int kube_cli_fail(const struct kwq_error *err, const char *context)
{
    const char *what = err->msg[0] ? err->msg : kube_text(err->code);

    (void)fprintf(stderr, "kwq: %s%s%s\n", context ? context : "", context ? ": " : "", what);
    return kube_cli_exit_code(err->code);
}

int kube_cli_open(const struct kube_cli_opts *o, struct ev_loop *loop, struct kube_client **ret)
{
    struct kube_client_opts copts = {.retry_ms = o->retry_ms, .quiet = cli.quiet};
    struct kube_config cfg;
    struct kwq_error err = {0};
    int r;

    *ret = NULL;
    r = kube_config_load(&o->cfg, &cfg, &err);
    /* Whatever the source (a file, the pod, an option), only a change of configuration helps. */
    if (r < 0)
        return cli_error(r == KWQ_ENOMEM ? KWQ_EXIT_SOFTWARE : KWQ_EXIT_CONFIG, "%s", err.msg);
    r = kube_client_new(loop, &cfg, &copts, ret, &err);
    kube_config_free(&cfg); /* the client keeps its own copy */
    if (r < 0) {
        *ret = NULL;
        return kube_cli_fail(&err, NULL);
    }
    return 0;
}
