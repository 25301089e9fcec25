/*
 * test_proto_rollback.c - Redis losing writes under running workers
 * (docs/PROTOCOL.md "Rollbacks"): a restart from an older AOF must not let a
 * stale holder's (ID, token) match a new lease, nor reuse a lost ID or
 * token; purge keeps the token counter; a queue that vanished whole (Redis
 * restarted empty, FLUSHALL) answers its holders KWQ_EGONE, while a queue
 * never used is not "gone".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proto_support.h"

/* Run a shell command on the test's own files (cp, rm); asserts it succeeded. */
static void sh(const char *fmt, const char *dir)
{
    char cmd[1024];

    (void)snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir);
    cr_assert(eq(int, system(cmd), 0), "%s", cmd);
}

static void aof_setup(void)
{
    /* fsync always: the AOF on disk holds exactly what was acknowledged. */
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, args);
}

TestSuite(rollback, .init = aof_setup, .fini = redis_teardown, .timeout = 120);
TestSuite(gone, .init = redis_setup, .fini = redis_teardown, .timeout = 60);

/* Renew one lease and return its status (the call itself must succeed). */
static int renew1(struct kwq_client *c, const struct kwq_task *t)
{
    struct kwq_lease_ref ref = {.id = t->id, .token = t->token};
    int st = 1;

    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, &ref, 1, 60000, &st), 0), "%s", kwq_client_errstr(c));
    return st;
}

/* Ack one lease and return its status (the call itself must succeed). */
static int ack1(struct kwq_client *c, const struct kwq_task *t)
{
    struct kwq_ack a = {.id = t->id, .token = t->token};
    int st = 1;

    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, &st), 0), "%s", kwq_client_errstr(c));
    return st;
}

/*
 * Redis comes back from an AOF older than its last writes (as after AOF
 * everysec losing its last second, or a failover to a replica that lagged):
 * the leases and the enqueue made after the copy are lost. The holders of
 * the lost leases must get KWQ_ELEASELOST although the same tasks are leased
 * again, every token stays unique, and the lost IDs are never handed out.
 */
Test(rollback, restart_from_an_older_aof_reuses_no_token_and_no_id)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task kept, lost2, lost3, new2, new3;
    struct kwq_enqueued e[2];
    char run1[64];
    struct kwq_stats s;

    tp_enqueue_n(c, TP_QUEUE, "t", 3); /* IDs 1, 2, 3 */
    tp_lease1(c, TP_QUEUE, 600000, 0, &kept);
    tp_assert_str_eq(kept.id, "1");
    (void)snprintf(run1, sizeof(run1), "%s", kwq_client_server_run_id(c));
    cr_assert(eq(sz, strlen(run1), 40));

    /* T1: copy the AOF. */
    sh("cp -a %s/appendonlydir %s/aof-t1", test_redis.dir);

    /* After T1: two leases and two enqueues, then lost. */
    tp_lease1(c, TP_QUEUE, 600000, 0, &lost2);
    tp_lease1(c, TP_QUEUE, 600000, 0, &lost3);
    {
        struct kwq_new_task nt[2] = {{.payload = "a", .payload_len = 1},
                                     {.payload = "b", .payload_len = 1}};
        cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, nt, 2, e, NULL), 0));
        tp_assert_str_eq(e[0].id, "4");
        tp_assert_str_eq(e[1].id, "5");
    }

    redis_fixture_kill(&test_redis);
    sh("rm -rf %s/appendonlydir && mv %s/aof-t1 %s/appendonlydir", test_redis.dir);
    redis_fixture_restart(&test_redis);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_assert_str_ne(kwq_client_server_run_id(c), run1);

    /* Redis is back at T1: tasks 2 and 3 pending again, 4 and 5 never were. */
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.pending, 2));
    cr_assert(eq(u64, s.leased, 1));

    /* The same tasks are leased again, under tokens never used before. */
    tp_lease1(c, TP_QUEUE, 600000, 0, &new2);
    tp_lease1(c, TP_QUEUE, 600000, 0, &new3);
    tp_assert_str_eq(new2.id, lost2.id);
    tp_assert_str_eq(new3.id, lost3.id);
    cr_assert(gt(u64, new2.token, lost3.token));
    cr_assert(gt(u64, new3.token, new2.token));

    /* The stale holders are refused; the lease from before T1 still holds. */
    cr_assert(eq(int, ack1(c, &lost2), KWQ_ELEASELOST));
    cr_assert(eq(int, renew1(c, &lost3), KWQ_ELEASELOST));
    cr_assert(eq(int, renew1(c, &kept), 0));
    cr_assert(eq(int, renew1(c, &new3), 0));
    cr_assert(eq(int, ack1(c, &new2), 0));

    /* The lost IDs 4 and 5 are not handed out again: IDs jump past them. */
    {
        struct kwq_new_task nt = {.payload = "c", .payload_len = 1};
        cr_assert(eq(int, kwq_enqueue(c, TP_QUEUE, &nt, 1, e, NULL), 0));
        tp_assert_str_eq(e[0].id, "2000000001");
    }
    s = tp_stats(c, TP_QUEUE);
    cr_assert(eq(u64, s.restarts, 1));

    /* A second client on the same server sees the same server: no second jump. */
    {
        struct kwq_client *c2 = tp_client(NULL);
        struct kwq_new_task nt = {.payload = "d", .payload_len = 1};

        cr_assert(eq(int, kwq_enqueue(c2, TP_QUEUE, &nt, 1, e, NULL), 0));
        tp_assert_str_eq(e[0].id, "2000000002");
        cr_assert(eq(u64, tp_stats(c2, TP_QUEUE).restarts, 1));
        kwq_client_free(c2);
    }
    kwq_task_done(&kept);
    kwq_task_done(&lost2);
    kwq_task_done(&lost3);
    kwq_task_done(&new2);
    kwq_task_done(&new3);
    kwq_client_free(c);
}

/* Purge keeps the token counter as it keeps the ID sequence: tokens continue. */
Test(gone, purge_keeps_the_token_counter)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_task t1, t2;

    tp_enqueue(c, TP_QUEUE, "a", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t1);
    cr_assert(eq(int, kwq_purge(c, TP_QUEUE), 0));
    cr_assert(eq(int, renew1(c, &t1), KWQ_ELEASELOST)); /* purged, not gone */
    tp_enqueue(c, TP_QUEUE, "b", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t2);
    tp_assert_str_eq(t2.id, "2");
    cr_assert(eq(u64, t2.token, t1.token + 1));
    cr_assert(eq(u64, tp_stats(c, TP_QUEUE).restarts, 0));
    kwq_task_done(&t1);
    kwq_task_done(&t2);
    kwq_client_free(c);
}

/* Every holder's call on a queue whose keys are all gone answers KWQ_EGONE, changing nothing. */
static void assert_gone(struct kwq_client *c, const struct kwq_task *t)
{
    struct kwq_lease_ref ref = {.id = t->id, .token = t->token};
    struct kwq_ack a = {.id = t->id, .token = t->token};
    struct kwq_ack ar = {.id = t->id, .token = t->token, .result = "r", .result_len = 1};
    struct kwq_failure f = {.id = t->id, .token = t->token, .error = "e", .code = 1};
    struct kwq_fail_outcome out;
    int st;

    cr_assert(eq(int, kwq_renew(c, TP_QUEUE, &ref, 1, 60000, &st), KWQ_EGONE));
    tp_assert_str_eq(kwq_client_errstr(c),
                     "queue 'jobs' is gone from Redis (restarted empty, flushed or rolled back); "
                     "its tasks must be enqueued again");
    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &a, 1, &st), KWQ_EGONE));
    cr_assert(eq(int, kwq_ack(c, TP_QUEUE, &ar, 1, &st), KWQ_EGONE));
    cr_assert(eq(int, kwq_fail(c, TP_QUEUE, &f, 1, &out), KWQ_EGONE));
    cr_assert(eq(int, kwq_release(c, TP_QUEUE, &ref, 1, &st), KWQ_EGONE));
}

/* Redis restarted with no data (no AOF, no RDB): the holder learns the queue is gone. */
Test(gone, restart_empty_answers_gone_to_holders)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r;
    struct kwq_task t;

    tp_enqueue_n(c, TP_QUEUE, "t", 2);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    redis_fixture_restart(&test_redis);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    assert_gone(c, &t);
    r = tp_redis();
    cr_assert(eq(llong, tp_redis_int(r, 1, (const char *[]){"DBSIZE"}), 0)); /* nothing written */
    redisFree(r);
    kwq_task_done(&t);
    kwq_client_free(c);
}

/*
 * FLUSHALL under a holder: gone. When the queue is used again, the old
 * holder's (ID, token) does not match the new lease of the same ID: a new
 * token counter starts from the clock, above the old one's tokens.
 */
Test(gone, flushall_then_reuse_never_matches_an_old_token)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_task old, t;

    tp_enqueue(c, TP_QUEUE, "a", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &old);
    {
        redisReply *rep = redisCommand(r, "FLUSHALL");

        cr_assert(rep != NULL && rep->type == REDIS_REPLY_STATUS);
        freeReplyObject(rep);
    }
    assert_gone(c, &old);
    tp_server_wait_ms(r, 2); /* the counter's new start is a later millisecond */
    tp_enqueue(c, TP_QUEUE, "b", NULL);
    tp_lease1(c, TP_QUEUE, 60000, 0, &t);
    tp_assert_str_eq(t.id, old.id); /* the ID sequence was lost with the rest */
    cr_assert(gt(u64, t.token, old.token));
    cr_assert(eq(int, ack1(c, &old), KWQ_ELEASELOST)); /* in use again: lost, not gone */
    cr_assert(eq(int, ack1(c, &t), 0));
    kwq_task_done(&old);
    kwq_task_done(&t);
    redisFree(r);
    kwq_client_free(c);
}

/* A queue never used is empty, not gone: lease, stats and wait answer as usual. */
Test(gone, a_never_used_queue_is_not_gone)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_lease_result lr;
    struct kwq_stats s;
    redisContext *r = tp_redis();

    cr_assert(eq(int, kwq_lease(c, "never", 1, 60000, 0, &lr), 0), "%s", kwq_client_errstr(c));
    cr_assert(eq(int, kwq_stats(c, "never", &s), 0));
    cr_assert(eq(u64, s.pending, 0));
    cr_assert(eq(u64, s.restarts, 0));
    /* Idle workers on a mistyped queue name leave nothing behind. */
    cr_assert(eq(llong, tp_redis_int(r, 1, (const char *[]){"DBSIZE"}), 0));
    kwq_lease_result_done(&lr);
    redisFree(r);
    kwq_client_free(c);
}
