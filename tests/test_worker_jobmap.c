/*
 * test_worker_jobmap.c - the worker's table of held jobs by task ID
 * (worker/jobmap.c), against a plain array that knows the right answer:
 * growth from the smallest table, removal in scattered order (entries of
 * a probe run shift back, none is lost), wrap-around at the end of the
 * table, and "newest value wins" for a key put twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "jobmap.h"

#define NKEYS 10000

static char keys[NKEYS][24];

static void make_keys(void)
{
    for (int i = 0; i < NKEYS; i++)
        (void)snprintf(keys[i], sizeof(keys[i]), "%d", i + 1);
}

/* Every key maps to its own slot in vals (present) or to nothing (absent). */
static void assert_matches(const struct jobmap *m, void *const *vals, size_t nkeys)
{
    size_t present = 0;

    for (size_t i = 0; i < nkeys; i++) {
        void *got = jobmap_get(m, keys[i]);
        cr_assert_eq(got, vals[i], "key %s: got %p, want %p", keys[i], got, vals[i]);
        present += vals[i] != NULL;
    }
    cr_assert_eq(m->n, present);
}

Test(worker_jobmap, ten_thousand_keys_grow_from_the_smallest_table_and_are_all_found)
{
    static void *vals[NKEYS];
    struct jobmap m;

    make_keys();
    cr_assert_eq(jobmap_init(&m, 1), 0);
    for (size_t i = 0; i < NKEYS; i++) {
        vals[i] = &keys[i];
        cr_assert_eq(jobmap_put(&m, keys[i], vals[i]), 0);
    }
    cr_assert(m.cap >= 2 * NKEYS, "at most half full: cap %zu", m.cap);
    assert_matches(&m, vals, NKEYS);
    cr_assert_null(jobmap_get(&m, "0"));
    cr_assert_null(jobmap_get(&m, "10001"));
    cr_assert_null(jobmap_get(&m, ""));
    jobmap_done(&m);
}

Test(worker_jobmap, removal_in_scattered_order_loses_no_other_key)
{
    static void *vals[NKEYS];
    struct jobmap m;

    make_keys();
    cr_assert_eq(jobmap_init(&m, NKEYS), 0);
    for (size_t i = 0; i < NKEYS; i++) {
        vals[i] = &keys[i];
        cr_assert_eq(jobmap_put(&m, keys[i], vals[i]), 0);
    }
    /* 7919 is prime to NKEYS: i * 7919 % NKEYS visits every index once, scattered. */
    for (size_t k = 0; k < NKEYS; k++) {
        size_t i = k * 7919 % NKEYS;
        jobmap_del(&m, keys[i], vals[i]);
        vals[i] = NULL;
        if (k % 1000 == 999)
            assert_matches(&m, vals, NKEYS);
    }
    cr_assert_eq(m.n, 0);
    jobmap_done(&m);
}

/* A small table under random churn: long probe runs that wrap around its end. */
Test(worker_jobmap, random_churn_in_a_small_table_matches_a_plain_array)
{
    enum { KEYS = 64, ROUNDS = 200000 };
    static void *vals[KEYS];
    struct jobmap m;
    unsigned seed = 12345;

    make_keys();
    cr_assert_eq(jobmap_init(&m, 8), 0);
    for (int r = 0; r < ROUNDS; r++) {
        size_t i;

        seed = seed * 1103515245u + 12345u;
        i = (seed >> 8) % KEYS;
        if (vals[i]) {
            jobmap_del(&m, keys[i], vals[i]);
            vals[i] = NULL;
        } else if (m.n < 8) { /* half of the first table of 16: it never grows */
            vals[i] = &keys[i];
            cr_assert_eq(jobmap_put(&m, keys[i], vals[i]), 0);
        }
        if (r % 997 == 0)
            assert_matches(&m, vals, KEYS);
    }
    cr_assert_eq(m.cap, 16, "the table never grew");
    assert_matches(&m, vals, KEYS);
    jobmap_done(&m);
}

Test(worker_jobmap, newest_value_of_a_key_wins_and_an_old_one_cannot_remove_it)
{
    struct jobmap m;
    int older, newer;
    char k1[] = "42", k2[] = "42"; /* the same ID held by two jobs, each with its own copy */

    cr_assert_eq(jobmap_init(&m, 4), 0);
    cr_assert_eq(jobmap_put(&m, k1, &older), 0);
    cr_assert_eq(jobmap_put(&m, k2, &newer), 0);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(jobmap_get(&m, "42"), &newer);
    jobmap_del(&m, "42", &older); /* the older job is freed: the newer stays */
    cr_assert_eq(jobmap_get(&m, "42"), &newer);
    jobmap_del(&m, "42", &newer);
    cr_assert_null(jobmap_get(&m, "42"));
    cr_assert_eq(m.n, 0);
    jobmap_del(&m, "42", &newer); /* absent: nothing happens */
    cr_assert_eq(m.n, 0);
    jobmap_done(&m);
}
