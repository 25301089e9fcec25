/*
 * client_lease.c - taking leases: kwq_lease with its blocking wait on the
 * queue's wake list (docs/PROTOCOL.md "Wake-up"), and the same wait split in
 * two for event loops.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/util.h"

#include "client_int.h"

/* Fields per leased task in the lease reply. */
#define LEASE_FIELDS 7

void kwq_lease_result_done(struct kwq_lease_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        kwq_task_done(&r->tasks[i]);
    free(r->tasks);
    memset(r, 0, sizeof(*r));
}

static int parse_task(const redisReply *const *f, struct kwq_task *t)
{
    long long token, attempt, max, timeout, enq;

    if (!kwq__copy_id(t->id, f[0]) || !kwq__reply_int(f[1], &token) ||
        !kwq__reply_int(f[2], &attempt) || !kwq__reply_int(f[3], &max) ||
        !kwq__reply_int(f[4], &timeout) || !kwq__reply_int(f[5], &enq) ||
        f[6]->type != REDIS_REPLY_STRING)
        return -1;
    t->token = (uint64_t)token;
    t->attempt = (uint32_t)attempt;
    t->max_attempts = (uint32_t)max;
    t->timeout_ms = (uint64_t)timeout;
    t->enqueued_ms = enq;
    t->payload = kwq__reply_dup(f[6]);
    if (!t->payload)
        return -2;
    t->payload_len = f[6]->len;
    return 0;
}

void kwq__lease_args(const struct kwq_client *c, size_t max, uint64_t lease_ms,
                     struct kwq__args *args)
{
    kwq__args_addu(args, max);
    kwq__args_addu(args, lease_ms);
    kwq__args_addu(args, c->opts.max_lease_bytes);
    kwq__args_run_id(c, args);
}

int kwq__lease_parse(struct kwq_client *c, const redisReply *r, size_t max,
                     struct kwq_lease_result *ret)
{
    long long sealed, drained, due, k;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 ||
        !kwq__reply_int(r->element[0], &sealed) || !kwq__reply_int(r->element[1], &drained) ||
        !kwq__reply_int(r->element[2], &due) || !kwq__reply_int(r->element[3], &k) || k < 0 ||
        (size_t)k > max || r->elements != 4 + (size_t)k * LEASE_FIELDS)
        return kwq__bad_reply(c, "a lease reply");
    ret->sealed = sealed != 0;
    ret->drained = drained != 0;
    ret->next_due_ms = due;
    if (k == 0)
        return 0;
    ret->tasks = calloc((size_t)k, sizeof(*ret->tasks));
    if (!ret->tasks) {
        /* The tasks are leased but we cannot hold them: their leases will expire. */
        return kwq__fail(c, KWQ_ENOMEM, "out of memory reading %lld leased tasks", k);
    }
    for (size_t i = 0; i < (size_t)k; i++) {
        int e = parse_task((const redisReply *const *)&r->element[4 + i * LEASE_FIELDS],
                           &ret->tasks[i]);

        if (e) {
            kwq_lease_result_done(ret);
            return e == -2 ? kwq__fail(c, KWQ_ENOMEM, "out of memory reading a payload")
                           : kwq__bad_reply(c, "a leased task");
        }
        ret->n++;
    }
    return 0;
}

int kwq__charge_check(struct kwq_client *c, size_t max, size_t charge)
{
    if (charge > max)
        return kwq__fail(c, KWQ_EINVAL, "lease: charge must be between 0 and max (%zu), got %zu",
                         max, charge);
    return 0;
}

void kwq__lease_charge_arg(size_t charge, struct kwq__args *args)
{
    kwq__args_addu(args, charge);
}

/* One lease script call; charge: how many are charged now (>= max: all). */
static int lease_once(struct kwq_client *c, const char *queue, size_t max, size_t charge,
                      uint64_t lease_ms, struct kwq_lease_result *ret)
{
    struct kwq__args a;
    redisReply *r;
    int rc;

    kwq__args_init(&a);
    kwq__lease_args(c, max, lease_ms, &a);
    if (charge < max)
        kwq__lease_charge_arg(charge, &a);
    rc = kwq__eval(c, KWQ__LEASE, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = kwq__lease_parse(c, r, max, ret);
    freeReplyObject(r);
    return rc;
}

void kwq__wait_argv(const char *queue, uint64_t ms, struct kwq__args *argv)
{
    char key[KWQ__FIXED_KEY_LEN], secs[32];
    size_t klen;
    int n;

    if (ms == 0)
        ms = 1; /* BLPOP 0 would block forever */
    klen = kwq__key(key, sizeof(key), queue, "wake");
    n = snprintf(secs, sizeof(secs), "%llu.%03llu", (unsigned long long)(ms / 1000),
                 (unsigned long long)(ms % 1000));
    kwq__args_add(argv, "BLPOP", 5);
    kwq__args_addcopy(argv, key, klen);
    kwq__args_addcopy(argv, secs, (size_t)n);
}

bool kwq__wait_woken(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY;
}

/* BLPOP the wake list for up to ms. Returns 1 woken, 0 timed out, or an error. */
static int wait_wake(struct kwq_client *c, const char *queue, uint64_t ms)
{
    struct kwq__args a;
    redisReply *r;
    int rc;

    if (ms == 0)
        ms = 1;
    kwq__args_init(&a);
    kwq__wait_argv(queue, ms, &a);
    kwq__set_timeout(c, ms);
    rc = kwq__command(c, &a, &r);
    kwq__set_timeout(c, 0);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = kwq__wait_woken(r) ? 1 : 0;
    freeReplyObject(r);
    return rc;
}

int kwq__lease_check(struct kwq_client *c, size_t max, uint64_t lease_ms)
{
    if (max == 0 || max > 10000)
        return kwq__fail(c, KWQ_EINVAL, "lease: max must be between 1 and 10000, got %zu", max);
    if (lease_ms < 100)
        return kwq__fail(c, KWQ_EINVAL, "lease: the lease must be at least 100 ms, got %llu ms",
                         (unsigned long long)lease_ms);
    if (c->opts.max_lease_bytes > KWQ_MAX_LEASE_BYTES)
        return kwq__fail(c, KWQ_EINVAL,
                         "lease: max_lease_bytes must be between 1 and %u, got %zu; "
                         "lease fewer tasks at a time instead",
                         KWQ_MAX_LEASE_BYTES, c->opts.max_lease_bytes);
    return 0;
}

int kwq_lease(struct kwq_client *c, const char *queue, size_t max, uint64_t lease_ms,
              uint64_t wait_ms, struct kwq_lease_result *ret)
{
    return kwq_lease_prefetch(c, queue, max, max, lease_ms, wait_ms, ret);
}

int kwq_lease_prefetch(struct kwq_client *c, const char *queue, size_t max, size_t charge,
                       uint64_t lease_ms, uint64_t wait_ms, struct kwq_lease_result *ret)
{
    uint64_t deadline;
    int rc;

    memset(ret, 0, sizeof(*ret));
    ret->next_due_ms = -1;
    rc = kwq__begin(c, queue);
    if (!rc)
        rc = kwq__lease_check(c, max, lease_ms);
    if (!rc)
        rc = kwq__charge_check(c, max, charge);
    if (rc)
        return rc;
    deadline = kwq_monotonic_ms() + wait_ms;
    for (;;) {
        uint64_t now, t;

        rc = lease_once(c, queue, max, charge, lease_ms, ret);
        if (rc)
            return rc;
        if (ret->n > 0 || ret->drained || wait_ms == 0)
            return (int)ret->n;
        now = kwq_monotonic_ms();
        if (now >= deadline)
            return 0;
        t = deadline - now;
        if (ret->next_due_ms >= 0 && (uint64_t)ret->next_due_ms < t)
            t = (uint64_t)ret->next_due_ms + 1; /* just past the due time */
        rc = wait_wake(c, queue, t);
        if (rc < 0)
            return rc;
    }
}

/* ---- Event-loop wait ----------------------------------------------------------- */

int kwq_wait_start(struct kwq_client *c, const char *queue, uint64_t timeout_ms)
{
    struct kwq__args a;
    int done = 0, rc = kwq__begin(c, queue);

    if (rc)
        return rc;
    kwq__args_init(&a);
    kwq__wait_argv(queue, timeout_ms, &a);
    rc = a.oom || redisAppendCommandArgv(c->rc, (int)a.n, a.v, a.len) != REDIS_OK;
    kwq__args_free(&a);
    if (rc)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    while (!done) {
        struct kwq__sigpipe sp;
        int ok;

        kwq__sigpipe_block(&sp);
        ok = redisBufferWrite(c->rc, &done);
        kwq__sigpipe_restore(&sp);
        if (ok != REDIS_OK) {
            kwq__fail(c, KWQ_ECONN, "lost the connection to Redis at %s: %s",
                      kwq_client_url_redacted(c), c->rc->errstr);
            kwq__disconnect(c);
            return KWQ_ECONN;
        }
    }
    c->waiting = true;
    return 0;
}

int kwq_wait_finish(struct kwq_client *c)
{
    struct pollfd p;
    void *reply = NULL;
    int rc;

    c->errstr[0] = '\0';
    if (!c->waiting || !c->rc)
        return kwq__fail(c, KWQ_EINVAL, "kwq_wait_finish without kwq_wait_start");
    /* A blocking read would hang if the caller woke us early: look first. */
    if (redisGetReplyFromReader(c->rc, &reply) != REDIS_OK)
        goto broken;
    if (!reply) {
        p.fd = c->rc->fd;
        p.events = POLLIN;
        p.revents = 0;
        rc = poll(&p, 1, 0);
        if (rc == 0 || (rc < 0 && errno == EINTR))
            return KWQ_WAIT_AGAIN;
        if (redisBufferRead(c->rc) != REDIS_OK)
            goto broken;
        if (redisGetReplyFromReader(c->rc, &reply) != REDIS_OK)
            goto broken;
        if (!reply)
            return KWQ_WAIT_AGAIN;
    }
    c->waiting = false;
    rc = kwq__wait_woken(reply) ? KWQ_WAIT_WOKEN : KWQ_WAIT_TIMEOUT;
    if (((redisReply *)reply)->type == REDIS_REPLY_ERROR)
        rc = kwq__fail(c, KWQ_EREDIS, "Redis error while waiting: %.200s",
                       ((redisReply *)reply)->str);
    freeReplyObject(reply);
    return rc;
broken:
    kwq__fail(c, KWQ_ECONN, "lost the connection to Redis at %s: %s", kwq_client_url_redacted(c),
              c->rc->err == REDIS_ERR_EOF ? "the server closed it" : c->rc->errstr);
    kwq__disconnect(c);
    return KWQ_ECONN;
}
