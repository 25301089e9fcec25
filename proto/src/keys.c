/*
 * keys.c - the key layout of a queue (docs/PROTOCOL.md "Key layout"). Every
 * key of queue q is "kwq:{q}:<suffix>": the {q} hash tag keeps a queue in
 * one Redis Cluster slot; the registry of queue names is the one key of no
 * queue, and a leader lease (kwq/leader.h) is the one key "kwq:leader:{name}".
 * This is the only file that spells key names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* The queue registry: one key outside every queue's hash slot (docs/PROTOCOL.md "Queue registry"). */
const char kwq__registry_key[] = "kwq:queues";

/* KEYS[1..12] of every script, in this order. */
static const char *const fixed_suffixes[KWQ__FIXED_KEYS] = {
    "pending", "data",  "meta", "leased", "leases", "delayed",
    "dead",    "stats", "conf", "seq",    "wake",   "results",
};

size_t kwq__key(char *buf, size_t len, const char *queue, const char *suffix)
{
    int n = snprintf(buf, len, "kwq:{%s}:%s", queue, suffix);

    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t kwq__key_leader(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "kwq:leader:{%s}", name);

    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

void kwq__keys_fixed(struct kwq__keys *k, const char *queue)
{
    for (int i = 0; i < KWQ__FIXED_KEYS; i++)
        k->len[i] = kwq__key(k->name[i], sizeof(k->name[i]), queue, fixed_suffixes[i]);
}

char *kwq__key_item(const char *queue, const char *kind, const char *name, size_t namelen,
                    size_t *ret_len)
{
    size_t q = strlen(queue), kl = strlen(kind);
    size_t n = 5 + q + 2 + kl + 1 + namelen;
    char *s = malloc(n + 1);

    if (!s)
        return NULL;
    memcpy(s, "kwq:{", 5);
    memcpy(s + 5, queue, q);
    memcpy(s + 5 + q, "}:", 2);
    memcpy(s + 7 + q, kind, kl);
    s[7 + q + kl] = ':';
    memcpy(s + 8 + q + kl, name, namelen);
    s[n] = '\0';
    *ret_len = n;
    return s;
}
