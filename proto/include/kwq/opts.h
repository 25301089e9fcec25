/*
 * kwq/opts.h - option tables shared by the kwq programs (STYLE 2.10). One
 * row per option gives its flag, short letter, environment variable, type,
 * default, range and help, and drives getopt_long, the KWQ_* lookup,
 * --help and --print-config alike. Values resolve as defaults, then the
 * environment, then flags (flags win).
 *
 * Ownership: a table fills a caller's struct at base + offset. String
 * values are borrowed (from the table's default, environ or argv), never
 * copied, so the struct owns nothing these functions put there.
 */
#ifndef KWQ_OPTS_H
#define KWQ_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kwq_error;

enum kwq_opt_type {
    KWQ_OPT_BOOL,       /* bool; a flag without value; env: 1/true/yes/on or 0/false/no/off */
    KWQ_OPT_STR,        /* const char * borrowed from the default, environ or argv */
    KWQ_OPT_UINT,       /* uint64_t within [min, max] */
    KWQ_OPT_DURATION,   /* uint64_t ms within [min, max]: "250ms", "30s", "5m" */
    KWQ_OPT_SIZE,       /* uint64_t bytes within [min, max]: "512", "64k", "1MiB" */
    KWQ_OPT_LOG_FORMAT, /* enum kwq_log_format: "json", "text" or "auto" */
    KWQ_OPT_LOG_LEVEL,  /* enum kwq_log_level: "debug", "info", "warn" or "error" */
    KWQ_OPT_EXIT,       /* bool set by a flag that ends parsing at once (--help, --version) */
    KWQ_OPT_SECRET,     /* refused on the command line, with help as the one-line error;
                           never listed by --help or --print-config; stores nothing */
};

struct kwq_opt {
    const char *name;       /* long flag without "--" */
    int short_name;         /* single letter, 0 when none */
    const char *env;        /* KWQ_* variable, NULL when none */
    enum kwq_opt_type type; /* how the value is parsed and stored */
    const char *def;        /* default as typed, NULL for none */
    uint64_t min;           /* lower bound (numbers, ms, bytes) */
    uint64_t max;           /* upper bound */
    const char *metavar;    /* value name in help, "N", "URL"; NULL for flags without value */
    const char *help;       /* one line (KWQ_OPT_SECRET: the refusal message) */
    size_t offset;          /* offsetof the field in the struct the table fills */
};

/* Where a value came from (for --print-config). */
enum kwq_opt_source {
    KWQ_OPT_SRC_UNSET = 0, /* no default, not given */
    KWQ_OPT_SRC_DEFAULT,   /* the table's default */
    KWQ_OPT_SRC_ENV,       /* the environment variable */
    KWQ_OPT_SRC_FLAG,      /* the command line */
};

/* A table and the struct it fills. */
struct kwq_opt_set {
    const struct kwq_opt *opts;   /* rows */
    size_t n;                     /* rows in opts */
    void *base;                   /* struct written at base + opts[i].offset */
    enum kwq_opt_source *sources; /* n entries recording each value's source, or NULL */
};

/*
 * How a program wants its options read. Every kwq program refuses
 * abbreviated flags (a script must not break when a new option makes its
 * abbreviation ambiguous) and treats an empty KWQ_* variable as unset (what
 * an empty `value: ""` in a pod spec means to its author).
 */
struct kwq_opt_rules {
    bool stop_at_arg; /* options end at the first argument (a handler command line) */
};

/*
 * Store the defaults, then the environment, into the set's struct and
 * record the sources; rules NULL means the zero rules. Errors: KWQ_EINVAL
 * with e.g. "KWQ_CONCURRENCY must be a whole number ..." in err.
 */
int kwq_opt_load_defaults(const struct kwq_opt_set *set, const struct kwq_opt_rules *rules,
                          struct kwq_error *err);

/*
 * Parse argv[1..] against several sets (a flag may come from any of them);
 * rules NULL means the zero rules. Without rules->stop_at_arg options and
 * arguments may mix. "--" ends the options; so does a KWQ_OPT_EXIT flag,
 * after storing true. Returns the index in argv of the first argument, or
 * KWQ_EINVAL with the message in err: "unknown option '--x'", "option
 * '--queue' needs a value", a range error, a KWQ_OPT_SECRET row's refusal,
 * or (without rules->short_words, even when no row names it) the refusal
 * of "--redis-password": a password never comes from the command line.
 * Without short_words, nothing past a flag's '=' is echoed in a message.
 */
int kwq_opt_parse(const struct kwq_opt_set *sets, size_t nsets, int argc, char **argv,
                  const struct kwq_opt_rules *rules, struct kwq_error *err);

/*
 * Render the value of row o in the struct at base into buf (always
 * terminated): "true", "30s", "1048576", "json". With redact, a password
 * inside a URL ("redis://:pw@host") is shown as "***".
 */
void kwq_opt_format(const struct kwq_opt *o, const void *base, bool redact, char *buf, size_t len);

/*
 * Print "name = value (source)" per option of the set to f, for
 * --print-config, passwords inside URLs as "***". --help, --version,
 * --print-config and secret rows are left out.
 */
void kwq_opt_print_config(FILE *f, const struct kwq_opt_set *set);

/* Print one help line per option of the table to f (secret rows left out). */
void kwq_opt_print_help(FILE *f, const struct kwq_opt *opts, size_t n);

/*
 * True when name is a KWQ_* variable some kwq program reads: a row of one of
 * the sets, an option of another kwq program (kwq and kwq-worker share one
 * environment in a shell or a pod), or a variable read outside the tables
 * (KWQ_REDIS_PASSWORD, KWQ_TASK_ID and the rest of a handler's environment).
 */
bool kwq_opt_env_known(const struct kwq_opt_set *sets, size_t nsets, const char *name);

/*
 * Call unknown(name, closest, arg) for each KWQ_* variable of the environment
 * that kwq_opt_env_known refuses, in environment order: a typo such as
 * KWQ_CONCURENCY is otherwise silently ignored. closest is the known name
 * nearest in spelling, or NULL when none is near. Returns how many were found.
 */
size_t kwq_opt_env_check(const struct kwq_opt_set *sets, size_t nsets,
                         void (*unknown)(const char *name, const char *closest, void *arg),
                         void *arg);

#endif /* KWQ_OPTS_H */
