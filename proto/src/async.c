/*
 * async.c - the non-blocking client's machinery (kwq/async.h): the client's
 * lifetime, the queue of calls, sending their commands on the hiredis async
 * connection, matching replies (NOSCRIPT reloads, error replies through the
 * synchronous client's mapping, a lost connection), one deadline timer for
 * the oldest call, and delivering callbacks in call order.
 *
 * Lifetimes: hiredis calls on_reply once per command sent, with NULL when
 * the connection goes, possibly after we have given up on it (a deadline,
 * kwq_async_disconnect) and possibly later than that when we gave up from
 * inside one of its callbacks (redisAsyncFree is then deferred). So a
 * request is freed only once it was delivered and every hiredis callback
 * pointing at it has run; the client itself may not be freed from a
 * callback, so it outlives them all.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libev.h>

#include "async_int.h"

/* Delivered requests kept for reuse: about the calls one client has outstanding. */
#define SPARE_MAX 64

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- Lifetime ------------------------------------------------------------------ */

struct kwq_async *kwq_async_new(struct ev_loop *loop, const struct kwq_client_opts *opts)
{
    struct kwq_async *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->c = kwq_client_new(opts);
    if (!a->c) {
        free(a);
        return NULL;
    }
    a->loop = loop;
    ev_init(&a->timer, on_deadline);
    a->timer.data = a;
    ev_async_init(&a->resolved, kwq__resolve_wakeup);
    a->resolved.data = a;
    kwq__args_init(&a->argv);
    kwq__args_init(&a->items);
    kwq__args_init(&a->keys);
    return a;
}

/* Wipe and free a formatted command (it may hold the password). */
static void free_cmd(struct kwq__part *p)
{
    if (p->cmd) {
        memset(p->cmd, 0, p->len);
        redisFreeCommand(p->cmd);
        p->cmd = NULL;
    }
}

/* Release what r holds and keep it for reuse (or free it). */
static void req_free(struct kwq_async *a, struct kwq__req *r)
{
    for (size_t i = 0; i < r->nparts; i++)
        free_cmd(&r->parts[i]);
    if (r->parts != &r->one)
        free(r->parts);
    free(r->status);
    free(r->sent);
    free(r->out);
    free(r->err);
    kwq_lease_result_done(&r->lease);
    kwq_queues_free(r->names, r->names ? r->n : 0);
    kwq_dead_list_free(r->dead, r->dead ? r->n : 0);
    kwq_task_info_done(&r->task);
    if (a->nspare < SPARE_MAX) {
        r->next = a->spare;
        a->spare = r;
        a->nspare++;
    } else {
        free(r);
    }
}

void kwq_async_free(struct kwq_async *a)
{
    if (!a)
        return;
    kwq_async_disconnect(a);
    ev_timer_stop(a->loop, &a->timer);
    while (a->spare) {
        struct kwq__req *r = a->spare;

        a->spare = r->next;
        free(r);
    }
    kwq__args_free(&a->argv);
    kwq__args_free(&a->items);
    kwq__args_free(&a->keys);
    kwq_client_free(a->c);
    free(a);
}

bool kwq_async_is_connected(const struct kwq_async *a)
{
    return a && a->state == KWQ__ASYNC_READY;
}

size_t kwq_async_pending(const struct kwq_async *a)
{
    return a ? a->pending : 0;
}

const char *kwq_async_errstr(const struct kwq_async *a)
{
    return a ? kwq_client_errstr(a->c) : "";
}

const char *kwq_async_url_redacted(const struct kwq_async *a)
{
    return a ? kwq_client_url_redacted(a->c) : "";
}

const char *kwq_async_server_run_id(const struct kwq_async *a)
{
    return a ? kwq_client_server_run_id(a->c) : "";
}

/* ---- Building calls -------------------------------------------------------------- */

int kwq__async_begin_server(struct kwq_async *a)
{
    struct kwq_client *c = a->c;

    c->errstr[0] = '\0';
    if (a->state != KWQ__ASYNC_READY)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s: call kwq_async_connect",
                         kwq__url_for_msg(c));
    return 0;
}

int kwq__async_begin(struct kwq_async *a, const char *queue)
{
    struct kwq_error e = {0};
    struct kwq_client *c = a->c;

    c->errstr[0] = '\0';
    if (kwq_queue_name_check(queue, &e))
        return kwq__fail(c, KWQ_EINVAL, "%s", e.msg);
    return kwq__async_begin_server(a);
}

struct kwq__req *kwq__async_req(struct kwq_async *a, size_t nparts, kwq__part_parse_fn *parse,
                                kwq__req_deliver_fn *deliver)
{
    struct kwq__req *r = a->spare;

    if (r) {
        a->spare = r->next;
        a->nspare--;
    } else {
        r = malloc(sizeof(*r));
        if (!r) {
            kwq__fail(a->c, KWQ_ENOMEM, "out of memory");
            return NULL;
        }
    }
    memset(r, 0, sizeof(*r));
    r->a = a;
    r->parse = parse;
    r->deliver = deliver;
    r->lease.next_due_ms = -1;
    r->parts = &r->one;
    if (nparts > 1) {
        r->parts = calloc(nparts, sizeof(*r->parts));
        if (!r->parts) {
            r->parts = &r->one;
            req_free(a, r);
            kwq__fail(a->c, KWQ_ENOMEM, "out of memory");
            return NULL;
        }
    }
    return r;
}

void kwq__async_req_drop(struct kwq_async *a, struct kwq__req *r)
{
    if (r)
        req_free(a, r);
}

int kwq__async_part(struct kwq_async *a, struct kwq__req *r, const struct kwq__args *argv,
                    size_t first, size_t count)
{
    struct kwq__part *p = &r->parts[r->nparts];
    char *cmd = NULL;
    int len;

    if (argv->oom || argv->n > (size_t)INT32_MAX)
        return kwq__fail(a->c, KWQ_ENOMEM, "out of memory building a command");
    len = redisFormatCommandArgv(&cmd, (int)argv->n, argv->v, argv->len);
    if (len < 0 || !cmd)
        return kwq__fail(a->c, KWQ_ENOMEM, "out of memory building a command");
    p->req = r;
    p->cmd = cmd;
    p->len = (size_t)len;
    p->first = first;
    p->count = count;
    p->retried = false;
    r->nparts++;
    return 0;
}

int kwq__async_eval_part(struct kwq_async *a, struct kwq__req *r, const char *queue,
                         const struct kwq__args *xkeys, const struct kwq__args *args, size_t first,
                         size_t count)
{
    int rc;

    kwq__args_clear(&a->argv);
    rc = kwq__eval_argv(a->c, r->op, queue, xkeys, args, &a->argv);
    if (!rc)
        r->parts[r->nparts].op = r->op;
    return rc ? rc : kwq__async_part(a, r, &a->argv, first, count);
}

/* ---- Sending, deadlines ------------------------------------------------------------ */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Hand part p to hiredis (it copies the command). */
static int send_part(struct kwq_async *a, struct kwq__part *p)
{
    if (redisAsyncFormattedCommand(a->ac, on_reply, p, p->cmd, p->len) != REDIS_OK)
        return kwq__fail(a->c, KWQ_ENOMEM, "out of memory sending a command to Redis");
    p->req->hrefs++;
    p->req->parts_left++;
    /* Only a script call may have to be sent again. */
    if (!p->req->script)
        free_cmd(p);
    return 0;
}

/*
 * Have the timer fire by at. It only ever moves earlier here: when it fires
 * for a call already answered, on_deadline sets it for the oldest call then.
 */
static void arm(struct kwq_async *a, ev_tstamp at)
{
    if (ev_is_active(&a->timer) && a->timer_at <= at)
        return;
    ev_timer_stop(a->loop, &a->timer);
    ev_timer_set(&a->timer, at - ev_now(a->loop), 0.);
    ev_timer_start(a->loop, &a->timer);
    a->timer_at = at;
}

void kwq__async_enqueue(struct kwq_async *a, struct kwq__req *r, uint64_t budget_ms)
{
    ev_tstamp deadline;

    /*
     * The loop's time is that of its last wake-up: a call made after a long
     * callback, or before the loop first ran, would start with part of its
     * time already gone.
     */
    ev_now_update(a->loop);
    deadline = ev_now(a->loop) + (ev_tstamp)budget_ms / 1000.;
    /*
     * Replies come in call order, so a call cannot be answered before the
     * ones ahead of it (a wait, say): its time starts when theirs ends.
     */
    if (a->tail && a->tail->deadline > deadline)
        deadline = a->tail->deadline;
    r->deadline = deadline;
    r->budget_ms = budget_ms;
    r->next = NULL;
    if (a->tail)
        a->tail->next = r;
    else
        a->head = r;
    a->tail = r;
    a->pending++;
    arm(a, deadline);
}

int kwq__async_send(struct kwq_async *a, struct kwq__req *r)
{
    int rc = 0;

    r->gen = a->gen;
    for (size_t i = 0; i < r->nparts && !rc; i++) {
        rc = send_part(a, &r->parts[i]);
        if (rc && i == 0)
            return rc;
    }
    if (rc) {
        /* Some parts are on their way: the callback gets the error when they are answered. */
        r->rc = rc;
        r->err = strdup(a->c->errstr);
    }
    return 0;
}

int kwq__async_submit(struct kwq_async *a, struct kwq__req *r, uint64_t budget_ms)
{
    int rc = kwq__async_send(a, r);

    if (rc) {
        req_free(a, r);
        return rc;
    }
    kwq__async_enqueue(a, r, budget_ms);
    return 0;
}

/* ---- Delivery -------------------------------------------------------------------- */

/* Call r's callback (r is off the queue) with its outcome, or with code when not done. */
static void deliver(struct kwq_async *a, struct kwq__req *r, int code)
{
    int rc = r->done ? r->rc : code;

    r->delivered = true;
    a->pending--;
    if (r->done && r->rc && r->err)
        (void)snprintf(a->c->errstr, sizeof(a->c->errstr), "%s", r->err);
    r->deliver(a, r, rc);
    if (r->hrefs == 0)
        req_free(a, r);
}

/* Deliver the calls at the head of the queue that are done. */
static void deliver_done(struct kwq_async *a)
{
    while (a->head && a->head->done) {
        struct kwq__req *r = a->head;

        a->head = r->next;
        if (!a->head)
            a->tail = NULL;
        deliver(a, r, 0);
    }
}

void kwq__async_fail_all(struct kwq_async *a, int code, bool free_ac)
{
    redisAsyncContext *ac = a->ac;
    struct kwq__req *list = a->head;
    char why[KWQ_ERRSTR_LEN];

    a->ac = NULL;
    a->state = KWQ__ASYNC_DOWN;
    a->head = a->tail = NULL;
    ev_timer_stop(a->loop, &a->timer);
    kwq__resolve_abandon(a);
    /* Its pending callbacks run now, or when hiredis returns from the one running. */
    if (ac && free_ac)
        redisAsyncFree(ac);
    memcpy(why, a->c->errstr, sizeof(why));
    while (list) {
        struct kwq__req *r = list;

        list = r->next;
        /* A callback may have made other calls fail since: each one learns this reason. */
        memcpy(a->c->errstr, why, sizeof(why));
        deliver(a, r, code);
    }
}

void kwq_async_disconnect(struct kwq_async *a)
{
    if (!a || a->state == KWQ__ASYNC_DOWN)
        return;
    kwq__fail(a->c, KWQ_ECONN, "disconnected from Redis at %s (kwq_async_disconnect)",
              kwq__url_for_msg(a->c));
    kwq__async_fail_all(a, KWQ_ECONN, true);
}

/* ---- Replies --------------------------------------------------------------------- */

/* Part p of r is answered: rc 0, or its error (errstr set). */
static void part_done(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (rc && !r->rc) {
        r->rc = rc;
        /* Delivered later, behind an earlier call, the errstr may have changed by then. */
        free(r->err);
        r->err = strdup(a->c->errstr);
    }
    if (--r->parts_left == 0) {
        r->done = true;
        deliver_done(a);
    }
}

/* Send part p (a script call, whose command is kept) once more. */
static int send_again(struct kwq_async *a, struct kwq__part *p)
{
    if (redisAsyncFormattedCommand(a->ac, on_reply, p, p->cmd, p->len) != REDIS_OK)
        return kwq__fail(a->c, KWQ_ENOMEM, "out of memory sending a command to Redis");
    p->req->hrefs++;
    return 0;
}

/* The script of r went missing (SCRIPT FLUSH, a restart): load it, send p once more. */
static int resend(struct kwq_async *a, struct kwq__part *p)
{
    p->retried = true;
    kwq__args_clear(&a->argv);
    kwq__script_load_argv(a->c, p->op, &a->argv);
    /* Its reply is not needed: if the load fails, the resent call says NOSCRIPT again. */
    if (a->argv.oom || redisAsyncCommandArgv(a->ac, NULL, NULL, (int)a->argv.n, a->argv.v,
                                             a->argv.len) != REDIS_OK)
        return kwq__fail(a->c, KWQ_ENOMEM, "out of memory sending a command to Redis");
    return send_again(a, p);
}

/* The part asked to be sent again (KWQ__PART_AGAIN): it gets its whole time once more. */
static int repeat(struct kwq_async *a, struct kwq__part *p)
{
    struct kwq__req *r = p->req;
    ev_tstamp deadline;

    ev_now_update(a->loop);
    deadline = ev_now(a->loop) + (ev_tstamp)r->budget_ms / 1000.;
    if (deadline > r->deadline)
        r->deadline = deadline; /* the timer, armed earlier, sees it and waits on */
    return send_again(a, p);
}

/* The connection ac broke (hiredis is freeing it): fail every call. */
static void connection_lost(struct kwq_async *a, const redisAsyncContext *ac)
{
    const char *why = ac->c.err == REDIS_ERR_EOF ? "the server closed it" : ac->c.errstr;

    if (a->state == KWQ__ASYNC_CONNECTING)
        kwq__fail(a->c, KWQ_ECONN, "cannot connect to Redis at %s: %s", kwq__url_for_msg(a->c),
                  why);
    else
        kwq__fail(a->c, KWQ_ECONN, "lost the connection to Redis at %s: %s", kwq__url_for_msg(a->c),
                  why);
    kwq__async_fail_all(a, KWQ_ECONN, false);
}

/* A reply (NULL: the connection is gone) for part p of a live request. */
static void handle_reply(struct kwq_async *a, redisAsyncContext *ac, redisReply *reply,
                         struct kwq__part *p)
{
    struct kwq__req *r = p->req;
    bool nosc = false, drop = false;
    int rc;

    if (!reply) {
        connection_lost(a, ac);
        return;
    }
    if (reply->type != REDIS_REPLY_ERROR) {
        rc = r->parse(a, r, p, reply);
        if (rc == KWQ__PART_AGAIN) {
            rc = repeat(a, p);
            if (!rc)
                return;
        }
        part_done(a, r, rc);
        return;
    }
    rc = kwq__reply_error(a->c, reply, r->script && !p->retried ? &nosc : NULL, &drop);
    if (nosc) {
        rc = resend(a, p);
        if (!rc)
            return;
    }
    if (r->refused && !drop)
        rc = r->refused(a, r, p, rc);
    part_done(a, r, rc);
    /*
     * A passing state of the server (still loading its data, a busy script:
     * kwq__reply_error's drop) refuses every call for a while: start over,
     * as the synchronous client does.
     */
    if (drop && a->ac == ac) {
        kwq__fail(a->c, rc, "%s", r->err ? r->err : kwq_strerror(rc));
        kwq__async_fail_all(a, rc, true);
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct kwq__part *p = privdata;
    struct kwq__req *r = p->req;
    struct kwq_async *a = r->a;

    /* Replies for a connection given up on, or for a call already failed, only release r. */
    if (!r->done && !r->delivered && a->ac == ac && r->gen == a->gen)
        handle_reply(a, ac, reply, p);
    if (--r->hrefs == 0 && r->delivered)
        req_free(a, r);
}

/* hiredis dropped the connection (no call was waiting on it, or after failing them). */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct kwq_async *a = ac->data;

    (void)status;
    if (a && a->ac == ac)
        connection_lost(a, ac);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kwq_async *a = w->data;
    struct kwq__req *r = a->head;

    (void)revents;
    if (!r)
        return;
    if (r->deadline > ev_now(loop)) {
        arm(a, r->deadline);
        return;
    }
    if (a->state == KWQ__ASYNC_CONNECTING)
        kwq__fail(a->c, KWQ_ETIMEOUT, "Redis at %s did not complete the connection within %llu ms",
                  kwq__url_for_msg(a->c), (unsigned long long)r->budget_ms);
    else
        kwq__fail(a->c, KWQ_ETIMEOUT, "Redis at %s did not answer within %llu ms",
                  kwq__url_for_msg(a->c), (unsigned long long)r->budget_ms);
    kwq__async_fail_all(a, KWQ_ETIMEOUT, true);
}

/*
 * The write event of hiredis's libev adapter, with SIGPIPE blocked as the
 * synchronous client does it (client.c): a write to a closed connection
 * must fail with EPIPE, not kill the process.
 */
static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    redisLibevEvents *e = w->data;
    struct kwq__sigpipe sp;

    (void)loop;
    (void)revents;
    kwq__sigpipe_block(&sp);
    redisAsyncHandleWrite(e->context); /* may free e */
    kwq__sigpipe_restore(&sp);
}

int kwq__async_attach(struct kwq_async *a, redisAsyncContext *ac)
{
    if (redisLibevAttach(a->loop, ac) != REDIS_OK)
        return kwq__fail(a->c, KWQ_ENOMEM, "cannot attach to the event loop");
    ev_set_cb(&((redisLibevEvents *)ac->ev.data)->wev, on_writable);
    /*
     * Commands go out before replies are read in the same loop iteration: a
     * write to a server that died then fails with EPIPE (our SIGPIPE guard)
     * rather than racing its end-of-file on the read side.
     */
    ev_set_priority(&((redisLibevEvents *)ac->ev.data)->wev, 1);
    ac->data = a;
    (void)redisAsyncSetDisconnectCallback(ac, on_disconnect);
    a->ac = ac;
    a->gen++;
    return 0;
}
