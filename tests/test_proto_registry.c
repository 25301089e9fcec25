/*
 * test_proto_registry.c - the queue registry (docs/PROTOCOL.md "Queue
 * registry"): kwq_enqueue registers its queue (one SET, kwq:queues, outside
 * every queue's slot), kwq_queues_list reads it sorted, kwq_queue_forget
 * removes a name; what registers nothing (a bad name, nothing to enqueue,
 * a payload over the limit); purge keeps the name; members that are not
 * queue names are not listed.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

TestSuite(registry, .init = redis_setup, .fini = redis_teardown);

/* Assert that the registry lists exactly want[0..n), in that order. */
static void assert_queues(struct kwq_client *c, const char *const *want, size_t n)
{
    char **names = (char **)&names; /* not NULL: the call must set it */
    size_t got = 99;
    int rc = kwq_queues_list(c, &names, &got);

    cr_assert(eq(int, rc, 0), "queues_list: %s (%s)", kwq_err_name(rc), kwq_client_errstr(c));
    cr_assert(eq(sz, got, n));
    for (size_t i = 0; i < n; i++)
        tp_assert_str_eq(names[i], want[i]);
    kwq_queues_free(names, got);
}

static long long registry_card(redisContext *r)
{
    const char *argv[] = {"SCARD", "kwq:queues"};

    return tp_redis_int(r, 2, argv);
}

Test(registry, enqueue_registers_each_queue_once_and_the_list_is_sorted)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    redisReply *rep;

    assert_queues(c, NULL, 0);
    tp_enqueue(c, "b", "x", NULL);
    tp_enqueue(c, "a", "x", NULL);
    tp_enqueue(c, "c-1", "x", NULL);
    tp_enqueue(c, "a", "y", NULL);
    tp_enqueue(c, "B", "x", NULL);
    /* Three chunks in one call: registered once, ahead of the first. */
    tp_enqueue_n(c, "big", "t", 2500);
    assert_queues(c, (const char *[]){"B", "a", "b", "big", "c-1"}, 5);
    cr_assert(eq(llong, registry_card(r), 5));
    rep = redisCommand(r, "TYPE kwq:queues");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    tp_assert_str_eq(rep->str, "set");
    freeReplyObject(rep);
    redisFree(r);
    kwq_client_free(c);
}

Test(registry, forget_removes_a_name_and_the_next_enqueue_adds_it_again)
{
    struct kwq_client *c = tp_client(NULL);

    tp_enqueue(c, "a", "x", NULL);
    tp_enqueue(c, "b", "x", NULL);
    cr_assert(eq(int, kwq_queue_forget(c, "b"), 1), "%s", kwq_client_errstr(c));
    cr_assert(eq(int, kwq_queue_forget(c, "b"), 0));
    cr_assert(eq(int, kwq_queue_forget(c, "never"), 0));
    assert_queues(c, (const char *[]){"a"}, 1);
    /* Its tasks are untouched. */
    cr_assert(eq(u64, tp_stats(c, "b").pending, 1));
    cr_assert(eq(int, kwq_queue_forget(c, "bad name"), KWQ_EINVAL));
    tp_assert_str_eq(kwq_client_errstr(c),
                     "queue name has a character outside A-Z a-z 0-9 . _ : - at byte 4 (0x20)");
    tp_enqueue(c, "b", "y", NULL);
    assert_queues(c, (const char *[]){"a", "b"}, 2);
    kwq_client_free(c);
}

Test(registry, refused_enqueues_register_nothing)
{
    struct kwq_client_opts o;
    struct kwq_client *c;
    redisContext *r = tp_redis();
    struct kwq_new_task big = {.payload = "12345", .payload_len = 5};
    struct kwq_new_task ok = {.payload = "1", .payload_len = 1};
    size_t accepted = 99;

    kwq_client_opts_init(&o);
    o.max_payload = 4;
    c = tp_client_opts(&o);
    cr_assert(eq(int, kwq_enqueue(c, "bad name!", &ok, 1, NULL, &accepted), KWQ_EINVAL));
    cr_assert(eq(sz, accepted, 0));
    cr_assert(eq(int, kwq_enqueue(c, "", &ok, 1, NULL, NULL), KWQ_EINVAL));
    cr_assert(eq(int, kwq_enqueue(c, "toobig", &big, 1, NULL, &accepted), KWQ_ETOOBIG));
    cr_assert(eq(int, kwq_enqueue(c, "none", NULL, 0, NULL, &accepted), 0));
    cr_assert(eq(sz, accepted, 0));
    cr_assert(eq(llong, tp_key_len(r, "EXISTS", "toobig", "seq"), 0));
    assert_queues(c, NULL, 0);
    {
        const char *argv[] = {"EXISTS", "kwq:queues"};

        cr_assert(eq(llong, tp_redis_int(r, 2, argv), 0));
    }
    redisFree(r);
    kwq_client_free(c);
}

/*
 * The registration goes ahead of the tasks, so a queue that refuses them
 * (sealed) is registered all the same: the registry may name a queue with
 * no tasks, never a queue with tasks that it does not name.
 */
Test(registry, an_enqueue_refused_by_the_queue_still_registers_it)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_new_task t = {.payload = "1", .payload_len = 1};

    cr_assert(eq(int, kwq_seal(c, "sealed"), 0));
    assert_queues(c, NULL, 0);
    cr_assert(eq(int, kwq_enqueue(c, "sealed", &t, 1, NULL, NULL), KWQ_ESEALED));
    assert_queues(c, (const char *[]){"sealed"}, 1);
    kwq_client_free(c);
}

Test(registry, purge_keeps_the_registration)
{
    struct kwq_client *c = tp_client(NULL);

    tp_enqueue(c, TP_QUEUE, "x", NULL);
    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));
    assert_queues(c, (const char *[]){TP_QUEUE}, 1);
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).pending, 0));
    kwq_client_free(c);
}

/* Whatever else wrote to the set, only queue names are listed. */
Test(registry, members_that_are_not_queue_names_are_not_listed)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    const char *argv[] = {"SADD", "kwq:queues", "no spaces", "{x}", "", "ok"};
    char longname[KWQ_QUEUE_NAME_MAX + 2];
    const char *argv2[] = {"SADD", "kwq:queues", longname};

    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert(eq(llong, tp_redis_int(r, 6, argv), 4));
    cr_assert(eq(llong, tp_redis_int(r, 3, argv2), 1));
    tp_enqueue(c, "a", "x", NULL);
    assert_queues(c, (const char *[]){"a", "ok"}, 2);
    redisFree(r);
    kwq_client_free(c);
}

Test(registry, list_needs_a_connection)
{
    struct kwq_client *c = kwq_client_new(NULL);
    char **names = (char **)&names;
    size_t n = 99;

    cr_assert(eq(int, kwq_queues_list(c, &names, &n), KWQ_ECONN));
    cr_assert(names == NULL);
    cr_assert(eq(sz, n, 0));
    cr_assert(tp_contains(kwq_client_errstr(c), "not connected to Redis"), "%s",
              kwq_client_errstr(c));
    kwq_queues_free(NULL, 0);
    kwq_client_free(c);
}
