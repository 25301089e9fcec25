/*
 * results_out.h - writing gathered results: raw (each result's bytes, a
 * newline added when missing) or NDJSON. Shared by `kwq results` and
 * `kwq run --local`.
 */
#ifndef KWQ_RESULTS_OUT_H
#define KWQ_RESULTS_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kwq_client;
struct kwq_result;

enum results_format {
    RESULTS_RAW,  /* the bytes, newline-terminated */
    RESULTS_JSON, /* {"id":..,"cursor":..,"done_ms":..,"result":..} per line */
    RESULTS_NONE, /* not written */
};

/* Parse "raw", "json" or "none". Returns 0 or -1. */
int results_format_parse(const char *s, enum results_format *ret);

/* Write n results to f. Returns 0, or -errno when f failed (-EPIPE: a reader that left). */
int results_write(FILE *f, enum results_format fmt, const struct kwq_result *list, size_t n);

/*
 * The results of a run as they are acked (`kwq run`, both backends): read
 * in completion order after a cursor and written as they come.
 */
struct results_feed {
    struct kwq_client *c;            /* where they are read */
    const char *queue;               /* the queue */
    FILE *out;                       /* where they are written */
    enum results_format fmt;         /* how */
    char cursor[64];                 /* the position in the queue's results */
    uint64_t written;                /* results written */
    bool behind;                     /* the last step stopped with more to read */
    int out_err;                     /* -errno of the write that failed, 0 none */
    void (*before_write)(void *arg); /* called before results are written, e.g. to clear a bar */
    void *arg;                       /* for before_write */
};

/*
 * Begin a feed of the results acked from server_time_ms on (the run's own:
 * kwq_stats gives the server's clock), none written yet.
 */
void results_feed_init(struct results_feed *f, struct kwq_client *c, const char *queue, FILE *out,
                       enum results_format fmt, int64_t server_time_ms);

/*
 * Read and write up to max_reads batches of 1000 results, so that a loop
 * goes on meanwhile (f->behind tells that more wait). Returns 0, a libkwq
 * error of the read, or KWQ_EIO when writing failed (f->out_err says why).
 */
int results_feed_step(struct results_feed *f, int max_reads);

#endif /* KWQ_RESULTS_OUT_H */
