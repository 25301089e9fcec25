/*
 * client_dead.c - the dead-letter set: list (the dead_list script, which
 * writes nothing and so also runs on a replica), requeue, purge (the dead
 * script).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

void kwq_dead_list_free(struct kwq_dead_task *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].last_error);
    free(list);
}

void kwq__dead_list_args(size_t offset, size_t count, struct kwq__args *args)
{
    kwq__args_addu(args, offset);
    kwq__args_addu(args, count);
}

/* One dead task's 5 fields f[0..4] into d; false when a field is not what it should be. */
static bool dead_fields(redisReply **f, struct kwq_dead_task *d)
{
    long long died, att, code;

    if (!kwq__copy_id(d->id, f[0]) || !kwq__reply_int(f[1], &died) || !kwq__reply_int(f[2], &att) ||
        !kwq__reply_int(f[3], &code) || f[4]->type != REDIS_REPLY_STRING)
        return false;
    d->died_ms = died;
    d->attempts = (uint32_t)att;
    d->last_code = (int)code;
    return true;
}

int kwq__dead_list_parse(struct kwq_client *c, const redisReply *r, struct kwq_dead_task **ret,
                         size_t *ret_n)
{
    struct kwq_dead_task *list;
    size_t n;

    *ret = NULL;
    *ret_n = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 5 != 0)
        return kwq__bad_reply(c, "5 fields per dead task");
    n = r->elements / 5;
    if (n == 0)
        return 0;
    list = calloc(n, sizeof(*list));
    if (!list)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!dead_fields(&r->element[5 * i], &list[i])) {
            kwq_dead_list_free(list, n);
            return kwq__bad_reply(c, "5 fields per dead task");
        }
        list[i].last_error = kwq__reply_dup(r->element[5 * i + 4]);
        if (!list[i].last_error) {
            kwq_dead_list_free(list, n);
            return kwq__fail(c, KWQ_ENOMEM, "out of memory");
        }
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

int kwq_dead_list(struct kwq_client *c, const char *queue, size_t offset, size_t count,
                  struct kwq_dead_task **ret, size_t *ret_n)
{
    struct kwq__args a;
    redisReply *r;
    int rc = kwq__begin(c, queue);

    *ret = NULL;
    *ret_n = 0;
    if (rc || count == 0)
        return rc;
    if (count > KWQ__DEAD_LIST_MAX)
        count = KWQ__DEAD_LIST_MAX;
    kwq__args_init(&a);
    kwq__dead_list_args(offset, count, &a);
    rc = kwq__eval(c, KWQ__DEAD_LIST, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = kwq__dead_list_parse(c, r, ret, ret_n);
    freeReplyObject(r);
    return rc;
}

int kwq__dead_ids_check(struct kwq_client *c, const char *const *ids, size_t n)
{
    int rc = 0;

    for (size_t i = 0; !rc && ids && i < n; i++)
        rc = kwq__check_id(c, ids[i]);
    return rc;
}

void kwq__dead_op_args(const char *op, const char *const *ids, size_t m, struct kwq__args *args)
{
    kwq__args_addz(args, op);
    if (!ids) {
        kwq__args_addz(args, "*all");
        return;
    }
    for (size_t i = 0; i < m; i++)
        kwq__args_addz(args, ids[i]);
}

int kwq__count_parse(struct kwq_client *c, const redisReply *r, long long *ret)
{
    if (!kwq__reply_int(r, ret) || *ret < 0)
        return kwq__bad_reply(c, "a count");
    return 0;
}

/* Requeue or purge dead tasks by ID, or all of them (the script takes 1000 per call). */
static int dead_op(struct kwq_client *c, const char *queue, const char *op, const char *const *ids,
                   size_t n)
{
    long long total = 0;
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = kwq__dead_ids_check(c, ids, n);
    if (rc)
        return rc;
    for (size_t s = 0; ids ? s < n : true; s += KWQ__DEAD_CHUNK) {
        size_t m = ids && n - s < KWQ__DEAD_CHUNK ? n - s : KWQ__DEAD_CHUNK;
        struct kwq__args a;
        redisReply *r;
        long long done;

        kwq__args_init(&a);
        kwq__dead_op_args(op, ids ? ids + s : NULL, m, &a);
        rc = kwq__eval(c, KWQ__DEAD, queue, NULL, &a, &r);
        kwq__args_free(&a);
        if (rc)
            return rc;
        rc = kwq__count_parse(c, r, &done);
        freeReplyObject(r);
        if (rc)
            return rc;
        total += done;
        if (!ids && done == 0)
            break;
        if (total > 0x7fffffff)
            total = 0x7fffffff;
    }
    return (int)total;
}

int kwq_dead_requeue(struct kwq_client *c, const char *queue, const char *const *ids, size_t n)
{
    return dead_op(c, queue, "requeue", ids, n);
}

int kwq_dead_purge(struct kwq_client *c, const char *queue, const char *const *ids, size_t n)
{
    return dead_op(c, queue, "purge", ids, n);
}
