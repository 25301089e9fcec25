/*
 * client_admin.c - operations on tasks by ID and on the dead-letter set and
 * the kept results: dead list/requeue/purge, task get, cancel, results,
 * purge of a queue, and the queue settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Items per dead requeue/purge call by ID (Lua's unpack limit). */
#define ID_CHUNK 1000

static int check_id(struct kwq_client *c, const char *id)
{
    if (!kwq_id_is_valid(id))
        return kwq__fail(c, KWQ_EINVAL, "'%.30s' is not a task ID (decimal digits, no leading "
                         "zero)", id ? id : "(null)");
    return 0;
}

/* Copy a string reply into a fixed ID buffer. */
static bool copy_id(char *dst, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= KWQ_ID_MAX)
        return false;
    memcpy(dst, r->str, r->len);
    dst[r->len] = '\0';
    return true;
}

/* ---- Dead letters --------------------------------------------------------------- */

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

        if (!copy_id(list[i].id, f[0]) || !kwq__reply_int(f[1], &died) ||
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
static int dead_op(struct kwq_client *c, const char *queue, const char *op,
                   const char *const *ids, size_t n)
{
    long long total = 0;
    int rc = kwq__begin(c, queue);

    for (size_t i = 0; !rc && ids && i < n; i++)
        rc = check_id(c, ids[i]);
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

/* ---- One task -------------------------------------------------------------------- */

void kwq_task_info_done(struct kwq_task_info *info)
{
    if (!info)
        return;
    kwq_task_done(&info->task);
    free(info->history_json);
    free(info->result);
    memset(info, 0, sizeof(*info));
}

/* A malloc'd copy of an optional bulk reply (nil -> NULL, *ok false on OOM). */
static char *dup_opt(const redisReply *r, size_t *len, bool *ok)
{
    char *s;

    *len = 0;
    if (r->type == REDIS_REPLY_NIL)
        return NULL;
    s = kwq__reply_dup(r);
    if (!s)
        *ok = false;
    else
        *len = r->len;
    return s;
}

int kwq_task_get(struct kwq_client *c, const char *queue, const char *id,
                 struct kwq_task_info *ret)
{
    struct kwq__args a, keys;
    char *rkey = NULL;
    size_t klen;
    redisReply *r = NULL, **f;
    long long token, att, max, timeout, enq, due, done_ms;
    bool ok = true;
    int rc = kwq__begin(c, queue);

    memset(ret, 0, sizeof(*ret));
    if (!rc)
        rc = check_id(c, id);
    if (rc)
        return rc;
    rkey = kwq__key_item(queue, "result", id, strlen(id), &klen);
    if (!rkey)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    kwq__args_init(&a);
    kwq__args_init(&keys);
    kwq__args_add(&keys, rkey, klen);
    kwq__args_addz(&a, id);
    rc = kwq__eval(c, KWQ__TASK, queue, &keys, &a, &r);
    kwq__args_free(&a);
    kwq__args_free(&keys);
    free(rkey);
    if (rc)
        return rc;
    f = r->element;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 12 || f[0]->type != REDIS_REPLY_STRING ||
        kwq_state_from_string(f[0]->str, &ret->state) != 0 || !copy_id(ret->task.id, f[1]) ||
        !kwq__reply_int(f[3], &token) || !kwq__reply_int(f[4], &att) ||
        !kwq__reply_int(f[5], &max) || !kwq__reply_int(f[6], &timeout) ||
        !kwq__reply_int(f[7], &enq) || !kwq__reply_int(f[8], &due) ||
        f[9]->type != REDIS_REPLY_STRING || !kwq__reply_int(f[11], &done_ms)) {
        rc = kwq__bad_reply(c, "a task record");
        memset(ret, 0, sizeof(*ret));
        goto cleanup;
    }
    ret->task.token = (uint64_t)token;
    ret->task.attempt = (uint32_t)att;
    ret->task.max_attempts = (uint32_t)max;
    ret->task.timeout_ms = (uint64_t)timeout;
    ret->task.enqueued_ms = enq;
    ret->due_ms = due;
    ret->task.payload = dup_opt(f[2], &ret->task.payload_len, &ok);
    ret->history_json = kwq__reply_dup(f[9]);
    ret->result = dup_opt(f[10], &ret->result_len, &ok);
    if (!ok || !ret->history_json) {
        kwq_task_info_done(ret);
        rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
    }
cleanup:
    freeReplyObject(r);
    return rc;
}

int kwq_cancel(struct kwq_client *c, const char *queue, const char *id)
{
    struct kwq__args a;
    redisReply *r;
    int rc = kwq__begin(c, queue);

    if (!rc)
        rc = check_id(c, id);
    if (rc)
        return rc;
    kwq__args_init(&a);
    kwq__args_addz(&a, id);
    rc = kwq__eval(c, KWQ__CANCEL, queue, NULL, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STRING)
        rc = kwq__bad_reply(c, "the state of the cancelled task");
    freeReplyObject(r);
    return rc;
}

/* ---- Results ------------------------------------------------------------------- */

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
    struct kwq__args a, keys;
    char *rkey;
    size_t klen;
    redisReply *r;
    int rc = kwq__begin(c, queue);

    *ret = NULL;
    *ret_len = 0;
    if (!rc)
        rc = check_id(c, id);
    if (rc)
        return rc;
    rkey = kwq__key_item(queue, "result", id, strlen(id), &klen);
    if (!rkey)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    kwq__args_init(&a);
    kwq__args_init(&keys);
    kwq__args_add(&keys, rkey, klen);
    kwq__args_addz(&a, "get");
    kwq__args_addz(&a, id);
    rc = kwq__eval(c, KWQ__RESULTS, queue, &keys, &a, &r);
    kwq__args_free(&a);
    kwq__args_free(&keys);
    free(rkey);
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
    if (eid->type != REDIS_REPLY_STRING || eid->len >= sizeof(x->cursor) || !copy_id(x->id, id) ||
        data->type != REDIS_REPLY_STRING)
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
        int e = fill_result(&list[i], r->element[3 * i], r->element[3 * i + 1],
                            r->element[3 * i + 2]);

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
static int results_block(struct kwq_client *c, const char *queue, const char *cursor,
                         size_t count, uint64_t block_ms, struct kwq_result **ret, size_t *ret_n)
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
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->elements != 2) {
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

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) {
            rc = kwq__bad_reply(c, "a results stream entry");
            break;
        }
        f = e->element[1];
        for (size_t j = 0; j + 1 < f->elements; j += 2) {
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

/* ---- Whole queue --------------------------------------------------------------- */

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
