/*
 * routes.c - what the broker answers over HTTP: authentication, then
 * /healthz, /readyz, /metrics, the dashboard's page and assets, and /api/.
 * A path that exists with the wrong method answers 405 with Allow; any
 * other path 404. /healthz and /readyz never need credentials: the kubelet
 * probes them without any.
 */
#include <stdio.h>
#include <string.h>

#include "kwq/util.h"

#include "broker.h"
#include "http.h"
#include "web_assets.h"

#define TEXT "text/plain; charset=utf-8"

/* Headers of every page of the dashboard: nothing framed, nothing fetched elsewhere. */
#define PAGE_HEADERS                                                                               \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "                          \
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'\r\n"

static void reply_text(struct http_exchange *x, int status, const char *text)
{
    http_reply(x, status, TEXT, text, strlen(text), NULL);
}

/* Equal strings, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static bool authorized(const struct broker *b, const struct http_exchange *x)
{
    const struct broker_config *cfg = b->cfg;
    const char *h = http_header(x, "Authorization");
    char decoded[512];
    long n;

    if (!cfg->auth_token && !cfg->basic_auth)
        return true;
    if (!h)
        return false;
    if (cfg->auth_token)
        return strncmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, cfg->auth_token);
    if (strncmp(h, "Basic ", 6) != 0 || strlen(h + 6) > 600)
        return false;
    n = kwq_base64_decode(h + 6, strlen(h + 6), decoded);
    if (n < 0 || (size_t)n >= sizeof(decoded))
        return false;
    decoded[n] = '\0';
    return same_secret(decoded, cfg->basic_auth);
}

static bool is_get(const struct http_request *r)
{
    return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
}

static void not_allowed(struct http_exchange *x, const char *allow)
{
    char hdr[64];

    (void)snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
    http_reply(x, 405, TEXT, "method not allowed\n", 19, hdr);
}

static void readyz(struct broker *b, struct http_exchange *x)
{
    char msg[400];

    if (b->stopping) {
        reply_text(x, 503, "not ready: stopping\n");
    } else if (!b->master.up) {
        (void)snprintf(msg, sizeof(msg), "not ready: Redis (master): %s\n", b->master.reason);
        reply_text(x, 503, msg);
    } else if (b->reader != &b->master && !b->replica.up) {
        (void)snprintf(msg, sizeof(msg), "not ready: Redis (replica): %s\n", b->replica.reason);
        reply_text(x, 503, msg);
    } else if (!b->queues.registry_read) {
        reply_text(x, 503, "not ready: the queue registry was not read yet\n");
    } else {
        reply_text(x, 200, "ready\n");
    }
}

static void asset(struct http_exchange *x, const char *path)
{
    const struct web_asset *a = web_asset_find(path);

    if (!a) {
        reply_text(x, 404, "not found\n");
        return;
    }
    http_reply(x, 200, a->content_type, (const char *)a->bytes, a->len, PAGE_HEADERS);
}

void routes_handle(struct http_exchange *x, void *data)
{
    struct broker *b = data;
    const struct http_request *r = http_exchange_request(x);
    const char *path = r->path;
    bool dashboard = !b->cfg->no_dashboard;

    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        if (!is_get(r))
            not_allowed(x, "GET, HEAD");
        else if (path[1] == 'h')
            reply_text(x, 200, "ok\n");
        else
            readyz(b, x);
        return;
    }
    if (!authorized(b, x)) {
        http_reply(x, 401, TEXT, "unauthorized: send the broker's credentials\n", 44,
                   b->cfg->auth_token ? "WWW-Authenticate: Bearer realm=\"kwq-broker\"\r\n"
                                      : "WWW-Authenticate: Basic realm=\"kwq-broker\", "
                                        "charset=\"UTF-8\"\r\n");
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        if (!is_get(r))
            not_allowed(x, "GET, HEAD");
        else
            metrics_serve(b, x);
        return;
    }
    if (dashboard && strncmp(path, "/api/", 5) == 0) {
        api_handle(b, x, path + 4);
        return;
    }
    if (dashboard && (strcmp(path, "/") == 0 || strncmp(path, "/assets/", 8) == 0)) {
        if (!is_get(r))
            not_allowed(x, "GET, HEAD");
        else
            asset(x, path);
        return;
    }
    reply_text(x, 404, "not found\n");
}
