/*
 * kwq/client.h - the kwq client: every queue operation, over one Redis
 * connection (hiredis, synchronous).
 *
 * Each operation is one atomic Lua script run by EVALSHA (reloaded once on
 * NOSCRIPT); all times come from the Redis server clock. docs/PROTOCOL.md is
 * the specification; this header is its C binding.
 *
 * Conventions:
 * - Functions return 0 (or a count >= 0) on success and a negative KWQ_E*
 *   code on failure; kwq_client_errstr() then holds one line naming the
 *   cause. Transport failures (KWQ_ECONN, KWQ_ETIMEOUT) leave the client
 *   disconnected: call kwq_client_connect() again to reconnect.
 * - Batched operations take n items and fill a per-item status array
 *   (0, KWQ_ELEASELOST, KWQ_ECANCELLED, ...); the call itself fails only when
 *   the whole batch did.
 * - A struct kwq_client is not thread-safe: one per thread or process.
 * - Queue names are checked with kwq_queue_name_check (KWQ_EINVAL).
 */
#ifndef KWQ_CLIENT_H
#define KWQ_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kwq/task.h"

struct kwq_client;

/* ---- Connection ---------------------------------------------------------- */

#define KWQ_DEFAULT_URL "redis://127.0.0.1:6379/0"

struct kwq_client_opts {
    /* redis://[:pw@]host:port/db or unix:///path; NULL: KWQ_REDIS_URL, else KWQ_DEFAULT_URL */
    const char *url;
    /* overrides the URL's; NULL: password_file, KWQ_REDIS_PASSWORD_FILE, KWQ_REDIS_PASSWORD */
    const char *password;
    const char *password_file;   /* file whose first line is the password */
    uint32_t connect_timeout_ms; /* default 5000 */
    uint32_t command_timeout_ms; /* default 10000; blocking waits add their own wait on top */
    size_t max_payload;          /* enqueue cap, bytes; default KWQ_DEFAULT_MAX_PAYLOAD */
    size_t max_result;           /* ack result cap, bytes; default KWQ_DEFAULT_MAX_RESULT */
    uint64_t result_ttl_ms;      /* how long acked results are kept; default 86400000 (1 day) */
    /* cap of the payload bytes one kwq_lease returns (the first task is leased whatever its
       size); 1..KWQ_MAX_LEASE_BYTES, default KWQ_DEFAULT_MAX_LEASE_BYTES */
    size_t max_lease_bytes;
    /* accept a replica (a read-only server) at connect; for readers such as kwq-broker's
       /metrics: only the read-only calls (kwq_stats_read, kwq_queues_list, kwq_dead_list,
       kwq_task_get) work there, the others fail with the server's READONLY error */
    bool read_only;
};

#define KWQ_DEFAULT_MAX_LEASE_BYTES (16u * 1024u * 1024u)   /* 16 MiB */
#define KWQ_MAX_LEASE_BYTES         (1024u * 1024u * 1024u) /* 1 GiB */

/* Fill o with the defaults above (all pointers NULL). */
void kwq_client_opts_init(struct kwq_client_opts *o);

/*
 * Allocate a client with a copy of opts (NULL: defaults). Does not connect.
 * Returns NULL only on OOM.
 */
struct kwq_client *kwq_client_new(const struct kwq_client_opts *opts);

/* Close the connection and free c. c may be NULL. */
void kwq_client_free(struct kwq_client *c);

/*
 * (Re)connect: resolve the password, connect within connect_timeout_ms, AUTH,
 * SELECT the db, refuse a server whose maxmemory-policy is not noeviction,
 * and load the scripts. The socket is close-on-exec: programs the caller
 * starts do not inherit the connection. Errors: KWQ_EINVAL (bad URL, unreadable password
 * file), KWQ_ECONN (unreachable), KWQ_ETIMEOUT, KWQ_EAUTH (password refused
 * or required), KWQ_EPOLICY (eviction policy), KWQ_EREDIS.
 */
int kwq_client_connect(struct kwq_client *c);

/* True when the last call left a usable connection. */
bool kwq_client_is_connected(const struct kwq_client *c);

/* One line naming the last failure; "" when none. Valid until the next call on c. */
const char *kwq_client_errstr(const struct kwq_client *c);

/* The URL in use with any password replaced by "***" (for logs). Borrowed. */
const char *kwq_client_url_redacted(const struct kwq_client *c);

/*
 * The server's run_id as read at the last connect (40 hex digits), "" when
 * never connected. It changes whenever Redis restarts or fails over.
 */
const char *kwq_client_server_run_id(const struct kwq_client *c);

/* ---- Enqueue ------------------------------------------------------------- */

struct kwq_new_task {
    const void *payload;   /* payload bytes (any values), borrowed */
    size_t payload_len;    /* bytes; at most opts.max_payload */
    const char *idem_key;  /* idempotency key or NULL; a duplicate returns the existing ID */
    uint64_t idem_ttl_ms;  /* how long the key is remembered; 0 = 86400000 (1 day) */
    uint64_t delay_ms;     /* run no earlier than now + delay_ms (server clock) */
    uint32_t max_attempts; /* 0 = the queue's default (see kwq_queue_set "max_attempts") */
    uint64_t timeout_ms;   /* per-task handler timeout; 0 = the worker's default */
};

struct kwq_enqueued {
    char id[KWQ_ID_MAX]; /* ID of the new task, or of the existing one for a duplicate */
    bool duplicate;      /* true when idem_key was already known: nothing was added */
};

/*
 * Enqueue n tasks. Every payload is checked against max_payload before
 * anything is sent (KWQ_ETOOBIG, nothing enqueued). Tasks go in chunks of at
 * most KWQ_ENQUEUE_CHUNK tasks and KWQ_ENQUEUE_CHUNK_BYTES bytes of payloads
 * and idempotency keys (a task bigger than that goes alone), each chunk
 * atomic, all chunks pipelined in one round trip. ret (n entries, may be NULL) receives the IDs. *ret_accepted (may be
 * NULL) is always set to how many tasks, from the first, went in (new or
 * duplicate) - also on failure, so a caller can say exactly what happened.
 * The queue is registered (kwq_queues_list) by a SADD pipelined ahead of the
 * first chunk. Errors: KWQ_EINVAL (also for delay_ms, timeout_ms or
 * idem_ttl_ms over 2^53), KWQ_ETOOBIG, KWQ_ESEALED, KWQ_EFULL, transport
 * errors; KWQ_ENOPERM naming kwq:queues when the ACL user may not write the
 * registry (the tasks went in all the same: see *ret_accepted).
 */
#define KWQ_ENQUEUE_CHUNK       1000
#define KWQ_ENQUEUE_CHUNK_BYTES (8u * 1024u * 1024u)
int kwq_enqueue(struct kwq_client *c, const char *queue, const struct kwq_new_task *tasks, size_t n,
                struct kwq_enqueued *ret, size_t *ret_accepted);

/* ---- Lease and wait ------------------------------------------------------ */

struct kwq_lease_result {
    struct kwq_task *tasks; /* n leased tasks, owned; free with kwq_lease_result_done */
    size_t n;               /* tasks leased */
    bool sealed;            /* queue is sealed */
    bool drained;           /* sealed and nothing pending, leased or delayed */
    int64_t next_due_ms;    /* when n is 0: ms until the next lease expiry or delayed task is due,
                               -1 none; always -1 when tasks were leased */
};

/* Free the tasks of r and zero it. r may be NULL. */
void kwq_lease_result_done(struct kwq_lease_result *r);

/*
 * Lease up to max tasks for lease_ms each (first expired leases and due
 * delayed tasks are reaped, inline). Fewer are leased when their payloads
 * would exceed opts.max_lease_bytes in all; the first task is leased whatever
 * its size, and the others stay pending in their order. When none is leased
 * and wait_ms > 0, block on the queue's wake list (no polling) until a task arrives, the
 * queue drains, or wait_ms passes; a task enqueued while waiting is leased
 * within one round trip of its arrival. Returns the number leased (0 on
 * timeout or drain: see ret->drained). Errors: KWQ_EINVAL (max 0 or over
 * 10000, lease_ms under 100, max_lease_bytes over KWQ_MAX_LEASE_BYTES),
 * transport errors.
 */
int kwq_lease(struct kwq_client *c, const char *queue, size_t max, uint64_t lease_ms,
              uint64_t wait_ms, struct kwq_lease_result *ret);

/*
 * kwq_lease for a worker that prefetches: only the first charge of the
 * leased tasks (0..max) are charged an attempt now; the others are leased
 * uncharged, and kwq_start charges each when the worker starts it. An
 * uncharged lease that expires (the worker died before starting the task)
 * returns the task to pending without using an attempt; ack, fail and
 * release work on it as on any lease (fail charges it). charge >= max is
 * kwq_lease. Errors: as kwq_lease, KWQ_EINVAL for charge over max.
 */
int kwq_lease_prefetch(struct kwq_client *c, const char *queue, size_t max, size_t charge,
                       uint64_t lease_ms, uint64_t wait_ms, struct kwq_lease_result *ret);

/*
 * Event-loop form of the wait: kwq_wait_start sends the blocking wait for
 * up to timeout_ms and returns at once; the caller watches kwq_client_fd()
 * for readability and then calls kwq_wait_finish, which returns
 * KWQ_WAIT_WOKEN, KWQ_WAIT_TIMEOUT, or KWQ_WAIT_AGAIN (reply not complete:
 * wait for readability again). No other call may be made on c in between:
 * use a second client for commands.
 */
#define KWQ_WAIT_TIMEOUT 0
#define KWQ_WAIT_WOKEN   1
#define KWQ_WAIT_AGAIN   2
int kwq_wait_start(struct kwq_client *c, const char *queue, uint64_t timeout_ms);
int kwq_wait_finish(struct kwq_client *c);

/* The connection's file descriptor, -1 when disconnected. */
int kwq_client_fd(const struct kwq_client *c);

/* ---- Holding a lease: renew, ack, fail, release ---------------------------- */

/*
 * Each of these fails whole with KWQ_EGONE, changing nothing, when a lease
 * it names is missing and so is the queue itself (Redis restarted empty, was
 * flushed, or rolled back to before the queue's first enqueue; see
 * docs/PROTOCOL.md "Rollbacks"): the caller's tasks are lost with it.
 */

struct kwq_lease_ref {
    const char *id; /* task ID */
    uint64_t token; /* fencing token from the lease */
};

/*
 * Extend n leases to now + lease_ms. ret_status[i]: 0, KWQ_ELEASELOST
 * (expired and re-leased, or gone) or KWQ_ECANCELLED (cancelled: stop work;
 * the task is removed).
 */
int kwq_renew(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
              uint64_t lease_ms, int *ret_status);

struct kwq_ack {
    const char *id;     /* task ID */
    uint64_t token;     /* fencing token */
    const void *result; /* result bytes to keep for result_ttl_ms, or NULL for none */
    size_t result_len;  /* bytes; at most opts.max_result */
};

/*
 * Mark n tasks done. A task with a result keeps it (readable by ID and in
 * the results stream); without one nothing of it remains in Redis.
 * ret_status[i]: 0, KWQ_ELEASELOST, KWQ_ECANCELLED, KWQ_ETOOBIG (result
 * over max_result: that task is not acked), KWQ_EOOM (Redis is at its
 * maxmemory limit and refused to keep the result: the task is still leased;
 * keep renewing it and ack again later). Acks without a result are sent
 * first and run even on a full Redis (they free memory); those with one
 * follow, in calls of at most 8 MiB of results. When any item got KWQ_EOOM
 * the call returns KWQ_EOOM (transient, see kwq_err_is_transient) after
 * trying every item; ret_status says which went in.
 */
int kwq_ack(struct kwq_client *c, const char *queue, const struct kwq_ack *acks, size_t n,
            int *ret_status);

struct kwq_failure {
    const char *id;    /* task ID */
    uint64_t token;    /* fencing token */
    const char *error; /* what went wrong (e.g. stderr tail), kept with the task; may be NULL */
    int code;          /* handler exit code, or -1 when there is none (timeout, signal) */
    bool no_retry;     /* bad input: dead-letter now, whatever attempts remain */
};

struct kwq_fail_outcome {
    int status;          /* 0, KWQ_ELEASELOST or KWQ_ECANCELLED */
    bool dead;           /* dead-lettered (out of attempts or no_retry) */
    int64_t retry_at_ms; /* server time of the retry when not dead, Unix ms */
};

/*
 * Report n failed attempts. Each task is retried after an exponential
 * backoff with jitter (base * 2^(attempt-1), capped; see kwq_queue_set), or
 * dead-lettered when out of attempts or no_retry. error is truncated to
 * KWQ_MAX_ERROR bytes (never inside a UTF-8 character). ret (n entries)
 * receives each outcome.
 */
#define KWQ_MAX_ERROR 4096
int kwq_fail(struct kwq_client *c, const char *queue, const struct kwq_failure *f, size_t n,
             struct kwq_fail_outcome *ret);

/*
 * Give n unstarted (or interrupted) tasks back: each returns to the head of
 * the pending list at once and its attempt is not charged.
 * ret_status[i]: 0, KWQ_ELEASELOST, KWQ_ECANCELLED.
 */
int kwq_release(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
                int *ret_status);

/*
 * The holder starts n tasks leased uncharged by kwq_lease_prefetch: their
 * attempts are charged now (a charged lease is left as it is).
 * ret_status[i]: 0, KWQ_ELEASELOST, KWQ_ECANCELLED. Errors: KWQ_EGONE as renew.
 */
int kwq_start(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
              int *ret_status);

/* ---- Maintenance, state and statistics ---------------------------------- */

struct kwq_reap_result {
    uint64_t expired;  /* expired leases returned to pending */
    uint64_t dead;     /* expired leases that were on their last attempt: dead-lettered */
    uint64_t promoted; /* due delayed tasks moved to pending */
};

/* Reap up to max expired leases and max due delayed tasks. ret may be NULL. */
int kwq_reap(struct kwq_client *c, const char *queue, size_t max, struct kwq_reap_result *ret);

/* Seal: from now on enqueue fails with KWQ_ESEALED. Idempotent. */
int kwq_seal(struct kwq_client *c, const char *queue);

/* Unseal: enqueue is accepted again. Idempotent. */
int kwq_unseal(struct kwq_client *c, const char *queue);

/*
 * *ret = sealed and nothing pending, leased or delayed, read atomically.
 * Also ensures the wake token when the queue is drained or tasks are
 * pending: a client that took the token from a wait and will not lease
 * calls this to pass the token on.
 */
int kwq_drained(struct kwq_client *c, const char *queue, bool *ret);

struct kwq_stats {
    uint64_t pending;          /* tasks waiting to be leased */
    uint64_t leased;           /* tasks under a lease */
    uint64_t delayed;          /* tasks waiting for a due time */
    uint64_t dead;             /* tasks in the dead-letter set */
    uint64_t done;             /* acks, all time */
    uint64_t enqueued;         /* new tasks accepted, all time (duplicates not counted) */
    uint64_t duplicates;       /* enqueues answered with an existing ID, all time */
    uint64_t expired;          /* leases that expired, all time */
    uint64_t failed;           /* failed attempts reported by handlers, all time */
    uint64_t retries;          /* failed attempts scheduled for a retry, all time */
    uint64_t released;         /* leases given back unstarted, all time */
    uint64_t cancelled;        /* tasks cancelled, all time */
    uint64_t requeued;         /* dead tasks requeued, all time */
    uint64_t results;          /* results currently kept (approximate while expiring) */
    uint64_t restarts;         /* times the queue was found on another Redis server process
                                  (restart, failover), all time: writes may have been lost */
    int64_t oldest_pending_ms; /* age of the oldest pending task, ms; -1 when none */
    int64_t server_time_ms;    /* server clock at the read, Unix ms */
    bool sealed;               /* queue is sealed */
    bool drained;              /* sealed and nothing pending, leased or delayed */
    /* Housekeeping lag, as seen at the read: leases past their deadline not yet reaped
       (counted in leased too) and delayed tasks past due not yet promoted (counted in
       delayed too), and how long ago the oldest of either fell due, ms (0: none). kwq_stats
       reads them after its inline reap, kwq_stats_read without reaping. */
    uint64_t overdue_leases;
    uint64_t due_delayed;
    int64_t reap_lag_ms;
};

/* Read every counter atomically (reaping inline first). */
int kwq_stats(struct kwq_client *c, const char *queue, struct kwq_stats *ret);

/*
 * kwq_stats without writing anything (no reaping, no trimming: a script with
 * the no-writes flag), so it also runs on a replica (opts.read_only). Leases
 * past their deadline still count as leased and due delayed tasks as
 * delayed; overdue_leases, due_delayed and reap_lag_ms say how many and how
 * late. kwq-broker's /metrics reads through it.
 */
int kwq_stats_read(struct kwq_client *c, const char *queue, struct kwq_stats *ret);

/* ---- The queue registry --------------------------------------------------- */

/*
 * Every queue kwq_enqueue ever wrote to is named in the registry (the SET
 * kwq:queues, docs/PROTOCOL.md "Queue registry"), so that kwq-broker and
 * `kwq queues` find queues without SCAN (which does not work on Redis
 * Cluster). kwq_enqueue registers its queue before its first task goes in,
 * so a queue that holds tasks is always registered.
 */

/*
 * The registered queue names, sorted bytewise (members that are not queue
 * names are left out); *ret is a malloc'd array of *ret_n strings
 * (kwq_queues_free), NULL and 0 on error.
 */
int kwq_queues_list(struct kwq_client *c, char ***ret, size_t *ret_n);

/* Free a list from kwq_queues_list (or kwq_async_queues_list's copy). list may be NULL. */
void kwq_queues_free(char **list, size_t n);

/*
 * Remove queue from the registry (its keys are untouched; the next enqueue
 * registers it again). Returns 1 when it was registered, 0 when not.
 */
int kwq_queue_forget(struct kwq_client *c, const char *queue);

/* ---- Dead letters --------------------------------------------------------- */

struct kwq_dead_task {
    char id[KWQ_ID_MAX]; /* task ID */
    int64_t died_ms;     /* server time of dead-lettering, Unix ms */
    uint32_t attempts;   /* attempts made */
    int last_code;       /* last exit code, -1 none */
    char *last_error;    /* last error text, owned, "" when none */
};

/* Free an array returned by kwq_dead_list. */
void kwq_dead_list_free(struct kwq_dead_task *list, size_t n);

/*
 * List up to count dead tasks, oldest death first, starting at offset.
 * *ret is a malloc'd array of *ret_n entries (free with kwq_dead_list_free).
 */
int kwq_dead_list(struct kwq_client *c, const char *queue, size_t offset, size_t count,
                  struct kwq_dead_task **ret, size_t *ret_n);

/*
 * Requeue dead tasks to the tail of pending with attempts reset to 0: the
 * n given IDs, or every dead task when ids is NULL. Returns how many were
 * requeued (IDs that are not dead are skipped).
 */
int kwq_dead_requeue(struct kwq_client *c, const char *queue, const char *const *ids, size_t n);

/* Delete dead tasks: the n given IDs, or all when ids is NULL. Returns how many. */
int kwq_dead_purge(struct kwq_client *c, const char *queue, const char *const *ids, size_t n);

/* ---- One task: inspect and cancel ----------------------------------------- */

struct kwq_task_info {
    struct kwq_task task; /* id, payload (not for done tasks), attempts made, limits, times */
    enum kwq_state state; /* where it is now */
    int64_t due_ms;       /* delayed: due time; leased: lease deadline; else 0 (Unix ms) */
    char *history_json; /* JSON array of past attempts (docs/PROTOCOL.md), owned, "[]" when none */
    char *result;       /* kept result, owned, or NULL */
    size_t result_len;  /* bytes in result */
};

/* Free what info owns and zero it. */
void kwq_task_info_done(struct kwq_task_info *info);

/* Read a task by ID. Errors: KWQ_ENOTFOUND (never existed, or done with no result kept). */
int kwq_task_get(struct kwq_client *c, const char *queue, const char *id,
                 struct kwq_task_info *ret);

/*
 * Cancel a pending, delayed or leased task. A pending or delayed task is
 * removed now; a leased one is removed when its holder next renews, acks,
 * fails or releases (each then gets KWQ_ECANCELLED) or its lease expires.
 * Errors: KWQ_ENOTFOUND, KWQ_ESTATE (dead: use kwq_dead_purge).
 */
int kwq_cancel(struct kwq_client *c, const char *queue, const char *id);

/* ---- Results (the gather half of scatter/gather) -------------------------- */

struct kwq_result {
    char id[KWQ_ID_MAX]; /* task ID */
    char cursor[48];     /* position in the results stream; pass back to read after it */
    int64_t done_ms;     /* server time of the ack, Unix ms */
    char *data;          /* result bytes, owned, NUL-terminated */
    size_t len;          /* bytes in data */
};

/* Free an array returned by kwq_results_read. */
void kwq_results_free(struct kwq_result *list, size_t n);

/* Read one task's kept result. Errors: KWQ_ENOTFOUND (none kept, or expired). */
int kwq_result_get(struct kwq_client *c, const char *queue, const char *id, char **ret,
                   size_t *ret_len);

/*
 * Read up to count results in completion order after cursor ("0" = from the
 * oldest kept). With block_ms > 0 and nothing to read, wait up to block_ms
 * for the next result. *ret is a malloc'd array (kwq_results_free).
 */
int kwq_results_read(struct kwq_client *c, const char *queue, const char *cursor, size_t count,
                     uint64_t block_ms, struct kwq_result **ret, size_t *ret_n);

/* ---- Whole queue ------------------------------------------------------------ */

/*
 * Delete every task, counter, result and setting of the queue in one call
 * that does not block Redis (UNLINK: big values are freed in Redis's
 * background thread). Kept: the ID sequence and the fencing-token counter,
 * so IDs and tokens are never reused, the restart count, and the queue's
 * registration (kwq_queue_forget removes it). Leases held by workers are
 * lost: their acks get KWQ_ELEASELOST.
 */
int kwq_purge(struct kwq_client *c, const char *queue);

/*
 * Set a queue setting (docs/PROTOCOL.md "Settings"): "max_attempts" (1..1000,
 * default 3), "backoff_base_ms" (default 1000), "backoff_max_ms" (default
 * 3600000), "max_tasks" (0 = no limit, default 10000000), "max_results"
 * (results kept, about; 0 = no cap, default 1000000). Errors: KWQ_EINVAL
 * with the accepted range in errstr.
 */
int kwq_queue_set(struct kwq_client *c, const char *queue, const char *name, uint64_t value);

/* Read a queue setting (its default when unset). Errors: KWQ_EINVAL for an unknown name. */
int kwq_queue_get(struct kwq_client *c, const char *queue, const char *name, uint64_t *ret);

/*
 * INFO section text from the server (for benchmarks and diagnostics).
 * *ret is malloc'd; the caller frees it.
 */
int kwq_server_info(struct kwq_client *c, const char *section, char **ret);

#endif /* KWQ_CLIENT_H */
