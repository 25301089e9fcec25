/*
 * client_dead.c - the dead-letter set: list, requeue, purge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Items per dead requeue/purge call by ID (Lua's unpack limit). */
#define ID_CHUNK 1000

void kwq_dead_list_free(struct kwq_dead_task *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].last_error);
    free(list);
}

int kwq_dead_list(struct kwq_client *c, const char *queue, size_t offset, size_t count,
                  struct kwq_dead_task **ret, size_t *ret_n)
{
    struct kwq__args a;
    struct kwq_dead_task *list = NULL;
    redisReply *r;
    size_t n;
    int rc = kwq__begin(c, queue);

    *ret = NULL;
    *ret_n = 0;
    if (rc)
        return rc;
    if (count == 0)
        return 0;
    if (count > 10000)
        count = 10000;
    kwq__args_init(&a);
    kwq__args_addz(&a, "list");
    kwq__args_addu(&a, offset);
    kwq__args_addu(&a, count);
    rc = kwq__eval(c, KWQ__DEAD, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 5 != 0) {
        rc = kwq__bad_reply(c, "5 fields per dead task");
        goto cleanup;
    }
    n = r->elements / 5;
    if (n == 0)
        goto cleanup;
    list = calloc(n, sizeof(*list));
    if (!list) {
        rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply **f = &r->element[5 * i];
        long long died, att, code;

        if (!kwq__copy_id(list[i].id, f[0]) || !kwq__reply_int(f[1], &died) ||
            !kwq__reply_int(f[2], &att) || !kwq__reply_int(f[3], &code) ||
            f[4]->type != REDIS_REPLY_STRING) {
            kwq_dead_list_free(list, n);
            list = NULL;
            rc = kwq__bad_reply(c, "5 fields per dead task");
            goto cleanup;
        }
        list[i].died_ms = died;
        list[i].attempts = (uint32_t)att;
        list[i].last_code = (int)code;
        list[i].last_error = kwq__reply_dup(f[4]);
        if (!list[i].last_error) {
            kwq_dead_list_free(list, n);
            list = NULL;
            rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    *ret = list;
    *ret_n = n;
cleanup:
    freeReplyObject(r);
    return rc;
}

/* Requeue or purge dead tasks by ID, or all of them (the script takes 1000 per call). */
static int dead_op(struct kwq_client *c, const char *queue, const char *op, const char *const *ids,
                   size_t n)
{
    long long total = 0;
    int rc = kwq__begin(c, queue);

    for (size_t i = 0; !rc && ids && i < n; i++)
        rc = kwq__check_id(c, ids[i]);
    if (rc)
        return rc;
    for (size_t s = 0; ids ? s < n : true; s += ID_CHUNK) {
        struct kwq__args a;
        redisReply *r;
        long long done;

        kwq__args_init(&a);
        kwq__args_addz(&a, op);
        if (ids) {
            for (size_t i = s; i < n && i < s + ID_CHUNK; i++)
                kwq__args_addz(&a, ids[i]);
        } else {
            kwq__args_addz(&a, "*all");
        }
        rc = kwq__eval(c, KWQ__DEAD, queue, NULL, &a, &r);
        kwq__args_free(&a);
        if (rc)
            return rc;
        if (!kwq__reply_int(r, &done) || done < 0) {
            freeReplyObject(r);
            return kwq__bad_reply(c, "a count");
        }
        freeReplyObject(r);
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
