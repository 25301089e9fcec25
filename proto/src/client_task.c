/*
 * client_task.c - one task by ID: read it (state, fields, history, result)
 * and cancel it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

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

int kwq__task_parse(struct kwq_client *c, const redisReply *r, struct kwq_task_info *ret)
{
    redisReply **f = r->element;
    long long token, att, max, timeout, enq, due, done_ms;
    bool ok = true;

    memset(ret, 0, sizeof(*ret));
    /* Never trust a reply's shape: every field's type is checked before use. */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 12 || f[0]->type != REDIS_REPLY_STRING ||
        kwq_state_from_string(f[0]->str, &ret->state) != 0 || !kwq__copy_id(ret->task.id, f[1]) ||
        !kwq__reply_int(f[3], &token) || !kwq__reply_int(f[4], &att) ||
        !kwq__reply_int(f[5], &max) || !kwq__reply_int(f[6], &timeout) ||
        !kwq__reply_int(f[7], &enq) || !kwq__reply_int(f[8], &due) ||
        f[9]->type != REDIS_REPLY_STRING || !kwq__reply_int(f[11], &done_ms) ||
        (f[2]->type != REDIS_REPLY_STRING && f[2]->type != REDIS_REPLY_NIL) ||
        (f[10]->type != REDIS_REPLY_STRING && f[10]->type != REDIS_REPLY_NIL)) {
        memset(ret, 0, sizeof(*ret));
        return kwq__bad_reply(c, "a task record");
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
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    }
    return 0;
}

int kwq_task_get(struct kwq_client *c, const char *queue, const char *id, struct kwq_task_info *ret)
{
    redisReply *r;
    int rc;

    memset(ret, 0, sizeof(*ret));
    rc = kwq__eval_task(c, KWQ__TASK, queue, NULL, id, true, &r);
    if (rc)
        return rc;
    rc = kwq__task_parse(c, r, ret);
    freeReplyObject(r);
    return rc;
}

int kwq_cancel(struct kwq_client *c, const char *queue, const char *id)
{
    redisReply *r;
    int rc = kwq__eval_task(c, KWQ__CANCEL, queue, NULL, id, false, &r);

    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STRING)
        rc = kwq__bad_reply(c, "the state of the cancelled task");
    freeReplyObject(r);
    return rc;
}
