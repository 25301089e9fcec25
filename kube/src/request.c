/*
 * request.c - one request to the API server, from kube_request to its
 * callback. A request is one easy handle used for every attempt: the first
 * starts from a 0 s timer (so that the callback can never run inside
 * kube_request), later ones from the same timer after a backoff, or at once
 * after a 401 with the token read again. Each attempt's answer is kept
 * (bounded by KUBE_BODY_MAX) and judged when it ends: done, retried, or
 * failed with one line (status.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kwq/error.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "http_int.h"

struct kube_req {
    struct kube_client *k;
    struct kube_req *prev, *next;
    char *method;
    char *path;
    char *content_type;
    char *body;
    kube_done_fn *done;
    void *arg;
    CURL *easy;
    struct curl_slist *headers; /* of the current attempt: holds the token */
    ev_timer wait;              /* the first attempt, and each after a backoff */
    bool in_flight;             /* easy is in the multi handle */
    bool reauthed;              /* the one retry after a 401 was made */
    bool too_big;               /* the answer passed KUBE_BODY_MAX */
    bool oom;                   /* the answer could not be stored */
    unsigned attempts;
    uint64_t first_ms; /* monotonic start of the first attempt */
    struct kube_response resp;
    size_t cap; /* bytes allocated at resp.body */
    char retry_after[32];
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- Headers and body of an attempt ------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct kube_req *req = arg;
    struct kube_response *r = &req->resp;
    size_t add = size * n;

    if (add > KUBE_BODY_MAX - r->len) {
        req->too_big = true;
        return 0; /* libcurl stops the transfer: CURLE_WRITE_ERROR */
    }
    if (r->len + add + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : 4096;
        char *p;

        while (cap < r->len + add + 1)
            cap *= 2;
        p = realloc(r->body, cap);
        if (!p) {
            req->oom = true;
            return 0;
        }
        r->body = p;
        req->cap = cap;
    }
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

/* Keeps Retry-After of the last header block (a 100 Continue may come first). */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct kube_req *req = arg;
    size_t len = size * n, name = sizeof("retry-after:") - 1;

    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        req->retry_after[0] = '\0';
    if (len > name && strncasecmp(data, "retry-after:", name) == 0) {
        const char *v = data + name;
        size_t vlen = len - name;

        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < sizeof(req->retry_after)) {
            memcpy(req->retry_after, v, vlen);
            req->retry_after[vlen] = '\0';
        }
    }
    return len;
}

/* The token is wiped from libcurl's copy of the header list before it is freed. */
static void headers_free(struct kube_req *req)
{
    for (struct curl_slist *h = req->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(req->headers);
    req->headers = NULL;
}

static int headers_add(struct curl_slist **list, const char *a, const char *b)
{
    char line[256];
    struct curl_slist *l;
    char *heap = NULL;
    size_t need = strlen(a) + strlen(b) + 1;
    char *s = need <= sizeof(line) ? line : (heap = malloc(need));

    if (!s)
        return KWQ_ENOMEM;
    (void)snprintf(s, need, "%s%s", a, b);
    l = curl_slist_append(*list, s);
    explicit_bzero(s, need);
    free(heap);
    if (!l)
        return KWQ_ENOMEM;
    *list = l;
    return 0;
}

/* The header list of one attempt: the token is taken anew for each. */
static int headers_build(struct kube_req *req, const char *token)
{
    int rc = headers_add(&req->headers, "Accept: ", "application/json");

    /* No "Expect: 100-continue" round trip before a large body. */
    if (rc == 0)
        rc = headers_add(&req->headers, "Expect:", "");
    if (rc == 0 && req->body)
        rc = headers_add(&req->headers, "Content-Type: ",
                         req->content_type ? req->content_type : "application/json");
    if (rc == 0 && token)
        rc = headers_add(&req->headers, "Authorization: Bearer ", token);
    if (rc == 0 && curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers) != CURLE_OK)
        rc = KWQ_ENOMEM;
    return rc;
}

/* ---- Attempts ----------------------------------------------------------- */

static void req_reset_answer(struct kube_req *req)
{
    kube_response_done(&req->resp);
    req->cap = 0;
    req->too_big = false;
    req->oom = false;
    req->retry_after[0] = '\0';
    req->errbuf[0] = '\0';
}

/* Start an attempt now. Returns 0 or a code with msg filled (the request ends). */
static int attempt_start(struct kube_req *req, struct kwq_error *err)
{
    struct kube_client *k = req->k;
    const char *token;
    int rc;

    req_reset_answer(req);
    headers_free(req);
    rc = kube__token_get(&k->token, false, &token, err);
    if (rc)
        return rc;
    rc = headers_build(req, token);
    if (rc == 0)
        rc = kube__curl_ev_add(&k->cev, req->easy);
    if (rc)
        return kwq_error_set(err, rc, "%s %s: %s", req->method, req->path, kwq_strerror(rc));
    if (req->attempts++ == 0)
        req->first_ms = kwq_monotonic_ms();
    req->in_flight = true;
    return 0;
}

static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kube_req *req = w->data;
    struct kwq_error err = {0};

    (void)loop;
    (void)revents;
    if (attempt_start(req, &err) != 0)
        (void)kube__req_finish(req, &err);
}

static void wait_start(struct kube_req *req, uint64_t ms)
{
    ev_timer_set(&req->wait, (double)ms / 1000.0, 0.0);
    ev_timer_start(req->k->loop, &req->wait);
}

/* End req with code and a printf-made line. */
__attribute__((format(printf, 3, 4))) static bool fail(struct kube_req *req, int code,
                                                       const char *fmt, ...)
{
    struct kwq_error err = {.code = code};
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    return kube__req_finish(req, &err);
}

/*
 * A transient failure (err): another attempt after the backoff if it still
 * fits in opts.retry_ms, else the request fails with it. A POST that timed
 * out may have been applied by the server all the same; it is sent again
 * regardless, and the caller takes the 409 AlreadyExists that may follow as
 * the create having happened.
 */
static bool retry_or_fail(struct kube_req *req, const struct kwq_error *err)
{
    struct kube_client *k = req->k;
    uint64_t ra = kube__retry_after_ms(req->retry_after, &req->resp);
    uint64_t delay = kube__retry_delay_ms(req->attempts, ra);
    uint64_t spent = kwq_monotonic_ms() - req->first_ms;

    if (k->opts.retry_ms == 0 || spent + delay > k->opts.retry_ms) {
        if (req->attempts == 1)
            return kube__req_finish(req, err);
        return fail(req, err->code, "%s (still after %u attempts in %llu ms)", err->msg,
                    req->attempts, (unsigned long long)spent);
    }
    if (!k->opts.quiet)
        kwq_log(KWQ_LOG_WARN, "Kubernetes API request failed; retrying",
                KWQ_LS("method", req->method), KWQ_LS("path", req->path), KWQ_LS("err", err->msg),
                KWQ_LI("attempt", req->attempts), KWQ_LI("retry_in_ms", delay));
    wait_start(req, delay);
    return false;
}

/* A 401: once more with the token read again, when it comes from a file. */
static bool unauthorized(struct kube_req *req)
{
    struct kube_client *k = req->k;
    struct kwq_error err = {0};
    const char *token;
    const char *src = k->cfg.source ? k->cfg.source : "the configuration";
    const char *why = req->resp.reason ? req->resp.reason : "Unauthorized";

    if (kube__token_can_reread(&k->token) && !req->reauthed) {
        req->reauthed = true;
        if (kube__token_get(&k->token, true, &token, &err) == 0) {
            wait_start(req, 0);
            return false;
        }
        return fail(req, KWQ_EAUTH, "the API server refused the credentials from %s, and then %s",
                    src, err.msg);
    }
    if (k->token.path)
        return fail(req, KWQ_EAUTH,
                    "the API server refused the credentials from %s (token file %s, read again "
                    "after the first refusal): %s",
                    src, k->token.path, why);
    return fail(req, KWQ_EAUTH, "the API server refused the credentials from %s (%s): %s", src,
                k->token.value ? "its token" : "no token", why);
}

/* The attempt got an answer: judge its status. */
static bool answered(struct kube_req *req)
{
    struct kwq_error err = {0};

    if (kube__response_parse(&req->resp) != 0)
        return fail(req, KWQ_ENOMEM, "out of memory reading the API's answer");
    if (req->resp.status == 401)
        return unauthorized(req);
    if (kube__status_error(&req->resp, req->method, req->path, &err) == 0)
        return kube__req_finish(req, NULL);
    if (kube__retry_status(req->resp.status)) {
        err.code = KWQ_ECONN;
        return retry_or_fail(req, &err);
    }
    return kube__req_finish(req, &err);
}

/* A failure worth retrying: code and a printf-made line. */
__attribute__((format(printf, 3, 4))) static bool transient(struct kube_req *req, int code,
                                                            const char *fmt, ...)
{
    struct kwq_error err = {.code = code};
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    return retry_or_fail(req, &err);
}

/* The attempt got no (whole) answer: rc says why. */
static bool failed(struct kube_req *req, CURLcode rc)
{
    struct kube_client *k = req->k;
    char ca[KWQ_ERRSTR_LEN];
    const char *why = req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc);

    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        kube__tls_ca_source(&k->cfg, ca, sizeof(ca));
        return fail(req, KWQ_EAUTH, "the API server's certificate does not verify against %s: %s",
                    ca, why);
    case CURLE_SSL_CERTPROBLEM:
        return fail(req, KWQ_EAUTH, "the client certificate or key of %s is unusable: %s",
                    k->cfg.source ? k->cfg.source : "the configuration", why);
    case CURLE_OPERATION_TIMEDOUT:
        return transient(req, KWQ_ETIMEOUT, "%s %s: no answer within %llu ms", req->method,
                         req->path, (unsigned long long)k->opts.timeout_ms);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return transient(req, KWQ_ECONN, "cannot reach the API server %s: %s", k->cfg.server, why);
    case CURLE_OUT_OF_MEMORY:
        return fail(req, KWQ_ENOMEM, "out of memory talking to the API server");
    default:
        break;
    }
    if (req->oom)
        return fail(req, KWQ_ENOMEM, "out of memory reading the API's answer");
    if (req->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return fail(req, KWQ_EPROTO, "%s %s: the answer is over %u MiB; refused", req->method,
                    req->path, KUBE_BODY_MAX >> 20);
    return fail(req, KWQ_EPROTO, "%s %s: %s", req->method, req->path, why);
}

bool kube__req_attempt_done(void *arg, CURL *easy, CURLcode rc)
{
    struct kube_req *req = NULL;

    (void)arg;
    (void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
    req->in_flight = false;
    headers_free(req);
    /* A status line may have come before a failure (an answer cut short, too long). */
    (void)curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->resp.status);
    return rc == CURLE_OK ? answered(req) : failed(req, rc);
}

/* ---- Lifecycle ---------------------------------------------------------- */

static void req_free(struct kube_req *req)
{
    if (req->easy)
        curl_easy_cleanup(req->easy);
    headers_free(req);
    kube_response_done(&req->resp);
    free(req->method);
    free(req->path);
    free(req->content_type);
    free(req->body);
    free(req);
}

static void req_unlink(struct kube_req *req)
{
    struct kube_client *k = req->k;

    if (req->prev)
        req->prev->next = req->next;
    else
        k->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

bool kube__req_finish(struct kube_req *req, const struct kwq_error *err)
{
    struct kube_client *k = req->k;
    static const struct kwq_error ok = {0};

    req_unlink(req);
    ev_timer_stop(k->loop, &req->wait);
    if (req->in_flight)
        kube__curl_ev_remove(&k->cev, req->easy);
    req->in_flight = false;
    k->depth++;
    req->done(req->arg, &req->resp, err ? err : &ok);
    k->depth--;
    req_free(req);
    if (k->closing && k->depth == 0) {
        kube__client_destroy(k);
        return true;
    }
    return false;
}

void kube__req_cancel(struct kube_req *req)
{
    req_reset_answer(req);
    (void)fail(req, KWQ_ECONN, "cancelled: the Kubernetes client was freed");
}

/* The options every attempt shares. */
static int easy_setup(struct kube_req *req)
{
    struct kube_client *k = req->k;
    char *url = malloc(strlen(k->base) + strlen(req->path) + 1);
    CURL *e = req->easy;
    int ok;

    if (!url)
        return KWQ_ENOMEM;
    strcpy(url, k->base);
    strcat(url, req->path);
    ok = curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    free(url);
    ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, req) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_VERBOSE, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, req) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERDATA, req) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)k->opts.timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)k->opts.timeout_ms) == CURLE_OK;
    ok =
        ok && curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KUBE_BODY_MAX) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
    /*
     * Over TLS, wait for the connection being made to say (ALPN) whether it
     * multiplexes (HTTP/2) rather than open one per request. Not over plain
     * HTTP: there that is only known from an answer, so a request would
     * wait for a slow one ahead of it.
     */
    ok = ok && curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                                strncasecmp(k->base, "https:", 6) == 0 ? 1L : 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT, "kwq/" KWQ_VERSION) == CURLE_OK;
    /* Redirects are not followed: the token goes to the configured server only. */
    ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_CONNECT_TO, k->connect_to) == CURLE_OK;
    return ok ? kube__tls_setup(e, &k->cfg) : KWQ_ENOMEM;
}

/* The method and body: a body is sent as is, with any method. */
static int easy_method(struct kube_req *req)
{
    CURL *e = req->easy;
    int ok;

    if (strcmp(req->method, "GET") == 0 && !req->body)
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : KWQ_ENOMEM;
    ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
    if (req->body || strcmp(req->method, "DELETE") != 0) {
        ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                    (curl_off_t)(req->body ? strlen(req->body) : 0)) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK;
    }
    return ok ? 0 : KWQ_ENOMEM;
}

static bool method_known(const char *m)
{
    static const char *const known[] = {"GET", "POST", "PATCH", "PUT", "DELETE"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

static char *dup_or_null(const char *s, bool *fail)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *fail = true;
    return d;
}

int kube_request(struct kube_client *k, const char *method, const char *path,
                 const char *content_type, const char *body, kube_done_fn *done, void *arg)
{
    struct kube_req *req;
    bool fail = false;
    int rc;

    if (!k || k->closing || !method || !method_known(method) || !path || path[0] != '/' || !done)
        return KWQ_EINVAL;
    req = calloc(1, sizeof(*req));
    if (!req)
        return KWQ_ENOMEM;
    req->k = k;
    req->done = done;
    req->arg = arg;
    req->method = dup_or_null(method, &fail);
    req->path = dup_or_null(path, &fail);
    req->content_type = dup_or_null(content_type, &fail);
    req->body = dup_or_null(body, &fail);
    req->easy = fail ? NULL : curl_easy_init();
    rc = req->easy ? easy_setup(req) : KWQ_ENOMEM;
    if (rc == 0)
        rc = easy_method(req);
    if (rc) {
        req_free(req);
        return rc;
    }
    ev_timer_init(&req->wait, on_wait, 0.0, 0.0);
    req->wait.data = req;
    ev_timer_start(k->loop, &req->wait);
    req->next = k->reqs;
    if (req->next)
        req->next->prev = req;
    k->reqs = req;
    return 0;
}
