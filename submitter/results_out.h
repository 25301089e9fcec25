/*
 * results_out.h - writing gathered results: raw (each result's bytes, a
 * newline added when missing) or NDJSON. Shared by `kwq results` and
 * `kwq run --local`.
 */
#ifndef KWQ_RESULTS_OUT_H
#define KWQ_RESULTS_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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

#endif /* KWQ_RESULTS_OUT_H */
