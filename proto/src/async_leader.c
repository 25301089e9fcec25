/*
 * async_leader.c - the leader lease of kwq/leader.h on the non-blocking
 * client: the same checks, script arguments and reply parsers as leader.c,
 * one script call per operation.
 */
#include "kwq/leader.h"

#include "async_int.h"

static int parse_state(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                       const redisReply *reply)
{
    (void)p;
    return kwq__leader_parse(a->c, reply, &r->leader);
}

static void deliver_state(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.leader)
        r->cb.leader(a, rc, rc < 0 ? NULL : &r->leader, r->data);
}

static int parse_released(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                          const redisReply *reply)
{
    int rc = kwq__leader_released(a->c, reply);

    (void)p;
    r->flag = rc == 1;
    return rc < 0 ? rc : 0;
}

static void deliver_released(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.count)
        r->cb.count(a, rc < 0 ? rc : r->flag, r->data);
}

/*
 * A request for op over the lease of name with args (may be NULL), built
 * but not sent: the caller sets its callback and submits it. Returns 0, or
 * the error with nothing left behind.
 */
static int leader_call(struct kwq_async *a, enum kwq__op op, const char *name,
                       const struct kwq__args *args, kwq__part_parse_fn *parse,
                       kwq__req_deliver_fn *deliver, struct kwq__req **ret)
{
    char key[KWQ_LEADER_NAME_MAX + 16];
    struct kwq__req *r = kwq__async_req(a, 1, parse, deliver);
    int rc;

    if (!r)
        return KWQ_ENOMEM;
    r->script = true;
    r->op = op;
    r->n = 1;
    kwq__args_clear(&a->keys);
    kwq__args_add(&a->keys, key, kwq__key_leader(key, sizeof(key), name));
    rc = kwq__async_eval_part(a, r, NULL, &a->keys, args, 0, 0);
    if (rc) {
        kwq__async_req_drop(a, r);
        return rc;
    }
    *ret = r;
    return 0;
}

int kwq_async_leader_acquire(struct kwq_async *a, const char *name, const char *holder,
                             uint64_t ttl_ms, kwq_async_leader_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__leader_check(a->c, name, holder);

    if (!rc)
        rc = kwq__leader_ttl_check(a->c, ttl_ms);
    if (!rc)
        rc = kwq__async_begin(a, name); /* a lease name is also a valid queue name */
    if (rc)
        return rc;
    kwq__args_clear(&a->items);
    kwq__leader_acquire_args(a->c, holder, ttl_ms, &a->items);
    rc = leader_call(a, KWQ__LEADER, name, &a->items, parse_state, deliver_state, &r);
    if (rc)
        return rc;
    r->cb.leader = cb;
    r->data = data;
    return kwq__async_submit(a, r, a->c->opts.command_timeout_ms);
}

int kwq_async_leader_release(struct kwq_async *a, const char *name, const char *holder,
                             uint64_t term, kwq_async_count_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__leader_check(a->c, name, holder);

    if (!rc)
        rc = kwq__leader_term_check(a->c, term);
    if (!rc)
        rc = kwq__async_begin(a, name);
    if (rc)
        return rc;
    kwq__args_clear(&a->items);
    kwq__leader_release_args(holder, term, &a->items);
    rc = leader_call(a, KWQ__LEADER, name, &a->items, parse_released, deliver_released, &r);
    if (rc)
        return rc;
    r->cb.count = cb;
    r->data = data;
    return kwq__async_submit(a, r, a->c->opts.command_timeout_ms);
}

int kwq_async_leader_read(struct kwq_async *a, const char *name, kwq_async_leader_cb *cb,
                          void *data)
{
    struct kwq__req *r;
    int rc = kwq__leader_check(a->c, name, NULL);

    if (!rc)
        rc = kwq__async_begin(a, name);
    if (rc)
        return rc;
    rc = leader_call(a, KWQ__LEADER_READ, name, NULL, parse_state, deliver_state, &r);
    if (rc)
        return rc;
    r->cb.leader = cb;
    r->data = data;
    return kwq__async_submit(a, r, a->c->opts.command_timeout_ms);
}
