/*
 * bench_worker.c - kwq-bench-worker: kwq-worker's figures, measured on real
 * worker processes against the Redis given by URL.
 *
 *   kwq-bench-worker URL drain-stream OPTIONS
 *       N no-op tasks in a sealed queue, drained by W stream-mode workers
 *       running `kwq-bench-handler stream`: tasks/s from the workers' start
 *       to the exit (0) of the last one; each worker's VmRSS while draining.
 *   kwq-bench-worker URL drain-exec OPTIONS
 *       The same in exec mode, one process of --cmd (default /bin/true) per
 *       task; and, right before and right after, the fork-exec figure below,
 *       the ceiling exec mode is compared with.
 *   kwq-bench-worker URL fork-exec OPTIONS
 *       No kwq at all: W processes each fork+exec+wait --cmd in a loop, N in
 *       total.
 *   kwq-bench-worker URL pickup-stream|pickup-exec OPTIONS
 *       W idle workers on an empty queue; --samples single enqueues, one at a
 *       time, each after the workers are idle again. The handler writes its
 *       task ID and CLOCK_REALTIME at start to a FIFO; the latency is that
 *       time minus CLOCK_REALTIME just before kwq_enqueue. p50/p90/p99/max,
 *       and each worker's VmRSS while idle.
 *
 * OPTIONS: --worker PATH (kwq-worker), --handler PATH (kwq-bench-handler),
 * --dir DIR (worker logs and the FIFO), --workers W (2), --tasks N,
 * --concurrency C (per worker), --samples S, --warmup K, --settle-us U,
 * --cmd PATH. Workers log at level warn to DIR/<test>-<i>.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kwq/client.h"

#include "bench_util.h"

#define MAX_WORKERS   16
#define PAYLOAD_LEN   100       /* bytes per task */
#define ENQUEUE_BATCH 10000     /* tasks per kwq_enqueue call when filling a queue */
#define POLL_US       2000      /* how often the drain's end is checked */
#define RSS_EVERY_NS  25000000u /* VmRSS sampling period while draining, 25 ms */
#define WAIT_LIMIT_S  600       /* a run that takes longer than this is broken */
#define START_IDLE_US 500000    /* time given to fresh workers to connect and go idle */

struct cfg {
    const char *url;     /* Redis */
    const char *worker;  /* kwq-worker binary */
    const char *handler; /* kwq-bench-handler binary */
    const char *dir;     /* logs and FIFO */
    const char *cmd;     /* exec-mode command */
    size_t workers;      /* worker processes */
    size_t tasks;        /* tasks to drain */
    size_t concurrency;  /* per worker; 0 = the test's default */
    size_t samples;      /* pickup samples kept */
    size_t warmup;       /* pickup samples thrown away first */
    uint64_t settle_us;  /* pause after each pickup so the workers are idle again */
};

struct workers {
    size_t n;                   /* processes */
    pid_t pid[MAX_WORKERS];     /* their pids */
    int status[MAX_WORKERS];    /* wait status once exited */
    bool exited[MAX_WORKERS];   /* reaped */
    long rss_max_kib;           /* largest VmRSS seen of any one worker */
    char log[MAX_WORKERS][320]; /* log file of each */
};

static void usage(void)
{
    (void)fputs("usage: kwq-bench-worker URL drain-stream|drain-exec|fork-exec|pickup-stream|"
                "pickup-exec --worker PATH --handler PATH --dir DIR [--workers W] [--tasks N]\n"
                "       [--concurrency C] [--samples S] [--warmup K] [--settle-us U] "
                "[--cmd PATH]\n",
                stderr);
    exit(1);
}

/* Print "<test>_<suffix>=value". */
static void put_f(const char *test, const char *suffix, double value, int decimals)
{
    char name[96];

    (void)snprintf(name, sizeof(name), "%s_%s", test, suffix);
    bench_put_f(name, value, decimals);
}

/* ---- Queue ------------------------------------------------------------------ */

static void queue_fill(struct kwq_client *c, const char *queue, size_t n)
{
    struct kwq_new_task *tasks = calloc(ENQUEUE_BATCH, sizeof(*tasks));
    char payload[PAYLOAD_LEN];

    if (!tasks)
        bench_die("out of memory");
    memset(payload, 'x', sizeof(payload));
    for (size_t i = 0; i < ENQUEUE_BATCH; i++)
        tasks[i] = (struct kwq_new_task){.payload = payload, .payload_len = sizeof(payload)};
    for (size_t off = 0; off < n; off += ENQUEUE_BATCH) {
        size_t k = n - off < ENQUEUE_BATCH ? n - off : ENQUEUE_BATCH;
        size_t accepted = 0;
        if (kwq_enqueue(c, queue, tasks, k, NULL, &accepted) < 0 || accepted != k)
            bench_die("enqueue into %s: %s", queue, kwq_client_errstr(c));
    }
    free(tasks);
}

static void queue_reset(struct kwq_client *c, const char *queue)
{
    if (kwq_purge(c, queue) < 0)
        bench_die("purge %s: %s", queue, kwq_client_errstr(c));
}

static void queue_seal(struct kwq_client *c, const char *queue)
{
    if (kwq_seal(c, queue) < 0)
        bench_die("seal %s: %s", queue, kwq_client_errstr(c));
}

/* Die unless every task of the queue was acked: n done, nothing else left. */
static void queue_check_done(struct kwq_client *c, const char *queue, size_t n)
{
    struct kwq_stats st;

    if (kwq_stats(c, queue, &st) < 0)
        bench_die("stats %s: %s", queue, kwq_client_errstr(c));
    if (st.done != n || st.pending || st.leased || st.delayed || st.dead || !st.drained)
        bench_die("%s: done %" PRIu64 " of %zu, pending %" PRIu64 ", leased %" PRIu64
                  ", delayed %" PRIu64 ", dead %" PRIu64,
                  queue, st.done, n, st.pending, st.leased, st.delayed, st.dead);
}

/* ---- Worker processes ------------------------------------------------------------------ */

static void workers_start(struct workers *ws, const struct cfg *cfg, const char *test,
                          const char *queue, bool stream, size_t concurrency,
                          const char *const *handler_argv)
{
    char conc[32];
    const char *argv[32];
    size_t n = 0;

    memset(ws, 0, sizeof(*ws));
    (void)snprintf(conc, sizeof(conc), "%zu", concurrency);
    argv[n++] = cfg->worker;
    argv[n++] = "--redis";
    argv[n++] = cfg->url;
    argv[n++] = "--queue";
    argv[n++] = queue;
    argv[n++] = "--concurrency";
    argv[n++] = conc;
    argv[n++] = "--log-format";
    argv[n++] = "json";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    if (stream)
        argv[n++] = "--stream";
    argv[n++] = "--";
    for (size_t i = 0; handler_argv[i] && n < 31; i++)
        argv[n++] = handler_argv[i];
    argv[n] = NULL;

    ws->n = cfg->workers;
    for (size_t i = 0; i < ws->n; i++) {
        (void)snprintf(ws->log[i], sizeof(ws->log[i]), "%s/%s-%zu.log", cfg->dir, test, i);
        ws->pid[i] = bench_spawn((char *const *)argv, ws->log[i]);
    }
}

static void workers_sample_rss(struct workers *ws)
{
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->exited[i])
            continue;
        long kib = bench_vmrss_kib(ws->pid[i]);
        if (kib > ws->rss_max_kib)
            ws->rss_max_kib = kib;
    }
}

static void workers_kill(struct workers *ws)
{
    for (size_t i = 0; i < ws->n; i++) {
        if (!ws->exited[i]) {
            (void)kill(ws->pid[i], SIGKILL);
            (void)waitpid(ws->pid[i], NULL, 0);
            ws->exited[i] = true;
        }
    }
}

/* Die when a worker has exited while it should be waiting for work. */
static void workers_check_alive(struct workers *ws)
{
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->exited[i] || waitpid(ws->pid[i], &ws->status[i], WNOHANG) != ws->pid[i])
            continue;
        ws->exited[i] = true;
        workers_kill(ws);
        bench_die("a worker ended with %s %d while it should have been waiting; see %s",
                  WIFEXITED(ws->status[i]) ? "exit code" : "signal",
                  WIFEXITED(ws->status[i]) ? WEXITSTATUS(ws->status[i]) : WTERMSIG(ws->status[i]),
                  ws->log[i]);
    }
}

/*
 * Wait until every worker has exited, sampling VmRSS on the way. Dies when
 * one exits other than 0 (the queue was not drained) or the wait exceeds
 * WAIT_LIMIT_S. Returns the monotonic time the last exit was seen.
 */
static uint64_t workers_wait(struct workers *ws)
{
    /* The first sample waits a period: right after the fork the child is still the benchmark. */
    uint64_t start = bench_mono_ns(), next_rss = start + RSS_EVERY_NS;
    size_t left = ws->n;

    for (;;) {
        uint64_t now = bench_mono_ns();
        if (now >= next_rss) {
            workers_sample_rss(ws);
            next_rss = now + RSS_EVERY_NS;
        }
        for (size_t i = 0; i < ws->n; i++) {
            if (ws->exited[i] || waitpid(ws->pid[i], &ws->status[i], WNOHANG) != ws->pid[i])
                continue;
            ws->exited[i] = true;
            left--;
            if (!WIFEXITED(ws->status[i]) || WEXITSTATUS(ws->status[i]) != 0) {
                workers_kill(ws);
                bench_die("a worker ended with %s %d before the queue was drained; see %s",
                          WIFEXITED(ws->status[i]) ? "exit code" : "signal",
                          WIFEXITED(ws->status[i]) ? WEXITSTATUS(ws->status[i])
                                                   : WTERMSIG(ws->status[i]),
                          ws->log[i]);
            }
        }
        if (left == 0)
            return bench_mono_ns();
        if (now - start > (uint64_t)WAIT_LIMIT_S * 1000000000u) {
            workers_kill(ws);
            bench_die("the workers did not finish within %d s; see %s", WAIT_LIMIT_S, ws->log[0]);
        }
        bench_sleep_us(POLL_US);
    }
}

/*
 * The same work without kwq: procs processes, each running fork + exec +
 * wait of cmd in a loop, n runs in all. Returns runs per second.
 */
static double fork_exec_rate(const char *cmd, size_t procs, size_t n)
{
    pid_t loops[MAX_WORKERS];
    uint64_t t0 = bench_mono_ns();

    for (size_t p = 0; p < procs; p++) {
        size_t mine = n / procs + (p < n % procs ? 1 : 0);
        loops[p] = fork();
        if (loops[p] < 0)
            bench_die("fork: %s", strerror(errno));
        if (loops[p] > 0)
            continue;
        for (size_t i = 0; i < mine; i++) {
            int st;
            pid_t pid = fork();
            if (pid < 0)
                _exit(1);
            if (pid == 0) {
                char *const argv[] = {(char *)cmd, NULL};
                execv(cmd, argv);
                _exit(127);
            }
            if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                _exit(1);
        }
        _exit(0);
    }
    for (size_t p = 0; p < procs; p++) {
        int st;
        if (waitpid(loops[p], &st, 0) != loops[p] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bench_die("a fork+exec loop of %s failed", cmd);
    }
    return (double)n / ((double)(bench_mono_ns() - t0) / 1e9);
}

/* ---- Drain ------------------------------------------------------------------ */

static void drain(const struct cfg *cfg, bool stream)
{
    const char *test = stream ? "drain_stream" : "drain_exec";
    const char *queue = stream ? "bench-drain-stream" : "bench-drain-exec";
    const char *stream_argv[] = {cfg->handler, "stream", NULL};
    const char *exec_argv[] = {cfg->cmd, NULL};
    size_t conc = cfg->concurrency ? cfg->concurrency : (stream ? 256 : 1);
    struct kwq_client *c = bench_connect(cfg->url);
    struct workers ws;
    char name[96];
    uint64_t t0, t1;
    double secs, fe_before = 0, fe_after = 0;

    queue_reset(c, queue);
    queue_fill(c, queue, cfg->tasks);
    queue_seal(c, queue);
    /* The machine's fork + exec rate right before and right after, as its ceiling. */
    if (!stream)
        fe_before = fork_exec_rate(cfg->cmd, cfg->workers, cfg->tasks);

    t0 = bench_mono_ns();
    workers_start(&ws, cfg, test, queue, stream, conc, stream ? stream_argv : exec_argv);
    t1 = workers_wait(&ws);
    secs = (double)(t1 - t0) / 1e9;
    if (!stream)
        fe_after = fork_exec_rate(cfg->cmd, cfg->workers, cfg->tasks);
    queue_check_done(c, queue, cfg->tasks);

    put_f(test, "workers", (double)ws.n, 0);
    put_f(test, "concurrency", (double)conc, 0);
    put_f(test, "tasks", (double)cfg->tasks, 0);
    put_f(test, "seconds", secs, 4);
    put_f(test, "tasks_per_s", (double)cfg->tasks / secs, 0);
    if (!stream) {
        bench_put_u64("fork_exec_procs", cfg->workers);
        bench_put_u64("fork_exec_runs", cfg->tasks);
        bench_put_f("fork_exec_before_per_s", fe_before, 0);
        bench_put_f("fork_exec_after_per_s", fe_after, 0);
        bench_put_f("fork_exec_per_s", (fe_before + fe_after) / 2, 0);
    }
    (void)snprintf(name, sizeof(name), "worker_rss_%s_kib", stream ? "drain_stream" : "drain_exec");
    if (ws.rss_max_kib > 0) /* none when the drain ended before the first sample */
        bench_put_u64(name, (uint64_t)ws.rss_max_kib);

    queue_reset(c, queue);
    kwq_client_free(c);
}

static void fork_exec(const struct cfg *cfg)
{
    bench_put_u64("fork_exec_procs", cfg->workers);
    bench_put_u64("fork_exec_runs", cfg->tasks);
    bench_put_f("fork_exec_per_s", fork_exec_rate(cfg->cmd, cfg->workers, cfg->tasks), 0);
}

/* ---- Pickup latency ------------------------------------------------------------------ */

/* Lines "<id> <ns>\n" from the handlers, read from the FIFO. */
struct records {
    int fd;         /* FIFO, opened read-write so that it never sees EOF */
    char buf[4096]; /* bytes read, not yet a full line */
    size_t len;     /* bytes in buf */
};

/*
 * Read records until the one for id arrives; return its time. Records of
 * other tasks (a redelivery) are skipped. Dies after 10 s without it, or
 * as soon as one of the workers ws has exited.
 */
static uint64_t records_wait(struct records *r, const char *id, struct workers *ws)
{
    size_t idlen = strlen(id);
    int waited_ms = 0;

    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t linelen = (size_t)(nl - r->buf) + 1;
            uint64_t ns = 0;
            bool match =
                linelen > idlen + 1 && memcmp(r->buf, id, idlen) == 0 && r->buf[idlen] == ' ';
            if (match)
                ns = strtoull(r->buf + idlen + 1, NULL, 10);
            memmove(r->buf, nl + 1, r->len - linelen);
            r->len -= linelen;
            if (match)
                return ns;
            continue;
        }
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 100);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            bench_die("poll: %s", strerror(errno));
        if (pr == 0) {
            workers_check_alive(ws);
            waited_ms += 100;
            if (waited_ms >= 10000) {
                workers_kill(ws);
                bench_die("no handler started task %s within 10 s; see %s", id, ws->log[0]);
            }
            continue;
        }
        if (r->len == sizeof(r->buf))
            bench_die("a record line from the handler is too long");
        ssize_t n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die("reading the record FIFO failed");
        r->len += (size_t)n;
    }
}

static void pickup(const struct cfg *cfg, bool stream)
{
    const char *test = stream ? "pickup_stream" : "pickup_exec";
    const char *queue = stream ? "bench-pickup-stream" : "bench-pickup-exec";
    char fifo[320], name[96], payload[PAYLOAD_LEN];
    size_t conc = cfg->concurrency ? cfg->concurrency : 1;
    size_t total = cfg->warmup + cfg->samples;
    double *lat = calloc(cfg->samples, sizeof(*lat));
    struct records rec = {0};
    struct workers ws;
    struct kwq_client *c = bench_connect(cfg->url);
    struct kwq_new_task task = {.payload = payload, .payload_len = sizeof(payload)};
    long rss_idle = 0;
    double sum = 0;

    if (!lat)
        bench_die("out of memory");
    memset(payload, 'x', sizeof(payload));
    (void)snprintf(fifo, sizeof(fifo), "%s/%s.fifo", cfg->dir, test);
    (void)unlink(fifo);
    if (mkfifo(fifo, 0600) < 0)
        bench_die("mkfifo %s: %s", fifo, strerror(errno));
    rec.fd = open(fifo, O_RDWR | O_CLOEXEC);
    if (rec.fd < 0)
        bench_die("open %s: %s", fifo, strerror(errno));

    const char *stream_argv[] = {cfg->handler, "stream-record", fifo, NULL};
    const char *exec_argv[] = {cfg->handler, "exec-record", fifo, NULL};
    queue_reset(c, queue);
    workers_start(&ws, cfg, test, queue, stream, conc, stream ? stream_argv : exec_argv);
    bench_sleep_us(START_IDLE_US);
    workers_sample_rss(&ws);
    rss_idle = ws.rss_max_kib;

    for (size_t i = 0; i < total; i++) {
        struct kwq_enqueued e;
        uint64_t t0 = bench_real_ns();
        if (kwq_enqueue(c, queue, &task, 1, &e, NULL) < 0)
            bench_die("enqueue: %s", kwq_client_errstr(c));
        uint64_t started = records_wait(&rec, e.id, &ws);
        if (i >= cfg->warmup) {
            lat[i - cfg->warmup] = (double)(int64_t)(started - t0) / 1e6;
            sum += lat[i - cfg->warmup];
        }
        bench_sleep_us(cfg->settle_us);
        if (i == cfg->warmup || i + 1 == total) {
            /* Idle again after a task: the worker's memory in its steady state. */
            ws.rss_max_kib = 0;
            workers_sample_rss(&ws);
            if (ws.rss_max_kib > rss_idle)
                rss_idle = ws.rss_max_kib;
        }
    }
    queue_seal(c, queue);
    (void)workers_wait(&ws);
    queue_check_done(c, queue, total);

    bench_sort(lat, cfg->samples);
    put_f(test, "workers", (double)ws.n, 0);
    put_f(test, "concurrency", (double)conc, 0);
    put_f(test, "samples", (double)cfg->samples, 0);
    put_f(test, "p50_ms", bench_percentile(lat, cfg->samples, 50), 3);
    put_f(test, "p90_ms", bench_percentile(lat, cfg->samples, 90), 3);
    put_f(test, "p99_ms", bench_percentile(lat, cfg->samples, 99), 3);
    put_f(test, "max_ms", lat[cfg->samples - 1], 3);
    put_f(test, "mean_ms", sum / (double)cfg->samples, 3);
    (void)snprintf(name, sizeof(name), "worker_rss_idle_%s_kib", stream ? "stream" : "exec");
    bench_put_u64(name, (uint64_t)(rss_idle > 0 ? rss_idle : 0));

    queue_reset(c, queue);
    kwq_client_free(c);
    (void)close(rec.fd);
    (void)unlink(fifo);
    free(lat);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct cfg cfg = {.cmd = "/bin/true",
                      .workers = 2,
                      .tasks = 0,
                      .samples = 1000,
                      .warmup = 50,
                      .settle_us = 3000};
    const char *test;

    if (argc < 3)
        usage();
    cfg.url = argv[1];
    test = argv[2];
    for (int i = 3; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(o, "--worker") == 0)
            cfg.worker = v;
        else if (strcmp(o, "--handler") == 0)
            cfg.handler = v;
        else if (strcmp(o, "--dir") == 0)
            cfg.dir = v;
        else if (strcmp(o, "--cmd") == 0)
            cfg.cmd = v;
        else if (strcmp(o, "--workers") == 0)
            cfg.workers = bench_parse_count(v, 1, MAX_WORKERS, o);
        else if (strcmp(o, "--tasks") == 0)
            cfg.tasks = bench_parse_count(v, 1, 100000000, o);
        else if (strcmp(o, "--concurrency") == 0)
            cfg.concurrency = bench_parse_count(v, 1, 10000, o);
        else if (strcmp(o, "--samples") == 0)
            cfg.samples = bench_parse_count(v, 1, 1000000, o);
        else if (strcmp(o, "--warmup") == 0)
            cfg.warmup = bench_parse_count(v, 0, 1000000, o);
        else if (strcmp(o, "--settle-us") == 0)
            cfg.settle_us = bench_parse_count(v, 0, 10000000, o);
        else
            usage();
    }
    if (strcmp(test, "fork-exec") == 0) {
        cfg.tasks = cfg.tasks ? cfg.tasks : 3000;
        fork_exec(&cfg);
        return 0;
    }
    if (!cfg.worker || !cfg.handler || !cfg.dir)
        usage();
    if (strcmp(test, "drain-stream") == 0) {
        cfg.tasks = cfg.tasks ? cfg.tasks : 200000;
        drain(&cfg, true);
    } else if (strcmp(test, "drain-exec") == 0) {
        cfg.tasks = cfg.tasks ? cfg.tasks : 3000;
        drain(&cfg, false);
    } else if (strcmp(test, "pickup-stream") == 0) {
        pickup(&cfg, true);
    } else if (strcmp(test, "pickup-exec") == 0) {
        pickup(&cfg, false);
    } else {
        usage();
    }
    return 0;
}
