/*
 * fake_kube.c - starting, asking and stopping the fake API server (see
 * fake_kube.h). Its log is read with plain libcurl, apart from the client
 * under test.
 */
#include "fake_kube.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "test_proc.h"

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    cr_assert(fp != NULL, "%s: %s", path, strerror(errno));
    cr_assert(fputs(text, fp) >= 0 && fclose(fp) == 0, "%s: %s", path, strerror(errno));
}

void fake_kube_write(const char *path, const char *text)
{
    char tmp[256];

    (void)snprintf(tmp, sizeof(tmp), "%s.new", path);
    write_file(tmp, text);
    cr_assert(rename(tmp, path) == 0, "rename %s: %s", path, strerror(errno));
}

char *fake_kube_file(struct fake_kube *f, const char *name, const char *text)
{
    char dir[sizeof(f->dir)], *p;

    cr_assert(f->npath < sizeof(f->path) / sizeof(f->path[0]));
    memcpy(dir, f->dir, sizeof(dir));
    p = f->path[f->npath++];
    (void)snprintf(p, sizeof(f->path[0]), "%s/%s", dir, name);
    if (text)
        write_file(p, text);
    return p;
}

/* The port the fake prints once it listens. */
static int read_port(int fd)
{
    char line[32];
    size_t n = 0;
    ssize_t r = 1;

    while (n < sizeof(line) - 1 && r > 0 && (n == 0 || line[n - 1] != '\n')) {
        r = read(fd, line + n, sizeof(line) - 1 - n);
        if (r > 0)
            n += (size_t)r;
        else if (r < 0 && errno == EINTR)
            r = 1;
    }
    line[n] = '\0';
    cr_assert(n > 0 && line[n - 1] == '\n', "the fake API server did not start (got '%s')", line);
    return (int)strtol(line, NULL, 10);
}

/* script with every "@DIR@" replaced by dir, written to path. */
static void write_script(const char *path, const char *script, const char *dir)
{
    size_t cap = strlen(script) * (strlen(dir) + 1) + 1, n = 0;
    char *out = malloc(cap);
    const char *p = script, *at;

    cr_assert(out != NULL);
    while ((at = strstr(p, "@DIR@")) != NULL) {
        memcpy(out + n, p, (size_t)(at - p));
        n += (size_t)(at - p);
        memcpy(out + n, dir, strlen(dir));
        n += strlen(dir);
        p = at + 5;
    }
    memcpy(out + n, p, strlen(p) + 1);
    write_file(path, out);
    free(out);
}

void fake_kube_start(struct fake_kube *f, const char *script)
{
    char script_path[128];
    int in[2], out[2];

    memset(f, 0, sizeof(*f));
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/kwq-fake-kube-XXXXXX");
    cr_assert(mkdtemp(f->dir) != NULL, "mkdtemp: %s", strerror(errno));
    (void)snprintf(script_path, sizeof(script_path), "%s/script.json", f->dir);
    write_script(script_path, script, f->dir);
    cr_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    {
        const char *argv[] = {KWQ_TEST_PYTHON3, KWQ_TEST_FAKE_KUBE_API, script_path, NULL};
        const int fds[3] = {in[0], out[1], -1};

        f->pid = test_proc_start(argv, fds);
    }
    (void)close(in[0]);
    (void)close(out[1]);
    f->stdin_fd = in[1];
    (void)snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", read_port(out[0]));
    (void)close(out[0]);
    (void)snprintf(f->ns, sizeof(f->ns), "default");
    f->cfg.server = f->url;
    f->cfg.namespace = f->ns;
}

void fake_kube_stop(struct fake_kube *f)
{
    DIR *d;
    struct dirent *e;
    char p[512];

    if (f->pid > 0) {
        (void)close(f->stdin_fd);
        (void)kill(f->pid, SIGTERM);
        (void)test_proc_wait(f->pid, time(NULL) + 10);
        f->pid = 0;
    }
    d = opendir(f->dir);
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        (void)snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
        (void)unlink(p);
    }
    if (d)
        (void)closedir(d);
    (void)rmdir(f->dir);
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    char *p = realloc(b->p, b->n + size * n + 1);

    if (!p)
        return 0;
    memcpy(p + b->n, data, size * n);
    b->p = p;
    b->n += size * n;
    b->p[b->n] = '\0';
    return size * n;
}

cJSON *fake_kube_log(struct fake_kube *f)
{
    char url[128];
    struct buf b = {0};
    CURL *c = curl_easy_init();
    cJSON *doc, *reqs;
    CURLcode rc;

    cr_assert(c != NULL);
    (void)snprintf(url, sizeof(url), "%s/_fake/log", f->url);
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    cr_assert(rc == CURLE_OK, "GET /_fake/log: %s", curl_easy_strerror(rc));
    doc = cJSON_Parse(b.p);
    free(b.p);
    reqs = cJSON_DetachItemFromObject(doc, "requests");
    cJSON_Delete(doc);
    cr_assert(cJSON_IsArray(reqs), "the fake's log is not a list");
    return reqs;
}

size_t fake_kube_count(struct fake_kube *f, const char *path)
{
    cJSON *log = fake_kube_log(f), *r;
    size_t n = 0, len = strlen(path);

    cJSON_ArrayForEach(r, log)
    {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(r, "path"));

        if (p && strncmp(p, path, len) == 0 && (p[len] == '\0' || p[len] == '?'))
            n++;
    }
    cJSON_Delete(log);
    return n;
}
