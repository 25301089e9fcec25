/*
 * leader.c - the leader lease of kwq/leader.h over the blocking client, and
 * the argument checks, builders and reply parsers the non-blocking one
 * (async_leader.c) shares (docs/PROTOCOL.md "Leader lease").
 */
#include "kwq/leader.h"

#include <string.h>

#include "client_int.h"

/* Terms are Lua numbers in the script: exact up to 2^53 - 1. */
#define TERM_MAX 9007199254740991ULL

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > 0 && n <= KWQ_LEADER_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* Printable ASCII without spaces, as the script's holder_ok. */
static bool holder_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= KWQ_LEADER_HOLDER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    }
    return true;
}

int kwq_leader_check(const char *name, const char *holder, struct kwq_error *err)
{
    if (!name_ok(name))
        return kwq_error_set(err, KWQ_EINVAL,
                             "leader lease name '%.80s' must be 1 to %d of A-Z a-z 0-9 - _ .",
                             name ? name : "(null)", KWQ_LEADER_NAME_MAX);
    if (holder && !holder_ok(holder))
        return kwq_error_set(err, KWQ_EINVAL,
                             "leader holder '%.80s' must be 1 to %d printable ASCII characters "
                             "without spaces",
                             holder, KWQ_LEADER_HOLDER_MAX - 1);
    return 0;
}

int kwq__leader_check(struct kwq_client *c, const char *name, const char *holder)
{
    struct kwq_error e = {0};

    if (kwq_leader_check(name, holder, &e))
        return kwq__fail(c, e.code, "%s", e.msg);
    return 0;
}

int kwq__leader_ttl_check(struct kwq_client *c, uint64_t ttl_ms)
{
    if (ttl_ms < 100 || ttl_ms > 3600000)
        return kwq__fail(c, KWQ_EINVAL,
                         "leader lease ttl must be from 100 ms to 3600000 ms (1 h), got %llu ms",
                         (unsigned long long)ttl_ms);
    return 0;
}

int kwq__leader_term_check(struct kwq_client *c, uint64_t term)
{
    if (term < 1 || term > TERM_MAX)
        return kwq__fail(c, KWQ_EINVAL, "leader term must be from 1 to 2^53-1, got %llu",
                         (unsigned long long)term);
    return 0;
}

void kwq__leader_acquire_args(const struct kwq_client *c, const char *holder, uint64_t ttl_ms,
                              struct kwq__args *args)
{
    kwq__args_addz(args, "acquire");
    kwq__args_addz(args, holder);
    kwq__args_addu(args, ttl_ms);
    kwq__args_run_id(c, args);
}

void kwq__leader_release_args(const char *holder, uint64_t term, struct kwq__args *args)
{
    kwq__args_addz(args, "release");
    kwq__args_addz(args, holder);
    kwq__args_addu(args, term);
}

/* A non-negative integer element of a reply; false when it is not one. */
static bool elem_u64(const redisReply *r, uint64_t *ret)
{
    long long v;

    if (!kwq__reply_int(r, &v) || v < 0)
        return false;
    *ret = (uint64_t)v;
    return true;
}

int kwq__leader_parse(struct kwq_client *c, const redisReply *r, struct kwq_leader_state *st)
{
    struct kwq_leader_state s = {0};
    const redisReply *h;
    uint64_t held, expires, now;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return kwq__bad_reply(c, "an array of 5 from the leader script");
    h = r->element[1];
    if (!elem_u64(r->element[0], &held) || held > 1 || h->type != REDIS_REPLY_STRING ||
        h->len >= sizeof(s.holder) || !elem_u64(r->element[2], &s.term) ||
        !elem_u64(r->element[3], &expires) || !elem_u64(r->element[4], &now))
        return kwq__bad_reply(c, "held, holder, term, expires_ms, time from the leader script");
    s.held_by_me = held == 1;
    memcpy(s.holder, h->str, h->len);
    s.holder[h->len] = '\0';
    s.expires_ms = (int64_t)expires;
    s.server_time_ms = (int64_t)now;
    *st = s;
    return 0;
}

int kwq__leader_released(struct kwq_client *c, const redisReply *r)
{
    if (r->type != REDIS_REPLY_INTEGER || (r->integer != 0 && r->integer != 1))
        return kwq__bad_reply(c, "0 or 1 from the leader script's release");
    return (int)r->integer;
}

/* Run the leader script op over the lease of name with args; the reply into *ret. */
static int leader_eval(struct kwq_client *c, enum kwq__op op, const char *name,
                       const struct kwq__args *args, redisReply **ret)
{
    char key[KWQ_LEADER_NAME_MAX + 16];
    struct kwq__args keys;
    int rc = kwq__begin(c, name); /* a lease name is also a valid queue name */

    *ret = NULL;
    if (rc)
        return rc;
    kwq__args_init(&keys);
    kwq__args_add(&keys, key, kwq__key_leader(key, sizeof(key), name));
    rc = kwq__eval(c, op, NULL, &keys, args, ret);
    kwq__args_free(&keys);
    return rc;
}

int kwq_leader_acquire(struct kwq_client *c, const char *name, const char *holder, uint64_t ttl_ms,
                       struct kwq_leader_state *ret)
{
    struct kwq__args args;
    redisReply *r;
    int rc = kwq__leader_check(c, name, holder);

    if (!rc)
        rc = kwq__leader_ttl_check(c, ttl_ms);
    if (rc)
        return rc;
    kwq__args_init(&args);
    kwq__leader_acquire_args(c, holder, ttl_ms, &args);
    rc = leader_eval(c, KWQ__LEADER, name, &args, &r);
    kwq__args_free(&args);
    if (!rc)
        rc = kwq__leader_parse(c, r, ret);
    freeReplyObject(r);
    return rc;
}

int kwq_leader_release(struct kwq_client *c, const char *name, const char *holder, uint64_t term)
{
    struct kwq__args args;
    redisReply *r;
    int rc = kwq__leader_check(c, name, holder);

    if (!rc)
        rc = kwq__leader_term_check(c, term);
    if (rc)
        return rc;
    kwq__args_init(&args);
    kwq__leader_release_args(holder, term, &args);
    rc = leader_eval(c, KWQ__LEADER, name, &args, &r);
    kwq__args_free(&args);
    if (!rc)
        rc = kwq__leader_released(c, r);
    freeReplyObject(r);
    return rc;
}

int kwq_leader_read(struct kwq_client *c, const char *name, struct kwq_leader_state *ret)
{
    redisReply *r;
    int rc = kwq__leader_check(c, name, NULL);

    if (rc)
        return rc;
    rc = leader_eval(c, KWQ__LEADER_READ, name, NULL, &r);
    if (!rc)
        rc = kwq__leader_parse(c, r, ret);
    freeReplyObject(r);
    return rc;
}
