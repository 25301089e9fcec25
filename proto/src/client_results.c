/*
 * client_results.c - kept results (the gather half of scatter/gather): one by
 * task ID, or in completion order from the results stream, optionally
 * waiting for the next one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

void kwq_results_free(struct kwq_result *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].data);
    free(list);
}

int kwq_result_get(struct kwq_client *c, const char *queue, const char *id, char **ret,
                   size_t *ret_len)
{
    redisReply *r;
    int rc;

    *ret = NULL;
    *ret_len = 0;
    rc = kwq__eval_task(c, KWQ__RESULTS, queue, "get", id, true, &r);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        rc = kwq__bad_reply(c, "a result");
    } else {
        *ret = kwq__reply_dup(r->element[1]);
        if (!*ret)
            rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
        else
            *ret_len = r->element[1]->len;
    }
    freeReplyObject(r);
    return rc;
}

/* Fill one result from entry ID, task id and bytes. */
static int fill_result(struct kwq_result *x, const redisReply *eid, const redisReply *id,
                       const redisReply *data)
{
    if (eid->type != REDIS_REPLY_STRING || eid->len >= sizeof(x->cursor) ||
        !kwq__copy_id(x->id, id) || data->type != REDIS_REPLY_STRING)
        return -1;
    memcpy(x->cursor, eid->str, eid->len);
    x->cursor[eid->len] = '\0';
    x->done_ms = strtoll(x->cursor, NULL, 10);
    x->data = kwq__reply_dup(data);
    if (!x->data)
        return -2;
    x->len = data->len;
    return 0;
}

/* The 3-per-result reply of the results script into a new array. */
static int parse_results(struct kwq_client *c, const redisReply *r, struct kwq_result **ret,
                         size_t *ret_n)
{
    struct kwq_result *list;
    size_t n;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0)
        return kwq__bad_reply(c, "3 fields per result");
    n = r->elements / 3;
    if (n == 0)
        return 0;
    list = calloc(n, sizeof(*list));
    if (!list)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int e =
            fill_result(&list[i], r->element[3 * i], r->element[3 * i + 1], r->element[3 * i + 2]);

        if (e) {
            kwq_results_free(list, n);
            return e == -2 ? kwq__fail(c, KWQ_ENOMEM, "out of memory")
                           : kwq__bad_reply(c, "3 fields per result");
        }
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

/* XREAD BLOCK for the first results after cursor; *ret_n 0 on timeout. */
static int results_block(struct kwq_client *c, const char *queue, const char *cursor, size_t count,
                         uint64_t block_ms, struct kwq_result **ret, size_t *ret_n)
{
    char key[KWQ__FIXED_KEY_LEN];
    struct kwq__args a;
    struct kwq_result *list = NULL;
    redisReply *r, *entries;
    size_t n = 0;
    int rc;

    (void)kwq__key(key, sizeof(key), queue, "results");
    kwq__args_init(&a);
    kwq__args_addz(&a, "XREAD");
    kwq__args_addz(&a, "COUNT");
    kwq__args_addu(&a, count);
    kwq__args_addz(&a, "BLOCK");
    kwq__args_addu(&a, block_ms);
    kwq__args_addz(&a, "STREAMS");
    kwq__args_addz(&a, key);
    kwq__args_addz(&a, strcmp(cursor, "0") == 0 ? "0-0" : cursor);
    kwq__set_timeout(c, block_ms);
    rc = kwq__command(c, &a, &r);
    kwq__set_timeout(c, 0);
    kwq__args_free(&a);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_NIL)
        goto cleanup;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2 ||
        r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        rc = kwq__bad_reply(c, "an XREAD reply");
        goto cleanup;
    }
    entries = r->element[0]->element[1];
    list = calloc(entries->elements ? entries->elements : 1, sizeof(*list));
    if (!list) {
        rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i], *f, *id = NULL, *data = NULL;
        int x;

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = kwq__bad_reply(c, "a results stream entry");
            break;
        }
        f = e->element[1];
        for (size_t j = 0; j + 1 < f->elements; j += 2) {
            if (f->element[j]->type != REDIS_REPLY_STRING)
                continue;
            if (f->element[j]->len == 2 && memcmp(f->element[j]->str, "id", 2) == 0)
                id = f->element[j + 1];
            else if (f->element[j]->len == 1 && f->element[j]->str[0] == 'r')
                data = f->element[j + 1];
        }
        x = id && data ? fill_result(&list[n], e->element[0], id, data) : -1;
        if (x) {
            rc = x == -2 ? kwq__fail(c, KWQ_ENOMEM, "out of memory")
                         : kwq__bad_reply(c, "a results stream entry");
            break;
        }
        n++;
    }
    if (rc) {
        kwq_results_free(list, n);
    } else {
        *ret = list;
        *ret_n = n;
        if (n == 0) {
            free(list);
            *ret = NULL;
        }
    }
cleanup:
    freeReplyObject(r);
    return rc;
}

int kwq_results_read(struct kwq_client *c, const char *queue, const char *cursor, size_t count,
                     uint64_t block_ms, struct kwq_result **ret, size_t *ret_n)
{
    struct kwq__args a;
    redisReply *r;
    int rc = kwq__begin(c, queue);

    *ret = NULL;
    *ret_n = 0;
    if (rc)
        return rc;
    if (!cursor || !*cursor)
        cursor = "0";
    if (count == 0 || count > 10000)
        return kwq__fail(c, KWQ_EINVAL, "results: count must be between 1 and 10000, got %zu",
                         count);
    kwq__args_init(&a);
    kwq__args_addz(&a, "read");
    kwq__args_addz(&a, cursor);
    kwq__args_addu(&a, count);
    rc = kwq__eval(c, KWQ__RESULTS, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = parse_results(c, r, ret, ret_n);
    freeReplyObject(r);
    if (!rc && *ret_n == 0 && block_ms > 0)
        rc = results_block(c, queue, cursor, count, block_ms, ret, ret_n);
    return rc;
}
