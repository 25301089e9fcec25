/*
 * client_enqueue.c - kwq_enqueue: checks every payload first, then sends the
 * queue's registration (docs/PROTOCOL.md "Queue registry") and the tasks in
 * atomic chunks of at most KWQ_ENQUEUE_CHUNK tasks and
 * KWQ_ENQUEUE_CHUNK_BYTES bytes, all pipelined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "kwq/util.h"

#include "client_int.h"

/* One chunk's command: extra keys (idempotency keys) and arguments. */
struct chunk {
    size_t first, n;       /* tasks[first .. first + n) */
    struct kwq__args keys; /* kwq:{q}:idem:<key> strings, owned via idem[] */
    struct kwq__args args;
    char **owned; /* malloc'd strings the vectors point to */
    size_t n_owned;
};

static void chunk_free(struct chunk *ch)
{
    for (size_t i = 0; i < ch->n_owned; i++)
        free(ch->owned[i]);
    free(ch->owned);
    kwq__args_free(&ch->keys);
    kwq__args_free(&ch->args);
}

/* batch: the batch key (NULL for a lone chunk), borrowed; k: chunk index; last: final chunk. */
static int build_chunk(struct kwq_client *c, const char *queue, const struct kwq_new_task *tasks,
                       const char *batch, size_t batch_len, size_t k, bool last, struct chunk *ch)
{
    kwq__args_init(&ch->keys);
    kwq__args_init(&ch->args);
    ch->owned = calloc(2 * ch->n, sizeof(*ch->owned));
    ch->n_owned = 0;
    if (!ch->owned)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    kwq__args_addu(&ch->args, ch->n);
    if (batch) {
        char pos[32];
        int len = snprintf(pos, sizeof(pos), "%zu:%d", k + 1, last ? 1 : 0);

        kwq__args_add(&ch->keys, batch, batch_len);
        kwq__args_addcopy(&ch->args, pos, (size_t)len);
    } else {
        kwq__args_add(&ch->args, "", 0);
    }
    kwq__args_run_id(c, &ch->args);
    for (size_t i = ch->first; i < ch->first + ch->n; i++) {
        const struct kwq_new_task *t = &tasks[i];
        bool plain = !t->idem_key && !t->delay_ms && !t->max_attempts && !t->timeout_ms;

        if (plain) {
            kwq__args_add(&ch->args, "", 0);
        } else {
            char buf[200], *o;
            int n = snprintf(buf, sizeof(buf), "{\"d\":%llu,\"m\":%u,\"t\":%llu",
                             (unsigned long long)t->delay_ms, t->max_attempts,
                             (unsigned long long)t->timeout_ms);

            if (t->idem_key) {
                size_t klen;
                char *key = kwq__key_item(queue, "idem", t->idem_key, strlen(t->idem_key), &klen);

                if (!key)
                    return kwq__fail(c, KWQ_ENOMEM, "out of memory");
                ch->owned[ch->n_owned++] = key;
                kwq__args_add(&ch->keys, key, klen);
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, ",\"k\":%zu,\"kt\":%llu",
                              KWQ__FIXED_KEYS + ch->keys.n,
                              (unsigned long long)(t->idem_ttl_ms ? t->idem_ttl_ms : 86400000));
            }
            (void)snprintf(buf + n, sizeof(buf) - (size_t)n, "}");
            o = strdup(buf);
            if (!o)
                return kwq__fail(c, KWQ_ENOMEM, "out of memory");
            ch->owned[ch->n_owned++] = o;
            kwq__args_addz(&ch->args, o);
        }
        kwq__args_add(&ch->args, t->payload ? t->payload : "", t->payload_len);
    }
    if (ch->args.oom || ch->keys.oom)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    return 0;
}

/*
 * Store a chunk's reply: the first new ID, then (index, existing ID) per
 * duplicate; new tasks have consecutive IDs in task order.
 */
static int store_reply(struct kwq_client *c, const redisReply *r, const struct chunk *ch,
                       struct kwq_enqueued *ret)
{
    long long next, idx;
    size_t d = 1;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->elements % 2 != 1 ||
        !kwq__reply_int(r->element[0], &next) || next < 0)
        return kwq__bad_reply(c, "the first new ID and the duplicates");
    for (size_t i = 0; i < ch->n; i++) {
        struct kwq_enqueued *e = ret ? &ret[ch->first + i] : NULL;

        if (d < r->elements && kwq__reply_int(r->element[d], &idx) && (size_t)idx == i + 1) {
            const redisReply *id = r->element[d + 1];

            if (id->type != REDIS_REPLY_STRING || id->len == 0 || id->len >= KWQ_ID_MAX)
                return kwq__bad_reply(c, "an existing ID");
            if (e) {
                memcpy(e->id, id->str, id->len);
                e->id[id->len] = '\0';
                e->duplicate = true;
            }
            d += 2;
        } else {
            if (next == 0)
                return kwq__bad_reply(c, "the first new ID and the duplicates");
            if (e) {
                (void)snprintf(e->id, sizeof(e->id), "%lld", next);
                e->duplicate = false;
            }
            next++;
        }
    }
    if (d != r->elements)
        return kwq__bad_reply(c, "the first new ID and the duplicates");
    return 0;
}

/*
 * The batch key of a pipelined batch, kwq:{q}:batch:<nonce>: each chunk runs
 * only after the one before it went in, so a batch goes in as an exact
 * prefix of whole chunks whatever refuses one of them.
 */
static char *batch_key(const char *queue, size_t *len)
{
    static unsigned counter;
    unsigned char rnd[12];
    char hex[2 * sizeof(rnd) + 1];

    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        /* No entropy yet (early boot): unique enough for ten minutes on one host. */
        uint64_t t = kwq_monotonic_ms();
        unsigned p = (unsigned)getpid(), k = ++counter;

        memcpy(rnd, &t, 8);
        memcpy(rnd + 8, &p, 2);
        memcpy(rnd + 10, &k, 2);
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        (void)snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    return kwq__key_item(queue, "batch", hex, strlen(hex), len);
}

/* The longest time an enqueue option may give, ms: 2^53. */
#define KWQ__MAX_MS (1ULL << 53)

/* Check every task before anything is sent. */
static int check_tasks(struct kwq_client *c, const struct kwq_new_task *tasks, size_t n)
{
    if (n && !tasks)
        return kwq__fail(c, KWQ_EINVAL, "enqueue of %zu tasks without a task array", n);
    for (size_t i = 0; i < n; i++) {
        const struct kwq_new_task *t = &tasks[i];

        if (t->payload_len > c->opts.max_payload)
            return kwq__fail(c, KWQ_ETOOBIG,
                             "task %zu: payload of %zu bytes is over the limit "
                             "of %zu bytes; split it or raise the limit",
                             i + 1, t->payload_len, c->opts.max_payload);
        if (!t->payload && t->payload_len)
            return kwq__fail(c, KWQ_EINVAL, "task %zu: payload is NULL", i + 1);
        if (t->idem_key && (!t->idem_key[0] || strlen(t->idem_key) > 1024))
            return kwq__fail(c, KWQ_EINVAL,
                             "task %zu: the idempotency key must be 1 to 1024 "
                             "bytes",
                             i + 1);
        /* Scripts count in doubles: every time stays an exact integer up to 2^53 ms. */
        if (t->delay_ms > KWQ__MAX_MS || t->timeout_ms > KWQ__MAX_MS ||
            t->idem_ttl_ms > KWQ__MAX_MS)
            return kwq__fail(c, KWQ_EINVAL,
                             "task %zu: delay_ms, timeout_ms and idem_ttl_ms must be at most "
                             "%llu ms",
                             i + 1, (unsigned long long)KWQ__MAX_MS);
        if (t->max_attempts > 1000)
            return kwq__fail(c, KWQ_EINVAL,
                             "task %zu: max_attempts must be between 1 and "
                             "1000, got %u",
                             i + 1, t->max_attempts);
    }
    return 0;
}

/* Chunk states while reading the replies. */
enum chunk_state {
    CHUNK_UNKNOWN = 0, /* not sent, refused, or the connection broke */
    CHUNK_IN,          /* went in */
    CHUNK_NOSCRIPT,    /* refused for NOSCRIPT: nothing ran */
};

/*
 * Read the replies of the sent chunks, in order. The first refusal is the
 * cause (later chunks only follow it); its code is returned and its message
 * kept in errstr.
 */
static int read_chunks(struct kwq_client *c, struct chunk *ch, size_t sent,
                       struct kwq_enqueued *ret, unsigned char *state)
{
    char first_msg[KWQ_ERRSTR_LEN] = "";
    int first_err = 0;

    for (size_t k = 0; k < sent && c->rc; k++) {
        redisReply *r;
        bool nosc;
        int e = kwq__reply(c, &r, &nosc);

        if (!e) {
            e = store_reply(c, r, &ch[k], ret);
            freeReplyObject(r);
        }
        state[k] = e == 0 ? CHUNK_IN : nosc ? CHUNK_NOSCRIPT : CHUNK_UNKNOWN;
        if (e && !first_err) {
            first_err = e;
            memcpy(first_msg, c->errstr, sizeof(first_msg));
        }
    }
    if (first_err)
        memcpy(c->errstr, first_msg, sizeof(c->errstr));
    return first_err;
}

/*
 * The script cache was flushed (a Redis restart): nothing ran from the first
 * NOSCRIPT chunk on (each later chunk needs its predecessor), so load the
 * script and send those chunks again, one by one, until one fails.
 */
static int resend_chunks(struct kwq_client *c, const char *queue, struct chunk *ch, size_t sent,
                         struct kwq_enqueued *ret, unsigned char *state)
{
    size_t f = 0;
    int rc;

    while (f < sent && state[f] == CHUNK_IN)
        f++;
    if (f == sent || state[f] != CHUNK_NOSCRIPT)
        return 1; /* nothing to resend: the first refusal stands */
    rc = kwq__script_reload(c, KWQ__ENQUEUE);
    for (size_t k = f; !rc && k < sent; k++) {
        redisReply *r;

        rc = kwq__eval(c, KWQ__ENQUEUE, queue, &ch[k].keys, &ch[k].args, &r);
        if (!rc) {
            rc = store_reply(c, r, &ch[k], ret);
            freeReplyObject(r);
        }
        state[k] = rc ? CHUNK_UNKNOWN : CHUNK_IN;
    }
    return rc;
}

/*
 * Queue the SADD that registers queue: ahead of the first chunk on the same
 * connection, so Redis runs it first and a queue never holds tasks
 * unregistered, at no extra round trip.
 */
static int register_append(struct kwq_client *c, const char *queue)
{
    struct kwq__args argv;
    int rc;

    kwq__args_init(&argv);
    kwq__register_argv(queue, &argv);
    rc = kwq__command_append(c, &argv);
    kwq__args_free(&argv);
    return rc;
}

/* The registration's reply (the count SADD added). */
static int register_read(struct kwq_client *c, const char *queue)
{
    redisReply *r;
    int rc = kwq__reply(c, &r, NULL);

    if (rc == KWQ_ENOPERM)
        return kwq__fail(c, rc,
                         "the Redis user may not add queue '%s' to the queue registry %s "
                         "(NOPERM); grant it the key ~%s (docs/PROTOCOL.md \"Client rules\")",
                         queue, kwq__registry_key, kwq__registry_key);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = kwq__bad_reply(c, "the count of SADD");
    freeReplyObject(r);
    return rc;
}

/*
 * Read the registration's reply, then the chunks'. A refused registration
 * (an ACL without the key kwq:queues) is the call's error, whatever the
 * chunks did: they ran all the same, and ret and state say which went in.
 */
static int read_replies(struct kwq_client *c, const char *queue, struct chunk *ch, size_t sent,
                        struct kwq_enqueued *ret, unsigned char *state)
{
    char msg[KWQ_ERRSTR_LEN] = "";
    int reg = register_read(c, queue), e;

    if (reg)
        memcpy(msg, c->errstr, sizeof(msg));
    e = read_chunks(c, ch, sent, ret, state);
    if (e && c->rc) {
        int again = resend_chunks(c, queue, ch, sent, ret, state);

        e = again <= 0 ? again : e;
    }
    if (reg) {
        memcpy(c->errstr, msg, sizeof(c->errstr));
        return reg;
    }
    return e;
}

/*
 * How many tasks from first go in one chunk: at most KWQ_ENQUEUE_CHUNK, and
 * no more than KWQ_ENQUEUE_CHUNK_BYTES of payloads and idempotency keys, so
 * that no script call holds more than that in Redis's memory at once. The
 * first task always goes, whatever its size.
 */
static size_t chunk_len(const struct kwq_new_task *tasks, size_t n, size_t first)
{
    size_t k = 0, bytes = 0;

    while (first + k < n && k < KWQ_ENQUEUE_CHUNK) {
        const struct kwq_new_task *t = &tasks[first + k];
        size_t b = t->payload_len + (t->idem_key ? strlen(t->idem_key) : 0);

        if (k > 0 && bytes + b > KWQ_ENQUEUE_CHUNK_BYTES)
            break;
        bytes += b;
        k++;
    }
    return k;
}

int kwq_enqueue(struct kwq_client *c, const char *queue, const struct kwq_new_task *tasks, size_t n,
                struct kwq_enqueued *ret, size_t *ret_accepted)
{
    size_t nchunks = 0, accepted = 0, sent = 0;
    struct chunk *ch = NULL;
    unsigned char *state = NULL;
    char *batch = NULL;
    size_t batch_len = 0;
    bool registering;
    int rc;

    if (ret_accepted)
        *ret_accepted = 0;
    rc = kwq__begin(c, queue);
    if (!rc)
        rc = check_tasks(c, tasks, n);
    if (rc || n == 0)
        return rc;
    for (size_t f = 0; f < n; f += chunk_len(tasks, n, f))
        nchunks++;
    ch = calloc(nchunks, sizeof(*ch));
    state = calloc(nchunks, sizeof(*state));
    if (nchunks > 1)
        batch = batch_key(queue, &batch_len);
    if (!ch || !state || (nchunks > 1 && !batch)) {
        rc = kwq__fail(c, KWQ_ENOMEM, "out of memory");
        goto out_free;
    }
    /* Queue the registration and every chunk, then read every reply: one round trip. */
    rc = register_append(c, queue);
    registering = rc == 0;
    for (size_t k = 0; k < nchunks && !rc; k++) {
        ch[k].first = k ? ch[k - 1].first + ch[k - 1].n : 0;
        ch[k].n = chunk_len(tasks, n, ch[k].first);
        rc = build_chunk(c, queue, tasks, batch, batch_len, k, k + 1 == nchunks, &ch[k]);
        if (!rc)
            rc = kwq__eval_append(c, KWQ__ENQUEUE, queue, &ch[k].keys, &ch[k].args);
        if (!rc)
            sent++;
    }
    if (registering) {
        int e = read_replies(c, queue, ch, sent, ret, state);

        if (!rc)
            rc = e;
    }
    if (!rc && sent < nchunks)
        rc = KWQ_ECONN;
    for (size_t k = 0; k < nchunks && state[k] == CHUNK_IN; k++)
        accepted += ch[k].n;
out_free:
    for (size_t k = 0; ch && k < nchunks; k++)
        chunk_free(&ch[k]);
    free(ch);
    free(state);
    free(batch);
    if (ret_accepted)
        *ret_accepted = accepted;
    return rc;
}
