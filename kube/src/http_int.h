/*
 * http_int.h - the parts of the Kubernetes HTTP client (kube/http.h) that
 * its files share and nobody else sees:
 *
 *   curl_ev.c  libcurl's multi interface driven by a libev loop
 *   tls.c      the TLS and credential options of an easy handle
 *   token.c    the bearer token and its file, re-read as it rotates
 *   status.c   an answer (status + Status object) turned into a code and one line
 *   retry.c    which failures are retried, and after how long
 *   request.c  one request: its attempts, their outcome, its callback
 *   http.c     the client: configuration, cancelling on free, kube_call
 */
#ifndef KUBE_HTTP_INT_H
#define KUBE_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <ev.h>

#include "kube/http.h"

struct kube_config;
struct kwq_error;

/* ---- curl_ev.c ---------------------------------------------------------- */

struct kube_sock;

/*
 * Called once per finished transfer, after the easy handle was removed from
 * the multi handle. Returns true when the owner of cev was destroyed in it
 * (cev is gone then: the glue touches nothing more).
 */
typedef bool kube_curl_done_fn(void *arg, CURL *easy, CURLcode rc);

/* A multi handle on a loop: the socket and timer callbacks libcurl asks for. */
struct kube_curl_ev {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;          /* libcurl's single timeout */
    struct kube_sock *socks; /* every socket libcurl asked us to watch */
    kube_curl_done_fn *done;
    void *arg;
};

/* Set up cev on loop. Returns 0 or KWQ_ENOMEM. */
int kube__curl_ev_init(struct kube_curl_ev *cev, struct ev_loop *loop, kube_curl_done_fn *done,
                       void *arg);

/* Start a transfer. Returns 0 or KWQ_ENOMEM. */
int kube__curl_ev_add(struct kube_curl_ev *cev, CURL *easy);

/* Abandon a transfer that has not finished (its done is not called). */
void kube__curl_ev_remove(struct kube_curl_ev *cev, CURL *easy);

/* Stop every watcher and free the multi handle (all transfers removed first). */
void kube__curl_ev_done(struct kube_curl_ev *cev);

/* ---- token.c ------------------------------------------------------------ */

/* How long a token read from a file is used before the file is read again. */
#define KUBE_TOKEN_MAX_AGE_MS 60000

/* The bearer token: inline (never re-read) or from a file (re-read as it ages). */
struct kube_token {
    char *path;       /* token file, or NULL */
    char *value;      /* current token, or NULL: no bearer auth */
    uint64_t read_ms; /* monotonic time of the last read of path */
};

/*
 * Take the token from inline (copied) or path (read now; path copied).
 * Returns 0, KWQ_EINVAL (the file cannot be read or holds no token) or
 * KWQ_ENOMEM, with err set; the message names the file, never the token.
 */
int kube__token_init(struct kube_token *t, const char *inline_token, const char *path,
                     struct kwq_error *err);

/*
 * The token to send now, or NULL when there is none. Re-reads the file
 * when the token is older than KUBE_TOKEN_MAX_AGE_MS or force is set; a
 * file that cannot be read keeps the token read before (the file may be
 * between two versions), except with force, which reports it (err).
 * Returns 0 or KWQ_EINVAL/KWQ_ENOMEM.
 */
int kube__token_get(struct kube_token *t, bool force, const char **ret, struct kwq_error *err);

/* True when a refused token can change by reading its file again. */
bool kube__token_can_reread(const struct kube_token *t);

/* Wipe and free. */
void kube__token_done(struct kube_token *t);

/* ---- tls.c -------------------------------------------------------------- */

/* Where the server's certificate is checked against, for messages: "the CA file /p". */
void kube__tls_ca_source(const struct kube_config *cfg, char *buf, size_t len);

/*
 * Set the TLS options of easy from cfg: CA, client certificate and key,
 * verification. Returns 0 or KWQ_ENOMEM.
 */
int kube__tls_setup(CURL *easy, const struct kube_config *cfg);

/* ---- status.c ----------------------------------------------------------- */

/* The largest answer body kept; a longer one fails the request (KWQ_EPROTO). */
#define KUBE_BODY_MAX (64u << 20)

/*
 * Fill resp->json and resp->reason from resp->body (a JSON body parses,
 * anything else leaves json NULL). Returns 0 or KWQ_ENOMEM.
 */
int kube__response_parse(struct kube_response *resp);

/*
 * The code of an answer per kube/http.h and, when it is not 0, one line in
 * err: the API's Status message (kept whole), for 422 the causes by field.
 * method and path name the request in a line for answers without a Status
 * object.
 */
int kube__status_error(const struct kube_response *resp, const char *method, const char *path,
                       struct kwq_error *err);

/* ---- retry.c ------------------------------------------------------------ */

/* Backoff between attempts: doubling from the first delay to the cap. */
#define KUBE_BACKOFF_FIRST_MS 100
#define KUBE_BACKOFF_CAP_MS   5000

/* True when an answer with this HTTP status is retried (429, 500, 502, 503, 504). */
bool kube__retry_status(long status);

/*
 * The wait before attempt n + 1 (n >= 1 attempts made): the capped
 * exponential backoff with jitter, or what the server asked for
 * (retry_after_ms, 0 when it did not) when that is longer.
 */
uint64_t kube__retry_delay_ms(unsigned n, uint64_t retry_after_ms);

/*
 * The server's wish in ms from a Retry-After header value (delta-seconds)
 * and the Status object's details.retryAfterSeconds; 0 when neither says.
 */
uint64_t kube__retry_after_ms(const char *header, const struct kube_response *resp);

/* ---- request.c and http.c ---------------------------------------------- */

#include "kube/config.h"

struct kube_req;

struct kube_client {
    struct ev_loop *loop;
    struct kube_config cfg; /* a copy: the caller's may be freed */
    struct kube_client_opts opts;
    struct kube_curl_ev cev;
    struct kube_token token;
    struct curl_slist *connect_to; /* tls_server_name: where its URL really goes */
    char *base;                    /* URL of the server's root, no trailing '/' */
    struct kube_req *reqs;         /* every request not yet called back */
    unsigned depth;                /* callbacks running: free waits for 0 */
    bool closing;                  /* kube_client_free was called */
};

/*
 * Call req's callback with err (NULL: success) and free it. Returns true
 * when the client was freed meanwhile (by the callback, once no other
 * callback runs).
 */
bool kube__req_finish(struct kube_req *req, const struct kwq_error *err);

/* Abandon req (its callback gets KWQ_ECONN "cancelled"); for kube_client_free. */
void kube__req_cancel(struct kube_req *req);

/* The multi handle's done function: an attempt of the request on easy ended. */
bool kube__req_attempt_done(void *arg, CURL *easy, CURLcode rc);

/* Free everything k holds; no request may remain. */
void kube__client_destroy(struct kube_client *k);

#endif /* KUBE_HTTP_INT_H */
