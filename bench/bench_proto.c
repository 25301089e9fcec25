/*
 * bench_proto.c - kwq-bench-proto: the protocol library's own figures, from
 * one client, on the Redis given by URL.
 *
 *   kwq-bench-proto URL run [--tasks N] [--batch B] [--lease-batch L]
 *       (1) batched enqueue of 100-byte tasks, tasks/s;
 *       (3) Redis memory per queued task: memory delta / N (used_memory
 *           without the client buffers, see used_memory());
 *       (2) lease + ack in batches: Redis commands per task (INFO
 *           commandstats deltas, commands run inside scripts included) and
 *           tasks/s;
 *       (3) Redis memory left per finished task: memory after the
 *           drain minus the baseline, / N.
 *   kwq-bench-proto URL info SECTION FIELD
 *       print one numeric INFO field (run.sh uses it beside redis-benchmark).
 *
 * Memory is read through a separate idle probe connection while the working
 * connection is closed, so that neither client's buffers (a pipelined
 * enqueue fills megabytes of query buffer) count as task memory.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/client.h"
#include "kwq/error.h"

#include "bench_util.h"

#define QUEUE        "bench-proto"
#define PAYLOAD_LEN  100    /* bytes per task, as in the targets */
#define WARMUP_TASKS 5000   /* several chunks, so every path of the measured run is warm */
#define SETTLE_US    200000 /* lets Redis free a closed client before a memory reading */

struct params {
    size_t tasks;       /* tasks measured */
    size_t batch;       /* tasks per kwq_enqueue call */
    size_t lease_batch; /* tasks per kwq_lease / kwq_ack call */
};

static void usage(void)
{
    (void)fputs("usage: kwq-bench-proto URL run [--tasks N] [--batch B] [--lease-batch L]\n"
                "       kwq-bench-proto URL info SECTION FIELD\n",
                stderr);
    exit(1);
}

/* ---- Readings ------------------------------------------------------------------ */

/*
 * used_memory minus mem_clients_normal: what the server holds apart from
 * the connections' buffers. The only connection open at a reading is the
 * idle probe, whose reply buffer Redis resizes on its own (by a few KiB,
 * in powers of two), which would otherwise show up as task memory.
 */
static uint64_t used_memory(struct kwq_client *probe)
{
    char *text = bench_info(probe, "memory");
    uint64_t used, clients;

    if (bench_info_u64(text, "used_memory", &used) < 0 ||
        bench_info_u64(text, "mem_clients_normal", &clients) < 0)
        bench_die("INFO memory has no used_memory or mem_clients_normal field");
    free(text);
    return used - clients;
}

/* Close *c, let Redis free it, read the memory through probe, reconnect *c. */
static uint64_t used_memory_without(struct kwq_client **c, const char *url,
                                    struct kwq_client *probe)
{
    uint64_t v;

    kwq_client_free(*c);
    bench_sleep_us(SETTLE_US);
    v = used_memory(probe);
    *c = bench_connect(url);
    return v;
}

static void stats_or_die(struct kwq_client *c, struct kwq_stats *st)
{
    if (kwq_stats(c, QUEUE, st) < 0)
        bench_die("stats: %s", kwq_client_errstr(c));
}

/* ---- Operations ------------------------------------------------------------------ */

static void enqueue_all(struct kwq_client *c, const struct kwq_new_task *tasks, size_t n,
                        size_t batch)
{
    for (size_t off = 0; off < n; off += batch) {
        size_t k = n - off < batch ? n - off : batch;
        size_t accepted = 0;
        int rc = kwq_enqueue(c, QUEUE, tasks + off, k, NULL, &accepted);
        if (rc < 0 || accepted != k)
            bench_die("enqueue: %s (%zu of %zu accepted)", kwq_client_errstr(c), accepted, k);
    }
}

/* Lease and ack until the queue is empty. Returns the tasks acked. */
static size_t lease_ack_all(struct kwq_client *c, size_t batch, size_t *ret_calls)
{
    struct kwq_ack *acks = calloc(batch, sizeof(*acks));
    int *st = calloc(batch, sizeof(*st));
    size_t done = 0, calls = 0;

    if (!acks || !st)
        bench_die("out of memory");
    for (;;) {
        struct kwq_lease_result r;
        int n = kwq_lease(c, QUEUE, batch, 60000, 0, &r);
        calls++;
        if (n < 0)
            bench_die("lease: %s", kwq_client_errstr(c));
        if (n == 0) {
            kwq_lease_result_done(&r);
            break;
        }
        for (size_t i = 0; i < r.n; i++)
            acks[i] = (struct kwq_ack){r.tasks[i].id, r.tasks[i].token, NULL, 0};
        if (kwq_ack(c, QUEUE, acks, r.n, st) < 0)
            bench_die("ack: %s", kwq_client_errstr(c));
        calls++;
        for (size_t i = 0; i < r.n; i++) {
            if (st[i] != 0)
                bench_die("ack of task %s: %s", r.tasks[i].id, kwq_err_name(st[i]));
        }
        done += r.n;
        kwq_lease_result_done(&r);
    }
    free(acks);
    free(st);
    *ret_calls = calls;
    return done;
}

/* 100-byte payloads, each different (a counter, then filler), in one buffer. */
static struct kwq_new_task *make_tasks(size_t n, char **ret_buf)
{
    char *buf = malloc(n * PAYLOAD_LEN);
    struct kwq_new_task *tasks = calloc(n, sizeof(*tasks));

    if (!buf || !tasks)
        bench_die("out of memory for %zu tasks", n);
    for (size_t i = 0; i < n; i++) {
        char *p = buf + i * PAYLOAD_LEN;
        memset(p, 'x', PAYLOAD_LEN);
        char head[32];
        int w = snprintf(head, sizeof(head), "task-%010zu-", i);
        memcpy(p, head, (size_t)w);
        tasks[i].payload = p;
        tasks[i].payload_len = PAYLOAD_LEN;
    }
    *ret_buf = buf;
    return tasks;
}

/* ---- The run ------------------------------------------------------------------ */

struct run {
    const char *url;                  /* Redis */
    const struct params *pm;          /* sizes */
    struct kwq_client *c;             /* the working connection */
    struct kwq_client *probe;         /* idle connection for INFO readings */
    struct bench_cmdstats *cs0, *cs1; /* command counts before and after a phase */
    struct kwq_new_task *tasks;       /* pm->tasks prepared tasks */
    bool report;                      /* print the figures (false during the warm-up) */
};

static void put_u64(const struct run *r, const char *name, uint64_t v)
{
    if (r->report)
        bench_put_u64(name, v);
}

static void put_f(const struct run *r, const char *name, double v, int decimals)
{
    if (r->report)
        bench_put_f(name, v, decimals);
}

static void put_s(const struct run *r, const char *name, const char *v)
{
    if (r->report)
        bench_put_s(name, v);
}

/*
 * One full measurement over n tasks. It runs twice: first small and silent,
 * so that whatever Redis allocates once on first use (script cache, the
 * queue's long-lived keys, per-command latency histograms, the probe's
 * buffers) is already in the baseline of the measured run.
 */
static void cycle(struct run *r, size_t n)
{
    const struct params *pm = r->pm;
    struct kwq_stats st0, st;
    uint64_t mem0, mem1, mem2, t0, t1, cmds;
    char breakdown[1024];
    size_t done, calls;
    double secs;

    stats_or_die(r->c, &st0);
    bench_cmdstats_read(r->probe, r->cs0);
    mem0 = used_memory_without(&r->c, r->url, r->probe);
    put_u64(r, "proto_memory_baseline_bytes", mem0);

    /* (1) enqueue */
    bench_cmdstats_read(r->probe, r->cs0);
    t0 = bench_mono_ns();
    enqueue_all(r->c, r->tasks, n, pm->batch);
    t1 = bench_mono_ns();
    bench_cmdstats_read(r->probe, r->cs1);
    secs = (double)(t1 - t0) / 1e9;
    cmds = bench_cmdstats_delta(r->cs0, r->cs1, breakdown, sizeof(breakdown));
    put_u64(r, "enqueue_tasks", n);
    put_u64(r, "enqueue_batch", pm->batch);
    put_f(r, "enqueue_seconds", secs, 4);
    put_f(r, "enqueue_tasks_per_s", (double)n / secs, 0);
    put_f(r, "enqueue_cmds_per_task", (double)cmds / (double)n, 3);
    put_s(r, "enqueue_cmd_breakdown", breakdown);
    put_f(r, "enqueue_script_us_per_task",
          (double)bench_cmdstats_usec(r->cs0, r->cs1, "evalsha") / (double)n, 3);
    stats_or_die(r->c, &st);
    if (st.pending != n)
        bench_die("after enqueue: %" PRIu64 " pending, expected %zu", st.pending, n);

    /* (3) memory per queued task */
    mem1 = used_memory_without(&r->c, r->url, r->probe);
    put_u64(r, "proto_memory_queued_bytes", mem1);
    put_f(r, "mem_per_queued_task_bytes", ((double)mem1 - (double)mem0) / (double)n, 1);

    /* (2) lease + ack */
    bench_cmdstats_read(r->probe, r->cs0);
    t0 = bench_mono_ns();
    done = lease_ack_all(r->c, pm->lease_batch, &calls);
    t1 = bench_mono_ns();
    bench_cmdstats_read(r->probe, r->cs1);
    if (done != n)
        bench_die("lease + ack finished %zu tasks, expected %zu", done, n);
    secs = (double)(t1 - t0) / 1e9;
    cmds = bench_cmdstats_delta(r->cs0, r->cs1, breakdown, sizeof(breakdown));
    put_u64(r, "lease_ack_batch", pm->lease_batch);
    put_u64(r, "lease_ack_client_calls", calls);
    put_f(r, "lease_ack_seconds", secs, 4);
    put_f(r, "lease_ack_tasks_per_s", (double)done / secs, 0);
    put_u64(r, "lease_ack_redis_cmds", cmds);
    put_f(r, "lease_ack_cmds_per_task", (double)cmds / (double)done, 3);
    put_s(r, "lease_ack_cmd_breakdown", breakdown);
    put_f(r, "lease_ack_script_us_per_task",
          (double)bench_cmdstats_usec(r->cs0, r->cs1, "evalsha") / (double)n, 3);
    stats_or_die(r->c, &st);
    if (st.pending || st.leased || st.delayed || st.dead || st.done - st0.done != n)
        bench_die("after the drain: pending %" PRIu64 " leased %" PRIu64 " delayed %" PRIu64
                  " dead %" PRIu64 " done %" PRIu64 " (expected %zu more done)",
                  st.pending, st.leased, st.delayed, st.dead, st.done - st0.done, n);

    /* (3) memory left behind by finished tasks */
    mem2 = used_memory_without(&r->c, r->url, r->probe);
    put_u64(r, "proto_memory_drained_bytes", mem2);
    put_f(r, "mem_residual_bytes", (double)mem2 - (double)mem0, 0);
    put_f(r, "mem_per_finished_task_bytes", ((double)mem2 - (double)mem0) / (double)n, 3);
}

static void run(const char *url, const struct params *pm)
{
    struct run r = {.url = url, .pm = pm};
    char *buf;

    r.c = bench_connect(url);
    r.probe = bench_connect(url);
    r.cs0 = malloc(sizeof(*r.cs0));
    r.cs1 = malloc(sizeof(*r.cs1));
    r.tasks = make_tasks(pm->tasks, &buf);
    if (!r.cs0 || !r.cs1)
        bench_die("out of memory");
    if (kwq_purge(r.c, QUEUE) < 0)
        bench_die("purge: %s", kwq_client_errstr(r.c));

    cycle(&r, WARMUP_TASKS < pm->tasks ? WARMUP_TASKS : pm->tasks);
    r.report = true;
    cycle(&r, pm->tasks);

    if (kwq_purge(r.c, QUEUE) < 0)
        bench_die("purge: %s", kwq_client_errstr(r.c));
    kwq_client_free(r.c);
    kwq_client_free(r.probe);
    free(r.tasks);
    free(buf);
    free(r.cs0);
    free(r.cs1);
}

static void info(const char *url, const char *section, const char *field)
{
    struct kwq_client *c = bench_connect(url);
    char *text = bench_info(c, section);
    uint64_t v;

    if (bench_info_u64(text, field, &v) < 0)
        bench_die("INFO %s has no numeric field %s", section, field);
    (void)printf("%" PRIu64 "\n", v);
    free(text);
    kwq_client_free(c);
}

int main(int argc, char **argv)
{
    struct params pm = {.tasks = 200000, .batch = 10000, .lease_batch = 1000};

    if (argc < 3)
        usage();
    if (strcmp(argv[2], "info") == 0) {
        if (argc != 5)
            usage();
        info(argv[1], argv[3], argv[4]);
        return 0;
    }
    if (strcmp(argv[2], "run") != 0)
        usage();
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--tasks") == 0)
            pm.tasks = bench_parse_count(argv[i + 1], 1000, 10000000, "--tasks");
        else if (strcmp(argv[i], "--batch") == 0)
            pm.batch = bench_parse_count(argv[i + 1], 1, 100000, "--batch");
        else if (strcmp(argv[i], "--lease-batch") == 0)
            pm.lease_batch = bench_parse_count(argv[i + 1], 1, 10000, "--lease-batch");
        else
            usage();
    }
    run(argv[1], &pm);
    return 0;
}
