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

#include "kube/cli_opts.h" /* struct kube_cli_opts, KUBE_CLI_OPTS */
#include "kube/config.h"

struct ev_loop;
struct kube_client;
struct kwq_error;

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
