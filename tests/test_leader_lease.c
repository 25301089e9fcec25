/*
 * test_leader_lease.c - the leader lease of kwq/leader.h (docs/PROTOCOL.md
 * "Leader lease") against a private redis-server: taken, renewed in the same
 * term, refused to another holder while valid, taken over after expiry and
 * at once after a release with term + 1; exact refusals of bad arguments,
 * from the C call and from the script itself; the read on a replica; and a
 * Redis that comes back from an older AOF, or empty, never hands out a term
 * again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "kwq/leader.h"

#include "lua_scripts.h"
#include "test_proto_support.h"

#define NAME   "kwq-broker"
#define GAP    1000000000ULL
#define MINUTE 60000

TestSuite(leader, .init = redis_setup, .fini = redis_teardown, .timeout = 60);

static struct kwq_leader_state acquire(struct kwq_client *c, const char *holder, uint64_t ttl)
{
    struct kwq_leader_state st;

    cr_assert(eq(int, kwq_leader_acquire(c, NAME, holder, ttl, &st), 0), "%s",
              kwq_client_errstr(c));
    return st;
}

static struct kwq_leader_state leader_read(struct kwq_client *c)
{
    struct kwq_leader_state st;

    cr_assert(eq(int, kwq_leader_read(c, NAME, &st), 0), "%s", kwq_client_errstr(c));
    return st;
}

/* The first term comes from the server clock (ms x 1000 + 1), as fencing tokens do. */
Test(leader, first_acquire_takes_the_lease_and_renewal_keeps_the_term)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state none = leader_read(c), a1, a2, r;

    cr_assert(not(none.held_by_me));
    tp_assert_str_eq(none.holder, "");
    cr_assert(eq(u64, none.term, 0));
    cr_assert(eq(i64, none.expires_ms, 0));

    a1 = acquire(c, "a", MINUTE);
    cr_assert(a1.held_by_me);
    tp_assert_str_eq(a1.holder, "a");
    cr_assert(eq(u64, a1.term, (uint64_t)a1.server_time_ms * 1000 + 1));
    cr_assert(eq(i64, a1.expires_ms, a1.server_time_ms + MINUTE));

    a2 = acquire(c, "a", 2 * MINUTE);
    cr_assert(a2.held_by_me);
    cr_assert(eq(u64, a2.term, a1.term));
    cr_assert(eq(i64, a2.expires_ms, a2.server_time_ms + 2 * MINUTE));

    r = leader_read(c);
    cr_assert(not(r.held_by_me));
    tp_assert_str_eq(r.holder, "a");
    cr_assert(eq(u64, r.term, a1.term));
    cr_assert(eq(i64, r.expires_ms, a2.expires_ms));
    kwq_client_free(c);
}

Test(leader, another_holder_is_refused_while_the_lease_is_valid)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", MINUTE), b = acquire(c, "b", MINUTE);

    cr_assert(not(b.held_by_me));
    tp_assert_str_eq(b.holder, "a");
    cr_assert(eq(u64, b.term, a.term));
    cr_assert(eq(i64, b.expires_ms, a.expires_ms));
    /* b's attempt changed nothing: a renews in its term. */
    cr_assert(eq(u64, acquire(c, "a", MINUTE).term, a.term));
    kwq_client_free(c);
}

Test(leader, an_expired_lease_is_taken_over_with_the_next_term)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_leader_state a = acquire(c, "a", 100), b, read, again;

    tp_server_wait_ms(r, 150);
    read = leader_read(c);
    tp_assert_str_eq(read.holder, "");
    cr_assert(eq(i64, read.expires_ms, 0));
    cr_assert(eq(u64, read.term, a.term));

    b = acquire(c, "b", MINUTE);
    cr_assert(b.held_by_me);
    tp_assert_str_eq(b.holder, "b");
    cr_assert(eq(u64, b.term, a.term + 1));
    /* The old holder neither renews nor releases b's lease. */
    again = acquire(c, "a", MINUTE);
    cr_assert(not(again.held_by_me));
    tp_assert_str_eq(again.holder, "b");
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 0));
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", b.term), 0));
    tp_assert_str_eq(leader_read(c).holder, "b");
    redisFree(r);
    kwq_client_free(c);
}

/* A holder whose own lease ran out gets a new term too: it was not leader in between. */
Test(leader, the_same_holder_after_expiry_gets_a_new_term)
{
    struct kwq_client *c = tp_client(NULL);
    redisContext *r = tp_redis();
    struct kwq_leader_state a = acquire(c, "a", 100);

    tp_server_wait_ms(r, 150);
    cr_assert(eq(u64, acquire(c, "a", MINUTE).term, a.term + 1));
    redisFree(r);
    kwq_client_free(c);
}

Test(leader, release_lets_the_next_holder_in_at_once_with_the_next_term)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", MINUTE), read, b;

    cr_assert(eq(int, kwq_leader_release(c, NAME, "b", a.term), 0)); /* not b's */
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term + 1), 0));
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 1));
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 0)); /* once */
    read = leader_read(c);
    tp_assert_str_eq(read.holder, "");
    cr_assert(eq(u64, read.term, a.term));
    cr_assert(eq(i64, read.expires_ms, 0));

    b = acquire(c, "b", MINUTE);
    cr_assert(b.held_by_me);
    cr_assert(eq(u64, b.term, a.term + 1));
    kwq_client_free(c);
}

/* Leases of different names are independent keys. */
Test(leader, names_are_separate_leases)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", MINUTE), o;
    redisContext *r = tp_redis();

    cr_assert(eq(int, kwq_leader_acquire(c, "other.name_1", "b", MINUTE, &o), 0));
    cr_assert(o.held_by_me);
    cr_assert(
        eq(llong, tp_redis_int(r, 2, (const char *[]){"EXISTS", "kwq:leader:{" NAME "}"}), 1));
    cr_assert(
        eq(llong, tp_redis_int(r, 2, (const char *[]){"HLEN", "kwq:leader:{other.name_1}"}), 4));
    tp_assert_str_eq(leader_read(c).holder, "a");
    cr_assert(eq(u64, leader_read(c).term, a.term));
    redisFree(r);
    kwq_client_free(c);
}

/* ---- Bad arguments: refused before anything is sent, with one exact line -------------------- */

static void refused(struct kwq_client *c, int rc, const char *want)
{
    cr_assert(eq(int, rc, KWQ_EINVAL));
    tp_assert_str_eq(kwq_client_errstr(c), want);
}

Test(leader, bad_arguments_are_refused_with_one_line)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state st = {.term = 77};
    redisContext *r = tp_redis();
    char longname[80];

    memset(longname, 'n', 65);
    longname[65] = '\0';
    refused(c, kwq_leader_acquire(c, "a b", "h", MINUTE, &st),
            "leader lease name 'a b' must be 1 to 64 of A-Z a-z 0-9 - _ .");
    refused(c, kwq_leader_acquire(c, "", "h", MINUTE, &st),
            "leader lease name '' must be 1 to 64 of A-Z a-z 0-9 - _ .");
    refused(c, kwq_leader_read(c, longname, &st),
            "leader lease name "
            "'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn' must be 1 to 64 "
            "of A-Z a-z 0-9 - _ .");
    refused(c, kwq_leader_acquire(c, "q:{x}", "h", MINUTE, &st),
            "leader lease name 'q:{x}' must be 1 to 64 of A-Z a-z 0-9 - _ .");
    refused(c, kwq_leader_acquire(c, NAME, "host 1", MINUTE, &st),
            "leader holder 'host 1' must be 1 to 127 printable ASCII characters without spaces");
    refused(c, kwq_leader_release(c, NAME, "", 1),
            "leader holder '' must be 1 to 127 printable ASCII characters without spaces");
    refused(c, kwq_leader_acquire(c, NAME, "h", 99, &st),
            "leader lease ttl must be from 100 ms to 3600000 ms (1 h), got 99 ms");
    refused(c, kwq_leader_acquire(c, NAME, "h", 3600001, &st),
            "leader lease ttl must be from 100 ms to 3600000 ms (1 h), got 3600001 ms");
    refused(c, kwq_leader_release(c, NAME, "h", 0), "leader term must be from 1 to 2^53-1, got 0");
    refused(c, kwq_leader_release(c, NAME, "h", 9007199254740992ULL),
            "leader term must be from 1 to 2^53-1, got 9007199254740992");
    /* The same rules for programs that check their options first. */
    {
        struct kwq_error e = {0};

        cr_assert(eq(int, kwq_leader_check(NAME, "host 1", &e), KWQ_EINVAL));
        tp_assert_str_eq(e.msg, "leader holder 'host 1' must be 1 to 127 printable ASCII "
                                "characters without spaces");
        cr_assert(eq(int, kwq_leader_check(NAME, NULL, &e), 0));
    }
    /* Nothing was written, and the output was left alone. */
    cr_assert(eq(u64, st.term, 77));
    cr_assert(eq(llong, tp_redis_int(r, 1, (const char *[]){"DBSIZE"}), 0));
    /* The longest name and holder are fine. */
    {
        char holder[KWQ_LEADER_HOLDER_MAX];

        memset(holder, '~', sizeof(holder) - 1);
        holder[sizeof(holder) - 1] = '\0';
        longname[64] = '\0';
        cr_assert(eq(int, kwq_leader_acquire(c, longname, holder, 100, &st), 0));
        cr_assert(st.held_by_me);
        tp_assert_str_eq(st.holder, holder);
    }
    redisFree(r);
    kwq_client_free(c);
}

/* ---- The scripts themselves refuse what a client in another language could send -------------- */

/* SHA1 of the embedded script `name`, loaded on r. */
static void load_script(redisContext *r, const char *name, char *sha)
{
    const struct kwq__script *s = NULL;
    redisReply *rep;

    for (unsigned i = 0; i < kwq__script_count; i++) {
        if (strcmp(kwq__scripts[i].name, name) == 0)
            s = &kwq__scripts[i];
    }
    cr_assert(s != NULL, "no script %s", name);
    rep = redisCommand(r, "SCRIPT LOAD %b", s->src, s->len);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING && rep->len == 40);
    memcpy(sha, rep->str, 41);
    freeReplyObject(rep);
}

/* EVALSHA sha over one key with up to 4 args (NULL ends them); the reply (caller frees). */
static redisReply *raw(redisContext *r, const char *cmd, const char *sha, const char *key,
                       const char *a1, const char *a2, const char *a3, const char *a4)
{
    const char *argv[8] = {cmd, sha, "1", key, a1, a2, a3, a4};
    int n = 4;

    while (n < 8 && argv[n])
        n++;
    return redisCommandArgv(r, n, argv, NULL);
}

static void raw_error(redisContext *r, const char *sha, const char *key, const char *a1,
                      const char *a2, const char *a3, const char *a4, const char *want)
{
    redisReply *rep = raw(r, "EVALSHA", sha, key, a1, a2, a3, a4);

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_ERROR);
    tp_assert_str_eq(rep->str, want);
    freeReplyObject(rep);
}

Test(leader, the_script_refuses_bad_arguments_and_writes_nothing)
{
    redisContext *r = tp_redis();
    char sha[41], rsha[41];
    const char *k = "kwq:leader:{x}", *run = "abc123";

    load_script(r, "leader", sha);
    load_script(r, "leader_read", rsha);
    raw_error(r, sha, "kwq:{x}:conf", "acquire", "h", "1000", run,
              "KWQ_INVAL leader key must be kwq:leader:{NAME}, NAME 1 to 64 of A-Z a-z 0-9 - _ .");
    raw_error(r, rsha, "kwq:leader:{a b}", NULL, NULL, NULL, NULL,
              "KWQ_INVAL leader key must be kwq:leader:{NAME}, NAME 1 to 64 of A-Z a-z 0-9 - _ .");
    raw_error(r, sha, k, "take", "h", "1000", run,
              "KWQ_INVAL leader op must be acquire or release");
    raw_error(r, sha, k, "acquire", "a b", "1000", run,
              "KWQ_INVAL leader holder must be 1 to 127 printable ASCII characters without spaces");
    raw_error(r, sha, k, "acquire", NULL, NULL, NULL,
              "KWQ_INVAL leader holder must be 1 to 127 printable ASCII characters without spaces");
    raw_error(r, sha, k, "acquire", "h", "99", run,
              "KWQ_INVAL leader ttl_ms must be an integer from 100 to 3600000");
    raw_error(r, sha, k, "acquire", "h", "1e3", run,
              "KWQ_INVAL leader ttl_ms must be an integer from 100 to 3600000");
    raw_error(r, sha, k, "acquire", "h", "1000", "not-hex!",
              "KWQ_INVAL leader run_id must be 1 to 64 letters and digits");
    raw_error(r, sha, k, "acquire", "h", "1000", NULL,
              "KWQ_INVAL leader run_id must be 1 to 64 letters and digits");
    raw_error(r, sha, k, "release", "h", "0", NULL,
              "KWQ_INVAL leader term must be an integer from 1 to 2^53-1");
    raw_error(r, sha, k, "release", "h", "-1", NULL,
              "KWQ_INVAL leader term must be an integer from 1 to 2^53-1");
    cr_assert(eq(llong, tp_redis_int(r, 1, (const char *[]){"DBSIZE"}), 0));
    redisFree(r);
}

/* ---- The read writes nothing: it runs on a replica ------------------------------------------ */

static char master_port[16];

static void repl_setup(void)
{
    static const char *args[] = {"--port", master_port, "--bind", "127.0.0.1", NULL};

    tp_free_port(master_port, sizeof(master_port));
    redis_fixture_start(&test_redis, args);
}

TestSuite(leader_repl, .init = repl_setup, .fini = redis_teardown, .timeout = 60);

Test(leader_repl, read_runs_on_a_replica_and_acquire_does_not)
{
    static const char *args[] = {"--replicaof", "127.0.0.1", master_port, NULL};
    struct redis_fixture replica = {.pid = 0};
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", MINUTE);
    redisContext *r, *m = tp_redis();
    redisReply *rep;
    char sha[41], rsha[41];

    redis_fixture_start(&replica, args);
    r = redisConnectUnix(replica.sock);
    cr_assert(r != NULL && r->err == 0);
    load_script(r, "leader_read", rsha);
    load_script(r, "leader", sha);
    /* Wait until the replica has the lease (the initial sync), at most ~20 s. */
    for (int i = 0; i < 200; i++) {
        rep = raw(r, "EVALSHA", rsha, "kwq:leader:{" NAME "}", NULL, NULL, NULL, NULL);
        cr_assert(rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 5, "%s",
                  rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no array");
        if (rep->element[1]->len > 0)
            break;
        freeReplyObject(rep);
        rep = NULL;
        tp_server_wait_ms(m, 100); /* on the master: a replica refuses BLPOP */
    }
    cr_assert(rep != NULL, "the replica never had the lease");
    tp_assert_str_eq(rep->element[1]->str, "a");
    cr_assert(eq(llong, rep->element[2]->integer, (long long)a.term));
    freeReplyObject(rep);
    rep = raw(r, "EVALSHA", sha, "kwq:leader:{" NAME "}", "acquire", "b", "1000", "abc");
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_ERROR);
    cr_assert(tp_contains(rep->str, "READONLY"), "%s", rep->str);
    freeReplyObject(rep);
    redisFree(r);
    redisFree(m);
    redis_fixture_stop(&replica);
    kwq_client_free(c);
}

/* ---- Rollbacks: a term is never handed out twice ------------------------------------------ */

static void aof_setup(void)
{
    /* fsync always: the AOF on disk holds exactly what was acknowledged. */
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    redis_fixture_start(&test_redis, args);
}

TestSuite(leader_rollback, .init = aof_setup, .fini = redis_teardown, .timeout = 120);

/* Run a shell command on the test's own dir (cp, rm, mv); asserts it succeeded. */
static void sh(const char *fmt)
{
    char cmd[1024];
    const char *d = test_redis.dir;

    (void)snprintf(cmd, sizeof(cmd), fmt, d, d, d);
    cr_assert(eq(int, system(cmd), 0), "%s", cmd);
}

/* The fenced term: the next-but-one multiple of 10^9 above max(term, now x 1000). */
static uint64_t jump(uint64_t term, int64_t now_ms)
{
    uint64_t base = term > (uint64_t)now_ms * 1000 ? term : (uint64_t)now_ms * 1000;

    return (base / GAP + 2) * GAP;
}

static void restart_from_copy(struct kwq_client *c)
{
    char run1[64];

    (void)snprintf(run1, sizeof(run1), "%s", kwq_client_server_run_id(c));
    redis_fixture_kill(&test_redis);
    sh("rm -rf %s/appendonlydir && mv %s/aof-t1 %s/appendonlydir");
    redis_fixture_restart(&test_redis);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_assert_str_ne(kwq_client_server_run_id(c), run1);
}

/*
 * Redis comes back from an AOF copied while a held term T1; after the copy,
 * a released and b and c held T1+1 and T1+2, which were lost. The holder of
 * record (a) keeps the lease, but under a jumped term that no lost write
 * can have issued; the next holder gets that plus one.
 */
Test(leader_rollback, a_lost_term_is_never_issued_again_to_the_holder_of_record)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", 10 * MINUTE), b, cc, after, read, next;

    sh("cp -a %s/appendonlydir %s/aof-t1");
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 1));
    b = acquire(c, "b", MINUTE);
    cr_assert(eq(u64, b.term, a.term + 1));
    cr_assert(eq(int, kwq_leader_release(c, NAME, "b", b.term), 1));
    cc = acquire(c, "c", MINUTE);
    cr_assert(eq(u64, cc.term, a.term + 2));

    restart_from_copy(c);
    read = leader_read(c); /* rolled back: a in T1, as read writes nothing */
    tp_assert_str_eq(read.holder, "a");
    cr_assert(eq(u64, read.term, a.term));

    after = acquire(c, "a", 10 * MINUTE);
    cr_assert(after.held_by_me);
    cr_assert(eq(u64, after.term, jump(a.term, after.server_time_ms)));
    cr_assert(gt(u64, after.term, cc.term));
    cr_assert(eq(u64, acquire(c, "a", 10 * MINUTE).term, after.term)); /* one jump per server */
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", after.term), 1));
    next = acquire(c, "c", MINUTE);
    cr_assert(eq(u64, next.term, after.term + 1));
    kwq_client_free(c);
}

/*
 * The first caller on the new server is not the holder: it is refused, but
 * the term jumps all the same, so the holder's next renewal reports the new
 * term (its old one may have been reused by the lost writes' successor).
 */
Test(leader_rollback, a_refused_caller_jumps_the_term_of_the_holder_of_record)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", 10 * MINUTE), b, renewed;

    sh("cp -a %s/appendonlydir %s/aof-t1");
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 1));
    cr_assert(eq(u64, acquire(c, "b", MINUTE).term, a.term + 1));

    restart_from_copy(c);
    b = acquire(c, "b", MINUTE);
    cr_assert(not(b.held_by_me));
    tp_assert_str_eq(b.holder, "a");
    cr_assert(eq(u64, b.term, jump(a.term, b.server_time_ms)));
    renewed = acquire(c, "a", 10 * MINUTE);
    cr_assert(renewed.held_by_me);
    cr_assert(eq(u64, renewed.term, b.term));
    /* The release of the lost tenure is refused; the new one's goes. */
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 0));
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", renewed.term), 1));
    kwq_client_free(c);
}

/*
 * A release made on the new server before any acquire there keeps the old
 * run_id, so the next acquire still jumps.
 */
Test(leader_rollback, a_release_on_the_new_server_does_not_hide_the_change)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", 10 * MINUTE), b;

    sh("cp -a %s/appendonlydir %s/aof-t1");
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 1));
    cr_assert(eq(u64, acquire(c, "b", MINUTE).term, a.term + 1));

    restart_from_copy(c);
    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 1));
    b = acquire(c, "b", MINUTE);
    cr_assert(b.held_by_me);
    cr_assert(eq(u64, b.term, jump(a.term, b.server_time_ms) + 1));
    kwq_client_free(c);
}

/* Redis restarted with no data at all: terms start again from the clock, above the old ones. */
Test(leader, a_lease_lost_whole_starts_again_from_the_clock)
{
    struct kwq_client *c = tp_client(NULL);
    struct kwq_leader_state a = acquire(c, "a", MINUTE), b;

    cr_assert(eq(int, kwq_leader_release(c, NAME, "a", a.term), 1));
    cr_assert(eq(u64, acquire(c, "a", MINUTE).term, a.term + 1));
    redis_fixture_restart(&test_redis);
    cr_assert(eq(int, kwq_client_connect(c), 0), "%s", kwq_client_errstr(c));
    tp_assert_str_eq(leader_read(c).holder, "");
    b = acquire(c, "b", MINUTE);
    cr_assert(eq(u64, b.term, (uint64_t)b.server_time_ms * 1000 + 1));
    cr_assert(gt(u64, b.term, a.term + 1));
    kwq_client_free(c);
}
