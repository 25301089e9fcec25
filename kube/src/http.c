/*
 * http.c - the Kubernetes API client (kube/http.h): what a client holds
 * (its own copy of the configuration, the token, the multi handle on the
 * caller's loop), freeing it with its requests cancelled, and kube_call,
 * the waiting form of kube_request.
 *
 * tls-server-name: libcurl 7.88 has no option to verify a certificate
 * against a name other than the URL's host. So the URL is written with
 * that name as its host and CURLOPT_CONNECT_TO sends the connection to the
 * real host and port: the certificate is checked against the name, the
 * SNI and Host header carry it, and nothing is resolved by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kwq/error.h"
#include "kwq/log.h"

#include "http_int.h"

/* ---- The configuration's copy ------------------------------------------- */

static char *mem_dup(const char *s, size_t len, bool *fail)
{
    char *d;

    if (!s)
        return NULL;
    d = malloc(len + 1);
    if (!d) {
        *fail = true;
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static char *str_dup(const char *s, bool *fail)
{
    return s ? mem_dup(s, strlen(s), fail) : NULL;
}

static int config_copy(struct kube_config *d, const struct kube_config *s)
{
    bool fail = false;

    *d = (struct kube_config){.ca_len = s->ca_len,
                              .cert_len = s->cert_len,
                              .key_len = s->key_len,
                              .insecure = s->insecure};
    d->server = str_dup(s->server, &fail);
    d->namespace = str_dup(s->namespace ? s->namespace : "default", &fail);
    d->ca_file = str_dup(s->ca_file, &fail);
    d->ca_data = mem_dup(s->ca_data, s->ca_len, &fail);
    d->token = str_dup(s->token, &fail);
    d->token_file = str_dup(s->token_file, &fail);
    d->cert_file = str_dup(s->cert_file, &fail);
    d->cert_data = mem_dup(s->cert_data, s->cert_len, &fail);
    d->key_file = str_dup(s->key_file, &fail);
    d->key_data = mem_dup(s->key_data, s->key_len, &fail);
    d->tls_server_name = str_dup(s->tls_server_name, &fail);
    d->source = str_dup(s->source, &fail);
    return fail ? KWQ_ENOMEM : 0;
}

/* ---- Checks at creation ------------------------------------------------- */

static const char *source_of(const struct kube_config *cfg)
{
    return cfg->source ? cfg->source : "the configuration";
}

static int check_readable(const struct kube_config *cfg, const char *what, const char *path,
                          struct kwq_error *err)
{
    if (path && access(path, R_OK) != 0)
        return kwq_error_set(err, KWQ_EINVAL, "cannot read the %s %s (from %s): %s", what, path,
                             source_of(cfg), strerror(errno));
    return 0;
}

static int check_config(const struct kube_config *cfg, struct kwq_error *err)
{
    const char *s = cfg->server;
    int rc;

    if (!s || (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0))
        return kwq_error_set(
            err, KWQ_EINVAL,
            "the API server URL '%s' (from %s) must start with https:// or http://", s ? s : "",
            source_of(cfg));
    rc = check_readable(cfg, "CA file", cfg->ca_file, err);
    if (rc == 0)
        rc = check_readable(cfg, "client certificate", cfg->cert_data ? NULL : cfg->cert_file, err);
    if (rc == 0)
        rc = check_readable(cfg, "client key", cfg->key_data ? NULL : cfg->key_file, err);
    return rc;
}

/* ---- The server's URL --------------------------------------------------- */

/* base without tls_server_name: the URL as given, less trailing '/'s. */
static int base_plain(struct kube_client *k)
{
    size_t n = strlen(k->cfg.server);

    while (n > 0 && k->cfg.server[n - 1] == '/')
        n--;
    k->base = strndup(k->cfg.server, n);
    return k->base ? 0 : KWQ_ENOMEM;
}

/* base with the host replaced by tls_server_name, and the CONNECT_TO entry. */
static int base_named(struct kube_client *k, CURLU *u, struct kwq_error *err)
{
    char *host = NULL, *port = NULL, *url = NULL, entry[1024];
    int rc = KWQ_ENOMEM;

    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_HOST, k->cfg.tls_server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        rc = kwq_error_set(err, KWQ_EINVAL, "cannot use tls-server-name '%s' with the URL %s",
                           k->cfg.tls_server_name, k->cfg.server);
        goto out;
    }
    (void)snprintf(entry, sizeof(entry), "%s:%s:%s:%s", k->cfg.tls_server_name, port, host, port);
    k->connect_to = curl_slist_append(NULL, entry);
    if (k->connect_to) {
        size_t n = strlen(url);

        while (n > 0 && url[n - 1] == '/')
            n--;
        k->base = strndup(url, n);
        rc = k->base ? 0 : KWQ_ENOMEM;
    }
out:
    curl_free(host);
    curl_free(port);
    curl_free(url);
    return rc;
}

static int base_setup(struct kube_client *k, struct kwq_error *err)
{
    CURLU *u;
    int rc;

    if (!k->cfg.tls_server_name)
        return base_plain(k);
    u = curl_url();
    if (!u)
        return KWQ_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, k->cfg.server, 0) != CURLUE_OK)
        rc = kwq_error_set(err, KWQ_EINVAL, "the API server URL '%s' (from %s) is not a URL",
                           k->cfg.server, source_of(&k->cfg));
    else
        rc = base_named(k, u, err);
    curl_url_cleanup(u);
    return rc;
}

/* ---- The client --------------------------------------------------------- */

static int client_setup(struct kube_client *k, const struct kube_config *cfg, struct kwq_error *err)
{
    int rc = config_copy(&k->cfg, cfg);

    if (rc == 0)
        rc = kube__curl_ev_init(&k->cev, k->loop, kube__req_attempt_done, k);
    if (rc)
        return kwq_error_set(err, rc, "cannot make the Kubernetes client: %s", kwq_strerror(rc));
    rc = base_setup(k, err);
    if (rc == KWQ_ENOMEM)
        return kwq_error_set(err, rc, "cannot make the Kubernetes client: %s", kwq_strerror(rc));
    if (rc == 0)
        rc = kube__token_init(&k->token, cfg->token, cfg->token_file, err);
    return rc;
}

int kube_client_new(struct ev_loop *loop, const struct kube_config *cfg,
                    const struct kube_client_opts *opts, struct kube_client **ret,
                    struct kwq_error *err)
{
    static bool curl_ready;
    struct kube_client *k;
    int rc;

    *ret = NULL;
    rc = check_config(cfg, err);
    if (rc)
        return rc;
    /* Once per process, never undone: other code may use libcurl as well. */
    if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return kwq_error_set(err, KWQ_ENOMEM, "cannot initialise libcurl");
    curl_ready = true;
    k = calloc(1, sizeof(*k));
    if (!k)
        return kwq_error_set(err, KWQ_ENOMEM, "cannot make the Kubernetes client: out of memory");
    k->loop = loop;
    k->opts = opts ? *opts : (struct kube_client_opts){0};
    if (k->opts.timeout_ms == 0)
        k->opts.timeout_ms = 10000;
    rc = client_setup(k, cfg, err);
    if (rc) {
        kube__client_destroy(k);
        return rc;
    }
    if (cfg->insecure && !k->opts.quiet)
        kwq_log(KWQ_LOG_WARN,
                "TLS verification of the Kubernetes API server is off "
                "(insecure-skip-tls-verify): anyone on the path can read and change the traffic",
                KWQ_LS("server", cfg->server), KWQ_LS("source", source_of(cfg)));
    *ret = k;
    return 0;
}

void kube__client_destroy(struct kube_client *k)
{
    kube__curl_ev_done(&k->cev);
    kube__token_done(&k->token);
    curl_slist_free_all(k->connect_to);
    free(k->base);
    kube_config_free(&k->cfg);
    free(k);
}

void kube_client_free(struct kube_client *k)
{
    if (!k || k->closing)
        return;
    k->closing = true;
    /* Held above 0 so that no cancelled callback's return frees k under us. */
    k->depth++;
    while (k->reqs)
        kube__req_cancel(k->reqs);
    k->depth--;
    /* Freed from inside a callback: the callback's caller frees k on return. */
    if (k->depth == 0)
        kube__client_destroy(k);
}

const char *kube_client_namespace(const struct kube_client *k)
{
    return k->cfg.namespace;
}

void kube_response_done(struct kube_response *r)
{
    if (!r)
        return;
    cJSON_Delete(r->json);
    free(r->body);
    free(r->reason);
    *r = (struct kube_response){0};
}

/* ---- kube_call ---------------------------------------------------------- */

struct call_wait {
    bool done;
    struct kube_response *resp;
    struct kwq_error *err;
};

static void call_done(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct call_wait *w = arg;

    *w->resp = *resp; /* the answer moves to the caller */
    *resp = (struct kube_response){0};
    *w->err = *err;
    w->done = true;
}

int kube_call(struct kube_client *k, const char *method, const char *path, const char *content_type,
              const char *body, struct kube_response *resp, struct kwq_error *err)
{
    struct kwq_error local;
    struct call_wait w = {.resp = resp, .err = err ? err : &local};
    struct ev_loop *loop = k->loop;
    int rc;

    *resp = (struct kube_response){0};
    *w.err = (struct kwq_error){0};
    rc = kube_request(k, method, path, content_type, body, call_done, &w);
    if (rc)
        return kwq_error_set(w.err, rc, "%s %s: %s", method ? method : "(no method)",
                             path ? path : "(no path)", kwq_strerror(rc));
    /* k may be freed meanwhile (by another watcher): its loop is not. */
    while (!w.done)
        (void)ev_run(loop, EVRUN_ONCE);
    return w.err->code;
}
