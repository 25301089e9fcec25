/*
 * core.h - the functions the files of kwq-worker's core share (see the file
 * map in worker.h). The runners (exec.c, stream.c) do not include it: they
 * report through w->events.
 *
 * Every Redis call is split in two: a "send" function that makes the call
 * and an "on ... reply" function that acts on its result, so that only the
 * send side knows how the call travels.
 */
#ifndef KWQ_WORKER_CORE_H
#define KWQ_WORKER_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "worker.h"

struct kwq_task;
struct kwq_async;
struct kwq_lease_ref;

#define PREFETCH_MAX     4    /* tasks leased beyond the free slots, at most */
#define PREFETCH_TASK_MS 20   /* prefetch only while handlers take less than this on average */
#define PREFETCH_HOLD_MS 250  /* a prefetched task not started by then is released */
#define BATCH_MAX        1000 /* items per renew/ack/fail/release call */

/* ---- loop.c: the loop turn, set-up, the exit ---- */
int worker_init(struct worker *w);
void worker_done(struct worker *w);
/* Connect (from the loop) and start the loop turn. */
void worker_start(struct worker *w);
/* End the loop with code (the first code given wins). */
void worker_finish(struct worker *w, int code);
/* Make the loop run one more turn at once, even with no event pending. */
void worker_kick(struct worker *w);

/* ---- jobs.c: job lifecycle ---- */
/*
 * Take ownership of *t (zeroed): start its handler, or queue it (prefetch).
 * charged: its lease was charged an attempt; an uncharged one is charged
 * when it starts (report.c tells Redis).
 */
void job_start(struct worker *w, struct kwq_task *t, bool queued, bool charged);
/* Start prefetched tasks in the slots that are free, oldest first. */
void jobs_start_queued(struct worker *w);
/* Nothing more starts: every prefetched task goes back with the next reports. */
void jobs_release_queued(struct worker *w);
/* Renew said the lease is lost (or the task cancelled): stop j, tell Redis nothing. */
void job_lost(struct job *j, int status);
/* Unlink j from w and free it. */
void job_free(struct worker *w, struct job *j);
/* Time since the job was leased or started, ms (monotonic). */
uint64_t job_duration_ms(const struct job *j);
/* refs[i] = the lease (ID, token) of js[i], for i < n. */
void jobs_refs(struct job *const *js, size_t n, struct kwq_lease_ref *refs);
/* On an exit with jobs still held: say which outcomes Redis never heard. */
void jobs_log_undelivered(const struct worker *w);
/* The runner events of the core (finished, start_failed, fatal). */
extern const struct runner_events jobs_events;

/* ---- conn.c: the connection ---- */
/* A non-blocking client for w's loop with the worker's settings; NULL when out of memory. */
struct kwq_async *conn_client_new(struct worker *w);
void conn_init(struct worker *w);
void conn_done(struct worker *w);
/* First connect, from the loop. */
void conn_start(struct worker *w);
/* A call op failed with rc (errstr why): reconnect, or stop the worker. */
void conn_failed(struct worker *w, const char *op, int rc, const char *why);
/* A call succeeded: Redis is up (the down clock and the backoffs reset). */
void conn_ok(struct worker *w);
/* True when calls may be made: connected, not on the way out. */
bool conn_usable(const struct worker *w);
/* True while acks refused at maxmemory wait for their retry (the hold's backoff). */
bool conn_holding(const struct worker *w);
/* No result is held for Redis's memory any more (delivered, or its lease lost): lease again. */
void conn_room(struct worker *w);
/* The grace period ended with outcomes held: one last reconnect now. */
void conn_grace_over(struct worker *w);

/* ---- take.c: leasing and waiting ---- */
void take_done(struct worker *w);
/* Lease what the free slots (and prefetch) want, or finish on --max-tasks. */
void take_turn(struct worker *w);
/* Drop an outstanding wait (its connection is replaced). */
void take_wait_abort(struct worker *w);
/* Before an exit other than drained: give back a wake token this worker will not use. */
void take_pass_wake(struct worker *w);

/* ---- report.c: starts (charges) and outcomes to Redis ---- */
/*
 * Charge the prefetched tasks that started, then send every reported
 * outcome (ack, fail, release), in batches; free dropped jobs.
 */
void report_flush(struct worker *w);

/* ---- renew.c: renewing leases ---- */
void renew_init(struct worker *w);
void renew_done(struct worker *w);
/* Renew every lease lease_ms / 3 from now on (idempotent). */
void renew_arm(struct worker *w);

/* ---- shutdown.c: signals, grace, idle ---- */
/* Install the SIGTERM/SIGINT watchers and the grace and idle timers. */
void shutdown_init(struct worker *w);
/* Stop them (after the loop). */
void shutdown_done(struct worker *w);
void shutdown_start(struct worker *w);
/* A problem that stops the worker: remember code (the first one wins), then stop. */
void shutdown_fatal(struct worker *w, int code);
/* Called when the worker becomes idle / busy (for --idle-exit). */
void shutdown_idle(struct worker *w, bool idle);

/* ---- ready.c: the readiness file ---- */
/* Create or remove the readiness file to match whether w holds any job. */
void ready_update(struct worker *w);
/* Remove the readiness file (exit path). */
void ready_clear(struct worker *w);

#endif /* KWQ_WORKER_CORE_H */
