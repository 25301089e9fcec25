/*
 * opts.h - option tables for the kwq CLI: one row per option gives its
 * flag, short letter, environment variable, type, default, range and help,
 * and drives parsing, the KWQ_* lookup and --help alike. Values resolve as
 * defaults, then environment, then flags (flags win).
 */
#ifndef KWQ_OPTS_H
#define KWQ_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kwq_error;

enum opt_type {
    OPT_BOOL,     /* bool; a flag without value; env: 1/true/yes or 0/false/no */
    OPT_STR,      /* const char * borrowed from argv or environ */
    OPT_UINT,     /* uint64_t within [min, max] */
    OPT_DURATION, /* uint64_t ms within [min, max]: "250ms", "30s", "5m" */
    OPT_SIZE,     /* uint64_t bytes within [min, max]: "512", "64k", "1MiB" */
};

struct opt {
    const char *name;    /* long flag without "--" */
    int short_name;      /* single letter, 0 when none */
    const char *env;     /* KWQ_* variable, NULL when none */
    enum opt_type type;  /* how the value is parsed and stored */
    const char *def;     /* default as typed, NULL for none */
    uint64_t min;        /* lower bound (numbers, ms, bytes) */
    uint64_t max;        /* upper bound */
    const char *metavar; /* value name in help, "N", "URL"; NULL for OPT_BOOL */
    const char *help;    /* one line */
    size_t offset;       /* offsetof the field in the struct the table fills */
};

/* Where a value came from (for --print-config). */
enum opt_source {
    OPT_SRC_UNSET = 0, /* no default, not given */
    OPT_SRC_DEFAULT,   /* the table's default */
    OPT_SRC_ENV,       /* the environment variable */
    OPT_SRC_FLAG,      /* the command line */
};

/* A table and the struct it fills. */
struct opt_set {
    const struct opt *opts;   /* rows */
    size_t n;                 /* rows in opts */
    void *base;               /* struct written at base + opts[i].offset */
    enum opt_source *sources; /* n entries recording each value's source, or NULL */
};

/*
 * Store the defaults, then the environment, into the set's struct. Errors:
 * KWQ_EINVAL with e.g. "KWQ_CONCURRENCY must be a whole number ..." in err.
 */
int opts_load_defaults(const struct opt_set *set, struct kwq_error *err);

/*
 * Parse argv[1..] against several sets (a flag may come from any of them).
 * With stop_at_arg, parsing stops at the first non-option (for a handler
 * command line); otherwise options and arguments may mix. "--" ends the
 * options either way. Returns the index in argv of the first argument, or
 * KWQ_EINVAL with the message in err ("unknown option '--x'", "option
 * '--queue' needs a value", or a range error).
 */
int opts_parse(const struct opt_set *sets, size_t nsets, int argc, char **argv, bool stop_at_arg,
               struct kwq_error *err);

/*
 * Print "name = value (source)" per option of the set to f, for
 * --print-config. A password inside a URL value is shown as "***".
 */
void opts_print_config(FILE *f, const struct opt_set *set);

/* Print one help line per option of the set to f. */
void opts_print_help(FILE *f, const struct opt *opts, size_t n);

#endif /* KWQ_OPTS_H */
