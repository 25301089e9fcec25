/*
 * args.c - argument vectors for hiredis's *Argv calls: borrowed pointers to
 * the caller's bytes (payloads are never copied) plus small owned copies
 * (formatted numbers) in blocks whose addresses never move.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define KWQ__BLK_SIZE 4096

struct kwq__blk {
    struct kwq__blk *next;
    size_t used;
    char buf[KWQ__BLK_SIZE];
};

void kwq__args_init(struct kwq__args *a)
{
    memset(a, 0, sizeof(*a));
}

void kwq__args_free(struct kwq__args *a)
{
    struct kwq__blk *b = a->blk;

    while (b) {
        struct kwq__blk *next = b->next;

        free(b);
        b = next;
    }
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof(*a));
}

void kwq__args_clear(struct kwq__args *a)
{
    struct kwq__blk *b = a->blk;

    /* Keep the vectors and one block: a vector reused per call allocates nothing. */
    while (b && b->next) {
        struct kwq__blk *next = b->next;

        free(b);
        b = next;
    }
    if (b)
        b->used = 0;
    a->blk = b;
    a->n = 0;
    a->oom = false;
}

void kwq__args_add(struct kwq__args *a, const void *s, size_t len)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        const char **v = realloc(a->v, cap * sizeof(*v));
        size_t *l;

        if (!v) {
            a->oom = true;
            return;
        }
        a->v = v;
        l = realloc(a->len, cap * sizeof(*l));
        if (!l) {
            a->oom = true;
            return;
        }
        a->len = l;
        a->cap = cap;
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

void kwq__args_addz(struct kwq__args *a, const char *s)
{
    kwq__args_add(a, s, strlen(s));
}

void kwq__args_addcopy(struct kwq__args *a, const char *s, size_t len)
{
    struct kwq__blk *b = a->blk;

    if (len > KWQ__BLK_SIZE) {
        a->oom = true;
        return;
    }
    if (!b || b->used + len > KWQ__BLK_SIZE) {
        b = malloc(sizeof(*b));
        if (!b) {
            a->oom = true;
            return;
        }
        b->next = a->blk;
        b->used = 0;
        a->blk = b;
    }
    memcpy(b->buf + b->used, s, len);
    kwq__args_add(a, b->buf + b->used, len);
    b->used += len;
}

void kwq__args_addu(struct kwq__args *a, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);

    kwq__args_addcopy(a, buf, (size_t)n);
}

void kwq__args_addi(struct kwq__args *a, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);

    kwq__args_addcopy(a, buf, (size_t)n);
}
