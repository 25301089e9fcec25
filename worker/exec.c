/*
 * exec.c - exec mode: one handler process per task.
 *
 * The payload goes to the handler's stdin (then EOF); its stdout, up to
 * --max-result bytes, becomes the result; its stderr is logged line by line
 * with the task ID, and its last STDERR_TAIL_MAX bytes go into the failure
 * report. A task is finished when the handler has exited and both output
 * pipes are at EOF. When the handler exits, whatever is left in its process
 * group is killed, so nothing it started outlives the task; a pipe held
 * open by something that escaped the group is given up after DRAIN_MS.
 *
 * Outcome: exit 0 -> ack; exit WORKER_NO_RETRY_CODE -> fail, no retry;
 * other exit or signal -> fail (retried by the queue's policy); time limit
 * -> fail with code -1; stopped for shutdown -> release (ack if it still
 * exits 0); lease lost -> nothing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kwq/log.h"
#include "kwq/util.h"

#include "handler.h"
#include "worker.h"

#define DRAIN_MS        1000 /* after exit, wait this long for pipes held by escaped children */
#define STDERR_LINE_MAX 1024 /* longest stderr line logged as one record */
#define READ_CHUNK      65536

/* ---- Environment ---- */

/* envp = base + KWQ_TASK_ID, KWQ_ATTEMPT, KWQ_MAX_ATTEMPTS, in one allocation. */
static char **env_for(const struct job *j)
{
    const struct worker *w = j->w;
    size_t nptr = w->env_n + 4, text = (size_t)3 * 64;
    char **envp = malloc(nptr * sizeof(char *) + text);
    char *s;

    if (!envp)
        return NULL;
    memcpy(envp, w->env_base, w->env_n * sizeof(char *));
    s = (char *)(envp + nptr);
    envp[w->env_n] = s;
    s += 1 + snprintf(s, 64, "KWQ_TASK_ID=%s", j->task.id);
    envp[w->env_n + 1] = s;
    s += 1 + snprintf(s, 64, "KWQ_ATTEMPT=%u", (unsigned)j->task.attempt);
    envp[w->env_n + 2] = s;
    (void)snprintf(s, 64, "KWQ_MAX_ATTEMPTS=%u", (unsigned)j->task.max_attempts);
    envp[w->env_n + 3] = NULL;
    return envp;
}

/* ---- Finishing ---- */

static void stop_watchers(struct job *j)
{
    struct job_proc *pr = j->proc;
    struct ev_loop *loop = j->w->loop;

    ev_io_stop(loop, &pr->in_w);
    ev_io_stop(loop, &pr->out_w);
    ev_io_stop(loop, &pr->err_w);
    ev_child_stop(loop, &pr->child_w);
    ev_timer_stop(loop, &pr->kill_w);
    ev_timer_stop(loop, &pr->drain_w);
}

static void proc_free(struct job *j)
{
    struct job_proc *pr = j->proc;

    stop_watchers(j);
    handler_close_fds(&pr->p);
    linebuf_done(&pr->errlb);
    free(pr->out);
    free(pr->envp);
    free(pr);
    j->proc = NULL;
}

/* The stderr tail as text, starting at a line boundary when the ring wrapped. Malloc'd. */
static char *tail_text(const struct job_proc *pr)
{
    size_t n = pr->tail_len < STDERR_TAIL_MAX ? pr->tail_len : STDERR_TAIL_MAX;
    size_t start = pr->tail_len < STDERR_TAIL_MAX ? 0 : pr->tail_len % STDERR_TAIL_MAX;
    char *t = malloc(n + 1);
    size_t skip = 0;

    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++)
        t[i] = pr->tail[(start + i) % STDERR_TAIL_MAX];
    t[n] = '\0';
    linebuf_scrub_utf8(t, n);
    if (pr->tail_len > STDERR_TAIL_MAX) {
        char *nl = memchr(t, '\n', n);
        skip = nl && (size_t)(nl - t) + 1 < n ? (size_t)(nl - t) + 1 : 0;
    }
    while (n > skip && (t[n - 1] == '\n' || t[n - 1] == '\r'))
        t[--n] = '\0';
    if (skip)
        memmove(t, t + skip, n - skip + 1);
    return t;
}

/* j->error = "<what>; stderr: <tail>" (or just what without stderr). */
static void set_error(struct job *j, const char *what)
{
    char *tail = tail_text(j->proc);
    size_t len = strlen(what) + (tail ? strlen(tail) : 0) + 16;

    free(j->error);
    j->error = malloc(len);
    if (j->error) {
        if (tail && *tail)
            (void)snprintf(j->error, len, "%s; stderr: %s", what, tail);
        else
            (void)snprintf(j->error, len, "%s", what);
    }
    free(tail);
}

static void set_outcome_from_status(struct job *j)
{
    struct job_proc *pr = j->proc;
    char what[128];
    int st = pr->status;

    j->code = -1;
    if (WIFEXITED(st)) {
        j->code = WEXITSTATUS(st);
        j->no_retry = j->code == WORKER_NO_RETRY_CODE;
        (void)snprintf(what, sizeof(what), "handler exited with code %d%s", j->code,
                       j->no_retry ? " (bad input: not retried)" : "");
    } else if (WIFSIGNALED(st)) {
        (void)snprintf(what, sizeof(what), "handler killed by signal %d (%s)", WTERMSIG(st),
                       strsignal(WTERMSIG(st)));
    } else {
        (void)snprintf(what, sizeof(what), "handler ended with wait status %d", st);
    }
    j->outcome = OUT_FAIL;
    set_error(j, what);
}

static void set_outcome(struct job *j)
{
    struct job_proc *pr = j->proc;
    bool ok = WIFEXITED(pr->status) && WEXITSTATUS(pr->status) == 0;
    char what[128], dur[32];

    if (j->stop == STOP_LOST) {
        j->outcome = OUT_DROP;
    } else if (j->stop == STOP_TIMEOUT) {
        kwq_format_duration(j->timeout_ms, dur, sizeof(dur));
        (void)snprintf(what, sizeof(what), "handler timed out after %s and was stopped", dur);
        j->outcome = OUT_FAIL;
        j->code = -1;
        set_error(j, what);
    } else if (ok && pr->out_over) {
        (void)snprintf(what, sizeof(what),
                       "handler wrote more than --max-result (%llu bytes) on stdout",
                       (unsigned long long)j->w->cfg->max_result);
        j->outcome = OUT_FAIL;
        j->code = 0;
        j->no_retry = true;
        set_error(j, what);
    } else if (ok) {
        j->outcome = OUT_ACK;
        j->result = pr->out;
        j->result_len = pr->out_len;
        pr->out = NULL;
    } else if (j->stop == STOP_SHUTDOWN) {
        j->outcome = OUT_RELEASE;
    } else {
        set_outcome_from_status(j);
    }
}

static void complete(struct job *j)
{
    set_outcome(j);
    kwq_log(KWQ_LOG_DEBUG, "handler finished", KWQ_LS("task", j->task.id),
            KWQ_LI("pid", j->proc->p.pid), KWQ_LI("status", j->proc->status));
    proc_free(j);
    j->w->events->finished(j);
}

static void check_done(struct job *j)
{
    struct job_proc *pr = j->proc;

    if (pr->exited && pr->p.out_fd < 0 && pr->p.err_fd < 0)
        complete(j);
}

/* ---- Pipes ---- */

/* Write what the stdin pipe takes now. True when no more input will go (all written, or EPIPE). */
static bool feed_stdin(struct job *j)
{
    struct job_proc *pr = j->proc;
    ssize_t n;

    n = write(pr->p.in_fd, j->task.payload + pr->in_off, j->task.payload_len - pr->in_off);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (n > 0)
        pr->in_off += (size_t)n;
    /* Done, or the handler closed its stdin (EPIPE): either way no more input. */
    return n < 0 || pr->in_off >= j->task.payload_len;
}

static void close_stdin(struct job_proc *pr)
{
    (void)close(pr->p.in_fd);
    pr->p.in_fd = -1;
}

static void on_stdin(struct ev_loop *loop, ev_io *io, int revents)
{
    struct job *j = io->data;

    (void)revents;
    if (feed_stdin(j)) {
        ev_io_stop(loop, io);
        close_stdin(j->proc);
    }
}

/* Bytes of stdout kept as the result: none with --no-result. */
static uint64_t result_max(const struct worker_config *cfg)
{
    return cfg->no_result ? 0 : cfg->max_result;
}

static void keep_stdout(struct job_proc *pr, const char *buf, size_t n, uint64_t max)
{
    size_t room = pr->out_len < max ? (size_t)(max - pr->out_len) : 0;
    char *p;

    if (max == 0) /* --no-result: read and dropped */
        return;
    if (n > room) {
        pr->out_over = true;
        n = room;
    }
    if (n == 0)
        return;
    p = realloc(pr->out, pr->out_len + n + 1);
    if (!p) {
        pr->out_over = true;
        return;
    }
    pr->out = p;
    memcpy(pr->out + pr->out_len, buf, n);
    pr->out_len += n;
    pr->out[pr->out_len] = '\0';
}

static void close_out(struct job *j, ev_io *io, int *fd)
{
    ev_io_stop(j->w->loop, io);
    (void)close(*fd);
    *fd = -1;
    check_done(j);
}

static void on_stdout(struct ev_loop *loop, ev_io *io, int revents)
{
    struct job *j = io->data;
    struct job_proc *pr = j->proc;
    char buf[READ_CHUNK];
    ssize_t n;

    (void)loop;
    (void)revents;
    while ((n = handler_read(pr->p.out_fd, buf, sizeof(buf))) > 0)
        keep_stdout(pr, buf, (size_t)n, result_max(j->w->cfg));
    if (n == 0)
        close_out(j, io, &pr->p.out_fd);
}

static void stderr_line(void *arg, char *line, size_t len, bool overflow)
{
    const struct job *j = arg;

    linebuf_scrub_utf8(line, len);
    kwq_log(KWQ_LOG_INFO, "handler stderr", KWQ_LS("task", j->task.id),
            KWQ_LI("attempt", j->task.attempt), KWQ_LI("pid", j->proc->p.pid), KWQ_LS("line", line),
            KWQ_LI("cut", overflow));
}

static void keep_tail(struct job_proc *pr, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pr->tail[(pr->tail_len + i) % STDERR_TAIL_MAX] = buf[i];
    pr->tail_len += n;
}

static void on_stderr(struct ev_loop *loop, ev_io *io, int revents)
{
    struct job *j = io->data;
    struct job_proc *pr = j->proc;
    char buf[4096];
    ssize_t n;

    (void)loop;
    (void)revents;
    while ((n = handler_read(pr->p.err_fd, buf, sizeof(buf))) > 0) {
        keep_tail(pr, buf, (size_t)n);
        (void)linebuf_feed(&pr->errlb, buf, (size_t)n, stderr_line, j);
    }
    if (n == 0) {
        linebuf_flush(&pr->errlb, stderr_line, j);
        close_out(j, io, &pr->p.err_fd);
    }
}

/* ---- Process ---- */

static void on_drain(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct job *j = t->data;
    struct job_proc *pr = j->proc;
    char buf[4096];
    ssize_t n;

    (void)loop;
    (void)revents;
    kwq_log(KWQ_LOG_WARN, "handler exited but its output pipes are still held open: closing them",
            KWQ_LS("task", j->task.id), KWQ_LI("pid", pr->p.pid));
    while (pr->p.out_fd >= 0 && (n = handler_read(pr->p.out_fd, buf, sizeof(buf))) > 0)
        keep_stdout(pr, buf, (size_t)n, result_max(j->w->cfg));
    while (pr->p.err_fd >= 0 && (n = handler_read(pr->p.err_fd, buf, sizeof(buf))) > 0) {
        keep_tail(pr, buf, (size_t)n);
        (void)linebuf_feed(&pr->errlb, buf, (size_t)n, stderr_line, j);
    }
    linebuf_flush(&pr->errlb, stderr_line, j);
    complete(j);
}

static void on_child(struct ev_loop *loop, ev_child *c, int revents)
{
    struct job *j = c->data;
    struct job_proc *pr = j->proc;

    (void)revents;
    ev_child_stop(loop, c);
    pr->exited = true;
    pr->status = c->rstatus;
    /* Nothing the handler started may outlive it. */
    handler_signal_group(pr->p.pid, SIGKILL);
    ev_timer_stop(loop, &pr->kill_w);
    ev_timer_stop(loop, &j->timeout_w);
    if (pr->p.in_fd >= 0) {
        ev_io_stop(loop, &pr->in_w);
        (void)close(pr->p.in_fd);
        pr->p.in_fd = -1;
    }
    ev_timer_set(&pr->drain_w, DRAIN_MS / 1000.0, 0.);
    ev_timer_start(loop, &pr->drain_w);
    check_done(j);
}

static void on_kill(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct job *j = t->data;

    (void)loop;
    (void)revents;
    kwq_log(KWQ_LOG_WARN, "handler did not stop after SIGTERM: sending SIGKILL",
            KWQ_LS("task", j->task.id), KWQ_LI("pid", j->proc->p.pid));
    handler_signal_group(j->proc->p.pid, SIGKILL);
}

static void watch_init(struct job *j)
{
    struct job_proc *pr = j->proc;

    ev_child_init(&pr->child_w, on_child, pr->p.pid, 0);
    ev_io_init(&pr->in_w, on_stdin, pr->p.in_fd, EV_WRITE);
    ev_io_init(&pr->out_w, on_stdout, pr->p.out_fd, EV_READ);
    ev_io_init(&pr->err_w, on_stderr, pr->p.err_fd, EV_READ);
}

static void watch(struct job *j)
{
    struct job_proc *pr = j->proc;
    struct ev_loop *loop = j->w->loop;

    watch_init(j);
    ev_timer_init(&pr->kill_w, on_kill, 0., 0.);
    ev_timer_init(&pr->drain_w, on_drain, 0., 0.);
    pr->child_w.data = pr->in_w.data = pr->out_w.data = pr->err_w.data = j;
    pr->kill_w.data = pr->drain_w.data = j;
    ev_child_start(loop, &pr->child_w);
    ev_io_start(loop, &pr->out_w);
    ev_io_start(loop, &pr->err_w);
    /* Most payloads fit in the pipe at once: the watcher is only for the rest. */
    if (j->task.payload_len == 0 || feed_stdin(j))
        close_stdin(pr);
    else
        ev_io_start(loop, &pr->in_w);
}

static int exec_start(struct job *j)
{
    const struct worker_config *cfg = j->w->cfg;
    struct job_proc *pr = calloc(1, sizeof(*pr));
    int rc;

    if (!pr)
        return -ENOMEM;
    pr->p.in_fd = pr->p.out_fd = pr->p.err_fd = -1;
    pr->envp = env_for(j);
    if (!pr->envp) {
        free(pr);
        return -ENOMEM;
    }
    rc = handler_spawn_input(cfg->handler_path, cfg->handler_argv, pr->envp, j->task.payload,
                             j->task.payload_len, &pr->p, &pr->in_off);
    if (rc < 0) {
        free(pr->envp);
        free(pr);
        return rc;
    }
    linebuf_init(&pr->errlb, STDERR_LINE_MAX, true);
    j->proc = pr;
    watch(j);
    kwq_log(KWQ_LOG_DEBUG, "handler started", KWQ_LS("task", j->task.id),
            KWQ_LI("attempt", j->task.attempt), KWQ_LI("pid", pr->p.pid));
    return 0;
}

static void exec_stop(struct job *j, enum job_stop why, bool now)
{
    struct job_proc *pr = j->proc;

    if (!pr || pr->exited)
        return;
    if (j->stop == STOP_NONE || why == STOP_LOST)
        j->stop = why;
    if (now) {
        handler_signal_group(pr->p.pid, SIGKILL);
        return;
    }
    handler_signal_group(pr->p.pid, SIGTERM);
    handler_signal_group(pr->p.pid, SIGCONT);
    if (!ev_is_active(&pr->kill_w)) {
        ev_timer_set(&pr->kill_w, (double)j->w->cfg->kill_grace_ms / 1000.0, 0.);
        ev_timer_start(j->w->loop, &pr->kill_w);
    }
}

static void exec_reap_all(struct worker *w)
{
    for (struct job *j = w->jobs; j; j = j->next) {
        struct job_proc *pr = j->proc;

        if (!pr)
            continue;
        if (!pr->exited) {
            handler_signal_group(pr->p.pid, SIGKILL);
            (void)waitpid(pr->p.pid, NULL, 0);
        }
        proc_free(j);
    }
}

static void exec_stop_job(struct job *j, enum job_stop why)
{
    exec_stop(j, why, false);
}

static void exec_stop_all(struct worker *w, bool now)
{
    for (struct job *j = w->jobs; j; j = j->next)
        if (j->state == JOB_RUNNING)
            exec_stop(j, STOP_SHUTDOWN, now);
}

static int exec_init(struct worker *w)
{
    (void)w;
    return 0;
}

static bool exec_ready(const struct worker *w)
{
    (void)w;
    return true;
}

const struct runner exec_runner = {
    .init = exec_init,
    .free = exec_reap_all,
    .ready = exec_ready,
    .start = exec_start,
    .stop = exec_stop_job,
    .stop_all = exec_stop_all,
};
