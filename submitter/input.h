/*
 * input.h - turning outside input into tasks to enqueue: lines, NUL-separated
 * records, or NDJSON objects carrying per-item options. Pure parsing over a
 * buffer (no I/O besides input_read_fd), small and separate so that it can
 * be fuzzed.
 *
 * Records are numbered from 1 in the order they appear, empty ones included,
 * so an error can say "line 12". Empty records (and blank NDJSON lines) are
 * skipped. Payload bytes are kept exactly: only the separator is removed.
 *
 * NDJSON: one object per line,
 *   {"payload": "...", "delay": "30s", "timeout": "5m", "max_attempts": 5,
 *    "idempotency_key": "k-1", "idempotency_ttl": "7d"}
 * "payload" is required; a string is taken as its bytes, any other JSON value
 * as its compact JSON text. Lines must be UTF-8 (RFC 8259). "delay_ms", "timeout_ms", "idempotency_ttl_ms"
 * take integers. Unknown fields are refused (a typo must not be ignored).
 */
#ifndef KWQ_INPUT_H
#define KWQ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kwq_error;

enum input_format {
    INPUT_LINES, /* one item per line ('\n') */
    INPUT_NUL,   /* one item per NUL-terminated record (find -print0) */
    INPUT_JSON,  /* one JSON object per line (NDJSON) */
};

#define INPUT_HAS_DELAY        0x1u /* delay_ms was given */
#define INPUT_HAS_TIMEOUT      0x2u /* timeout_ms was given */
#define INPUT_HAS_MAX_ATTEMPTS 0x4u /* max_attempts was given */
#define INPUT_HAS_IDEM_TTL     0x8u /* idem_ttl_ms was given */

/* Per-item options from an NDJSON line. */
struct input_opts {
    const char *idem_key;  /* idempotency key, NUL-terminated, or NULL */
    uint64_t idem_ttl_ms;  /* how long the key is remembered, ms */
    uint64_t delay_ms;     /* run no earlier than now + delay, ms */
    uint64_t timeout_ms;   /* handler timeout, ms */
    uint32_t max_attempts; /* attempts before dead-lettering */
    unsigned has;          /* INPUT_HAS_* bits: which fields were given */
    size_t rec;            /* record (line or argument) number it came from, for messages */
};

struct input_item {
    const char *payload; /* bytes, borrowed from the set (or argv) */
    uint32_t len;        /* bytes in payload */
    uint32_t opts;       /* 1-based index into set->opts, 0 when none */
};

struct input_arena; /* blocks holding decoded JSON strings */

/* Items read so far and the memory they point into. Zero it before use. */
struct input_set {
    struct input_item *items;  /* n items, owned */
    size_t n;                  /* items */
    size_t cap;                /* allocated items */
    struct input_opts *opts;   /* nopts option records, owned */
    size_t nopts;              /* option records */
    size_t capopts;            /* allocated option records */
    char **bufs;               /* input buffers the items point into, owned */
    size_t nbufs;              /* buffers */
    struct input_arena *arena; /* decoded strings, owned */
};

/* How input is split, and the upper bounds on what is accepted. */
struct input_rules {
    enum input_format format; /* lines, NUL records or NDJSON */
    size_t max_item;          /* payload bytes per item */
    size_t max_input;         /* bytes of input read in all */
};

/*
 * Read all of fd into a malloc'd buffer with one spare byte at the end.
 * name is for messages ("stdin", a path). Errors: KWQ_ETOOBIG (over
 * max_input), -errno; message in err.
 */
int input_read_fd(int fd, const char *name, size_t max_input, char **ret_buf, size_t *ret_len,
                  struct kwq_error *err);

/*
 * Split buf (len bytes plus one spare byte, malloc'd) into items appended to
 * set. Takes ownership of buf on success and failure. Separators are
 * overwritten with NUL. name is for messages. Errors: KWQ_ETOOBIG (an item
 * or line over its limit), KWQ_EINVAL (bad JSON, unknown field, bad value),
 * KWQ_ENOMEM; nothing of buf is added then.
 */
int input_parse(struct input_set *set, char *buf, size_t len, const struct input_rules *rules,
                const char *name, struct kwq_error *err);

/*
 * Append one command-line argument (argno is 1-based) as an item: its bytes
 * for INPUT_LINES, an NDJSON object for INPUT_JSON (INPUT_NUL is refused by callers). The item borrows arg.
 */
int input_add_arg(struct input_set *set, const char *arg, size_t argno,
                  const struct input_rules *rules, struct kwq_error *err);

/*
 * Refuse an idempotency key given to two different items of the set (the
 * second would be dropped as a duplicate, surely by mistake); the same item
 * repeated with its key is a duplicate, as across inputs. what names
 * the records: "line" or "argument"; name the input ("stdin", a path, or
 * NULL for arguments). Errors: KWQ_EINVAL naming both records, KWQ_ENOMEM.
 */
int input_check_keys(const struct input_set *set, const char *what, const char *name,
                     struct kwq_error *err);

/* The option record of item i, or NULL when it has none. */
const struct input_opts *input_item_opts(const struct input_set *set, size_t i);

/* Free everything the set owns and zero it. */
void input_set_done(struct input_set *set);

#endif /* KWQ_INPUT_H */
