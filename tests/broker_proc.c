/*
 * broker_proc.c - see broker_proc.h.
 */
#include "broker_proc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "test_cli_exec.h"

#define START_SAFETY_S 60

void broker_start_listening(struct broker_proc *p, const char *name, const char *const *extra)
{
    const char *argv[48] = {KWQ_TEST_BROKER_BIN, "--listen", "127.0.0.1:0", "--log-format", "json"};
    size_t n = 5;
    int fds[3] = {-1, -1, -1};
    time_t deadline = time(NULL) + START_SAFETY_S;
    const char *needle = "\"msg\":\"broker started\"";

    memset(p, 0, sizeof(*p));
    for (; extra && *extra && n < 46; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    (void)snprintf(p->log, sizeof(p->log), "%s", test_path(name));
    fds[0] = open("/dev/null", O_RDONLY);
    fds[1] = open("/dev/null", O_WRONLY);
    fds[2] = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    cr_assert(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0);
    p->pid = test_proc_start(argv, fds);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    for (;;) {
        char *log = cli_read_file(p->log);
        char *line = strstr(log, needle);
        int code;

        if (line) {
            char *l = strstr(line, "\"listen\":\"");

            cr_assert(l, "no listen address in: %s", line);
            l += 10;
            (void)snprintf(p->addr, sizeof(p->addr), "%.*s", (int)strcspn(l, "\""), l);
            (void)snprintf(p->base, sizeof(p->base), "http://%s", p->addr);
            free(log);
            return;
        }
        if (test_proc_exited(p->pid, &code))
            cr_assert_fail("kwq-broker exited %d at start: %s", code, log);
        free(log);
        cr_assert(time(NULL) < deadline, "kwq-broker did not start");
        (void)usleep(20000);
    }
}

void broker_start(struct broker_proc *p, const char *name, const char *const *extra)
{
    time_t deadline = time(NULL) + START_SAFETY_S;

    broker_start_listening(p, name, extra);
    /* It listens before its Redis link is up: a request in between is answered 503. */
    while (broker_try_status(p, "/readyz") != 200) {
        int code;

        if (test_proc_exited(p->pid, &code))
            cr_assert_fail("kwq-broker exited %d before it was ready", code);
        cr_assert(time(NULL) < deadline, "kwq-broker was not ready within %ds", START_SAFETY_S);
        (void)usleep(20000);
    }
}

int broker_stop(struct broker_proc *p, int sig)
{
    int code;

    if (p->pid <= 0)
        return -1;
    (void)kill(p->pid, sig);
    code = test_proc_wait(p->pid, time(NULL) + START_SAFETY_S);
    p->pid = 0;
    return code;
}

struct buf {
    char *p;
    size_t n;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t len = size * nmemb;
    char *grown = realloc(b->p, b->n + len + 1);

    if (!grown)
        return 0;
    memcpy(grown + b->n, data, len);
    b->n += len;
    grown[b->n] = '\0';
    b->p = grown;
    return len;
}

int broker_http_try(const struct broker_proc *p, const char *method, const char *path,
                    const char *const *headers, const char *body, struct http_answer *a)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct buf out = {calloc(1, 1), 0}, hdr = {calloc(1, 1), 0};
    char url[600];
    CURLcode rc;

    cr_assert(c && out.p && hdr.p);
    (void)snprintf(url, sizeof(url), "%s%s", p->base, path);
    for (; headers && *headers; headers++)
        hl = curl_slist_append(hl, *headers);
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        (void)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body)
        (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    (void)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    (void)curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    (void)curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    rc = curl_easy_perform(c);
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    a->body = out.p;
    a->len = out.n;
    a->headers = hdr.p;
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return (int)rc;
}

void broker_http(const struct broker_proc *p, const char *method, const char *path,
                 const char *const *headers, const char *body, struct http_answer *a)
{
    int rc = broker_http_try(p, method, path, headers, body, a);

    cr_assert_eq(rc, CURLE_OK, "%s %s%s: %s", method, p->base, path,
                 curl_easy_strerror((CURLcode)rc));
}

long broker_try_status(const struct broker_proc *p, const char *path)
{
    struct http_answer a;
    long status = -1;

    if (broker_http_try(p, "GET", path, NULL, NULL, &a) == CURLE_OK)
        status = a.status;
    http_answer_free(&a);
    return status;
}

void http_answer_free(struct http_answer *a)
{
    free(a->body);
    free(a->headers);
    memset(a, 0, sizeof(*a));
}

long broker_status(const struct broker_proc *p, const char *path)
{
    struct http_answer a;
    long status;

    broker_http(p, "GET", path, NULL, NULL, &a);
    status = a.status;
    http_answer_free(&a);
    return status;
}

double metric_value(const char *page, const char *series)
{
    size_t len = strlen(series);

    for (const char *l = page; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, len) == 0 && l[len] == ' ')
            return strtod(l + len + 1, NULL);
    return -1;
}

double broker_metric(const struct broker_proc *p, const char *series)
{
    struct http_answer a;
    double v;

    broker_http(p, "GET", "/metrics", NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "/metrics answered %ld: %s", a.status, a.body);
    v = metric_value(a.body, series);
    http_answer_free(&a);
    return v;
}
