/*
 * enqueue.h - reading items (arguments, a file, stdin) and enqueuing them in
 * batches: the half of `kwq enqueue` that `kwq run --local` shares.
 */
#ifndef KWQ_ENQUEUE_H
#define KWQ_ENQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kwq/opts.h"

#include "input.h"

struct kwq_client;

#define ENQUEUE_MS_PER_DAY 86400000ULL

/*
 * Option rows for how items are read and enqueued, shared by `kwq enqueue`
 * and `kwq run --local` (same flags, same meaning). S is the config struct;
 * it needs the fields null, json, delay_ms, timeout_ms, max_attempts,
 * max_item and max_input.
 */
#define ENQUEUE_ITEM_OPTS(S)                                                                       \
    {"null",                                                                                       \
     '0',                                                                                          \
     NULL,                                                                                         \
     KWQ_OPT_BOOL,                                                                                 \
     NULL,                                                                                         \
     0,                                                                                            \
     0,                                                                                            \
     NULL,                                                                                         \
     "items are NUL-separated (find -print0)",                                                     \
     offsetof(S, null)},                                                                           \
        {"json",                                                                                   \
         0,                                                                                        \
         NULL,                                                                                     \
         KWQ_OPT_BOOL,                                                                             \
         NULL,                                                                                     \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         "items are NDJSON objects with per-item options (see docs/kwq.md)",                       \
         offsetof(S, json)},                                                                       \
        {"delay",                                                                                  \
         0,                                                                                        \
         NULL,                                                                                     \
         KWQ_OPT_DURATION,                                                                         \
         "0",                                                                                      \
         0,                                                                                        \
         365 * ENQUEUE_MS_PER_DAY,                                                                 \
         "DUR",                                                                                    \
         "run items no earlier than DUR from now",                                                 \
         offsetof(S, delay_ms)},                                                                   \
        {"timeout",                                                                                \
         0,                                                                                        \
         NULL,                                                                                     \
         KWQ_OPT_DURATION,                                                                         \
         NULL,                                                                                     \
         100,                                                                                      \
         7 * ENQUEUE_MS_PER_DAY,                                                                   \
         "DUR",                                                                                    \
         "handler timeout per item (default: the worker's --timeout)",                             \
         offsetof(S, timeout_ms)},                                                                 \
        {"max-attempts",                                                                           \
         0,                                                                                        \
         NULL,                                                                                     \
         KWQ_OPT_UINT,                                                                             \
         NULL,                                                                                     \
         1,                                                                                        \
         1000,                                                                                     \
         "N",                                                                                      \
         "attempts before an item is dead-lettered (default: the queue's, 3)",                     \
         offsetof(S, max_attempts)},                                                               \
        {"max-item",           0,      NULL,                                                       \
         KWQ_OPT_SIZE,         "1MiB", 1,                                                          \
         512ULL << 20,         "SIZE", "largest item accepted",                                    \
         offsetof(S, max_item)},                                                                   \
    {                                                                                              \
        "max-input", 0, NULL, KWQ_OPT_SIZE, "4GiB", 1, 1ULL << 40, "SIZE",                         \
            "largest input read (it is checked whole before anything is enqueued)",                \
            offsetof(S, max_input)                                                                 \
    }

/* Where items come from and how they are split. */
struct enqueue_source {
    const char *file;         /* path, "-" for stdin, NULL: args or stdin */
    char **args;              /* items given as arguments */
    int nargs;                /* how many */
    struct input_rules rules; /* format, per-item and total limits */
};

/* Options for every item, unless an NDJSON line gives its own. */
struct enqueue_defaults {
    uint64_t delay_ms;     /* run no earlier than now + delay */
    uint64_t timeout_ms;   /* handler timeout, 0 = the worker's */
    uint32_t max_attempts; /* 0 = the queue's default */
};

/* What went in. */
struct enqueue_report {
    size_t total;      /* items read */
    size_t accepted;   /* items that went in, from the first: added + duplicates */
    size_t added;      /* new tasks */
    size_t duplicates; /* answered with an existing task (idempotency key) */
};

/*
 * Read and check every item of src into set before anything is enqueued.
 * Prints the error and returns its exit code (KWQ_EXIT_NOINPUT,
 * KWQ_EXIT_DATAERR, ...) or 0. cmd names the command for usage errors.
 */
int enqueue_read(const char *cmd, const struct enqueue_source *src, struct input_set *set);

/*
 * Enqueue all items of set in batches (each batch pipelined by libkwq).
 * With print_ids, each task ID goes to stdout, one per line. Fills *ret
 * also on failure, so that the caller can say exactly how many went in.
 * Returns 0 or the libkwq error.
 */
int enqueue_items(struct kwq_client *c, const char *queue, const struct input_set *set,
                  const struct enqueue_defaults *d, bool print_ids, struct enqueue_report *ret);

/* Print the failure of enqueue_items with the counts; returns the exit code. */
int enqueue_fail(struct kwq_client *c, int err, const struct enqueue_report *rep);

#endif /* KWQ_ENQUEUE_H */
