/*
 * async_admin.c - the non-blocking calls of housekeeping and inspection
 * (kwq/async.h), the ones kwq-broker makes: reap, the queue registry, the
 * dead letters, one task. As async_ops.c: arguments checked and commands
 * built as their kwq/client.h namesakes do, replies parsed by the same
 * parsers, results kept in the request for its callback.
 */
#include <stdlib.h>

#include "async_int.h"

/* ---- reap ------------------------------------------------------------------------- */

static int parse_reap(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                      const redisReply *reply)
{
    (void)p;
    return kwq__reap_parse(a->c, reply, &r->reap);
}

static void deliver_reap(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.reap)
        r->cb.reap(a, rc, rc < 0 ? NULL : &r->reap, r->data);
}

int kwq_async_reap(struct kwq_async *a, const char *queue, size_t max, kwq_async_reap_cb *cb,
                   void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__reap_check(a->c, max);
    if (rc)
        return rc;
    r = kwq__async_script_req(a, KWQ__REAP, 1, 1, parse_reap, deliver_reap, data);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.reap = cb;
    kwq__args_clear(&a->items);
    kwq__reap_args(max, &a->items);
    rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, 0, 0);
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

/* ---- The queue registry ----------------------------------------------------------- */

static int parse_queues(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                        const redisReply *reply)
{
    (void)p;
    return kwq__queues_parse(a->c, reply, &r->names, &r->n);
}

static void deliver_queues(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.queues)
        r->cb.queues(a, rc, rc < 0 ? NULL : r->names, rc < 0 ? 0 : r->n, r->data);
}

int kwq_async_queues_list(struct kwq_async *a, kwq_async_queues_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin_server(a);

    if (rc)
        return rc;
    r = kwq__async_req(a, 1, parse_queues, deliver_queues);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.queues = cb;
    r->data = data;
    kwq__args_clear(&a->argv);
    kwq__queues_argv(&a->argv);
    rc = kwq__async_part(a, r, &a->argv, 0, 0);
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

/* ---- Dead letters ----------------------------------------------------------------- */

static int parse_dead_list(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                           const redisReply *reply)
{
    (void)p;
    return kwq__dead_list_parse(a->c, reply, &r->dead, &r->n);
}

static void deliver_dead_list(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.dead)
        r->cb.dead(a, rc, rc < 0 ? NULL : r->dead, rc < 0 ? 0 : r->n, r->data);
}

int kwq_async_dead_list(struct kwq_async *a, const char *queue, size_t offset, size_t count,
                        kwq_async_dead_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (rc)
        return rc;
    if (count > KWQ__DEAD_LIST_MAX)
        count = KWQ__DEAD_LIST_MAX;
    r = kwq__async_script_req(a, KWQ__DEAD_LIST, 0, 1, parse_dead_list, deliver_dead_list, data);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.dead = cb;
    if (count == 0) {
        /* As kwq_dead_list: nothing to ask, an empty list, after the calls before it. */
        rc = kwq__async_ping_part(a, r);
    } else {
        kwq__args_clear(&a->items);
        kwq__dead_list_args(offset, count, &a->items);
        rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, 0, 0);
    }
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

/* A requeue or purge call's count; one of every dead task ("*all") repeats until it is 0. */
static int parse_dead_op(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                         const redisReply *reply)
{
    long long done;
    int rc = kwq__count_parse(a->c, reply, &done);

    if (rc)
        return rc;
    r->count += done;
    if (r->count > 0x7fffffff)
        r->count = 0x7fffffff;
    return p->count == 0 && done > 0 ? KWQ__PART_AGAIN : 0;
}

static void deliver_count(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.count)
        r->cb.count(a, rc < 0 ? rc : (int)r->count, r->data);
}

/* requeue or purge of the n IDs, KWQ__DEAD_CHUNK a part, or of every dead task (ids NULL). */
static int dead_call(struct kwq_async *a, const char *queue, const char *op, const char *const *ids,
                     size_t n, kwq_async_count_cb *cb, void *data)
{
    size_t nparts = ids && n ? (n + KWQ__DEAD_CHUNK - 1) / KWQ__DEAD_CHUNK : 1;
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__dead_ids_check(a->c, ids, n);
    if (rc)
        return rc;
    r = kwq__async_script_req(a, KWQ__DEAD, n, nparts, parse_dead_op, deliver_count, data);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.count = cb;
    if (ids && n == 0)
        rc = kwq__async_ping_part(a, r);
    for (size_t s = 0; !rc && s < (ids ? n : 1); s += KWQ__DEAD_CHUNK) {
        size_t m = ids ? (n - s < KWQ__DEAD_CHUNK ? n - s : KWQ__DEAD_CHUNK) : 0;

        kwq__args_clear(&a->items);
        kwq__dead_op_args(op, ids ? ids + s : NULL, m, &a->items);
        /* count 0 marks the "*all" part, which parse_dead_op repeats. */
        rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, s, m);
    }
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

int kwq_async_dead_requeue(struct kwq_async *a, const char *queue, const char *const *ids, size_t n,
                           kwq_async_count_cb *cb, void *data)
{
    return dead_call(a, queue, "requeue", ids, n, cb, data);
}

int kwq_async_dead_purge(struct kwq_async *a, const char *queue, const char *const *ids, size_t n,
                         kwq_async_count_cb *cb, void *data)
{
    return dead_call(a, queue, "purge", ids, n, cb, data);
}

/* ---- One task --------------------------------------------------------------------- */

static int parse_task(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                      const redisReply *reply)
{
    (void)p;
    return kwq__task_parse(a->c, reply, &r->task);
}

static void deliver_task(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.task)
        r->cb.task(a, rc, rc < 0 ? NULL : &r->task, r->data);
}

int kwq_async_task_get(struct kwq_async *a, const char *queue, const char *id,
                       kwq_async_task_cb *cb, void *data)
{
    struct kwq__req *r;
    char *rkey = NULL;
    int rc = kwq__async_begin(a, queue);

    if (rc)
        return rc;
    kwq__args_clear(&a->keys);
    kwq__args_clear(&a->items);
    rc = kwq__task_argv(a->c, queue, NULL, id, true, &a->keys, &a->items, &rkey);
    if (rc)
        return rc;
    r = kwq__async_script_req(a, KWQ__TASK, 1, 1, parse_task, deliver_task, data);
    if (!r) {
        free(rkey);
        return KWQ_ENOMEM;
    }
    r->cb.task = cb;
    rc = kwq__async_eval_part(a, r, queue, &a->keys, &a->items, 0, 0);
    free(rkey); /* the part holds the formatted command */
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}
