/*
 * bench_kube.c - the benchmark's own view of the API server: see
 * bench_kube.h.
 */
#include "bench_kube.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "bench_util.h"

#define LINE_MAX_BYTES (1u << 20) /* one watch event; a Job is a few KiB */

/* A GET with the admin's credentials; the caller adds the write callback. */
static CURL *api_get(const struct bench_api *api, const char *path, struct curl_slist **hdrs)
{
    char url[1024], auth[4096];
    CURL *e = curl_easy_init();

    if (!e)
        return NULL;
    (void)snprintf(url, sizeof(url), "%s%s", api->server, path);
    (void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api->token);
    *hdrs = curl_slist_append(NULL, auth);
    (void)curl_easy_setopt(e, CURLOPT_URL, url);
    (void)curl_easy_setopt(e, CURLOPT_CAINFO, api->ca_file);
    (void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
    (void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
    return e;
}

/* ---- The watch ---------------------------------------------------------------------------- */

struct bench_watch {
    struct bench_api api;
    char path[512];
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    struct bench_watch_seen *seen;
    pthread_t thread;
    atomic_bool stop;
    char *buf; /* the event being read */
    size_t len;
};

/* One complete event line, read at now_ns. */
static void watch_event(struct bench_watch *w, const char *line, uint64_t now_ns)
{
    cJSON *ev = cJSON_Parse(line);
    const cJSON *type = cJSON_GetObjectItem(ev, "type");
    const cJSON *spec = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "object"), "spec");
    const cJSON *par = cJSON_GetObjectItem(spec, "parallelism");

    pthread_mutex_lock(w->mu);
    w->seen->events++;
    if (cJSON_IsString(type) &&
        (strcmp(type->valuestring, "ADDED") == 0 || strcmp(type->valuestring, "MODIFIED") == 0) &&
        cJSON_IsNumber(par) && (int64_t)par->valuedouble != w->seen->parallelism) {
        w->seen->parallelism = (int64_t)par->valuedouble;
        w->seen->change_ns = now_ns;
        if (w->seen->parallelism > 0 && !w->seen->raise_ns)
            w->seen->raise_ns = now_ns;
        pthread_cond_broadcast(w->cv);
    }
    pthread_mutex_unlock(w->mu);
    cJSON_Delete(ev);
}

static size_t watch_body(char *p, size_t size, size_t n, void *arg)
{
    struct bench_watch *w = arg;
    uint64_t now = bench_mono_ns();
    size_t got = size * n;
    char *nl;

    if (w->len + got >= LINE_MAX_BYTES)
        return 0; /* no event is that big: abort, the watch is reopened */
    memcpy(w->buf + w->len, p, got);
    w->len += got;
    w->buf[w->len] = '\0';
    while ((nl = strchr(w->buf, '\n')) != NULL) {
        *nl = '\0';
        watch_event(w, w->buf, now);
        w->len -= (size_t)(nl + 1 - w->buf);
        memmove(w->buf, nl + 1, w->len + 1);
    }
    return got;
}

/* Called by libcurl at least once a second: the way out of a watch that stays open. */
static int watch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct bench_watch *w = arg;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&w->stop) ? 1 : 0;
}

static void *watch_main(void *arg)
{
    struct bench_watch *w = arg;

    while (!atomic_load(&w->stop)) {
        struct curl_slist *hdrs = NULL;
        CURL *e = api_get(&w->api, w->path, &hdrs);
        CURLcode rc;

        if (!e)
            bench_die("watch: out of memory");
        (void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, watch_body);
        (void)curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
        (void)curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, watch_progress);
        (void)curl_easy_setopt(e, CURLOPT_XFERINFODATA, w);
        (void)curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        w->len = 0;
        rc = curl_easy_perform(e);
        curl_easy_cleanup(e);
        curl_slist_free_all(hdrs);
        if (atomic_load(&w->stop))
            break;
        /* The server ends every watch after a while; a failure is retried the same way. */
        if (rc != CURLE_OK)
            (void)fprintf(stderr, "kwq-bench: watch: %s; reopening\n", curl_easy_strerror(rc));
        pthread_mutex_lock(w->mu);
        w->seen->reconnects++;
        pthread_mutex_unlock(w->mu);
        bench_sleep_us(100000);
    }
    return NULL;
}

struct bench_watch *bench_watch_start(const struct bench_api *api, const char *ns, const char *name,
                                      pthread_mutex_t *mu, pthread_cond_t *cv,
                                      struct bench_watch_seen *seen)
{
    struct bench_watch *w = calloc(1, sizeof(*w));

    if (!w || !(w->buf = malloc(LINE_MAX_BYTES)))
        bench_die("watch: out of memory");
    w->api = *api;
    (void)snprintf(w->path, sizeof(w->path),
                   "/apis/batch/v1/namespaces/%s/jobs?watch=1&fieldSelector=metadata.name%%3D%s",
                   ns, name);
    w->mu = mu;
    w->cv = cv;
    w->seen = seen;
    atomic_init(&w->stop, false);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        bench_die("watch: cannot start a thread");
    return w;
}

void bench_watch_stop(struct bench_watch *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    (void)pthread_join(w->thread, NULL);
    free(w->buf);
    free(w);
}

/* ---- Request counters --------------------------------------------------------------------- */

struct text {
    char *p;
    size_t len, cap;
};

static size_t text_body(char *p, size_t size, size_t n, void *arg)
{
    struct text *t = arg;
    size_t got = size * n;

    if (t->len + got + 1 > t->cap) {
        size_t cap = (t->len + got + 1) * 2;
        char *q = realloc(t->p, cap);

        if (!q)
            return 0;
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->len, p, got);
    t->len += got;
    t->p[t->len] = '\0';
    return got;
}

/* The value of one apiserver_request_total line on jobs into the right counter. */
static void count_line(const char *line, struct bench_api_counts *c)
{
    const char *v = strrchr(line, ' ');
    uint64_t n;

    if (!strstr(line, "resource=\"jobs\"") || !v || strstr(line, "verb=\"WATCH\""))
        return;
    n = (uint64_t)strtod(v + 1, NULL);
    if (strstr(line, "verb=\"GET\""))
        c->get += n;
    else if (strstr(line, "verb=\"PATCH\""))
        c->patch += n;
    else
        c->other += n;
}

int bench_api_counts_read(const struct bench_api *api, struct bench_api_counts *ret)
{
    static const char metric[] = "apiserver_request_total{";
    struct curl_slist *hdrs = NULL;
    struct text t = {0};
    CURL *e = api_get(api, "/metrics", &hdrs);
    CURLcode rc;

    memset(ret, 0, sizeof(*ret));
    if (!e)
        return -1;
    (void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, text_body);
    (void)curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK || !t.p) {
        (void)fprintf(stderr, "kwq-bench: GET /metrics: %s\n", curl_easy_strerror(rc));
        free(t.p);
        return -1;
    }
    for (char *save = NULL, *l = strtok_r(t.p, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strncmp(l, metric, sizeof(metric) - 1) == 0)
            count_line(l, ret);
    free(t.p);
    return 0;
}

int bench_api_get_rtt(const struct bench_api *api, const char *path, size_t n, double *ms)
{
    struct curl_slist *hdrs = NULL;
    struct text t = {0};
    CURL *e = api_get(api, path, &hdrs);
    CURLcode rc = e ? CURLE_OK : CURLE_OUT_OF_MEMORY;

    if (e) {
        (void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, text_body);
        (void)curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    }
    for (size_t i = 0; i <= n && rc == CURLE_OK; i++) {
        uint64_t t0 = bench_mono_ns();

        t.len = 0;
        rc = curl_easy_perform(e);
        if (i > 0)
            ms[i - 1] = (double)(bench_mono_ns() - t0) / 1e6;
    }
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    free(t.p);
    if (rc != CURLE_OK) {
        (void)fprintf(stderr, "kwq-bench: GET %s: %s\n", path, curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}
