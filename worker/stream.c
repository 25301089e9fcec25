/*
 * stream.c - stream mode: one long-lived handler process takes tasks as
 * JSON lines on stdin and answers one JSON line per task on stdout.
 *
 * Worker -> handler, one line per task: the envelope of kwq_task_to_json.
 * Handler -> worker, one line per task, in any order:
 *   {"id":"42","ok":true,"result":"..."}            (result optional; any JSON value)
 *   {"id":"42","ok":false,"error":"...","retry":false}  (retry optional, default true)
 * Up to --concurrency tasks are in flight at once.
 *
 * A handler that exits is restarted: at once if it answered anything since
 * its start, else after a backoff doubling from RESTART_MIN_MS to
 * RESTART_MAX_MS; after MAX_SILENT_EXITS exits in a row without a single
 * answer the worker stops with a configuration error. Its in-flight tasks
 * are failed (retried with the queue's backoff) when it died on its own, and
 * released (not charged) when the worker stopped it (shutdown, or restart
 * after another task's time limit). Lines that are not answers are logged
 * (never their text, which may hold payload data) and ignored.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "handler.h"
#include "worker.h"

#define RESTART_MIN_MS   100
#define RESTART_MAX_MS   10000
#define MAX_SILENT_EXITS 10
#define ERR_LINE_MAX     1024
#define READ_CHUNK       65536

struct stream {
    struct worker *w;         /* owner */
    struct handler_proc p;    /* the running handler, pid 0 when none */
    bool running;             /* a handler process exists */
    bool stopping;            /* the worker asked it to stop */
    ev_child child_w;         /* its exit */
    ev_io in_w, out_w, err_w; /* task lines out, answers in, stderr in */
    ev_timer kill_w;          /* SIGKILL after kill grace */
    ev_timer restart_w;       /* next start */
    char *obuf;               /* task lines not yet written, owned */
    size_t olen, ooff, ocap;  /* bytes used, bytes written, bytes allocated */
    struct linebuf outlb;     /* answer lines */
    struct linebuf errlb;     /* stderr lines */
    uint64_t answered;        /* answers from the current process */
    unsigned silent_exits;    /* exits in a row without an answer */
    char **envp;              /* handler environment (strings borrowed) */
};

/* ---- Answers ---- */

static struct job *find_running(struct worker *w, const char *id)
{
    for (struct job *j = w->jobs; j; j = j->next)
        if (j->state == JOB_RUNNING && strcmp(j->task.id, id) == 0)
            return j;
    return NULL;
}

static void take_result(struct job *j, const cJSON *res)
{
    if (cJSON_IsString(res)) {
        j->result = strdup(res->valuestring);
    } else if (res && !cJSON_IsNull(res)) {
        j->result = cJSON_PrintUnformatted(res);
    }
    j->result_len = j->result ? strlen(j->result) : 0;
    if (j->result_len > j->w->cfg->max_result) {
        j->outcome = OUT_FAIL;
        j->no_retry = true;
        j->code = 0;
        j->error = strdup("stream handler answered a result over --max-result");
    }
}

static void apply_answer(struct job *j, const cJSON *a)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(a, "ok");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(a, "error");
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(a, "retry");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(a, "code");

    if (cJSON_IsTrue(ok)) {
        j->outcome = OUT_ACK;
        take_result(j, cJSON_GetObjectItemCaseSensitive(a, "result"));
        return;
    }
    j->outcome = OUT_FAIL;
    j->code = cJSON_IsNumber(code) ? code->valueint : -1;
    j->no_retry = cJSON_IsFalse(retry);
    j->error = strdup(cJSON_IsString(err) ? err->valuestring : "stream handler reported failure");
}

static void on_answer_line(void *arg, char *line, size_t len, bool overflow)
{
    struct stream *s = arg;
    cJSON *a;
    const cJSON *id;
    struct job *j;

    if (overflow) {
        kwq_log(KWQ_LOG_WARN, "stream handler wrote an over-long line: ignored",
                KWQ_LI("pid", s->p.pid));
        return;
    }
    a = cJSON_ParseWithLength(line, len);
    id = cJSON_GetObjectItemCaseSensitive(a, "id");
    if (!cJSON_IsObject(a) || !cJSON_IsString(id)) {
        kwq_log(KWQ_LOG_WARN, "stream handler wrote a line that is not an answer: ignored",
                KWQ_LI("pid", s->p.pid), KWQ_LI("bytes", len));
        cJSON_Delete(a);
        return;
    }
    j = find_running(s->w, id->valuestring);
    if (!j) {
        kwq_log(KWQ_LOG_DEBUG, "answer for a task no longer held: ignored",
                KWQ_LS("task", id->valuestring));
    } else {
        apply_answer(j, a);
        lease_job_finished(j);
        s->answered++;
        s->silent_exits = 0;
    }
    cJSON_Delete(a);
}

static void on_err_line(void *arg, char *line, size_t len, bool overflow)
{
    const struct stream *s = arg;

    linebuf_scrub_utf8(line, len);
    kwq_log(KWQ_LOG_INFO, "handler stderr", KWQ_LI("pid", s->p.pid), KWQ_LS("line", line),
            KWQ_LI("cut", overflow));
}

/* ---- Pipes ---- */

/* Read everything fd has now into lb. Returns false at EOF. */
static bool pump(struct stream *s, int fd, struct linebuf *lb, linebuf_line_cb cb)
{
    char buf[READ_CHUNK];
    ssize_t n;

    while ((n = handler_read(fd, buf, sizeof(buf))) > 0)
        (void)linebuf_feed(lb, buf, (size_t)n, cb, s);
    return n != 0;
}

static void on_out(struct ev_loop *loop, ev_io *io, int revents)
{
    struct stream *s = io->data;

    (void)revents;
    if (!pump(s, s->p.out_fd, &s->outlb, on_answer_line)) {
        ev_io_stop(loop, io);
        (void)close(s->p.out_fd);
        s->p.out_fd = -1;
    }
}

static void on_err(struct ev_loop *loop, ev_io *io, int revents)
{
    struct stream *s = io->data;

    (void)revents;
    if (!pump(s, s->p.err_fd, &s->errlb, on_err_line)) {
        linebuf_flush(&s->errlb, on_err_line, s);
        ev_io_stop(loop, io);
        (void)close(s->p.err_fd);
        s->p.err_fd = -1;
    }
}

static void on_in(struct ev_loop *loop, ev_io *io, int revents)
{
    struct stream *s = io->data;
    ssize_t n;

    (void)revents;
    while (s->ooff < s->olen) {
        n = write(s->p.in_fd, s->obuf + s->ooff, s->olen - s->ooff);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            /* EPIPE: the handler is going away; its exit fails or releases the tasks. */
            s->ooff = s->olen;
            break;
        }
        s->ooff += (size_t)n;
    }
    s->olen = s->ooff = 0;
    ev_io_stop(loop, io);
}

static int out_append(struct stream *s, const char *line)
{
    size_t n = strlen(line);

    if (s->olen + n + 1 > s->ocap) {
        size_t cap = s->ocap ? s->ocap : 4096;
        char *p;

        while (cap < s->olen + n + 1)
            cap *= 2;
        p = realloc(s->obuf, cap);
        if (!p)
            return -ENOMEM;
        s->obuf = p;
        s->ocap = cap;
    }
    memcpy(s->obuf + s->olen, line, n);
    s->obuf[s->olen + n] = '\n';
    s->olen += n + 1;
    return 0;
}

/* ---- Process ---- */

static void schedule_restart(struct stream *s);

/* Fail or release every task still in flight after the handler ended. */
static void settle_in_flight(struct stream *s, int status)
{
    struct worker *w = s->w;
    bool deliberate = s->stopping || w->stopping;
    char what[160];

    if (WIFEXITED(status))
        (void)snprintf(what, sizeof(what),
                       "stream handler exited with code %d while the task was in flight",
                       WEXITSTATUS(status));
    else
        (void)snprintf(what, sizeof(what),
                       "stream handler killed by signal %d (%s) while the task was in flight",
                       WTERMSIG(status), strsignal(WTERMSIG(status)));
    for (struct job *j = w->jobs; j; j = j->next) {
        if (j->state != JOB_RUNNING)
            continue;
        j->outcome = deliberate ? OUT_RELEASE : OUT_FAIL;
        j->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (!deliberate)
            j->error = strdup(what);
        lease_job_finished(j);
    }
}

static void proc_cleanup(struct stream *s)
{
    struct ev_loop *loop = s->w->loop;

    ev_io_stop(loop, &s->in_w);
    ev_io_stop(loop, &s->out_w);
    ev_io_stop(loop, &s->err_w);
    ev_child_stop(loop, &s->child_w);
    ev_timer_stop(loop, &s->kill_w);
    handler_close_fds(&s->p);
    linebuf_done(&s->outlb);
    linebuf_done(&s->errlb);
    s->olen = s->ooff = 0;
    s->running = false;
}

static void on_child(struct ev_loop *loop, ev_child *c, int revents)
{
    struct stream *s = c->data;
    int st = c->rstatus;
    size_t in_flight;

    (void)loop;
    (void)revents;
    /* Answers written before the exit are still in the pipe: take them first. */
    if (s->p.out_fd >= 0)
        (void)pump(s, s->p.out_fd, &s->outlb, on_answer_line);
    if (s->p.err_fd >= 0)
        (void)pump(s, s->p.err_fd, &s->errlb, on_err_line);
    linebuf_flush(&s->errlb, on_err_line, s);
    handler_signal_group(s->p.pid, SIGKILL);
    in_flight = s->w->running;
    kwq_log(s->stopping ? KWQ_LOG_INFO : KWQ_LOG_WARN, "stream handler exited",
            KWQ_LI("pid", s->p.pid), KWQ_LI("code", WIFEXITED(st) ? WEXITSTATUS(st) : -1),
            KWQ_LI("signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0), KWQ_LI("in_flight", in_flight),
            KWQ_LI("answered", s->answered));
    if (s->answered == 0 && !s->stopping)
        s->silent_exits++;
    settle_in_flight(s, st);
    proc_cleanup(s);
    if (!s->w->stopping)
        schedule_restart(s);
}

static void on_kill(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct stream *s = t->data;

    (void)loop;
    (void)revents;
    kwq_log(KWQ_LOG_WARN, "stream handler did not stop after SIGTERM: sending SIGKILL",
            KWQ_LI("pid", s->p.pid));
    handler_signal_group(s->p.pid, SIGKILL);
}

static int spawn_now(struct stream *s)
{
    struct worker *w = s->w;
    struct ev_loop *loop = w->loop;
    int rc = handler_spawn(w->cfg->handler_path, w->cfg->handler_argv, s->envp, &s->p);

    if (rc < 0)
        return rc;
    s->running = true;
    s->stopping = false;
    s->answered = 0;
    /* An answer line holds at most a result of max_result bytes, escaped (up to 6x). */
    linebuf_init(&s->outlb, (size_t)w->cfg->max_result * 6 + 4096, false);
    linebuf_init(&s->errlb, ERR_LINE_MAX, true);
    ev_child_set(&s->child_w, s->p.pid, 0);
    ev_child_start(loop, &s->child_w);
    ev_io_set(&s->in_w, s->p.in_fd, EV_WRITE);
    ev_io_set(&s->out_w, s->p.out_fd, EV_READ);
    ev_io_start(loop, &s->out_w);
    ev_io_set(&s->err_w, s->p.err_fd, EV_READ);
    ev_io_start(loop, &s->err_w);
    kwq_log(KWQ_LOG_INFO, "stream handler started", KWQ_LI("pid", s->p.pid),
            KWQ_LS("handler", w->cfg->handler_path));
    return 0;
}

static void on_restart(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct stream *s = t->data;
    int rc;

    (void)loop;
    (void)revents;
    if (s->w->stopping)
        return;
    rc = spawn_now(s);
    if (rc < 0) {
        kwq_log(KWQ_LOG_ERROR, "cannot restart the stream handler: stopping",
                KWQ_LS("handler", s->w->cfg->handler_path), KWQ_LS("err", strerror(-rc)));
        s->w->fatal = true;
        shutdown_start(s->w);
    }
}

static void schedule_restart(struct stream *s)
{
    uint64_t delay = 0;

    if (s->silent_exits >= MAX_SILENT_EXITS) {
        kwq_log(KWQ_LOG_ERROR, "stream handler keeps exiting without answering: stopping",
                KWQ_LI("exits", s->silent_exits));
        s->w->fatal = true;
        shutdown_start(s->w);
        return;
    }
    if (s->silent_exits > 0) {
        delay = RESTART_MIN_MS << (s->silent_exits - 1);
        if (delay > RESTART_MAX_MS)
            delay = RESTART_MAX_MS;
    }
    ev_timer_set(&s->restart_w, (double)delay / 1000.0, 0.);
    ev_timer_start(s->w->loop, &s->restart_w);
}

/* Ask the handler to stop: SIGTERM to its group, SIGKILL after kill grace (or at once). */
static void stop_proc(struct stream *s, bool now)
{
    if (!s->running)
        return;
    s->stopping = true;
    handler_signal_group(s->p.pid, now ? SIGKILL : SIGTERM);
    if (!now && !ev_is_active(&s->kill_w)) {
        ev_timer_set(&s->kill_w, (double)s->w->cfg->kill_grace_ms / 1000.0, 0.);
        ev_timer_start(s->w->loop, &s->kill_w);
    }
}

/* ---- API ---- */

static void stream_pipes_init(struct stream *s)
{
    ev_io_init(&s->in_w, on_in, -1, EV_WRITE);
    ev_io_init(&s->out_w, on_out, -1, EV_READ);
    ev_io_init(&s->err_w, on_err, -1, EV_READ);
}

static void stream_watchers_init(struct stream *s)
{
    stream_pipes_init(s);
    ev_child_init(&s->child_w, on_child, 0, 0);
    ev_timer_init(&s->kill_w, on_kill, 0., 0.);
    ev_timer_init(&s->restart_w, on_restart, 0., 0.);
    s->child_w.data = s->in_w.data = s->out_w.data = s->err_w.data = s;
    s->kill_w.data = s->restart_w.data = s;
}

int stream_init(struct worker *w)
{
    struct stream *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    s->w = w;
    s->p.in_fd = s->p.out_fd = s->p.err_fd = -1;
    s->envp = calloc(w->env_n + 1, sizeof(char *));
    if (!s->envp) {
        free(s);
        return -ENOMEM;
    }
    memcpy(s->envp, w->env_base, w->env_n * sizeof(char *));
    stream_watchers_init(s);
    w->stream = s;
    return spawn_now(s);
}

bool stream_ready(const struct worker *w)
{
    return w->stream && w->stream->running && !w->stream->stopping;
}

void stream_submit(struct job *j)
{
    struct stream *s = j->w->stream;
    char *line = kwq_task_to_json(&j->task);

    if (!line || out_append(s, line) < 0) {
        kwq_log(KWQ_LOG_ERROR, "out of memory: releasing the task", KWQ_LS("task", j->task.id));
        j->outcome = OUT_RELEASE;
        lease_job_finished(j);
    } else {
        ev_io_start(j->w->loop, &s->in_w);
    }
    free(line);
}

void stream_job_lost(struct job *j)
{
    /* The handler may still answer: the answer finds no running job and is ignored. */
    j->outcome = OUT_DROP;
    lease_job_finished(j);
}

void stream_job_timeout(struct job *j)
{
    char dur[32], what[160];

    kwq_format_duration(lease_job_timeout_ms(j), dur, sizeof(dur));
    (void)snprintf(what, sizeof(what),
                   "no answer from the stream handler within %s: the handler was restarted", dur);
    j->outcome = OUT_FAIL;
    j->code = -1;
    j->error = strdup(what);
    lease_job_finished(j);
    /* A handler that misses a deadline cannot be trusted with the others: restart it. */
    stop_proc(j->w->stream, false);
}

void stream_stop(struct worker *w, bool now)
{
    if (w->stream)
        stop_proc(w->stream, now);
}

/* Wait up to ms for pid; true when it was reaped. */
static bool reap_within(pid_t pid, uint64_t ms)
{
    uint64_t end = kwq_monotonic_ms() + ms;

    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        struct timespec ts = {0, 10L * 1000 * 1000};

        if (r == pid || (r < 0 && errno != EINTR))
            return true;
        if (kwq_monotonic_ms() >= end)
            return false;
        (void)nanosleep(&ts, NULL);
    }
}

void stream_free(struct worker *w)
{
    struct stream *s = w->stream;

    if (!s)
        return;
    if (s->running) {
        /* EOF on stdin is the polite way to end a stream handler. */
        if (s->p.in_fd >= 0) {
            (void)close(s->p.in_fd);
            s->p.in_fd = -1;
        }
        if (!reap_within(s->p.pid, s->w->cfg->kill_grace_ms)) {
            handler_signal_group(s->p.pid, SIGTERM);
            if (!reap_within(s->p.pid, s->w->cfg->kill_grace_ms)) {
                handler_signal_group(s->p.pid, SIGKILL);
                (void)reap_within(s->p.pid, 5000);
            }
        }
        handler_signal_group(s->p.pid, SIGKILL);
        proc_cleanup(s);
    }
    ev_timer_stop(w->loop, &s->restart_w);
    free(s->obuf);
    free(s->envp);
    free(s);
    w->stream = NULL;
}
