/*
 * client_queue.c - whole-queue operations: reap, seal/unseal, drained,
 * stats (reaping, or read-only), purge, and the queue settings.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

int kwq__reap_check(struct kwq_client *c, size_t max)
{
    if (max == 0 || max > 1000)
        return kwq__fail(c, KWQ_EINVAL, "reap: max must be between 1 and 1000, got %zu", max);
    return 0;
}

void kwq__reap_args(size_t max, struct kwq__args *args)
{
    kwq__args_addu(args, max);
}

int kwq__reap_parse(struct kwq_client *c, const redisReply *r, struct kwq_reap_result *ret)
{
    long long v[3];

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !kwq__reply_int(r->element[0], &v[0]) ||
        !kwq__reply_int(r->element[1], &v[1]) || !kwq__reply_int(r->element[2], &v[2]))
        return kwq__bad_reply(c, "expired, dead and promoted counts");
    if (ret) {
        ret->expired = (uint64_t)v[0];
        ret->dead = (uint64_t)v[1];
        ret->promoted = (uint64_t)v[2];
    }
    return 0;
}

int kwq_reap(struct kwq_client *c, const char *queue, size_t max, struct kwq_reap_result *ret)
{
    struct kwq__args a;
    redisReply *r;
    int rc = kwq__begin(c, queue);

    if (ret)
        memset(ret, 0, sizeof(*ret));
    if (!rc)
        rc = kwq__reap_check(c, max);
    if (rc)
        return rc;
    kwq__args_init(&a);
    kwq__reap_args(max, &a);
    rc = kwq__eval(c, KWQ__REAP, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = kwq__reap_parse(c, r, ret);
    freeReplyObject(r);
    return rc;
}

void kwq__seal_args(const char *op, struct kwq__args *args)
{
    kwq__args_addz(args, op);
}

int kwq__seal_parse(struct kwq_client *c, const redisReply *r, bool *sealed, bool *drained)
{
    long long s, d;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !kwq__reply_int(r->element[0], &s) ||
        !kwq__reply_int(r->element[1], &d))
        return kwq__bad_reply(c, "sealed and drained flags");
    if (sealed)
        *sealed = s != 0;
    if (drained)
        *drained = d != 0;
    return 0;
}

/* Run the seal script with op; sealed/drained flags of the reply into the pointers. */
static int seal_op(struct kwq_client *c, const char *queue, const char *op, bool *sealed,
                   bool *drained)
{
    struct kwq__args a;
    redisReply *r;
    int rc = kwq__begin(c, queue);

    if (rc)
        return rc;
    kwq__args_init(&a);
    kwq__seal_args(op, &a);
    rc = kwq__eval(c, KWQ__SEAL, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = kwq__seal_parse(c, r, sealed, drained);
    freeReplyObject(r);
    return rc;
}

int kwq_seal(struct kwq_client *c, const char *queue)
{
    return seal_op(c, queue, "seal", NULL, NULL);
}

int kwq_unseal(struct kwq_client *c, const char *queue)
{
    return seal_op(c, queue, "unseal", NULL, NULL);
}

int kwq_drained(struct kwq_client *c, const char *queue, bool *ret)
{
    *ret = false;
    return seal_op(c, queue, "drained", NULL, ret);
}

/* Where each stats reply name goes; NULL target for the flags handled apart. */
static uint64_t *stat_field(struct kwq_stats *s, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"pending", offsetof(struct kwq_stats, pending)},
        {"leased", offsetof(struct kwq_stats, leased)},
        {"delayed", offsetof(struct kwq_stats, delayed)},
        {"dead", offsetof(struct kwq_stats, dead)},
        {"done", offsetof(struct kwq_stats, done)},
        {"enqueued", offsetof(struct kwq_stats, enqueued)},
        {"duplicates", offsetof(struct kwq_stats, duplicates)},
        {"expired", offsetof(struct kwq_stats, expired)},
        {"failed", offsetof(struct kwq_stats, failed)},
        {"retries", offsetof(struct kwq_stats, retries)},
        {"released", offsetof(struct kwq_stats, released)},
        {"cancelled", offsetof(struct kwq_stats, cancelled)},
        {"requeued", offsetof(struct kwq_stats, requeued)},
        {"results", offsetof(struct kwq_stats, results)},
        {"restarts", offsetof(struct kwq_stats, restarts)},
        {"overdue_leases", offsetof(struct kwq_stats, overdue_leases)},
        {"due_delayed", offsetof(struct kwq_stats, due_delayed)},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].name) == len && memcmp(map[i].name, name, len) == 0)
            return (uint64_t *)((char *)s + map[i].off);
    }
    return NULL;
}

void kwq__stats_init(struct kwq_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->oldest_pending_ms = -1;
}

int kwq__stats_parse(struct kwq_client *c, const redisReply *r, struct kwq_stats *ret)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return kwq__bad_reply(c, "name/value pairs");
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *k = r->element[i];
        long long v;
        uint64_t *f;

        if (k->type != REDIS_REPLY_STRING || !kwq__reply_int(r->element[i + 1], &v))
            return kwq__bad_reply(c, "name/value pairs");
        f = stat_field(ret, k->str, k->len);
        if (f)
            *f = v < 0 ? 0 : (uint64_t)v;
        else if (strcmp(k->str, "oldest_pending_ms") == 0)
            ret->oldest_pending_ms = v;
        else if (strcmp(k->str, "server_time_ms") == 0)
            ret->server_time_ms = v;
        else if (strcmp(k->str, "reap_lag_ms") == 0)
            ret->reap_lag_ms = v;
        else if (strcmp(k->str, "sealed") == 0)
            ret->sealed = v != 0;
        else if (strcmp(k->str, "drained") == 0)
            ret->drained = v != 0;
        /* Other names (a newer script's counters) are ignored. */
    }
    return 0;
}

/* Run op (stats or stats_ro) and parse its counters into ret. */
static int stats_op(struct kwq_client *c, enum kwq__op op, const char *queue, struct kwq_stats *ret)
{
    redisReply *r;
    int rc = kwq__begin(c, queue);

    kwq__stats_init(ret);
    if (rc)
        return rc;
    rc = kwq__eval(c, op, queue, NULL, NULL, &r);
    if (rc)
        return rc;
    rc = kwq__stats_parse(c, r, ret);
    freeReplyObject(r);
    return rc;
}

int kwq_stats(struct kwq_client *c, const char *queue, struct kwq_stats *ret)
{
    return stats_op(c, KWQ__STATS, queue, ret);
}

int kwq_stats_read(struct kwq_client *c, const char *queue, struct kwq_stats *ret)
{
    return stats_op(c, KWQ__STATS_RO, queue, ret);
}

int kwq_purge(struct kwq_client *c, const char *queue)
{
    redisReply *r;
    int rc = kwq__begin(c, queue);

    if (rc)
        return rc;
    rc = kwq__eval(c, KWQ__PURGE, queue, NULL, NULL, &r);
    if (!rc)
        freeReplyObject(r);
    return rc;
}

static int conf_op(struct kwq_client *c, const char *queue, const char *op, const char *name,
                   const uint64_t *value, uint64_t *ret)
{
    struct kwq__args a;
    redisReply *r;
    long long v;
    int rc = kwq__begin(c, queue);

    if (rc)
        return rc;
    if (!name)
        return kwq__fail(c, KWQ_EINVAL, "no setting name given");
    kwq__args_init(&a);
    kwq__args_addz(&a, op);
    kwq__args_addz(&a, name);
    if (value)
        kwq__args_addu(&a, *value);
    rc = kwq__eval(c, KWQ__CONF, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    if (!kwq__reply_int(r, &v) || v < 0)
        rc = kwq__bad_reply(c, "a setting's value");
    else if (ret)
        *ret = (uint64_t)v;
    freeReplyObject(r);
    return rc;
}

int kwq_queue_set(struct kwq_client *c, const char *queue, const char *name, uint64_t value)
{
    return conf_op(c, queue, "set", name, &value, NULL);
}

int kwq_queue_get(struct kwq_client *c, const char *queue, const char *name, uint64_t *ret)
{
    return conf_op(c, queue, "get", name, NULL, ret);
}
