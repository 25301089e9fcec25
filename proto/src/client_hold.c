/*
 * client_hold.c - holding a lease: renew, ack, fail, release. Each proves
 * the lease with (ID, fencing token) and gets a status per item.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Check that a status array holds n statuses. */
int kwq__statuses(struct kwq_client *c, const redisReply *r, size_t n, int *out)
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

/*
 * Check the task IDs of n items of size bytes each, whose first member is
 * their ID (kwq_lease_ref, kwq_ack and kwq_failure all start so).
 */
static int check_ids(struct kwq_client *c, const char *what, const void *items, size_t n,
                     size_t size)
{
    _Static_assert(offsetof(struct kwq_lease_ref, id) == 0 && offsetof(struct kwq_ack, id) == 0 &&
                       offsetof(struct kwq_failure, id) == 0,
                   "the ID is the first member of every item");
    if (n && !items)
        return kwq__fail(c, KWQ_EINVAL, "%s: no items given", what);
    for (size_t i = 0; i < n; i++) {
        const char *id = *(const char *const *)(const void *)((const char *)items + i * size);

        if (!kwq_id_is_valid(id))
            return kwq__fail(c, KWQ_EINVAL, "%s: item %zu has an invalid task ID '%.30s'", what,
                             i + 1, id ? id : "(null)");
    }
    return 0;
}

int kwq__refs_check(struct kwq_client *c, const char *what, const struct kwq_lease_ref *refs,
                    size_t n)
{
    return check_ids(c, what, refs, n, sizeof(*refs));
}

void kwq__refs_args(const struct kwq_lease_ref *refs, size_t m, uint64_t lease_ms,
                    struct kwq__args *args)
{
    if (lease_ms)
        kwq__args_addu(args, lease_ms);
    for (size_t i = 0; i < m; i++) {
        kwq__args_addz(args, refs[i].id);
        kwq__args_addu(args, refs[i].token);
    }
}

/*
 * Renew (lease_ms > 0) or release (lease_ms 0) n leases, in chunks: both send
 * id/token pairs and get a status per pair.
 */
static int refs_op(struct kwq_client *c, const char *queue, enum kwq__op op,
                   const struct kwq_lease_ref *refs, size_t n, uint64_t lease_ms, int *ret_status)
{
    int rc = 0;

    for (size_t s = 0; !rc && s < n; s += KWQ__HOLD_CHUNK) {
        size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK;
        struct kwq__args a;
        redisReply *r;

        kwq__args_init(&a);
        kwq__refs_args(refs + s, m, lease_ms, &a);
        rc = kwq__eval(c, op, queue, NULL, &a, &r);
        kwq__args_free(&a);
        if (rc)
            break;
        rc = kwq__statuses(c, r, m, ret_status ? ret_status + s : NULL);
        freeReplyObject(r);
    }
    return rc;
}

int kwq__renew_check(struct kwq_client *c, const struct kwq_lease_ref *refs, size_t n,
                     uint64_t lease_ms)
{
    int rc = kwq__refs_check(c, "renew", refs, n);

    if (!rc && lease_ms < 100)
        rc = kwq__fail(c, KWQ_EINVAL, "renew: the lease must be at least 100 ms, got %llu ms",
                       (unsigned long long)lease_ms);
    return rc;
}

int kwq_renew(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
              uint64_t lease_ms, int *ret_status)
{
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = kwq__renew_check(c, refs, n, lease_ms);
    return rc ? rc : refs_op(c, queue, KWQ__RENEW, refs, n, lease_ms, ret_status);
}

int kwq__ack_check(struct kwq_client *c, const struct kwq_ack *acks, size_t n)
{
    return check_ids(c, "ack", acks, n, sizeof(*acks));
}

size_t kwq__ack_args(struct kwq_client *c, const char *queue, const struct kwq_ack *acks, size_t m,
                     int *st, size_t *sent, struct kwq__args *keys, struct kwq__args *args)
{
    size_t k = 0;

    kwq__args_addu(args, c->opts.result_ttl_ms);
    for (size_t i = 0; i < m; i++) {
        const struct kwq_ack *x = &acks[i];

        if (x->result && x->result_len > c->opts.max_result) {
            /* That task is not acked: its holder learns why. */
            if (st)
                st[i] = KWQ_ETOOBIG;
            (void)kwq__fail(c, KWQ_ETOOBIG,
                            "ack: result of %zu bytes for task %s is over "
                            "the limit of %zu bytes",
                            x->result_len, x->id, c->opts.max_result);
            continue;
        }
        sent[k++] = i;
        kwq__args_addz(args, x->id);
        kwq__args_addu(args, x->token);
        if (x->result) {
            char key[KWQ__KEY_PREFIX_MAX + 8 + KWQ_ID_MAX];
            size_t klen = kwq__key(key, sizeof(key), queue, "result:");

            /* kwq:{q}:result:<id>, as kwq__key_item makes it, without the allocation. */
            klen += (size_t)snprintf(key + klen, sizeof(key) - klen, "%s", x->id);
            kwq__args_addcopy(keys, key, klen);
            kwq__args_add(args, "1", 1);
            kwq__args_add(args, x->result, x->result_len);
        } else {
            kwq__args_add(args, "0", 1);
            kwq__args_add(args, "", 0);
        }
    }
    return k;
}

int kwq__ack_parse(struct kwq_client *c, const redisReply *r, size_t k, const size_t *sent, int *st)
{
    int tmp[KWQ__HOLD_CHUNK];
    int rc = kwq__statuses(c, r, k, tmp);

    for (size_t j = 0; !rc && st && j < k; j++)
        st[sent[j]] = tmp[j];
    return rc;
}

int kwq_ack(struct kwq_client *c, const char *queue, const struct kwq_ack *acks, size_t n,
            int *ret_status)
{
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = kwq__ack_check(c, acks, n);
    for (size_t s = 0; !rc && s < n; s += KWQ__HOLD_CHUNK) {
        size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK;
        struct kwq__args a, keys;
        size_t sent[KWQ__HOLD_CHUNK], k;
        redisReply *r = NULL;
        int *st = ret_status ? ret_status + s : NULL;

        kwq__args_init(&a);
        kwq__args_init(&keys);
        k = kwq__ack_args(c, queue, acks + s, m, st, sent, &keys, &a);
        if (k > 0) {
            rc = kwq__eval(c, KWQ__ACK, queue, &keys, &a, &r);
            if (!rc) {
                rc = kwq__ack_parse(c, r, k, sent, st);
                freeReplyObject(r);
            }
        }
        kwq__args_free(&a);
        kwq__args_free(&keys);
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

int kwq__fail_check(struct kwq_client *c, const struct kwq_failure *f, size_t n)
{
    return check_ids(c, "fail", f, n, sizeof(*f));
}

void kwq__fail_args(const struct kwq_failure *f, size_t m, struct kwq__args *args)
{
    for (size_t i = 0; i < m; i++) {
        const char *e = f[i].error ? f[i].error : "";
        size_t el = strlen(e);

        kwq__args_addz(args, f[i].id);
        kwq__args_addu(args, f[i].token);
        kwq__args_add(args, e, utf8_cut(e, el, KWQ_MAX_ERROR));
        kwq__args_addi(args, f[i].code);
        kwq__args_add(args, f[i].no_retry ? "1" : "0", 1);
    }
}

int kwq__fail_parse(struct kwq_client *c, const redisReply *r, size_t m,
                    struct kwq_fail_outcome *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 * m)
        return kwq__bad_reply(c, "a status, dead flag and retry time per item");
    for (size_t i = 0; i < m; i++) {
        long long dead, at;
        int st = kwq__item_status(r->element[3 * i]);

        if (st == KWQ_EPROTO || st == KWQ_EREDIS || !kwq__reply_int(r->element[3 * i + 1], &dead) ||
            !kwq__reply_int(r->element[3 * i + 2], &at))
            return kwq__bad_reply(c, "a status, dead flag and retry time per item");
        if (out) {
            out[i].status = st;
            out[i].dead = dead != 0;
            out[i].retry_at_ms = at;
        }
    }
    return 0;
}

int kwq_fail(struct kwq_client *c, const char *queue, const struct kwq_failure *f, size_t n,
             struct kwq_fail_outcome *ret)
{
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = kwq__fail_check(c, f, n);
    for (size_t s = 0; !rc && s < n; s += KWQ__HOLD_CHUNK) {
        size_t m = n - s < KWQ__HOLD_CHUNK ? n - s : KWQ__HOLD_CHUNK;
        struct kwq__args a;
        redisReply *r;

        kwq__args_init(&a);
        kwq__fail_args(f + s, m, &a);
        rc = kwq__eval(c, KWQ__FAIL, queue, NULL, &a, &r);
        kwq__args_free(&a);
        if (rc)
            break;
        rc = kwq__fail_parse(c, r, m, ret ? ret + s : NULL);
        freeReplyObject(r);
    }
    return rc;
}

int kwq_release(struct kwq_client *c, const char *queue, const struct kwq_lease_ref *refs, size_t n,
                int *ret_status)
{
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = kwq__refs_check(c, "release", refs, n);
    return rc ? rc : refs_op(c, queue, KWQ__RELEASE, refs, n, 0, ret_status);
}
