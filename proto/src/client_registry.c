/*
 * client_registry.c - the queue registry (docs/PROTOCOL.md "Queue
 * registry"): the SET kwq:queues of every queue kwq_enqueue wrote to, so
 * that readers (kwq-broker, `kwq queues`) find queues without SCAN. It is
 * one key outside every queue's hash slot, so it is written by plain
 * commands, never from a script (a script may only touch keys of one slot
 * on Redis Cluster).
 */
#include <stdlib.h>
#include <string.h>

#include "kwq/task.h"

#include "client_int.h"

void kwq__register_argv(const char *queue, struct kwq__args *argv)
{
    kwq__args_add(argv, "SADD", 4);
    kwq__args_addz(argv, kwq__registry_key);
    kwq__args_addz(argv, queue);
}

void kwq__queues_argv(struct kwq__args *argv)
{
    kwq__args_add(argv, "SMEMBERS", 8);
    kwq__args_addz(argv, kwq__registry_key);
}

void kwq_queues_free(char **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when a member of the set is a queue name (anything else was not written by kwq). */
static bool is_queue_name(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING && e->len <= KWQ_QUEUE_NAME_MAX &&
           strlen(e->str) == e->len && kwq_queue_name_check(e->str, NULL) == 0;
}

int kwq__queues_parse(struct kwq_client *c, const redisReply *r, char ***ret, size_t *ret_n)
{
    char **list;
    size_t n = 0;

    *ret = NULL;
    *ret_n = 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return kwq__bad_reply(c, "the members of kwq:queues");
    list = calloc(r->elements ? r->elements : 1, sizeof(*list));
    if (!list)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->elements; i++) {
        if (!is_queue_name(r->element[i]))
            continue;
        list[n] = kwq__reply_dup(r->element[i]);
        if (!list[n]) {
            kwq_queues_free(list, n);
            return kwq__fail(c, KWQ_ENOMEM, "out of memory");
        }
        n++;
    }
    /* SMEMBERS answers in no useful order: sorted, the list reads the same every time. */
    qsort(list, n, sizeof(*list), by_bytes);
    *ret = list;
    *ret_n = n;
    return 0;
}

int kwq_queues_list(struct kwq_client *c, char ***ret, size_t *ret_n)
{
    struct kwq__args a;
    redisReply *r;
    int rc = kwq__begin_server(c);

    *ret = NULL;
    *ret_n = 0;
    if (rc)
        return rc;
    kwq__args_init(&a);
    kwq__queues_argv(&a);
    rc = kwq__command(c, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    rc = kwq__queues_parse(c, r, ret, ret_n);
    freeReplyObject(r);
    return rc;
}

int kwq_queue_forget(struct kwq_client *c, const char *queue)
{
    struct kwq__args a;
    redisReply *r;
    long long removed;
    int rc = kwq__begin(c, queue);

    if (rc)
        return rc;
    kwq__args_init(&a);
    kwq__args_add(&a, "SREM", 4);
    kwq__args_addz(&a, kwq__registry_key);
    kwq__args_addz(&a, queue);
    rc = kwq__command(c, &a, &r);
    kwq__args_free(&a);
    if (rc)
        return rc;
    if (!kwq__reply_int(r, &removed) || removed < 0 || removed > 1)
        rc = kwq__bad_reply(c, "the count of SREM");
    freeReplyObject(r);
    return rc ? rc : (int)removed;
}
