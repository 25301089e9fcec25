/*
 * kube_pending.c - TEMPORARY, branch h-job only: stand-ins for kube_cli.c
 * and the HTTP client (kube/src/http, branch h-http), which other helpers
 * write at the same time, so that `kwq job` builds and `kwq job create
 * --dry-run` runs before they land. Remove this file (and its line in
 * submitter/CMakeLists.txt) when merging either of them.
 */
#include <stdio.h>

#include "kwq/error.h"
#include "kwq/exit.h"

#include "kube/http.h"
#include "kube_cli.h"

int kube_cli_open(const struct kube_cli_opts *o, struct ev_loop *loop, struct kube_client **ret)
{
    (void)o;
    (void)loop;
    *ret = NULL;
    (void)fprintf(stderr, "kwq: the Kubernetes client is not built in yet; use --dry-run\n");
    return KWQ_EXIT_CONFIG;
}

int kube_cli_exit_code(int err)
{
    return err ? KWQ_EXIT_FAILURE : KWQ_EXIT_OK;
}

int kube_cli_fail(const struct kwq_error *err, const char *context)
{
    (void)fprintf(stderr, "kwq: %s: %s\n", context ? context : "", err->msg);
    return kube_cli_exit_code(err->code);
}

void kube_client_free(struct kube_client *k)
{
    (void)k;
}

const char *kube_client_namespace(const struct kube_client *k)
{
    (void)k;
    return "default";
}

void kube_response_done(struct kube_response *r)
{
    (void)r;
}

int kube_call(struct kube_client *k, const char *method, const char *path, const char *content_type,
              const char *body, struct kube_response *resp, struct kwq_error *err)
{
    (void)k;
    (void)method;
    (void)path;
    (void)content_type;
    (void)body;
    (void)resp;
    return kwq_error_set(err, KWQ_ECONN, "not built in yet");
}
