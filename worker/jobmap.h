/*
 * jobmap.h - the jobs a worker holds, by task ID: an open-addressing hash
 * table (linear probing; deletion shifts entries back, so there are no
 * tombstones and lookups never slow down with churn). Sized once for the
 * most jobs a worker holds at once (--concurrency plus prefetch), doubled
 * should that ever be exceeded. Stream mode finds the task of each answer
 * here in O(1); a scan of the held jobs would make --concurrency 10000
 * quadratic.
 *
 * One entry per key: a put for a key already there replaces its value (the
 * newest job of a task ID is the one that can still be running; an older
 * one is only waiting to be reported or dropped).
 */
#ifndef KWQ_WORKER_JOBMAP_H
#define KWQ_WORKER_JOBMAP_H

#include <stddef.h>
#include <stdint.h>

struct jobmap_slot {
    const char *key; /* borrowed from the value; NULL when the slot is empty */
    void *val;       /* the value, borrowed */
    uint64_t hash;   /* hash of key */
};

struct jobmap {
    struct jobmap_slot *slots; /* cap slots, owned */
    size_t cap;                /* a power of two */
    size_t n;                  /* entries in use */
};

/* An empty map with room for expect entries. 0 or KWQ_ENOMEM. */
int jobmap_init(struct jobmap *m, size_t expect);

/* Free what m owns. */
void jobmap_done(struct jobmap *m);

/*
 * Map key (borrowed: it must stay valid while the entry exists) to val,
 * replacing the value of an existing entry for key. 0, or KWQ_ENOMEM when
 * the table had to grow and could not (m is unchanged then).
 */
int jobmap_put(struct jobmap *m, const char *key, void *val);

/* The value of key, or NULL. */
void *jobmap_get(const struct jobmap *m, const char *key);

/* Remove the entry of key if its value is val (a newer value for key stays). */
void jobmap_del(struct jobmap *m, const char *key, const void *val);

#endif /* KWQ_WORKER_JOBMAP_H */
