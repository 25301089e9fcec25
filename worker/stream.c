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
#include "stream_probe.h"
#include "worker.h"

#define RESTART_MIN_MS   100
#define RESTART_MAX_MS   10000
#define MAX_SILENT_EXITS 10
#define ERR_LINE_MAX     1024
#define READ_CHUNK       65536
#define EOF_GRACE_MS     1000 /* stdout closed this long before the exit: closed on purpose */

struct stream {
    struct worker *w;         /* owner */
    struct handler_proc p;    /* the running handler, pid 0 when none */
    bool running;             /* a handler process exists */
    bool stopping;            /* the worker asked it to stop */
    bool out_closed;          /* it closed its stdout while running: stopped, its fault */
    ev_child child_w;         /* its exit */
    ev_io in_w, out_w, err_w; /* task lines out, answers in, stderr in */
    ev_timer kill_w;          /* SIGKILL after kill grace */
    ev_timer eof_w;           /* stdout at EOF: is the process still running after a while? */
    ev_timer restart_w;       /* next start */
    char *obuf;               /* task lines not yet written, owned */
    size_t olen, ooff, ocap;  /* bytes used, bytes written, bytes allocated */
    struct linebuf outlb;     /* answer lines */
    struct linebuf errlb;     /* stderr lines */
    uint64_t answered;        /* answers from the current process */
    unsigned silent_exits;    /* exits in a row without an answer */
    char **envp;              /* handler environment (strings borrowed) */
    struct stream_probe pr;   /* is it an exec-style handler that never answers? */
};

/* ---- Answers ---- */

static struct job *find_job(struct worker *w, const char *id)
{
    return jobmap_get(&w->byid, id);
}

/* Offset of the first NUL at or after i, raw or as the escape \u0000; len when none. */
static size_t next_nul(const char *line, size_t len, size_t i)
{
    for (; i < len; i++) {
        if (line[i] == '\0')
            return i;
        if (line[i] != '\\')
            continue;
        if (i + 6 <= len && memcmp(line + i + 1, "u0000", 5) == 0)
            return i;
        i++; /* an escaped character never starts an escape */
    }
    return len;
}

/*
 * A copy of line with every NUL turned into U+0001 (malloc'd, NULL when out
 * of memory). cJSON ends a string at its first NUL, so a value that differs
 * between the parses of line and of this copy was cut there.
 */
static char *nul_masked(const char *line, size_t len)
{
    char *m = malloc(len + 1);

    if (!m)
        return NULL;
    memcpy(m, line, len + 1);
    for (size_t i = next_nul(line, len, 0); i < len; i = next_nul(line, len, i + 1)) {
        if (line[i] == '\0')
            m[i] = '\x01';
        else
            m[i + 5] = '1';
    }
    return m;
}

/* True when x lost text at a NUL: its twin mx, from the masked line, differs. */
static bool cut_at_nul(const cJSON *x, const cJSON *mx)
{
    char *p, *q;
    bool cut;

    if (!x || !mx)
        return x != mx;
    if (cJSON_IsString(x))
        return !cJSON_IsString(mx) || strcmp(x->valuestring, mx->valuestring) != 0;
    p = cJSON_PrintUnformatted(x);
    q = cJSON_PrintUnformatted(mx);
    cut = !p || !q || strcmp(p, q) != 0;
    free(p);
    free(q);
    return cut;
}

static void fail_no_retry(struct job *j, const char *why)
{
    free(j->result);
    j->result = NULL;
    j->result_len = 0;
    free(j->error);
    j->outcome = OUT_FAIL;
    j->no_retry = true;
    j->code = 0;
    j->error = strdup(why);
}

static void take_result(struct job *j, const cJSON *res)
{
    if (j->w->cfg->no_result) {
        /* --no-result: the answer's result is not kept. */
    } else if (cJSON_IsString(res)) {
        j->result = strdup(res->valuestring);
    } else if (res && !cJSON_IsNull(res)) {
        j->result = cJSON_PrintUnformatted(res);
    }
    j->result_len = j->result ? strlen(j->result) : 0;
    if (j->result_len > j->w->cfg->max_result)
        fail_no_retry(j, "stream handler answered a result over --max-result");
}

/* Apply answer a to j; m is a parsed from its NUL-masked text when the line held a NUL. */
static void apply_answer(struct job *j, const cJSON *a, const cJSON *m)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(a, "ok");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(a, "result");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(a, "error");
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(a, "retry");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(a, "code");

    if (cJSON_IsTrue(ok)) {
        j->outcome = OUT_ACK;
        /* Kept whole or not at all: a result cut at a NUL would be a silent loss. */
        if (m && !j->w->cfg->no_result &&
            cut_at_nul(res, cJSON_GetObjectItemCaseSensitive(m, "result")))
            fail_no_retry(j, "stream handler answered a result holding a NUL character "
                             "(\\u0000), which stream mode cannot keep: encode binary results "
                             "(base64, for example)");
        else
            take_result(j, res);
        return;
    }
    j->outcome = OUT_FAIL;
    j->code = cJSON_IsNumber(code) ? code->valueint : -1;
    j->no_retry = cJSON_IsFalse(retry);
    if (m && cJSON_IsString(err) && cut_at_nul(err, cJSON_GetObjectItemCaseSensitive(m, "error"))) {
        static const char note[] = " [cut: the handler's error text held a NUL]";
        size_t len = strlen(err->valuestring) + sizeof(note);

        j->error = malloc(len);
        if (j->error)
            (void)snprintf(j->error, len, "%s%s", err->valuestring, note);
        return;
    }
    j->error = strdup(cJSON_IsString(err) ? err->valuestring : "stream handler reported failure");
}

/*
 * The value of the top-level "id" key of a JSON object text that may be cut
 * short, when it is a plain string (no escapes) before the cut; else false.
 */
static bool prefix_id(const char *s, size_t n, char *out, size_t outlen)
{
    int depth = 0;
    bool key = false; /* the next string at depth 1 is a key */

    for (size_t i = 0; i < n; i++) {
        size_t end = i + 1;

        if (s[i] == '{' || s[i] == '[') {
            depth++;
            key = depth == 1 && s[i] == '{';
        } else if (s[i] == '}' || s[i] == ']') {
            depth--;
        } else if (s[i] == ',') {
            key = depth == 1;
        } else if (s[i] == '"') {
            while (end < n && s[end] != '"')
                end += s[end] == '\\' ? 2 : 1;
            if (end >= n)
                return false;
            if (key && end - i - 1 == 2 && memcmp(s + i + 1, "id", 2) == 0) {
                const char *v = s + end + 1 + strspn(s + end + 1, " \t:");
                const char *q =
                    v < s + n && *v == '"' ? memchr(v + 1, '"', n - (size_t)(v + 1 - s)) : NULL;
                size_t vlen = q ? (size_t)(q - v - 1) : 0;

                if (!q || vlen == 0 || vlen >= outlen || memchr(v + 1, '\\', vlen))
                    return false;
                memcpy(out, v + 1, vlen);
                out[vlen] = '\0';
                return true;
            }
            key = false;
            i = end;
        }
    }
    return false;
}

/* An answer line over the limit: its task (if its id came first) fails; no retry. */
static void answer_too_long(struct stream *s, const char *line, size_t len)
{
    char id[KWQ_ID_MAX], what[160];
    struct job *j = prefix_id(line, len, id, sizeof(id)) ? find_job(s->w, id) : NULL;

    if (!j || j->state != JOB_RUNNING) {
        kwq_log(KWQ_LOG_WARN,
                "stream handler wrote an over-long line that names no task held: ignored",
                KWQ_LI("pid", s->p.pid), KWQ_LI("limit_bytes", len));
        return;
    }
    kwq_log(KWQ_LOG_WARN, "stream handler wrote an over-long answer: the task fails",
            KWQ_LS("task", j->task.id), KWQ_LI("limit_bytes", len));
    (void)snprintf(what, sizeof(what),
                   "stream handler answered with a line over %zu bytes (the result may be at "
                   "most --max-result)",
                   len);
    fail_no_retry(j, what);
    j->w->events->finished(j);
    s->answered++;
    s->silent_exits = 0;
}

static void log_not_answer(const struct stream *s, size_t len, const char *why)
{
    kwq_log(KWQ_LOG_WARN, "stream handler wrote a line that is not an answer: ignored",
            KWQ_LI("pid", s->p.pid), KWQ_LI("bytes", len), KWQ_LS("why", why));
}

static void on_answer_line(void *arg, char *line, size_t len, bool overflow)
{
    struct stream *s = arg;
    bool has_nul = next_nul(line, len, 0) < len;
    char *masked = NULL;
    cJSON *a = NULL, *m = NULL;
    const cJSON *id, *mid;
    struct job *j;

    if (overflow) {
        answer_too_long(s, line, len);
        return;
    }
    if (has_nul && !(masked = nul_masked(line, len))) {
        log_not_answer(s, len, "out of memory");
        return;
    }
    a = cJSON_ParseWithLength(line, len);
    m = masked ? cJSON_ParseWithLength(masked, len) : NULL;
    id = cJSON_GetObjectItemCaseSensitive(a, "id");
    mid = m ? cJSON_GetObjectItemCaseSensitive(m, "id") : id;
    if (!cJSON_IsObject(a)) {
        log_not_answer(s, len, "not a JSON object");
    } else if (!cJSON_IsString(id)) {
        log_not_answer(s, len, "no string \"id\"");
    } else if (cut_at_nul(id, mid)) {
        log_not_answer(s, len, "its \"id\" holds a NUL character");
    } else if (!(j = find_job(s->w, id->valuestring)) || j->state != JOB_RUNNING) {
        /* Late (timed out, lease lost), twice, or made up: the task's outcome stands. */
        if (kwq_id_is_valid(id->valuestring))
            kwq_log(KWQ_LOG_WARN,
                    "stream handler answered a task that is not in flight (answered before, "
                    "timed out, lost, or unknown): ignored",
                    KWQ_LS("task", id->valuestring));
        else /* not logged: a made-up id may be anything the handler had, payload included */
            kwq_log(KWQ_LOG_WARN, "stream handler answered an id that is no kwq task id: ignored",
                    KWQ_LI("id_bytes", strlen(id->valuestring)));
    } else {
        apply_answer(j, a, m);
        j->w->events->finished(j);
        s->answered++;
        s->silent_exits = 0;
    }
    cJSON_Delete(a);
    cJSON_Delete(m);
    free(masked);
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
        /* Usual just before an exit; a process still there a while later closed it on purpose. */
        ev_timer_set(&s->eof_w, EOF_GRACE_MS / 1000.0, 0.);
        ev_timer_start(loop, &s->eof_w);
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
    bool deliberate = (s->stopping && !s->out_closed) || w->stopping;
    char what[160];

    if (s->out_closed)
        (void)snprintf(what, sizeof(what),
                       "stream handler closed its stdout while the task was in flight");
    else if (WIFEXITED(status))
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
        j->w->events->finished(j);
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
    ev_timer_stop(loop, &s->eof_w);
    stream_probe_stop(&s->pr);
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
    linebuf_flush(&s->outlb, on_answer_line, s); /* a last answer without its newline */
    if (s->p.err_fd >= 0)
        (void)pump(s, s->p.err_fd, &s->errlb, on_err_line);
    linebuf_flush(&s->errlb, on_err_line, s);
    handler_signal_group(s->p.pid, SIGKILL);
    in_flight = s->w->running;
    kwq_log(s->stopping ? KWQ_LOG_INFO : KWQ_LOG_WARN, "stream handler exited",
            KWQ_LI("pid", s->p.pid), KWQ_LI("code", WIFEXITED(st) ? WEXITSTATUS(st) : -1),
            KWQ_LI("signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0), KWQ_LI("in_flight", in_flight),
            KWQ_LI("answered", s->answered));
    if (s->answered == 0 && (!s->stopping || s->out_closed))
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
    s->out_closed = false;
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
    stream_probe_start(&s->pr, w, s->p.pid, s->p.in_fd, &s->answered);
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
        s->w->events->start_failed(s->w, rc);
    }
}

static void schedule_restart(struct stream *s)
{
    uint64_t delay = 0;

    if (s->silent_exits >= MAX_SILENT_EXITS) {
        kwq_log(KWQ_LOG_ERROR, "stream handler keeps exiting without answering: stopping",
                KWQ_LI("exits", s->silent_exits));
        s->w->events->fatal(s->w, KWQ_EXIT_CONFIG);
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
    if (!now)
        handler_signal_group(s->p.pid, SIGCONT); /* a stopped handler must see the SIGTERM */
    if (!now && !ev_is_active(&s->kill_w)) {
        ev_timer_set(&s->kill_w, (double)s->w->cfg->kill_grace_ms / 1000.0, 0.);
        ev_timer_start(s->w->loop, &s->kill_w);
    }
}

/* stdout ended EOF_GRACE_MS ago and the process is still there: it can never answer again. */
static void on_eof(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct stream *s = t->data;
    siginfo_t si;

    (void)loop;
    (void)revents;
    if (!s->running || s->stopping)
        return;
    /* Exited, its exit not handled yet (a busy loop turn): on_child will say why. */
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)s->p.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0)
        return;
    kwq_log(KWQ_LOG_WARN,
            "stream handler closed its stdout but keeps running: it cannot answer, so it is "
            "stopped and its tasks in flight fail",
            KWQ_LI("pid", s->p.pid), KWQ_LI("in_flight", s->w->running));
    stop_proc(s, false);
    s->out_closed = true;
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
    ev_timer_init(&s->eof_w, on_eof, 0., 0.);
    ev_timer_init(&s->restart_w, on_restart, 0., 0.);
    s->child_w.data = s->in_w.data = s->out_w.data = s->err_w.data = s;
    s->kill_w.data = s->restart_w.data = s->eof_w.data = s;
}

static int stream_init(struct worker *w)
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

static bool stream_ready(const struct worker *w)
{
    /* Not once its stdout is closed: it could not answer. */
    return w->stream && w->stream->running && !w->stream->stopping && w->stream->p.out_fd >= 0;
}

static int stream_submit(struct job *j)
{
    struct stream *s = j->w->stream;
    char *line = kwq_task_to_json(&j->task);

    if (!line || out_append(s, line) < 0) {
        kwq_log(KWQ_LOG_ERROR, "out of memory: releasing the task", KWQ_LS("task", j->task.id));
        j->outcome = OUT_RELEASE;
        j->w->events->finished(j);
    } else {
        ev_io_start(j->w->loop, &s->in_w);
    }
    free(line);
    return 0;
}

static void stream_job_lost(struct job *j)
{
    /* The handler may still answer: the answer finds no running job and is ignored. */
    j->outcome = OUT_DROP;
    j->w->events->finished(j);
}

static void stream_job_timeout(struct job *j)
{
    char dur[32], what[160];

    kwq_format_duration(j->timeout_ms, dur, sizeof(dur));
    (void)snprintf(what, sizeof(what),
                   "no answer from the stream handler within %s: the handler was restarted", dur);
    j->outcome = OUT_FAIL;
    j->code = -1;
    j->error = strdup(what);
    j->w->events->finished(j);
    /* A handler that misses a deadline cannot be trusted with the others: restart it. */
    stop_proc(j->w->stream, false);
}

static void stream_stop(struct worker *w, bool now)
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

static void stream_free(struct worker *w)
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

static void stream_stop_job(struct job *j, enum job_stop why)
{
    if (why == STOP_TIMEOUT)
        stream_job_timeout(j);
    else
        stream_job_lost(j);
}

const struct runner stream_runner = {
    .init = stream_init,
    .free = stream_free,
    .ready = stream_ready,
    .start = stream_submit,
    .stop = stream_stop_job,
    .stop_all = stream_stop,
};
