/*
 * runner.c - local worker processes for `kwq run --local`.
 *
 * One loop, ticking every 100 ms: relay the workers' log lines (above the
 * progress bar), reap exited workers, read the queue's stats, write new
 * results, redraw progress, and start workers as the scaler (scaler.h)
 * decides: the decision `kwq scale` and `kwq autoscale` take for a Job. What handlers leave running is adopted (orphans.h), reaped as it
 * ends, and killed when the run ends. Workers run in their own process
 * group, so a Ctrl-C reaches kwq alone, which then stops them with SIGTERM:
 * they release their tasks (no attempt charged) and exit. They also get
 * SIGTERM if kwq dies.
 */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/util.h"

#include "cli.h"
#include "local.h"
#include "orphans.h"
#include "progress.h"
#include "scaler.h"

#define TICK_MS          100
#define STATS_EVERY_MS   200
#define ORPHANS_EVERY_MS 1000
#define DRAIN_GRACE_MS   10000
#define STOP_GRACE_MS    30000 /* > a worker's own --grace (20s) + --kill-grace (5s) */
#define MAX_FAILURES     5
#define RESULT_READS     20
#define LOG_BUF          8192
#define WORKER_ARGS_MAX  24

struct runner {
    const struct runner_cfg *cfg; /* what to run */
    struct kwq_client *c;         /* stats and results */
    pid_t *pids;                  /* running workers, n of them */
    uint32_t n;                   /* running workers */
    int log_rd;                   /* read end of the workers' stderr pipe */
    int log_wr;                   /* write end, given to each worker */
    char log[LOG_BUF];            /* partial log line */
    size_t loglen;                /* bytes in log */
    struct progress pg;           /* the bar */
    struct kwq_stats st0;         /* stats at the start */
    struct kwq_stats st;          /* latest stats */
    uint64_t stats_ms;            /* monotonic time of the latest stats */
    uint64_t orphans_ms;          /* monotonic time adopted orphans were last reaped */
    uint64_t drained_ms;          /* monotonic time the drain was seen, 0 before */
    struct results_feed feed;     /* the run's results to the output */
    uint32_t failures;            /* abnormal worker exits since the last progress */
    uint64_t done_at_failure;     /* done count at the last abnormal exit */
    int fatal;                    /* exit code that ends the run, 0 none */
    int err;                      /* libkwq error that ends the run, 0 none */
    struct cli_outage outage;     /* a Redis outage being ridden out (--redis-retry) */
    bool stopping;                /* workers were told to stop */
    uint64_t stop_ms;             /* monotonic time they were told, for STOP_GRACE_MS */
    bool killed;                  /* workers were sent SIGKILL: their exits are expected */
    bool out_is_tty;              /* results go to the terminal the bar is drawn on */
    struct runner_summary *sum;   /* filled as we go */
    struct scaler_hold hold;      /* the scaler's memory (unused: the local backend never lowers) */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal++;
}

void runner_catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll() wakes up */

    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGHUP, &sa, NULL); /* the terminal closed: stop as for Ctrl-C */
}

bool runner_interrupted(void)
{
    return got_signal > 0;
}

/* ---- Worker processes ----------------------------------------------------------- */

static void exec_worker(const struct runner *r, pid_t parent)
{
    const struct runner_cfg *cfg = r->cfg;
    const char *argv[WORKER_ARGS_MAX + 64];
    char conc[24], lease[32], timeout[32], retry[32];
    size_t n = 0;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* kwq died before the line above: no signal would come */
        _exit(KWQ_EXIT_INTERRUPTED);
    if (null >= 0)
        (void)dup2(null, STDIN_FILENO);
    (void)dup2(r->log_wr, STDOUT_FILENO);
    (void)dup2(r->log_wr, STDERR_FILENO);
    /* Through the environment, not argv: a URL may hold a password, and argv is public. */
    (void)setenv("KWQ_REDIS_URL", cfg->url, 1);
    if (cfg->password_file)
        (void)setenv("KWQ_REDIS_PASSWORD_FILE", cfg->password_file, 1);
    if (!getenv("KWQ_LOG_LEVEL")) /* the workers' per-task lines would bury the progress */
        (void)setenv("KWQ_LOG_LEVEL", "warn", 1);
    /* The run's bound, so that workers do not give up on an outage the run rides out. */
    kwq_format_duration(cfg->redis_retry_ms, retry, sizeof(retry));
    (void)setenv("KWQ_REDIS_RETRY", retry, 1);
    (void)snprintf(conc, sizeof(conc), "%llu", (unsigned long long)cfg->concurrency);
    argv[n++] = cfg->worker_bin;
    argv[n++] = "--queue";
    argv[n++] = cfg->queue;
    argv[n++] = "--concurrency";
    argv[n++] = conc;
    argv[n++] = "--log-format";
    argv[n++] = cfg->log_format ? cfg->log_format : (isatty(STDERR_FILENO) ? "text" : "json");
    if (cfg->lease_ms) {
        kwq_format_duration(cfg->lease_ms, lease, sizeof(lease));
        argv[n++] = "--lease";
        argv[n++] = lease;
    }
    if (cfg->timeout_ms) {
        kwq_format_duration(cfg->timeout_ms, timeout, sizeof(timeout));
        argv[n++] = "--timeout";
        argv[n++] = timeout;
    }
    if (cfg->stream)
        argv[n++] = "--stream";
    argv[n++] = "--";
    for (size_t i = 0; cfg->handler[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
        argv[n++] = cfg->handler[i];
    argv[n] = NULL;
    execv(cfg->worker_bin, (char *const *)argv);
    (void)dprintf(STDERR_FILENO, "kwq: cannot run %s: %s\n", cfg->worker_bin, strerror(errno));
    _exit(KWQ_EXIT_CONFIG);
}

static int start_worker(struct runner *r)
{
    sigset_t stop_sigs, old;
    pid_t pid, self = getpid();

    /*
     * Until exec the child has kwq's handlers: a SIGTERM from stop_all()
     * landing there would be swallowed, and the worker would run on. Held
     * back over the fork, it reaches the child with the default action.
     */
    (void)sigemptyset(&stop_sigs);
    (void)sigaddset(&stop_sigs, SIGINT);
    (void)sigaddset(&stop_sigs, SIGTERM);
    (void)sigaddset(&stop_sigs, SIGHUP);
    (void)sigprocmask(SIG_BLOCK, &stop_sigs, &old);
    pid = fork();
    if (pid == 0) {
        (void)signal(SIGINT, SIG_DFL);
        (void)signal(SIGTERM, SIG_DFL);
        (void)signal(SIGHUP, SIG_DFL);
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        exec_worker(r, self);
    }
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -errno;
    r->pids[r->n++] = pid;
    if (r->n > r->sum->peak_workers)
        r->sum->peak_workers = r->n;
    return 0;
}

static void signal_all(struct runner *r, int sig)
{
    for (uint32_t i = 0; i < r->n; i++)
        (void)kill(r->pids[i], sig);
}

static void stop_all(struct runner *r, const char *why)
{
    if (r->stopping)
        return;
    r->stopping = true;
    r->stop_ms = kwq_monotonic_ms();
    if (why) {
        progress_clear(&r->pg);
        cli_note("%s", why);
    }
    signal_all(r, SIGTERM);
}

/* SIGKILL every worker; no worker starts after this (scale() stops with stopping). */
static void kill_all(struct runner *r, const char *why)
{
    if (!r->killed && why && r->n > 0) {
        progress_clear(&r->pg);
        cli_note("%s", why);
    }
    r->stopping = true;
    r->killed = true;
    signal_all(r, SIGKILL);
}

/* What an exited worker's status means for the run. */
static void worker_exited(struct runner *r, pid_t pid, int st)
{
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    uint64_t done = r->st.done;

    if (code == KWQ_EXIT_OK ||
        (r->stopping && (code == KWQ_EXIT_INTERRUPTED || code == 128 + SIGTERM)) ||
        (r->killed && code == 128 + SIGKILL))
        return;
    progress_clear(&r->pg);
    if (code == KWQ_EXIT_CONFIG) {
        if (r->fatal) /* said once, not once per worker */
            return;
        r->fatal = cli_error(KWQ_EXIT_CONFIG,
                             "kwq-worker (pid %d) stopped with a configuration error (exit 78); "
                             "see its message above",
                             (int)pid);
        stop_all(r, NULL);
        return;
    }
    if (r->err || r->fatal) /* the run is ending for a reason already given */
        return;
    if (code == KWQ_EXIT_UNAVAILABLE && r->outage.since_ms) {
        /* Not the worker's fault: the run itself decides when the outage has lasted too long. */
        cli_note("kwq-worker (pid %d) gave up waiting for Redis (exit 69); workers start again "
                 "once it answers",
                 (int)pid);
        return;
    }
    if (done != r->done_at_failure)
        r->failures = 0;
    r->done_at_failure = done;
    if (++r->failures >= MAX_FAILURES && !r->stopping) {
        r->fatal = cli_error(KWQ_EXIT_FAILURE,
                             "kwq-worker keeps failing (last: pid %d, status %d) with no task "
                             "done in between; see its messages above",
                             (int)pid, code);
        stop_all(r, NULL);
        return;
    }
    cli_note("kwq-worker (pid %d) ended with status %d; its tasks return to the queue when their "
             "leases expire",
             (int)pid, code);
}

static void reap(struct runner *r)
{
    for (uint32_t i = 0; i < r->n;) {
        int st;
        pid_t w = waitpid(r->pids[i], &st, WNOHANG);

        if (w == r->pids[i] || (w < 0 && errno == ECHILD)) {
            pid_t pid = r->pids[i];
            r->pids[i] = r->pids[--r->n];
            if (w == pid)
                worker_exited(r, pid, st);
            continue;
        }
        i++;
    }
}

/* ---- Logs, stats, results, progress ------------------------------------------------- */

static void log_flush(struct runner *r, size_t n)
{
    progress_clear(&r->pg);
    (void)fwrite(r->log, 1, n, stderr);
    if (n == 0 || r->log[n - 1] != '\n')
        (void)fputc('\n', stderr);
    memmove(r->log, r->log + n, r->loglen - n);
    r->loglen -= n;
}

static void relay_logs(struct runner *r)
{
    for (;;) {
        ssize_t got = read(r->log_rd, r->log + r->loglen, sizeof(r->log) - r->loglen);
        char *nl;

        if (got <= 0)
            break;
        r->loglen += (size_t)got;
        while ((nl = memchr(r->log, '\n', r->loglen)) != NULL)
            log_flush(r, (size_t)(nl - r->log) + 1);
        if (r->loglen == sizeof(r->log))
            log_flush(r, r->loglen);
    }
}

static void clear_bar(void *arg)
{
    struct runner *r = arg;

    if (r->out_is_tty) /* results and the bar share the terminal */
        progress_clear(&r->pg);
}

/* New results to the output, at most RESULT_READS batches a tick, so the loop goes on meanwhile. */
static int gather(struct runner *r)
{
    int rc = results_feed_step(&r->feed, RESULT_READS);

    r->sum->results = r->feed.written;
    return rc;
}

static uint64_t delta(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static void show(struct runner *r, bool force)
{
    struct progress_counts pc;

    r->sum->done = delta(r->st.done, r->st0.done);
    r->sum->failed = delta(r->st.failed, r->st0.failed);
    r->sum->dead = delta(r->st.dead, r->st0.dead);
    pc.done = r->sum->done;
    pc.dead = r->sum->dead;
    pc.total = pc.done + pc.dead + r->st.pending + r->st.leased + r->st.delayed;
    pc.workers = r->n;
    progress_update(&r->pg, &pc, force);
}

/* ---- The loop ------------------------------------------------------------------------------ */

/*
 * The local backend's view for the scaler (scaler.h): its setpoint is the
 * workers it runs. Every one counts as busy, so none is ever stopped to
 * lower the count: an idle worker costs nothing (it blocks on the wake
 * list), and each leaves by itself once the sealed queue drains.
 */
static struct scaler_workers local_observe(const struct runner *r)
{
    return (struct scaler_workers){.running = r->n, .busy = r->n, .setpoint = r->n};
}

/* Apply a setpoint: start workers up to it (it is never below the running ones, all busy). */
static void local_apply(struct runner *r, uint32_t setpoint)
{
    while (r->n < setpoint) {
        int rc = start_worker(r);
        if (rc < 0) {
            r->fatal = cli_error(KWQ_EXIT_FAILURE, "cannot start kwq-worker: %s", strerror(-rc));
            stop_all(r, NULL);
            return;
        }
    }
}

static void scale(struct runner *r)
{
    struct scaler_obs o;
    struct scaler_decision d;

    /* During an outage the stats are stale and a new worker could not reach Redis either. */
    if (r->stopping || r->fatal || r->err || r->outage.since_ms)
        return;
    o = (struct scaler_obs){.pending = r->st.pending,
                            .leased = r->st.leased,
                            .drained = r->st.drained,
                            .workers = local_observe(r)};
    d = scaler_decide(&r->cfg->rule, &o, &r->hold, 0, kwq_monotonic_ms());
    if (d.verdict == SCALER_APPLY)
        local_apply(r, d.setpoint);
}

/* The run's private redis-server is gone: nothing can be released, so the workers go at once. */
static void check_private_redis(struct runner *r)
{
    struct local_redis *lr = r->cfg->redis;
    char said[600];
    int st, code;

    if (!lr || lr->pid <= 0 || waitpid(lr->pid, &st, WNOHANG) != lr->pid)
        return;
    code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lr->pid = 0;
    kill_all(r, NULL);
    if (r->fatal)
        return;
    progress_clear(&r->pg);
    local_redis_said(lr, said, sizeof(said));
    if (!said[0])
        (void)snprintf(said, sizeof(said), "nothing");
    if (WIFSIGNALED(st))
        r->fatal = cli_error(KWQ_EXIT_UNAVAILABLE,
                             "the run's private redis-server was killed by signal %d; the run is "
                             "lost (%llu results were written); run it again",
                             WTERMSIG(st), (unsigned long long)r->sum->results);
    else
        r->fatal = cli_error(KWQ_EXIT_UNAVAILABLE,
                             "the run's private redis-server exited with status %d (it said: "
                             "%s); the run is lost (%llu results were written); run it again",
                             code, said, (unsigned long long)r->sum->results);
}

/*
 * Stats, results and progress. A passing Redis error is ridden out for
 * --redis-retry, reconnecting with backoff while the loop goes on (the
 * workers ride it out by themselves); any other failure, or an outage that
 * lasts too long, ends the run (the workers are told to stop).
 */
static void observe(struct runner *r, uint64_t now)
{
    int rc = 0;

    if (r->outage.since_ms) {
        if (now < r->outage.retry_ms)
            return;
        rc = cli_outage_reconnect(r->c);
    }
    if (rc == 0)
        rc = kwq_stats(r->c, r->cfg->queue, &r->st);
    if (rc == 0)
        rc = gather(r);
    r->stats_ms = now;
    if (rc < 0) {
        progress_clear(&r->pg);
        rc = cli_outage_failed(r->c, &r->outage, rc);
        if (rc == 0)
            return;
        r->err = rc;
        stop_all(r, NULL);
        return;
    }
    if (r->outage.since_ms) {
        progress_clear(&r->pg);
        cli_outage_over(r->c, &r->outage);
    }
    show(r, false);
}

static void tick(struct runner *r)
{
    uint64_t now = kwq_monotonic_ms();

    if (got_signal == 1)
        stop_all(r, "interrupted: stopping the workers (their tasks are released); Ctrl-C "
                    "again to kill them");
    else if (got_signal > 1)
        kill_all(r, "interrupted again: killing the workers; the tasks they held return to the "
                    "queue when their leases expire");
    relay_logs(r);
    check_private_redis(r);
    reap(r);
    if (now - r->orphans_ms >= ORPHANS_EVERY_MS) {
        orphans_reap(r->pids, r->n);
        r->orphans_ms = now;
    }
    if (r->stopping && !r->killed && now - r->stop_ms > STOP_GRACE_MS)
        kill_all(r, "workers did not stop within 30s of SIGTERM; killing them");
    if (!r->err && !r->fatal && (now - r->stats_ms >= STATS_EVERY_MS || r->n == 0))
        observe(r, now);
    if (r->st.drained && !r->drained_ms)
        r->drained_ms = now;
    if (r->drained_ms && r->n > 0 && now - r->drained_ms > DRAIN_GRACE_MS)
        stop_all(r, "the queue drained but workers did not exit; stopping them");
    scale(r);
}

static bool finished(const struct runner *r)
{
    if (r->n > 0)
        return false;
    if (r->fatal || r->err || got_signal > 0)
        return true;
    /*
     * The last results are read once the last worker has left, all of them
     * (a fast run can leave more than one tick's worth): wait out an outage for them.
     */
    return !r->outage.since_ms && !r->feed.behind && (r->st.drained || r->stopping);
}

static void loop(struct runner *r)
{
    while (!finished(r)) {
        struct pollfd pfd = {.fd = r->log_rd, .events = POLLIN};

        tick(r);
        if (finished(r))
            break;
        (void)poll(&pfd, 1, TICK_MS);
    }
    relay_logs(r);
}

static int setup(struct runner *r, struct kwq_client *c, const struct runner_cfg *cfg,
                 struct runner_summary *sum)
{
    int fds[2];

    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->c = c;
    r->sum = sum;
    r->log_rd = r->log_wr = -1;
    r->pids = calloc(cfg->rule.max, sizeof(*r->pids));
    if (!r->pids)
        return KWQ_ENOMEM;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    r->log_rd = fds[0];
    r->log_wr = fds[1];
    (void)fcntl(r->log_rd, F_SETFL, O_NONBLOCK);
    progress_init(&r->pg, cfg->quiet, 5000);
    orphans_adopt();
    r->out_is_tty = cfg->results != RESULTS_NONE && isatty(fileno(cfg->out)) == 1;
    return 0;
}

static void teardown(struct runner *r)
{
    size_t left;

    r->killed = true;
    while (r->n > 0) { /* loop() ends with none; a safety net: no worker outlives the run */
        signal_all(r, SIGKILL);
        reap(r);
    }
    progress_end(&r->pg);
    left = orphans_kill();
    if (left > 0)
        cli_note("killed %zu process%s that the handlers of killed workers had left running", left,
                 left == 1 ? "" : "es");
    if (r->log_rd >= 0)
        (void)close(r->log_rd);
    if (r->log_wr >= 0)
        (void)close(r->log_wr);
    free(r->pids);
}

/* Print why the run stopped (a libkwq error, or the results' output); returns the exit code. */
static int report_error(struct runner *r)
{
    const char *lost = r->cfg->redis ? "; the run's private Redis is stopped, so the "
                                       "unfinished tasks are dropped"
                                     : "; the unfinished tasks stay on the queue";

    if (r->cfg->out == stdout)
        cli.stdout_reported = true;
    if (r->err == KWQ_EIO && r->feed.out_err == -EPIPE)
        return cli_error(KWQ_EXIT_FAILURE,
                         "%s was closed after %llu results (broken pipe); stopped the workers%s",
                         r->cfg->out_name, (unsigned long long)r->sum->results, lost);
    if (r->err == KWQ_EIO)
        return cli_error(KWQ_EXIT_FAILURE,
                         "cannot write the results to %s: %s; stopped the workers after %llu "
                         "results were written%s",
                         r->cfg->out_name, strerror(-r->feed.out_err),
                         (unsigned long long)r->sum->results, lost);
    return cli_fail(r->c, r->err, "the run stopped");
}

int runner_run(struct kwq_client *c, const struct runner_cfg *cfg, struct runner_summary *ret)
{
    struct runner r;
    int rc;

    memset(ret, 0, sizeof(*ret));
    rc = setup(&r, c, cfg, ret);
    if (rc == 0)
        rc = kwq_stats(c, cfg->queue, &r.st0);
    if (rc < 0) {
        teardown(&r);
        return cli_fail(c, rc, "cannot start the run");
    }
    r.st = r.st0;
    results_feed_init(&r.feed, c, cfg->queue, cfg->out, cfg->results, r.st0.server_time_ms);
    r.feed.before_write = clear_bar;
    r.feed.arg = &r;
    r.outage.limit_ms = cfg->redis_retry_ms;
    loop(&r);
    check_private_redis(&r);
    if (!r.err && !r.fatal)
        show(&r, true);
    ret->interrupted = got_signal > 0 && !r.st.drained;
    ret->ms = progress_elapsed_ms(&r.pg);
    teardown(&r);
    if (r.fatal) /* its message is out already, and explains a Redis error too */
        return r.fatal;
    return r.err ? report_error(&r) : 0;
}
