/*
 * client_hold.c - holding a lease: renew, ack, fail, release. Each proves
 * the lease with (ID, fencing token) and gets a status per item.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Items per script call (Lua's unpack limit). */
#define HOLD_CHUNK 1000

/* Check that a status array holds n statuses. */
static int statuses(struct kwq_client *c, const redisReply *r, size_t n, int *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return kwq__bad_reply(c, "one status per item");
    for (size_t i = 0; i < n; i++) {
        int s = kwq__item_status(r->element[i]);

        if (s == KWQ_EPROTO || s == KWQ_EREDIS)
            return kwq__bad_reply(c, "a per-item status");
        if (out)
            out[i] = s;
    }
    return 0;
}

static int check_refs(struct kwq_client *c, const char *what, const struct kwq_lease_ref *refs,
                      size_t n)
{
    if (n && !refs)
        return kwq__fail(c, KWQ_EINVAL, "%s: no items given", what);
    for (size_t i = 0; i < n; i++) {
        if (!kwq_id_is_valid(refs[i].id))
            return kwq__fail(c, KWQ_EINVAL, "%s: item %zu has an invalid task ID '%.30s'", what,
                             i + 1, refs[i].id ? refs[i].id : "(null)");
    }
    return 0;
}

/*
 * Renew (lease_ms > 0) or release (lease_ms 0) n leases, in chunks: both send
 * id/token pairs and get a status per pair.
 */
static int refs_op(struct kwq_client *c, const char *queue, enum kwq__op op,
                   const struct kwq_lease_ref *refs, size_t n, uint64_t lease_ms, int *ret_status)
{
    int rc = 0;

    for (size_t s = 0; !rc && s < n; s += HOLD_CHUNK) {
        size_t m = n - s < HOLD_CHUNK ? n - s : HOLD_CHUNK;
        struct kwq__args a;
        redisReply *r;

        kwq__args_init(&a);
        if (lease_ms)
            kwq__args_addu(&a, lease_ms);
        for (size_t i = s; i < s + m; i++) {
            kwq__args_addz(&a, refs[i].id);
            kwq__args_addu(&a, refs[i].token);
        }
        rc = kwq__eval(c, op, queue, NULL, &a, &r);
        kwq__args_free(&a);
        if (rc)
            break;
        rc = statuses(c, r, m, ret_status ? ret_status + s : NULL);
        freeReplyObject(r);
    }
    return rc;
}

int kwq_renew(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
              uint64_t lease_ms, int *ret_status)
{
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = check_refs(c, "renew", refs, n);
    if (!rc && lease_ms < 100)
        rc = kwq__fail(c, KWQ_EINVAL, "renew: the lease must be at least 100 ms, got %llu ms",
                       (unsigned long long)lease_ms);
    return rc ? rc : refs_op(c, queue, KWQ__RENEW, refs, n, lease_ms, ret_status);
}

int kwq_ack(struct kwq_client *c, const char *queue, const struct kwq_ack *acks, size_t n,
            int *ret_status)
{
    int rc = kwq__begin(c, queue);

    if (!rc && n && !acks)
        rc = kwq__fail(c, KWQ_EINVAL, "ack: no items given");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!kwq_id_is_valid(acks[i].id))
            rc = kwq__fail(c, KWQ_EINVAL, "ack: item %zu has an invalid task ID '%.30s'", i + 1,
                           acks[i].id ? acks[i].id : "(null)");
    }
    for (size_t s = 0; !rc && s < n; s += HOLD_CHUNK) {
        size_t m = n - s < HOLD_CHUNK ? n - s : HOLD_CHUNK;
        struct kwq__args a, keys;
        char **owned = calloc(m, sizeof(*owned));
        size_t sent_idx[HOLD_CHUNK], k = 0;
        redisReply *r = NULL;
        int *st = ret_status ? ret_status + s : NULL;

        if (!owned) {
            rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
            break;
        }
        kwq__args_init(&a);
        kwq__args_init(&keys);
        kwq__args_addu(&a, c->opts.result_ttl_ms);
        for (size_t i = s; i < s + m; i++) {
            const struct kwq_ack *x = &acks[i];

            if (x->result && x->result_len > c->opts.max_result) {
                /* That task is not acked: its holder learns why. */
                if (st)
                    st[i - s] = KWQ_ETOOBIG;
                (void)kwq__fail(c, KWQ_ETOOBIG,
                                "ack: result of %zu bytes for task %s is over "
                                "the limit of %zu bytes",
                                x->result_len, x->id, c->opts.max_result);
                continue;
            }
            sent_idx[k++] = i - s;
            kwq__args_addz(&a, x->id);
            kwq__args_addu(&a, x->token);
            if (x->result) {
                size_t klen;

                owned[i - s] = kwq__key_item(queue, "result", x->id, strlen(x->id), &klen);
                if (!owned[i - s]) {
                    a.oom = true;
                    break;
                }
                kwq__args_add(&keys, owned[i - s], klen);
                kwq__args_add(&a, "1", 1);
                kwq__args_add(&a, x->result, x->result_len);
            } else {
                kwq__args_add(&a, "0", 1);
                kwq__args_add(&a, "", 0);
            }
        }
        if (k > 0) {
            rc = kwq__eval(c, KWQ__ACK, queue, &keys, &a, &r);
            if (!rc) {
                int tmp[HOLD_CHUNK];

                rc = statuses(c, r, k, tmp);
                for (size_t j = 0; !rc && st && j < k; j++)
                    st[sent_idx[j]] = tmp[j];
                freeReplyObject(r);
            }
        }
        kwq__args_free(&a);
        kwq__args_free(&keys);
        for (size_t i = 0; i < m; i++)
            free(owned[i]);
        free(owned);
    }
    return rc;
}

/* The length of e cut to at most max bytes without splitting a UTF-8 character. */
static size_t utf8_cut(const char *e, size_t len, size_t max)
{
    if (len <= max)
        return len;
    for (size_t i = max; i > 0 && i + 3 > max; i--) {
        unsigned char b = (unsigned char)e[i - 1];

        if (b < 0x80)
            break;
        if (b >= 0xc0) {
            size_t n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;

            if (i - 1 + n > max)
                return i - 1;
            break;
        }
    }
    return max;
}

int kwq_fail(struct kwq_client *c, const char *queue, const struct kwq_failure *f, size_t n,
             struct kwq_fail_outcome *ret)
{
    int rc = kwq__begin(c, queue);

    if (!rc && n && !f)
        rc = kwq__fail(c, KWQ_EINVAL, "fail: no items given");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!kwq_id_is_valid(f[i].id))
            rc = kwq__fail(c, KWQ_EINVAL, "fail: item %zu has an invalid task ID '%.30s'", i + 1,
                           f[i].id ? f[i].id : "(null)");
    }
    for (size_t s = 0; !rc && s < n; s += HOLD_CHUNK) {
        size_t m = n - s < HOLD_CHUNK ? n - s : HOLD_CHUNK;
        struct kwq__args a;
        redisReply *r;

        kwq__args_init(&a);
        for (size_t i = s; i < s + m; i++) {
            const char *e = f[i].error ? f[i].error : "";
            size_t el = strlen(e);

            kwq__args_addz(&a, f[i].id);
            kwq__args_addu(&a, f[i].token);
            kwq__args_add(&a, e, utf8_cut(e, el, KWQ_MAX_ERROR));
            kwq__args_addi(&a, f[i].code);
            kwq__args_add(&a, f[i].no_retry ? "1" : "0", 1);
        }
        rc = kwq__eval(c, KWQ__FAIL, queue, NULL, &a, &r);
        kwq__args_free(&a);
        if (rc)
            break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 * m) {
            rc = kwq__bad_reply(c, "a status, dead flag and retry time per item");
        } else {
            for (size_t i = 0; i < m && !rc; i++) {
                long long dead, at;
                int st = kwq__item_status(r->element[3 * i]);

                if (st == KWQ_EPROTO || st == KWQ_EREDIS ||
                    !kwq__reply_int(r->element[3 * i + 1], &dead) ||
                    !kwq__reply_int(r->element[3 * i + 2], &at)) {
                    rc = kwq__bad_reply(c, "a status, dead flag and retry time per item");
                } else if (ret) {
                    ret[s + i].status = st;
                    ret[s + i].dead = dead != 0;
                    ret[s + i].retry_at_ms = at;
                }
            }
        }
        freeReplyObject(r);
    }
    return rc;
}

int kwq_release(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
                int *ret_status)
{
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = check_refs(c, "release", refs, n);
    return rc ? rc : refs_op(c, queue, KWQ__RELEASE, refs, n, 0, ret_status);
}
