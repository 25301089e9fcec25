/*
 * test_k8s_watch.c - a recorded watch: see test_k8s_watch.h. One thread per
 * watch runs a plain libcurl GET whose body is the stream of events, one
 * JSON object per line.
 */
#include "test_k8s_watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

struct k8s_watch {
    pthread_t thread;
    pthread_mutex_t lock;
    cJSON *events;    /* under lock */
    bool open;        /* under lock: the server answered the GET */
    atomic_bool stop; /* asked to end */
    char *line;       /* a line not yet complete */
    size_t len, cap;
    char url[1024], auth[2200], ca_file[600];
};

static void add_event(struct k8s_watch *w, const char *text)
{
    cJSON *ev = cJSON_Parse(text);

    if (!ev)
        return;
    pthread_mutex_lock(&w->lock);
    cJSON_AddItemToArray(w->events, ev);
    pthread_mutex_unlock(&w->lock);
}

/* The answer's headers: the server has registered the watch (an empty one sends no body yet). */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct k8s_watch *w = arg;

    (void)data;
    pthread_mutex_lock(&w->lock);
    w->open = true;
    pthread_mutex_unlock(&w->lock);
    return size * n;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct k8s_watch *w = arg;
    size_t len = size * n;

    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            w->line[w->len] = '\0';
            add_event(w, w->line);
            w->len = 0;
            continue;
        }
        if (w->len + 1 >= w->cap) {
            w->cap = w->cap ? w->cap * 2 : 65536;
            w->line = realloc(w->line, w->cap);
            if (!w->line)
                return 0;
        }
        w->line[w->len++] = data[i];
    }
    return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct k8s_watch *w = arg;

    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return atomic_load(&w->stop) ? 1 : 0;
}

static void *watch_main(void *arg)
{
    struct k8s_watch *w = arg;
    struct curl_slist *h = curl_slist_append(NULL, w->auth);
    CURL *c = curl_easy_init();

    if (c && h) {
        (void)curl_easy_setopt(c, CURLOPT_URL, w->url);
        (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        (void)curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file);
        (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
        (void)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        (void)curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
        (void)curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        (void)curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        (void)curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
        (void)curl_easy_perform(c);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    pthread_mutex_lock(&w->lock);
    w->open = true; /* ended: nobody waits for it to open any more */
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct k8s_watch *k8s_watch_start(const struct k8s_rig *rig, const char *path)
{
    struct k8s_watch *w = calloc(1, sizeof(*w));
    time_t end = time(NULL) + 60;

    cr_assert_not_null(w);
    pthread_mutex_init(&w->lock, NULL);
    w->events = cJSON_CreateArray();
    (void)snprintf(w->url, sizeof(w->url), "%s%s%swatch=1&timeoutSeconds=1800", rig->server, path,
                   strchr(path, '?') ? "&" : "?");
    (void)snprintf(w->auth, sizeof(w->auth), "Authorization: Bearer %s", rig->token);
    (void)snprintf(w->ca_file, sizeof(w->ca_file), "%s", rig->ca_file);
    cr_assert_eq(pthread_create(&w->thread, NULL, watch_main, w), 0);
    for (;;) {
        bool open;

        pthread_mutex_lock(&w->lock);
        open = w->open;
        pthread_mutex_unlock(&w->lock);
        if (open)
            break;
        cr_assert(time(NULL) < end, "the watch of %s never opened", path);
        (void)nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    }
    return w;
}

cJSON *k8s_watch_events(struct k8s_watch *w)
{
    cJSON *copy;

    pthread_mutex_lock(&w->lock);
    copy = cJSON_Duplicate(w->events, 1);
    pthread_mutex_unlock(&w->lock);
    cr_assert_not_null(copy);
    return copy;
}

void k8s_watch_stop(struct k8s_watch *w)
{
    atomic_store(&w->stop, true);
    (void)pthread_join(w->thread, NULL);
    cJSON_Delete(w->events);
    free(w->line);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
