/*
 * kwq/async.h - the non-blocking kwq client: the operations a worker (and
 * later kwq-broker) makes while its event loop must keep running, over one
 * hiredis async connection attached to a libev loop.
 *
 * It shares the argument builders and reply parsers of the synchronous
 * client (kwq/client.h): the same scripts, the same statuses, the same
 * errors. Only the transport differs. No call ever blocks: connecting (the
 * host name lookup, TCP or unix connect, AUTH, SELECT, the server checks,
 * SCRIPT LOAD) is a sequence of events on the loop, and every command has a
 * deadline kept by a loop timer (hiredis 0.14 has none of its own).
 *
 * Conventions:
 * - A call that returns an error (< 0) never calls its callback, and the
 *   reason is in kwq_async_errstr(). A call that returns 0 calls its
 *   callback exactly once: with rc 0 and the reply's contents, with the
 *   operation's error (KWQ_EINVAL, KWQ_EOOM, KWQ_ENOPERM ...), or with a
 *   transport error (KWQ_ECONN, KWQ_ETIMEOUT) when the connection drops or
 *   a reply is overdue. A transport error fails every outstanding call on
 *   that connection, in the order they were made, and leaves the client
 *   disconnected: call kwq_async_connect again (kwq_err_is_transient()
 *   says whether retrying can help).
 * - Arguments (IDs, results, error texts) are copied when the call is made:
 *   the caller's buffers may be freed as soon as it returns.
 * - Data handed to a callback (statuses, outcomes, a lease result) is valid
 *   only during the callback, except tasks the callback takes from a lease
 *   result (see kwq_async_lease_cb).
 * - Callbacks run from the loop, or from kwq_async_disconnect/kwq_async_free,
 *   never from inside the call that made them. They may make new calls on
 *   the same client. kwq_async_free must not be called from a callback of
 *   that client; kwq_async_disconnect may.
 * - NOSCRIPT (Redis restarted or SCRIPT FLUSH) is handled inside: the
 *   script is loaded again and the call repeated once.
 * - Commands are pipelined: several calls may be outstanding at once, and
 *   their callbacks run in the order the calls were made. A call's deadline
 *   (command_timeout_ms, a wait's timeout_ms on top) starts when it is
 *   made, or when the deadline of the call before it ends if that is later
 *   (replies come in order: nothing is answered before the wait ahead).
 *   When the connection fails, a call whose reply had already come (held
 *   back only behind an earlier call being resent after NOSCRIPT) gets its
 *   own outcome rather than the transport error.
 * - Calls need a connection whose handshake is complete: made before, or
 *   after a transport error, they return KWQ_ECONN at once.
 * - renew/ack/fail/release of more than 1000 items are sent as several
 *   script calls at once (as the synchronous ones, chunked); the callback
 *   gets the first error, and the chunks after it may have run.
 * - SIGPIPE: writes happen with SIGPIPE blocked in the loop's thread, as in
 *   the synchronous client, so a write to a closed connection fails with
 *   EPIPE instead of killing the process; nothing needs to be done about it.
 * - A TCP host name (not an address) is looked up in a short-lived thread,
 *   since getaddrinfo cannot be asked without blocking; the lookup counts in
 *   connect_timeout_ms, and one given up on finishes alone. That thread
 *   blocks every signal, so signals still reach the program's own threads.
 */
#ifndef KWQ_ASYNC_H
#define KWQ_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "kwq/client.h"

struct kwq_async;

/* ---- Connection ------------------------------------------------------------ */

/*
 * A client for loop with a copy of opts (NULL: defaults, as kwq_client_new).
 * Does not connect. NULL only on OOM.
 */
struct kwq_async *kwq_async_new(struct ev_loop *loop, const struct kwq_client_opts *opts);

/*
 * Disconnect (outstanding callbacks are called with KWQ_ECONN first) and
 * free a. a may be NULL. Not from a callback of a.
 */
void kwq_async_free(struct kwq_async *a);

/* rc: 0 when connected and ready for calls, else the error (errstr names it). */
typedef void kwq_async_connect_cb(struct kwq_async *a, int rc, void *data);

/*
 * Start connecting: everything kwq_client_connect does (password, AUTH,
 * SELECT, a master that has finished loading and never evicts, SCRIPT
 * LOAD), without blocking, within opts.connect_timeout_ms in all. cb runs
 * once with the outcome. Errors returned at once: KWQ_EINVAL (bad URL,
 * unreadable password file), KWQ_ENOMEM, KWQ_ECONN (socket error),
 * KWQ_ESTATE (already connected or connecting).
 */
int kwq_async_connect(struct kwq_async *a, kwq_async_connect_cb *cb, void *data);

/*
 * Drop the connection: every outstanding callback (connect included) is
 * called with KWQ_ECONN, in order, before this returns. Safe from a
 * callback. No-op when not connected.
 */
void kwq_async_disconnect(struct kwq_async *a);

/* True when connected and the handshake is complete. */
bool kwq_async_is_connected(const struct kwq_async *a);

/* Calls made (a connect included) whose callbacks have not run yet. */
size_t kwq_async_pending(const struct kwq_async *a);

/* One line naming the last failure, "" when none. */
const char *kwq_async_errstr(const struct kwq_async *a);

/* The URL with any password replaced by "***" (for logs). Borrowed. */
const char *kwq_async_url_redacted(const struct kwq_async *a);

/*
 * The server's run_id as read at the last connect (40 hex digits), "" when
 * never connected. It changes whenever Redis restarts or fails over.
 */
const char *kwq_async_server_run_id(const struct kwq_async *a);

/* ---- Operations: each is its kwq/client.h namesake -------------------------- */

/*
 * r->tasks belong to the library: a callback that keeps a task moves it out
 * (struct copy, then zero r->tasks[i]); whatever is left is freed after the
 * callback returns. r is NULL when rc < 0.
 */
typedef void kwq_async_lease_cb(struct kwq_async *a, int rc, struct kwq_lease_result *r,
                                void *data);
/*
 * kwq_lease without waiting (wait_ms 0): the blocking wait is kwq_async_wait.
 * rc is 0 (not the task count, which is r->n) or the error.
 */
int kwq_async_lease(struct kwq_async *a, const char *queue, size_t max, uint64_t lease_ms,
                    kwq_async_lease_cb *cb, void *data);
/* kwq_lease_prefetch without waiting: only the first charge tasks are charged now. */
int kwq_async_lease_prefetch(struct kwq_async *a, const char *queue, size_t max, size_t charge,
                             uint64_t lease_ms, kwq_async_lease_cb *cb, void *data);

/*
 * status: n per-item statuses as kwq_renew / kwq_ack / kwq_release /
 * kwq_start fill; NULL when rc < 0 (n is the call's item count either way),
 * except for an ack whose results Redis refused at its maxmemory limit: rc
 * KWQ_EOOM with every item's status (KWQ_EOOM for the items still leased),
 * as kwq_ack.
 */
typedef void kwq_async_status_cb(struct kwq_async *a, int rc, const int *status, size_t n,
                                 void *data);
int kwq_async_renew(struct kwq_async *a, const char *queue, const struct kwq_lease_ref *refs,
                    size_t n, uint64_t lease_ms, kwq_async_status_cb *cb, void *data);
int kwq_async_ack(struct kwq_async *a, const char *queue, const struct kwq_ack *acks, size_t n,
                  kwq_async_status_cb *cb, void *data);
int kwq_async_release(struct kwq_async *a, const char *queue, const struct kwq_lease_ref *refs,
                      size_t n, kwq_async_status_cb *cb, void *data);
int kwq_async_start(struct kwq_async *a, const char *queue, const struct kwq_lease_ref *refs,
                    size_t n, kwq_async_status_cb *cb, void *data);

/* out: n outcomes as kwq_fail fills; NULL when rc < 0 (n as above). */
typedef void kwq_async_fail_cb(struct kwq_async *a, int rc, const struct kwq_fail_outcome *out,
                               size_t n, void *data);
int kwq_async_fail(struct kwq_async *a, const char *queue, const struct kwq_failure *f, size_t n,
                   kwq_async_fail_cb *cb, void *data);

/* drained: as kwq_drained (false when rc < 0). */
typedef void kwq_async_drained_cb(struct kwq_async *a, int rc, bool drained, void *data);
int kwq_async_drained(struct kwq_async *a, const char *queue, kwq_async_drained_cb *cb, void *data);

/* stats: as kwq_stats fills; NULL when rc < 0. */
typedef void kwq_async_stats_cb(struct kwq_async *a, int rc, const struct kwq_stats *stats,
                                void *data);
int kwq_async_stats(struct kwq_async *a, const char *queue, kwq_async_stats_cb *cb, void *data);
/* kwq_stats_read: nothing written, works on a replica (opts.read_only). */
int kwq_async_stats_read(struct kwq_async *a, const char *queue, kwq_async_stats_cb *cb,
                         void *data);

/* r: as kwq_reap fills; NULL when rc < 0. */
typedef void kwq_async_reap_cb(struct kwq_async *a, int rc, const struct kwq_reap_result *r,
                               void *data);
int kwq_async_reap(struct kwq_async *a, const char *queue, size_t max, kwq_async_reap_cb *cb,
                   void *data);

/* names: the registry as kwq_queues_list, sorted; borrowed for the callback (NULL, 0 on error). */
typedef void kwq_async_queues_cb(struct kwq_async *a, int rc, char *const *names, size_t n,
                                 void *data);
int kwq_async_queues_list(struct kwq_async *a, kwq_async_queues_cb *cb, void *data);

/* list: as kwq_dead_list fills, borrowed for the callback; NULL, 0 when rc < 0. */
typedef void kwq_async_dead_cb(struct kwq_async *a, int rc, const struct kwq_dead_task *list,
                               size_t n, void *data);
int kwq_async_dead_list(struct kwq_async *a, const char *queue, size_t offset, size_t count,
                        kwq_async_dead_cb *cb, void *data);

/* rc: how many tasks were requeued or purged (>= 0), or the error. */
typedef void kwq_async_count_cb(struct kwq_async *a, int rc, void *data);
/*
 * kwq_dead_requeue / kwq_dead_purge: the n IDs (copied; over 1000 go as
 * several script calls at once), or every dead task when ids is NULL (one
 * script call of 1000 repeated until a call handles none; each repeat gets
 * command_timeout_ms again).
 */
int kwq_async_dead_requeue(struct kwq_async *a, const char *queue, const char *const *ids, size_t n,
                           kwq_async_count_cb *cb, void *data);
int kwq_async_dead_purge(struct kwq_async *a, const char *queue, const char *const *ids, size_t n,
                         kwq_async_count_cb *cb, void *data);

/* info: as kwq_task_get fills, borrowed for the callback; NULL when rc < 0. */
typedef void kwq_async_task_cb(struct kwq_async *a, int rc, const struct kwq_task_info *info,
                               void *data);
int kwq_async_task_get(struct kwq_async *a, const char *queue, const char *id,
                       kwq_async_task_cb *cb, void *data);

/*
 * The blocking wait of kwq_wait_start/kwq_wait_finish: block on the queue's
 * wake list for up to timeout_ms. woken: a wake token was taken. The
 * connection is busy until the callback: use a second client for commands
 * (calls made meanwhile queue behind the wait). Its deadline is timeout_ms
 * plus command_timeout_ms.
 */
typedef void kwq_async_wait_cb(struct kwq_async *a, int rc, bool woken, void *data);
int kwq_async_wait(struct kwq_async *a, const char *queue, uint64_t timeout_ms,
                   kwq_async_wait_cb *cb, void *data);

#endif /* KWQ_ASYNC_H */
