/*
 * bench_util.c - clocks, INFO parsing, child processes and statistics for
 * the kwq benchmark programs. Everything that reaches Redis goes through
 * libkwq (kwq/client.h); nothing here builds a Redis command.
 */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/util.h"

/* ---- Clocks ------------------------------------------------------------------ */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    (void)clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t bench_real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

void bench_sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                          .tv_nsec = (long)(us % 1000000u) * 1000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- Output ------------------------------------------------------------------ */

void bench_put_u64(const char *name, uint64_t value)
{
    (void)printf("%s=%" PRIu64 "\n", name, value);
    (void)fflush(stdout);
}

void bench_put_f(const char *name, double value, int decimals)
{
    (void)printf("%s=%.*f\n", name, decimals, value);
    (void)fflush(stdout);
}

void bench_put_s(const char *name, const char *value)
{
    (void)printf("%s=%s\n", name, value);
    (void)fflush(stdout);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;

    (void)fputs("kwq-bench: ", stderr);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    exit(1);
}

/* ---- Redis through libkwq ------------------------------------------------------ */

/* The line after the one p points into, or NULL at the end of the text. */
static const char *next_line(const char *p)
{
    p = strchr(p, '\n');
    return p ? p + 1 : NULL;
}

struct kwq_client *bench_connect(const char *url)
{
    struct kwq_client_opts o;
    struct kwq_client *c;

    kwq_client_opts_init(&o);
    o.url = url;
    /* A big batch on a busy 2-core machine may take a while; this is no test of timeouts. */
    o.command_timeout_ms = 120000;
    c = kwq_client_new(&o);
    if (!c)
        bench_die("out of memory");
    if (kwq_client_connect(c) < 0)
        bench_die("cannot connect to %s: %s", url, kwq_client_errstr(c));
    return c;
}

char *bench_info(struct kwq_client *c, const char *section)
{
    char *text = NULL;

    if (kwq_server_info(c, section, &text) < 0)
        bench_die("INFO %s: %s", section, kwq_client_errstr(c));
    return text;
}

int bench_info_u64(const char *info, const char *field, uint64_t *ret)
{
    size_t flen = strlen(field);

    for (const char *p = info; p && *p; p = next_line(p)) {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(p + flen + 1, &end, 10);
            if (errno || end == p + flen + 1)
                return -1;
            *ret = v;
            return 0;
        }
    }
    return -1;
}

/* Index of command name in cs, or -1. */
static long cmdstats_find(const struct bench_cmdstats *cs, const char *name)
{
    for (size_t i = 0; i < cs->n; i++) {
        if (strcmp(cs->name[i], name) == 0)
            return (long)i;
    }
    return -1;
}

void bench_cmdstats_read(struct kwq_client *c, struct bench_cmdstats *ret)
{
    static const char prefix[] = "cmdstat_";
    char *text = bench_info(c, "commandstats");

    ret->n = 0;
    for (const char *p = text; p && *p; p = next_line(p)) {
        /* cmdstat_lpop:calls=12,usec=34,usec_per_call=2.83,rejected_calls=0,failed_calls=0 */
        if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
            continue;
        const char *name = p + sizeof(prefix) - 1;
        const char *colon = strchr(name, ':');
        if (!colon || strncmp(colon, ":calls=", 7) != 0)
            continue;
        size_t len = (size_t)(colon - name);
        if (ret->n == BENCH_CMDSTATS_MAX || len >= sizeof(ret->name[0]))
            continue;
        memcpy(ret->name[ret->n], name, len);
        ret->name[ret->n][len] = '\0';
        ret->calls[ret->n] = strtoull(colon + 7, NULL, 10);
        const char *us = strstr(colon, ",usec=");
        const char *eol = strchr(colon, '\n');
        ret->usec[ret->n] = us && (!eol || us < eol) ? strtoull(us + 6, NULL, 10) : 0;
        ret->n++;
    }
    free(text);
}

uint64_t bench_cmdstats_delta(const struct bench_cmdstats *before,
                              const struct bench_cmdstats *after, char *breakdown, size_t len)
{
    uint64_t total = 0;
    size_t used = 0;

    if (breakdown && len)
        breakdown[0] = '\0';
    for (size_t i = 0; i < after->n; i++) {
        long k = cmdstats_find(before, after->name[i]);
        uint64_t prev = k < 0 ? 0 : before->calls[k];
        uint64_t d = after->calls[i] >= prev ? after->calls[i] - prev : 0;
        if (d == 0 || strcmp(after->name[i], "info") == 0)
            continue;
        total += d;
        if (breakdown && used < len) {
            int w = snprintf(breakdown + used, len - used, "%s%s:%" PRIu64, used ? "," : "",
                             after->name[i], d);
            used = w < 0 ? len : used + (size_t)w;
        }
    }
    return total;
}

uint64_t bench_cmdstats_usec(const struct bench_cmdstats *before,
                             const struct bench_cmdstats *after, const char *name)
{
    long a = cmdstats_find(after, name), b = cmdstats_find(before, name);
    uint64_t prev = b < 0 ? 0 : before->usec[b];

    if (a < 0 || after->usec[a] < prev)
        return 0;
    return after->usec[a] - prev;
}

/* ---- Processes ------------------------------------------------------------------ */

pid_t bench_spawn(char *const argv[], const char *log_path)
{
    int err_fd = -1;
    pid_t pid;

    if (log_path) {
        err_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (err_fd < 0)
            bench_die("cannot open %s: %s", log_path, strerror(errno));
    }
    pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR);
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null_fd >= 0) {
            (void)dup2(null_fd, STDIN_FILENO);
            (void)dup2(null_fd, STDOUT_FILENO);
        }
        if (err_fd >= 0)
            (void)dup2(err_fd, STDERR_FILENO);
        execv(argv[0], argv);
        (void)fprintf(stderr, "kwq-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (err_fd >= 0)
        (void)close(err_fd);
    return pid;
}

long bench_vmrss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    (void)fclose(f);
    return kib;
}

/* ---- Statistics ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
}

double bench_percentile(const double *sorted, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    /* Nearest rank: the smallest value with at least p% of the samples at or below it. */
    rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

size_t bench_parse_count(const char *s, size_t min, size_t max, const char *what)
{
    struct kwq_error err = {0};
    uint64_t v;

    if (kwq_parse_uint(s, min, max, what, &v, &err) < 0)
        bench_die("%s", err.msg);
    return (size_t)v;
}
