/*
 * kube/http.h - the Kubernetes API client: HTTPS requests through libcurl's
 * multi interface driven by a libev loop, so that a slow API server never
 * stalls the loop's other work (progress, signals, Redis).
 *
 * What every request gets, so callers never repeat it:
 *   - TLS verification against the configured CA (never off unless the
 *     kubeconfig says insecure-skip-tls-verify; a warning is logged then);
 *   - the bearer token, re-read from its file when older than 60 s and once
 *     more after a 401 (service-account tokens rotate), then retried once;
 *   - 429 and 5xx (and failed connects, timeouts) retried with capped
 *     exponential backoff honouring Retry-After / details.retryAfterSeconds,
 *     for up to opts.retry_ms in all;
 *   - the API's Status object turned into one line: its message, and for 403
 *     the verb and resource the RBAC lacks, for 422 the field causes.
 * No token, key or Authorization header is ever logged or put in an error.
 */
#ifndef KUBE_HTTP_H
#define KUBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct ev_loop;
struct kube_config;
struct kwq_error;
struct kube_client;

struct kube_client_opts {
    uint64_t timeout_ms; /* one attempt, connect included; 0 = 10000 */
    uint64_t retry_ms;   /* how long 429/5xx/unreachable are retried in all; 0 = no retry */
    bool quiet;          /* no warning lines (insecure TLS, retries) on the log */
};

/*
 * One answer. status is the HTTP status (0 when none came); json is the
 * parsed body when it is JSON (NULL otherwise); body is the raw body,
 * NUL-terminated (NULL when empty); reason is the Status object's reason
 * ("AlreadyExists", "Conflict", "NotFound", ...) or NULL.
 */
struct kube_response {
    long status;
    cJSON *json;
    char *body;
    size_t len;
    char *reason;
};

/* Free what r holds and zero it. r may be NULL. */
void kube_response_done(struct kube_response *r);

/*
 * Error codes (err->code) of a finished request, err->msg holding one line:
 *   0               2xx
 *   KWQ_EAUTH       401 after the token was re-read and the request retried
 *                   (at once when the token is not from a file); a server
 *                   certificate that does not verify against the CA
 *   KWQ_ENOPERM     403 (msg names the verb and resource)
 *   KWQ_ENOTFOUND   404
 *   KWQ_ESTATE      409 (resp->reason tells AlreadyExists from Conflict)
 *   KWQ_EINVAL      400, 422 (msg lists the causes' fields), 415
 *   KWQ_ECONN       unreachable, or 429/5xx, for longer than opts.retry_ms
 *   KWQ_ETIMEOUT    no answer within opts.timeout_ms (after the retries)
 *   KWQ_EPROTO      any other status
 *   KWQ_ENOMEM      out of memory
 * kwq_err_is_transient() / kwq_err_is_config() classify them as for Redis.
 */

/*
 * The callback of kube_request: called exactly once per request, from the
 * loop, never from inside kube_request. resp is owned by the client and
 * freed after the callback returns (steal resp->json by setting it to NULL).
 * err->code is 0 on success.
 */
typedef void kube_done_fn(void *arg, struct kube_response *resp, const struct kwq_error *err);

/*
 * Make a client on loop for cfg (copied). Returns 0, or KWQ_EINVAL (a
 * server URL that is not http(s)://, a CA or token file that cannot be
 * read), KWQ_ENOMEM, with err set.
 */
int kube_client_new(struct ev_loop *loop, const struct kube_config *cfg,
                    const struct kube_client_opts *opts, struct kube_client **ret,
                    struct kwq_error *err);

/*
 * Free k. Requests still in flight are abandoned: their callbacks are
 * called with KWQ_ECONN ("cancelled") before this returns. k may be NULL.
 */
void kube_client_free(struct kube_client *k);

/* The namespace of k's configuration. */
const char *kube_client_namespace(const struct kube_client *k);

/*
 * Start a request: method "GET", "POST", "PATCH", "PUT" or "DELETE"; path
 * from the server's root ("/apis/batch/v1/namespaces/ns/jobs"), query
 * included; body may be NULL; content_type NULL means application/json
 * when there is a body. Returns 0 (done will be called) or KWQ_ENOMEM /
 * KWQ_EINVAL (done will not be called).
 */
int kube_request(struct kube_client *k, const char *method, const char *path,
                 const char *content_type, const char *body, kube_done_fn *done, void *arg);

/*
 * kube_request, waiting for the answer by running the loop (other watchers
 * on it keep running meanwhile). resp is the caller's to free with
 * kube_response_done (it is filled on errors too). Returns err->code.
 */
int kube_call(struct kube_client *k, const char *method, const char *path, const char *content_type,
              const char *body, struct kube_response *resp, struct kwq_error *err);

#endif /* KUBE_HTTP_H */
