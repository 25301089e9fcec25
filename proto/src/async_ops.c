/*
 * async_ops.c - the operations of the non-blocking client (kwq/async.h):
 * each checks its arguments as its kwq/client.h namesake does, builds its
 * commands with the same builders (a script call per chunk of items) and
 * parses their replies with the same parsers into the request, whose
 * callback then gets the results.
 */
#include <stdlib.h>

#include "async_int.h"

int kwq__async_finish(struct kwq_async *a, struct kwq__req *r, int rc, uint64_t budget_ms)
{
    if (rc) {
        kwq__async_req_drop(a, r);
        return rc;
    }
    return kwq__async_submit(a, r, budget_ms);
}

/* Parts for n items: one script call per chunk, or one PING when there is nothing to send. */
static size_t chunks(size_t n)
{
    return n ? (n + KWQ__HOLD_CHUNK - 1) / KWQ__HOLD_CHUNK : 1;
}

static int parse_nop(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                     const redisReply *reply)
{
    (void)a;
    (void)r;
    (void)p;
    (void)reply;
    return 0;
}

int kwq__async_ping_part(struct kwq_async *a, struct kwq__req *r)
{
    r->script = false;
    r->parse = parse_nop;
    kwq__args_clear(&a->argv);
    kwq__args_add(&a->argv, "PING", 4);
    return kwq__async_part(a, r, &a->argv, 0, 0);
}

struct kwq__req *kwq__async_script_req(struct kwq_async *a, enum kwq__op op, size_t n,
                                       size_t nparts, kwq__part_parse_fn *parse,
                                       kwq__req_deliver_fn *deliver, void *data)
{
    struct kwq__req *r = kwq__async_req(a, nparts, parse, deliver);

    if (r) {
        r->script = true;
        r->op = op;
        r->n = n;
        r->data = data;
    }
    return r;
}

/* ---- lease ----------------------------------------------------------------------- */

static int parse_lease(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                       const redisReply *reply)
{
    (void)p;
    return kwq__lease_parse(a->c, reply, r->max, &r->lease);
}

static void deliver_lease(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.lease)
        r->cb.lease(a, rc, rc < 0 ? NULL : &r->lease, r->data);
    /* What the callback did not take is freed with r. */
}

int kwq_async_lease(struct kwq_async *a, const char *queue, size_t max, uint64_t lease_ms,
                    kwq_async_lease_cb *cb, void *data)
{
    return kwq_async_lease_prefetch(a, queue, max, max, lease_ms, cb, data);
}

int kwq_async_lease_prefetch(struct kwq_async *a, const char *queue, size_t max, size_t charge,
                             uint64_t lease_ms, kwq_async_lease_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__lease_check(a->c, max, lease_ms);
    if (!rc)
        rc = kwq__charge_check(a->c, max, charge);
    if (rc)
        return rc;
    r = kwq__async_script_req(a, KWQ__LEASE, 1, chunks(1), parse_lease, deliver_lease, data);
    if (!r)
        return KWQ_ENOMEM;
    r->max = max;
    r->cb.lease = cb;
    kwq__args_clear(&a->items);
    kwq__lease_args(a->c, max, lease_ms, &a->items);
    if (charge < max)
        kwq__lease_charge_arg(charge, &a->items);
    rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, 0, 0);
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

/* ---- renew, ack, release: a status per item ------------------------------------------- */

static int parse_status(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                        const redisReply *reply)
{
    return kwq__statuses(a->c, reply, p->count, r->status + p->first);
}

/* Where a part's "sent" indexes are: ack parts in r->sent[0..n), ack_result parts after. */
static size_t *ack_sent(struct kwq__req *r, const struct kwq__part *p)
{
    return r->sent + (p->op == KWQ__ACK_RESULT ? r->n : 0) + p->first;
}

static int parse_ack(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                     const redisReply *reply)
{
    return kwq__ack_parse(a->c, reply, p->count, ack_sent(r, p), r->status + p->first);
}

/* An ack_result refused at maxmemory: its items get KWQ_EOOM, the other parts go on. */
static int refused_ack(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p, int rc)
{
    rc = kwq__ack_refused(a->c, rc, p->count, ack_sent(r, p), r->status + p->first);
    if (rc != KWQ_EOOM)
        return rc;
    r->flag = true;
    return 0;
}

static void deliver_status(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (rc == 0 && r->flag && r->sent) /* an ack with items refused for memory */
        rc = kwq__ack_refused(a->c, KWQ_EOOM, 0, NULL, NULL);
    if (r->cb.status)
        r->cb.status(a, rc, rc < 0 && !(rc == KWQ_EOOM && r->flag) ? NULL : r->status, r->n,
                     r->data);
}

/* A request for n items with a status each, of op, in nparts parts. */
static struct kwq__req *status_req(struct kwq_async *a, enum kwq__op op, size_t n, size_t nparts,
                                   kwq__part_parse_fn *parse, kwq_async_status_cb *cb, void *data)
{
    struct kwq__req *r = kwq__async_script_req(a, op, n, nparts, parse, deliver_status, data);

    if (!r)
        return NULL;
    r->cb.status = cb;
    r->status = calloc(n ? n : 1, sizeof(*r->status));
    if (!r->status) {
        kwq__async_req_drop(a, r);
        kwq__fail(a->c, KWQ_ENOMEM, "out of memory");
        return NULL;
    }
    return r;
}

/* renew (lease_ms > 0) or release (lease_ms 0) of n leases. */
static int refs_call(struct kwq_async *a, const char *queue, enum kwq__op op,
                     const struct kwq_lease_ref *refs, size_t n, uint64_t lease_ms,
                     kwq_async_status_cb *cb, void *data)
{
    struct kwq__req *r = status_req(a, op, n, chunks(n), parse_status, cb, data);
    int rc = 0;

    if (!r)
        return KWQ_ENOMEM;
    if (n == 0)
        rc = kwq__async_ping_part(a, r);
    for (size_t s = 0; !rc && s < n; s += KWQ__HOLD_CHUNK) {
        size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK;

        kwq__args_clear(&a->items);
        kwq__refs_args(refs + s, m, lease_ms, &a->items);
        rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, s, m);
    }
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

int kwq_async_renew(struct kwq_async *a, const char *queue, const struct kwq_lease_ref *refs,
                    size_t n, uint64_t lease_ms, kwq_async_status_cb *cb, void *data)
{
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__renew_check(a->c, refs, n, lease_ms);
    return rc ? rc : refs_call(a, queue, KWQ__RENEW, refs, n, lease_ms, cb, data);
}

int kwq_async_start(struct kwq_async *a, const char *queue, const struct kwq_lease_ref *refs,
                    size_t n, kwq_async_status_cb *cb, void *data)
{
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__refs_check(a->c, "start", refs, n);
    return rc ? rc : refs_call(a, queue, KWQ__START, refs, n, 0, cb, data);
}

int kwq_async_release(struct kwq_async *a, const char *queue, const struct kwq_lease_ref *refs,
                      size_t n, kwq_async_status_cb *cb, void *data)
{
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__refs_check(a->c, "release", refs, n);
    return rc ? rc : refs_call(a, queue, KWQ__RELEASE, refs, n, 0, cb, data);
}

/* How many script calls kwq_async_ack makes for n acks (a dry run of its loop), at least 1. */
static size_t ack_calls(struct kwq_async *a, const char *queue, const struct kwq_ack *acks,
                        size_t n)
{
    size_t calls = 0, sent[KWQ__HOLD_CHUNK];

    for (int pass = 0; pass < 2; pass++) {
        for (size_t s = 0, scanned; s < n; s += scanned) {
            size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK;

            kwq__args_clear(&a->items);
            kwq__args_clear(&a->keys);
            if (kwq__ack_args(a->c, queue, acks + s, m, pass == 1, NULL, sent, &scanned, &a->keys,
                              &a->items) > 0)
                calls++;
        }
    }
    return calls ? calls : 1;
}

int kwq_async_ack(struct kwq_async *a, const char *queue, const struct kwq_ack *acks, size_t n,
                  kwq_async_status_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__ack_check(a->c, acks, n);
    if (rc)
        return rc;
    r = status_req(a, KWQ__ACK, n, ack_calls(a, queue, acks, n), parse_ack, cb, data);
    if (!r)
        return KWQ_ENOMEM;
    r->refused = refused_ack;
    r->sent = calloc(n ? 2 * n : 1, sizeof(*r->sent));
    if (!r->sent)
        rc = kwq__fail(a->c, KWQ_ENOMEM, "out of memory");
    /* As kwq_ack: acks without a result first (ack), then those with one (ack_result). */
    for (int pass = 0; !rc && pass < 2; pass++) {
        r->op = pass ? KWQ__ACK_RESULT : KWQ__ACK;
        for (size_t s = 0, scanned; !rc && s < n; s += scanned) {
            size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK, k;

            kwq__args_clear(&a->items);
            kwq__args_clear(&a->keys);
            k = kwq__ack_args(a->c, queue, acks + s, m, pass == 1, r->status + s,
                              r->sent + (pass ? n : 0) + s, &scanned, &a->keys, &a->items);
            if (k > 0)
                rc = kwq__async_eval_part(a, r, queue, &a->keys, &a->items, s, k);
        }
    }
    if (!rc && r->nparts == 0)
        rc = kwq__async_ping_part(a, r); /* every result was over the limit */
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

/* ---- fail -------------------------------------------------------------------------- */

static int parse_fail(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                      const redisReply *reply)
{
    return kwq__fail_parse(a->c, reply, p->count, r->out + p->first);
}

static void deliver_fail(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.fail)
        r->cb.fail(a, rc, rc < 0 ? NULL : r->out, r->n, r->data);
}

int kwq_async_fail(struct kwq_async *a, const char *queue, const struct kwq_failure *f, size_t n,
                   kwq_async_fail_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (!rc)
        rc = kwq__fail_check(a->c, f, n);
    if (rc)
        return rc;
    r = kwq__async_script_req(a, KWQ__FAIL, n, chunks(n), parse_fail, deliver_fail, data);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.fail = cb;
    r->out = calloc(n ? n : 1, sizeof(*r->out));
    if (!r->out)
        rc = kwq__fail(a->c, KWQ_ENOMEM, "out of memory");
    else if (n == 0)
        rc = kwq__async_ping_part(a, r);
    for (size_t s = 0; !rc && s < n; s += KWQ__HOLD_CHUNK) {
        size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK;

        kwq__args_clear(&a->items);
        kwq__fail_args(f + s, m, &a->items);
        rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, s, m);
    }
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

/* ---- drained, stats, wait -------------------------------------------------------------------- */

static int parse_drained(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                         const redisReply *reply)
{
    (void)p;
    return kwq__seal_parse(a->c, reply, NULL, &r->flag);
}

static void deliver_drained(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.drained)
        r->cb.drained(a, rc, rc == 0 && r->flag, r->data);
}

int kwq_async_drained(struct kwq_async *a, const char *queue, kwq_async_drained_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (rc)
        return rc;
    r = kwq__async_script_req(a, KWQ__SEAL, 1, chunks(1), parse_drained, deliver_drained, data);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.drained = cb;
    kwq__args_clear(&a->items);
    kwq__seal_args("drained", &a->items);
    rc = kwq__async_eval_part(a, r, queue, NULL, &a->items, 0, 0);
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

static int parse_stats(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                       const redisReply *reply)
{
    (void)p;
    return kwq__stats_parse(a->c, reply, &r->stats);
}

static void deliver_stats(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.stats)
        r->cb.stats(a, rc, rc < 0 ? NULL : &r->stats, r->data);
}

/* stats (reaping) or stats_ro (writing nothing): the same reply. */
static int stats_call(struct kwq_async *a, enum kwq__op op, const char *queue,
                      kwq_async_stats_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (rc)
        return rc;
    r = kwq__async_script_req(a, op, 1, chunks(1), parse_stats, deliver_stats, data);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.stats = cb;
    kwq__stats_init(&r->stats);
    rc = kwq__async_eval_part(a, r, queue, NULL, NULL, 0, 0);
    return kwq__async_finish(a, r, rc, a->c->opts.command_timeout_ms);
}

int kwq_async_stats(struct kwq_async *a, const char *queue, kwq_async_stats_cb *cb, void *data)
{
    return stats_call(a, KWQ__STATS, queue, cb, data);
}

int kwq_async_stats_read(struct kwq_async *a, const char *queue, kwq_async_stats_cb *cb, void *data)
{
    return stats_call(a, KWQ__STATS_RO, queue, cb, data);
}

static int parse_wait(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                      const redisReply *reply)
{
    (void)a;
    (void)p;
    r->flag = kwq__wait_woken(reply);
    return 0;
}

static void deliver_wait(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (r->cb.wait)
        r->cb.wait(a, rc, rc == 0 && r->flag, r->data);
}

int kwq_async_wait(struct kwq_async *a, const char *queue, uint64_t timeout_ms,
                   kwq_async_wait_cb *cb, void *data)
{
    struct kwq__req *r;
    int rc = kwq__async_begin(a, queue);

    if (rc)
        return rc;
    if (timeout_ms == 0)
        timeout_ms = 1; /* as the BLPOP: 0 would block for ever */
    r = kwq__async_req(a, 1, parse_wait, deliver_wait);
    if (!r)
        return KWQ_ENOMEM;
    r->cb.wait = cb;
    r->data = data;
    kwq__args_clear(&a->argv);
    kwq__wait_argv(queue, timeout_ms, &a->argv);
    rc = kwq__async_part(a, r, &a->argv, 0, 0);
    return kwq__async_finish(a, r, rc, timeout_ms + a->c->opts.command_timeout_ms);
}
