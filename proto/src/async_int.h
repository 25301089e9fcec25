/*
 * async_int.h - internals of the non-blocking client (kwq/async.h), shared
 * by async.c (connection, call queue, deadlines, delivery), async_connect.c
 * (the handshake) and async_ops.c (the operations). Not installed.
 *
 * A call is a request of one or more parts (commands: a script call per
 * chunk of items, or the steps of the handshake), all sent when the call is
 * made. Requests wait in one queue in call order; a request is done when
 * every part has its reply, and is delivered (its callback called) once it
 * is done and every request before it was delivered.
 */
#ifndef KWQ_ASYNC_INT_H
#define KWQ_ASYNC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/async.h>

#include "kwq/async.h"

#include "client_int.h"

struct kwq__req;
struct kwq__resolve; /* a host name lookup running in a thread (async_resolve.c) */

/* One command of a request. */
struct kwq__part {
    struct kwq__req *req;
    char *cmd;       /* formatted command kept for a resend after NOSCRIPT; NULL when not needed */
    size_t len;      /* bytes in cmd */
    size_t first;    /* operations: the chunk's first item; connect: the step */
    size_t count;    /* operations: the items the chunk sent */
    enum kwq__op op; /* script parts: the script (r->op when the part was built) */
    bool retried;    /* resent once after NOSCRIPT */
};

/*
 * Parse a part's reply (never an error reply): 0, or a KWQ_E* code with
 * errstr set, or KWQ__PART_AGAIN to send the same part once more (a call
 * that repeats until the script says it is done, e.g. a requeue of every
 * dead task, 1000 at a time); the part's deadline starts again then.
 */
#define KWQ__PART_AGAIN 1
typedef int kwq__part_parse_fn(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                               const redisReply *reply);

/*
 * A part's error reply mapped to rc (errstr set): return the request's error,
 * or 0 when the operation takes the refusal item by item (ack_result at
 * maxmemory).
 */
typedef int kwq__part_refused_fn(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                                 int rc);

/* Call the request's callback with rc (0: with its results). */
typedef void kwq__req_deliver_fn(struct kwq_async *a, struct kwq__req *r, int rc);

struct kwq__req {
    struct kwq__req *next; /* the call queue, or the spare list */
    struct kwq_async *a;
    kwq__part_parse_fn *parse;
    kwq__part_refused_fn *refused; /* NULL: an error reply is the request's error */
    kwq__req_deliver_fn *deliver;
    bool script;             /* parts are EVALSHA of op: NOSCRIPT reloads it */
    enum kwq__op op;         /* the script, when script */
    ev_tstamp deadline;      /* loop time by which it must be done */
    uint64_t budget_ms;      /* the time it was given, for the timeout message */
    unsigned gen;            /* the connection its parts went to */
    size_t nparts;           /* parts built */
    size_t parts_left;       /* parts sent whose reply has not come */
    size_t hrefs;            /* hiredis callbacks still to come (they point into parts) */
    struct kwq__part *parts; /* &one, or an array */
    struct kwq__part one;
    bool done, delivered;
    int rc;    /* the first error of its parts */
    char *err; /* errstr of rc, kept when it is done behind an earlier call */
    /* Results, by operation. */
    size_t n;                     /* items */
    size_t max;                   /* lease: most tasks */
    int *status;                  /* n statuses */
    size_t *sent;                 /* ack: per chunk, which items were sent (2n: ack, ack_result) */
    struct kwq_fail_outcome *out; /* fail: n outcomes */
    struct kwq_lease_result lease;
    struct kwq_stats stats;
    struct kwq_leader_state leader;
    bool flag; /* drained, woken, leader released; ack: an ack_result was refused (OOM) */
    struct kwq_reap_result reap;
    long long count;            /* dead requeue/purge: tasks handled so far */
    char **names;               /* queues_list: n names, owned */
    struct kwq_dead_task *dead; /* dead_list: n dead tasks, owned */
    struct kwq_task_info task;  /* task_get, owned */
    union {
        kwq_async_connect_cb *connect;
        kwq_async_lease_cb *lease;
        kwq_async_status_cb *status;
        kwq_async_fail_cb *fail;
        kwq_async_drained_cb *drained;
        kwq_async_stats_cb *stats;
        kwq_async_wait_cb *wait;
        kwq_async_reap_cb *reap;
        kwq_async_queues_cb *queues;
        kwq_async_dead_cb *dead;
        kwq_async_count_cb *count;
        kwq_async_task_cb *task;
        kwq_async_leader_cb *leader;
    } cb;
    void *data;
};

enum kwq__async_state {
    KWQ__ASYNC_DOWN,       /* no connection */
    KWQ__ASYNC_CONNECTING, /* the handshake is running */
    KWQ__ASYNC_READY       /* connected: calls may be made */
};

struct kwq_async {
    struct kwq_client *c; /* options, URL, scripts' SHA1s, errstr, run_id; never connects itself */
    struct ev_loop *loop;
    redisAsyncContext *ac; /* NULL when down */
    enum kwq__async_state state;
    unsigned gen;                 /* counts connections */
    struct kwq__req *head, *tail; /* calls not delivered yet, in call order */
    struct kwq__req *spare;       /* delivered requests kept for reuse */
    size_t nspare;
    size_t pending; /* calls made whose callbacks have not run */
    ev_timer timer; /* the deadline of the oldest call */
    ev_tstamp timer_at;
    struct kwq__args argv, items, keys; /* reused by every call */
    ev_async resolved;                  /* the host lookup finished */
    struct kwq__resolve *resolve;       /* the lookup running, or NULL */
};

/* Clear errstr, check the queue name and that a is connected. */
int kwq__async_begin(struct kwq_async *a, const char *queue);

/* kwq__async_begin for a call that names no queue (the registry). */
int kwq__async_begin_server(struct kwq_async *a);

/* A request of up to nparts parts, or NULL (KWQ_ENOMEM in errstr). */
struct kwq__req *kwq__async_req(struct kwq_async *a, size_t nparts, kwq__part_parse_fn *parse,
                                kwq__req_deliver_fn *deliver);

/* Format argv as r's next part (first, count as given). 0 or KWQ_ENOMEM. */
int kwq__async_part(struct kwq_async *a, struct kwq__req *r, const struct kwq__args *argv,
                    size_t first, size_t count);

/* The same for the EVALSHA of op (r->op) over queue's keys, xkeys and args. */
int kwq__async_eval_part(struct kwq_async *a, struct kwq__req *r, const char *queue,
                         const struct kwq__args *xkeys, const struct kwq__args *args, size_t first,
                         size_t count);

/*
 * Queue r and send its parts; it must be done within budget_ms (counted
 * from the deadline of the call before it, when that is later). Returns 0,
 * or an error after freeing r (its callback is then never called).
 */
int kwq__async_submit(struct kwq_async *a, struct kwq__req *r, uint64_t budget_ms);

/*
 * submit in two steps, for a connect that must first look its host up:
 * queue r (its deadline starts now), later send its parts (0, or an error
 * when none could be sent).
 */
void kwq__async_enqueue(struct kwq_async *a, struct kwq__req *r, uint64_t budget_ms);
int kwq__async_send(struct kwq_async *a, struct kwq__req *r);

/* Free a request that was never submitted. */
void kwq__async_req_drop(struct kwq_async *a, struct kwq__req *r);

/*
 * What the operations share (async_ops.c): a request for a script call of
 * op on n items in nparts parts (the caller sets its callback); a PING part
 * for a call with nothing to send (it still answers in call order); and the
 * end of building: submit r with budget_ms, or free it when building failed
 * (rc), returning the call's outcome.
 */
struct kwq__req *kwq__async_script_req(struct kwq_async *a, enum kwq__op op, size_t n,
                                       size_t nparts, kwq__part_parse_fn *parse,
                                       kwq__req_deliver_fn *deliver, void *data);
int kwq__async_ping_part(struct kwq_async *a, struct kwq__req *r);
int kwq__async_finish(struct kwq_async *a, struct kwq__req *r, int rc, uint64_t budget_ms);

/* Attach ac (just connected, no command sent) to a's loop; it becomes a's connection. */
int kwq__async_attach(struct kwq_async *a, redisAsyncContext *ac);

/*
 * Fail every call with code (errstr already set) and leave a down; a call
 * already done gets its own outcome. free_ac: free the hiredis context too
 * (false when hiredis is freeing it already).
 */
void kwq__async_fail_all(struct kwq_async *a, int code, bool free_ac);

/* ---- async_resolve.c: the host name lookup of a TCP connect -------------------- */

/* False when host is already an IPv4 or IPv6 address. */
bool kwq__resolve_needed(const char *host);

/* Start looking host up; kwq__async_resolved follows on the loop. 0 or KWQ_ENOMEM. */
int kwq__resolve_start(struct kwq_async *a, const char *host);

/* Let go of the lookup running (its thread finishes alone). No-op when none. */
void kwq__resolve_abandon(struct kwq_async *a);

/* The ev_async callback of kwq_async.resolved. */
void kwq__resolve_wakeup(struct ev_loop *loop, ev_async *w, int revents);

/* async_connect.c: the lookup found ip, or failed (ip NULL) saying why. */
void kwq__async_resolved(struct kwq_async *a, const char *ip, const char *why);

#endif /* KWQ_ASYNC_INT_H */
