/*
 * jobmap.c - see jobmap.h. The table stays at most half full, so probe
 * runs are short; task IDs are decimal numbers, so their FNV-1a hash is
 * finished with a multiply-xorshift step to spread them over the low bits
 * the mask keeps.
 */
#include "jobmap.h"

#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"

#define JOBMAP_MIN_CAP 16

static uint64_t key_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* Smallest power of two >= 2 * n, at least JOBMAP_MIN_CAP; 0 on overflow. */
static size_t cap_for(size_t n)
{
    size_t cap = JOBMAP_MIN_CAP;

    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    return cap;
}

/* Slot of key, or of the empty slot where it would go. */
static size_t find_slot(const struct jobmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;

    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

int jobmap_init(struct jobmap *m, size_t expect)
{
    size_t cap = cap_for(expect);

    m->n = 0;
    m->cap = 0;
    m->slots = cap ? calloc(cap, sizeof(*m->slots)) : NULL;
    if (!m->slots)
        return KWQ_ENOMEM;
    m->cap = cap;
    return 0;
}

void jobmap_done(struct jobmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static int grow(struct jobmap *m)
{
    struct jobmap bigger;

    if (jobmap_init(&bigger, m->cap) < 0) /* cap_for(cap) is twice the capacity */
        return KWQ_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key) {
            bigger.slots[find_slot(&bigger, m->slots[i].key, m->slots[i].hash)] = m->slots[i];
            bigger.n++;
        }
    }
    free(m->slots);
    *m = bigger;
    return 0;
}

int jobmap_put(struct jobmap *m, const char *key, void *val)
{
    uint64_t h = key_hash(key);
    size_t i = find_slot(m, key, h);

    if (!m->slots[i].key) {
        if ((m->n + 1) > m->cap / 2) {
            if (grow(m) < 0)
                return KWQ_ENOMEM;
            i = find_slot(m, key, h);
        }
        m->n++;
    }
    m->slots[i] = (struct jobmap_slot){key, val, h};
    return 0;
}

void *jobmap_get(const struct jobmap *m, const char *key)
{
    size_t i;

    if (!m->cap)
        return NULL;
    i = find_slot(m, key, key_hash(key));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

void jobmap_del(struct jobmap *m, const char *key, const void *val)
{
    size_t mask = m->cap - 1;
    size_t hole, j;

    if (!m->cap)
        return;
    hole = find_slot(m, key, key_hash(key));
    if (!m->slots[hole].key || m->slots[hole].val != val)
        return;
    /*
     * Close the hole: an entry further along the run moves into it when its
     * home slot is not between the hole and where it sits, else a lookup
     * starting at its home would stop at the hole and miss it.
     */
    for (j = (hole + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;

        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (struct jobmap_slot){NULL, NULL, 0};
    m->n--;
}
