/*
 * bench_broker.c - kwq-broker's cost on Redis (issue 10's targets): with
 * Q queues holding T tasks in all, how long a /metrics scrape takes
 * (p50/p99/max over S scrapes, keep-alive), and how much Redis server time
 * housekeeping costs per queue and second (INFO commandstats over a window
 * in which nothing but the broker's housekeeping runs).
 *
 *   kwq-bench-broker URL --broker PATH [--queues 100] [--tasks 1000000]
 *                        [--window 10] [--scrapes 100] [--dir DIR]
 *
 * Prints name=value lines; reports figures, never judges them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kwq/client.h"

#include "bench_util.h"

#define BATCH 1000

struct body {
    char *p;
    size_t n;
};

static size_t collect(char *d, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t len = size * nmemb;
    char *g = realloc(b->p, b->n + len + 1);

    if (!g)
        return 0;
    memcpy(g + b->n, d, len);
    b->n += len;
    g[b->n] = '\0';
    b->p = g;
    return len;
}

static void fill(struct kwq_client *c, size_t queues, size_t tasks)
{
    static struct kwq_new_task t[BATCH];
    static struct kwq_enqueued e[BATCH];
    char name[32];

    for (size_t i = 0; i < BATCH; i++)
        t[i] = (struct kwq_new_task){.payload = "0123456789abcdef", .payload_len = 16};
    for (size_t q = 0; q < queues; q++) {
        size_t left = tasks / queues + (q < tasks % queues ? 1 : 0);

        (void)snprintf(name, sizeof(name), "bench-q%03zu", q);
        while (left > 0) {
            size_t n = left < BATCH ? left : BATCH, accepted = 0;

            if (kwq_enqueue(c, name, t, n, e, &accepted) < 0 || accepted != n)
                bench_die("enqueue to %s: %s", name, kwq_client_errstr(c));
            left -= n;
        }
    }
}

/* The address the broker logged in its "broker started" line. */
static void wait_addr(const char *log, pid_t pid, char *addr, size_t len)
{
    for (int i = 0; i < 3000; i++) {
        FILE *f = fopen(log, "r");
        char line[4096];
        int st;

        while (f && fgets(line, sizeof(line), f)) {
            char *l = strstr(line, "\"listen\":\"");

            if (strstr(line, "broker started") && l) {
                l += 10;
                (void)snprintf(addr, len, "%.*s", (int)strcspn(l, "\""), l);
                (void)fclose(f);
                return;
            }
        }
        if (f)
            (void)fclose(f);
        if (waitpid(pid, &st, WNOHANG) == pid)
            bench_die("kwq-broker exited at start; see %s", log);
        bench_sleep_us(20000);
    }
    bench_die("kwq-broker did not start; see %s", log);
}

int main(int argc, char **argv)
{
    const char *url, *broker = NULL, *dir = "/tmp";
    size_t queues = 100, tasks = 1000000, window = 10, scrapes = 100;
    struct bench_cmdstats before, after;
    char log[512], addr[64], murl[128];
    const char *bargv[16];
    struct kwq_client *c;
    double *ms;
    pid_t pid;
    CURL *h;

    if (argc < 2)
        bench_die("usage: kwq-bench-broker URL --broker PATH [--queues N] [--tasks N] "
                  "[--window S] [--scrapes N] [--dir DIR]");
    url = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--broker"))
            broker = argv[i + 1];
        else if (!strcmp(argv[i], "--queues"))
            queues = bench_parse_count(argv[i + 1], 1, 10000, "--queues");
        else if (!strcmp(argv[i], "--tasks"))
            tasks = bench_parse_count(argv[i + 1], 0, 100000000, "--tasks");
        else if (!strcmp(argv[i], "--window"))
            window = bench_parse_count(argv[i + 1], 1, 3600, "--window");
        else if (!strcmp(argv[i], "--scrapes"))
            scrapes = bench_parse_count(argv[i + 1], 1, 100000, "--scrapes");
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else
            bench_die("unknown option %s", argv[i]);
    }
    if (!broker)
        bench_die("--broker PATH is required");
    c = bench_connect(url);
    fill(c, queues, tasks);

    (void)snprintf(log, sizeof(log), "%s/broker.log", dir);
    {
        /* the window measures housekeeping alone: no samples, no election */
        const char *const a[] = {broker,        "--redis",      url,    "--listen",
                                 "127.0.0.1:0", "--log-format", "json", "--sample-interval",
                                 "60s",         "--leader",     "off",  NULL};

        memcpy(bargv, a, sizeof(a));
    }
    pid = bench_spawn((char *const *)bargv, log);
    wait_addr(log, pid, addr, sizeof(addr));
    bench_sleep_us(2000000); /* the registry read, the first rounds */

    bench_cmdstats_read(c, &before);
    bench_sleep_us(window * 1000000);
    bench_cmdstats_read(c, &after);
    {
        uint64_t us = bench_cmdstats_usec(&before, &after, "evalsha");
        char breakdown[512];
        uint64_t calls = bench_cmdstats_delta(&before, &after, breakdown, sizeof(breakdown));

        bench_put_f("broker_housekeeping_us_per_queue_s",
                    (double)us / (double)queues / (double)window, 2);
        bench_put_u64("broker_housekeeping_calls", calls);
        bench_put_s("broker_housekeeping_breakdown", breakdown);
    }

    ms = calloc(scrapes, sizeof(*ms));
    h = curl_easy_init();
    if (!ms || !h)
        bench_die("out of memory");
    (void)snprintf(murl, sizeof(murl), "http://%s/metrics", addr);
    for (size_t i = 0; i < scrapes; i++) {
        struct body b = {0};
        uint64_t t0 = bench_mono_ns();
        long status = 0;

        (void)curl_easy_setopt(h, CURLOPT_URL, murl);
        (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        if (curl_easy_perform(h) != CURLE_OK)
            bench_die("GET %s failed", murl);
        ms[i] = (double)(bench_mono_ns() - t0) / 1e6;
        (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || !b.p || !strstr(b.p, "kwq_broker_scrape_errors 0\n"))
            bench_die("/metrics answered %ld or had scrape errors", status);
        if (i == 0)
            bench_put_u64("broker_metrics_bytes", b.n);
        free(b.p);
    }
    bench_sort(ms, scrapes);
    bench_put_f("broker_metrics_p50_ms", bench_percentile(ms, scrapes, 50), 2);
    bench_put_f("broker_metrics_p99_ms", bench_percentile(ms, scrapes, 99), 2);
    bench_put_f("broker_metrics_max_ms", ms[scrapes - 1], 2);
    bench_put_u64("broker_queues", queues);
    bench_put_u64("broker_tasks", tasks);
    curl_easy_cleanup(h);
    free(ms);
    (void)kill(pid, SIGTERM);
    (void)waitpid(pid, NULL, 0);
    kwq_client_free(c);
    return 0;
}
