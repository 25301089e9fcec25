/*
 * scaler_run.c - the scaler on a libev loop: one step (stats, observe,
 * decide, apply) after every stir of the queue's wake list or wait_ms of
 * quiet, strictly one call at a time.
 *
 *   connect -> step -> [pace] -> wait -> step -> ...
 *   step = pass the wake token on (if the wait took it) + stats
 *          -> backend observe -> scaler_decide -> backend apply (if due)
 *
 * Why the wake list: every enqueue (and a lease that leaves work pending)
 * sets the list's token, so a blocking wait on it sees a jump in depth
 * within a round trip, where a poll would see it a period late. The wait
 * takes the token, which belongs to the workers: each step that follows a
 * wake-up passes it on first (kwq_async_drained sets it again while tasks
 * are pending), and so does an end that may hold it. A queue with work
 * always pending keeps its token set, so the waits would return at once:
 * steps are paced to one per min_step_ms. Changes that set no token (acks
 * lowering the backlog) are seen when the wait times out (wait_ms), or at
 * the end of a hold.
 *
 * A backend's done may run before its call returns (the local backend):
 * the calls chain only forward (observe -> apply -> step end), and a step
 * end never starts the next step itself but arms the timer, so nothing
 * re-enters.
 *
 * Failures: a transient one (kwq_err_is_transient) from Redis or from the
 * backend starts a down clock; the step is retried with capped backoff
 * (reconnecting Redis) until a whole step succeeds, or the clock passes
 * retry_ms (SCALER_END_ERROR). Any other failure ends the scaler at once.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "kwq/async.h"
#include "kwq/util.h"

#include "scaler.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

enum scaler_phase {
    PHASE_IDLE,    /* the timer runs: pacing, backoff, or the end being delivered */
    PHASE_CONNECT, /* the command connection is being made */
    PHASE_WAIT,    /* waiting on the wake list (waitc) */
    PHASE_STATS,   /* stats in flight */
    PHASE_OBSERVE, /* backend observe in flight */
    PHASE_APPLY,   /* backend apply in flight */
    PHASE_PASS,    /* ending: passing the wake token on */
    PHASE_ENDED,   /* on_end was called */
};

struct scaler {
    struct ev_loop *loop;
    struct scaler_cfg cfg;
    struct kwq_async *cmd;   /* stats, passing the token on */
    struct kwq_async *waitc; /* the blocking wait only */
    ev_timer timer;          /* next wait, backoff, retry */
    ev_signal sigint, sigterm;
    enum scaler_phase phase;
    struct scaler_hold hold;
    struct scaler_obs obs;           /* the step's observation */
    struct scaler_decision decision; /* the step's decision */
    bool token;                      /* the wake token may be ours: pass it on */
    bool ending;                     /* end once the call in flight is over */
    enum scaler_end end_why;         /* why, when ending */
    struct kwq_error end_err;        /* and the error, for SCALER_END_ERROR */
    uint64_t step_ms;                /* start of the latest step */
    uint64_t down_since_ms;          /* first failure of the current outage, 0 none */
    uint64_t backoff_ms;             /* next retry delay */
    int64_t applied;                 /* last setpoint the backend accepted, -1 none */
    uint64_t steps;                  /* steps decided */
    void (*then)(struct scaler *s);  /* what to do once the connection being made is up */
};

static void step(struct scaler *s);
static void failed(struct scaler *s, const char *what, int rc, const char *msg);

/* ---- The end ------------------------------------------------------------------------------- */

static void end_now(struct scaler *s)
{
    s->phase = PHASE_ENDED;
    ev_timer_stop(s->loop, &s->timer);
    ev_signal_stop(s->loop, &s->sigint);
    ev_signal_stop(s->loop, &s->sigterm);
    kwq_async_disconnect(s->waitc);
    kwq_async_disconnect(s->cmd);
    if (s->cfg.on_end)
        s->cfg.on_end(s->cfg.arg, s->end_why, &s->end_err);
}

static void on_final_pass(struct kwq_async *a, int rc, bool drained, void *data)
{
    struct scaler *s = data;

    (void)a;
    (void)rc;
    (void)drained;
    if (s->phase == PHASE_PASS)
        end_now(s);
}

/*
 * End: drop what is in flight on Redis (never a backend call: the scaler
 * ends only between those), then give back a wake token the wait may have
 * taken, so that no worker sleeps on.
 */
static void end(struct scaler *s, enum scaler_end why, const struct kwq_error *err)
{
    bool cmd_busy = s->phase == PHASE_CONNECT || s->phase == PHASE_STATS;

    if (s->phase == PHASE_ENDED || s->phase == PHASE_PASS)
        return;
    s->end_why = why;
    if (err)
        s->end_err = *err;
    s->phase = PHASE_IDLE; /* the disconnects below fail calls whose callbacks then do nothing */
    kwq_async_disconnect(s->waitc);
    if (cmd_busy)
        kwq_async_disconnect(s->cmd);
    if (s->token && kwq_async_is_connected(s->cmd)) {
        s->token = false;
        s->phase = PHASE_PASS;
        if (kwq_async_drained(s->cmd, s->cfg.queue, on_final_pass, s) == 0)
            return;
    }
    end_now(s);
}

/* True (and the scaler ends) when a stop was asked for. */
static bool stop_due(struct scaler *s)
{
    if (!s->ending)
        return false;
    end(s, s->end_why, NULL);
    return true;
}

/*
 * A stop asked for (signal, scaler_stop): through the timer, since the
 * caller may be inside one of our callbacks; a backend call in flight is
 * let finish first (its done sees the stop).
 */
static void stop_soon(struct scaler *s, enum scaler_end why)
{
    if (s->ending || s->phase == PHASE_ENDED || s->phase == PHASE_PASS)
        return;
    s->ending = true;
    s->end_why = why;
    if (s->phase != PHASE_OBSERVE && s->phase != PHASE_APPLY) {
        ev_timer_stop(s->loop, &s->timer);
        ev_timer_set(&s->timer, 0., 0.);
        ev_timer_start(s->loop, &s->timer);
    }
}

void scaler_stop(struct scaler *s)
{
    stop_soon(s, SCALER_END_STOPPED);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    stop_soon(w->data, SCALER_END_SIGNAL);
}

/* ---- Pacing and retries ---------------------------------------------------------------------- */

static void arm(struct scaler *s, uint64_t delay_ms)
{
    ev_timer_stop(s->loop, &s->timer);
    ev_timer_set(&s->timer, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(s->loop, &s->timer);
}

/* A whole step went through: the outage (if any) is over; wait for the next. */
static void step_done(struct scaler *s)
{
    uint64_t now = kwq_monotonic_ms(), next = s->step_ms + s->cfg.min_step_ms;

    s->down_since_ms = 0;
    s->phase = PHASE_IDLE;
    if (stop_due(s))
        return;
    if (s->cfg.once) {
        end(s, SCALER_END_ONCE, NULL);
        return;
    }
    arm(s, next > now ? next - now : 0);
}

static void failed(struct scaler *s, const char *what, int rc, const char *msg)
{
    uint64_t now = kwq_monotonic_ms();
    struct kwq_error err;

    (void)kwq_error_set(&err, rc, "%s: %s", what, msg && msg[0] ? msg : kwq_strerror(rc));
    s->phase = PHASE_IDLE;
    if (stop_due(s))
        return;
    if (!kwq_err_is_transient(rc)) {
        end(s, SCALER_END_ERROR, &err);
        return;
    }
    if (!s->down_since_ms) {
        s->down_since_ms = now;
        s->backoff_ms = BACKOFF_MIN_MS;
    }
    if (now - s->down_since_ms >= s->cfg.retry_ms) {
        end(s, SCALER_END_ERROR, &err);
        return;
    }
    if (s->cfg.on_retry)
        s->cfg.on_retry(s->cfg.arg, &err);
    arm(s, s->backoff_ms < s->cfg.retry_ms - (now - s->down_since_ms)
               ? s->backoff_ms
               : s->cfg.retry_ms - (now - s->down_since_ms));
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* ---- The step -------------------------------------------------------------------------------- */

static void on_applied(void *arg, const struct kwq_error *err)
{
    struct scaler *s = arg;

    if (s->phase != PHASE_APPLY)
        return;
    if (err->code) {
        failed(s, s->cfg.backend.name, err->code, err->msg);
        return;
    }
    s->applied = s->decision.setpoint;
    step_done(s);
}

static void on_observed(void *arg, const struct scaler_workers *w, const struct kwq_error *err)
{
    struct scaler *s = arg;

    if (s->phase != PHASE_OBSERVE)
        return;
    if (err->code) {
        failed(s, s->cfg.backend.name, err->code, err->msg);
        return;
    }
    s->obs.workers = *w;
    s->decision =
        scaler_decide(&s->cfg.rule, &s->obs, &s->hold, s->cfg.hold_ms, kwq_monotonic_ms());
    s->steps++;
    if (s->cfg.on_step)
        s->cfg.on_step(s->cfg.arg, &s->obs, &s->decision);
    if (s->decision.verdict == SCALER_APPLY && !s->ending) {
        s->phase = PHASE_APPLY;
        s->cfg.backend.apply(s->cfg.backend.ctx, s->decision.setpoint, on_applied, s);
        return;
    }
    step_done(s);
}

static void on_stats(struct kwq_async *a, int rc, const struct kwq_stats *st, void *data)
{
    struct scaler *s = data;
    struct kwq_error done = {0};

    if (s->phase != PHASE_STATS)
        return;
    if (rc < 0) {
        failed(s, "reading the queue's stats", rc, kwq_async_errstr(a));
        return;
    }
    s->obs.pending = st->pending;
    s->obs.leased = st->leased;
    s->obs.drained = st->drained;
    if (stop_due(s))
        return;
    if (st->drained) { /* the workers leave by themselves */
        s->down_since_ms = 0;
        end(s, SCALER_END_DRAINED, &done);
        return;
    }
    s->phase = PHASE_OBSERVE;
    s->cfg.backend.observe(s->cfg.backend.ctx, on_observed, s);
}

static void on_pass(struct kwq_async *a, int rc, bool drained, void *data)
{
    /* Best effort: a failure shows in the stats call pipelined behind it. */
    (void)a;
    (void)rc;
    (void)drained;
    (void)data;
}

static void step(struct scaler *s)
{
    int rc;

    s->step_ms = kwq_monotonic_ms();
    if (s->token) {
        s->token = false;
        (void)kwq_async_drained(s->cmd, s->cfg.queue, on_pass, s);
    }
    s->phase = PHASE_STATS;
    rc = kwq_async_stats(s->cmd, s->cfg.queue, on_stats, s);
    if (rc < 0)
        failed(s, "reading the queue's stats", rc, kwq_async_errstr(s->cmd));
}

/* ---- Connecting and waiting ------------------------------------------------------------------ */

/* A connection came up (or failed) for the call that s->then makes. */
static void on_connected(struct kwq_async *a, int rc, void *data)
{
    struct scaler *s = data;

    if (s->phase != PHASE_CONNECT && s->phase != PHASE_WAIT)
        return;
    if (rc < 0) {
        failed(s, "connecting to Redis", rc, kwq_async_errstr(a));
        return;
    }
    if (!stop_due(s))
        s->then(s);
}

/* then(s) on a in phase, connecting a first when it is down (after an outage, at the start). */
static void connected(struct scaler *s, struct kwq_async *a, enum scaler_phase phase,
                      void (*then)(struct scaler *s))
{
    int rc;

    s->phase = phase;
    if (kwq_async_is_connected(a)) {
        then(s);
        return;
    }
    s->then = then;
    rc = kwq_async_connect(a, on_connected, s);
    if (rc < 0)
        failed(s, "connecting to Redis", rc, kwq_async_errstr(a));
}

static void on_wait(struct kwq_async *a, int rc, bool woken, void *data)
{
    struct scaler *s = data;

    if (s->phase != PHASE_WAIT)
        return;
    if (rc < 0) {
        failed(s, "waiting on the queue", rc, kwq_async_errstr(a));
        return;
    }
    s->token = woken;
    if (!stop_due(s))
        connected(s, s->cmd, PHASE_CONNECT, step);
}

/* How long the next wait may last: wait_ms, or until a hold ends. */
static uint64_t wait_for(const struct scaler *s)
{
    uint64_t now = kwq_monotonic_ms();

    if (s->decision.verdict == SCALER_HOLD && s->decision.hold_end_ms > now &&
        s->decision.hold_end_ms - now < s->cfg.wait_ms)
        return s->decision.hold_end_ms - now;
    if (s->decision.verdict == SCALER_HOLD && s->decision.hold_end_ms <= now)
        return 1;
    return s->cfg.wait_ms;
}

static void wait_send(struct scaler *s)
{
    int rc;

    s->token = true; /* from the moment it is sent, Redis may hand the wait the token */
    rc = kwq_async_wait(s->waitc, s->cfg.queue, wait_for(s), on_wait, s);
    if (rc < 0) {
        s->token = false;
        failed(s, "waiting on the queue", rc, kwq_async_errstr(s->waitc));
    }
}

/* The timer: the end, a retry after a failure, or the next wait after pacing. */
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct scaler *s = w->data;

    (void)loop;
    (void)revents;
    if (stop_due(s))
        return;
    if (s->down_since_ms || !kwq_async_is_connected(s->cmd))
        connected(s, s->cmd, PHASE_CONNECT, step);
    else
        connected(s, s->waitc, PHASE_WAIT, wait_send);
}

/* ---- Life -------------------------------------------------------------------------------------- */

int scaler_start(struct ev_loop *loop, const struct scaler_cfg *cfg, struct scaler **ret,
                 struct kwq_error *err)
{
    struct scaler *s;

    *ret = NULL;
    if (kwq_scale_rule_check(&cfg->rule, err) < 0)
        return err->code;
    if (!cfg->queue || !cfg->backend.observe || !cfg->backend.apply || !cfg->backend.name)
        return kwq_error_set(err, KWQ_EINVAL, "scaler: a queue and a whole backend are needed");
    s = calloc(1, sizeof(*s));
    if (!s)
        return kwq_error_set(err, KWQ_ENOMEM, "scaler: out of memory");
    s->loop = loop;
    s->cfg = *cfg;
    if (!s->cfg.wait_ms)
        s->cfg.wait_ms = SCALER_WAIT_MS;
    if (!s->cfg.min_step_ms)
        s->cfg.min_step_ms = SCALER_MIN_STEP_MS;
    s->applied = -1;
    s->cmd = kwq_async_new(loop, &cfg->redis);
    s->waitc = kwq_async_new(loop, &cfg->redis);
    if (!s->cmd || !s->waitc) {
        scaler_free(s);
        return kwq_error_set(err, KWQ_ENOMEM, "scaler: out of memory");
    }
    ev_timer_init(&s->timer, on_timer, 0., 0.);
    s->timer.data = s;
    ev_signal_init(&s->sigint, on_signal, SIGINT);
    ev_signal_init(&s->sigterm, on_signal, SIGTERM);
    s->sigint.data = s->sigterm.data = s;
    if (cfg->catch_signals) {
        ev_signal_start(loop, &s->sigint);
        ev_signal_start(loop, &s->sigterm);
    }
    /* The first step through the timer too: nothing runs inside the caller's call. */
    s->phase = PHASE_IDLE;
    s->down_since_ms = 0;
    ev_timer_set(&s->timer, 0., 0.);
    ev_timer_start(loop, &s->timer);
    *ret = s;
    return 0;
}

int64_t scaler_applied(const struct scaler *s)
{
    return s->applied;
}

uint64_t scaler_steps(const struct scaler *s)
{
    return s->steps;
}

void scaler_free(struct scaler *s)
{
    if (!s)
        return;
    s->phase = PHASE_ENDED; /* the callbacks the frees below make are ignored */
    if (s->loop) {
        ev_timer_stop(s->loop, &s->timer);
        ev_signal_stop(s->loop, &s->sigint);
        ev_signal_stop(s->loop, &s->sigterm);
    }
    kwq_async_free(s->waitc);
    kwq_async_free(s->cmd);
    free(s);
}
