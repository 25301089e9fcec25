/*
 * kwq/task.h - task identity, states and the JSON envelope.
 *
 * Task IDs are made by the enqueue script from the queue's sequence counter
 * (kwq:{q}:seq), so they are unique within a queue for its whole life, purge
 * included, and sort in enqueue order:
 *
 *     "1042"         decimal, no sign, no leading zero, at most 20 digits
 *      ^^^^
 *      INCR of kwq:{q}:seq at enqueue time
 *
 * The envelope is the JSON form of a task that crosses a process boundary
 * (stream-mode handlers, `kwq task`, NDJSON input). See docs/PROTOCOL.md.
 */
#ifndef KWQ_TASK_H
#define KWQ_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kwq_error;

#define KWQ_ID_MAX              24              /* longest ID + NUL */
#define KWQ_QUEUE_NAME_MAX      200             /* bytes in a queue name */
#define KWQ_DEFAULT_MAX_PAYLOAD (1024u * 1024u) /* bytes */
#define KWQ_DEFAULT_MAX_RESULT  (1024u * 1024u) /* bytes */
#define KWQ_ENVELOPE_VERSION    1               /* "v" of the JSON envelope */
#define KWQ_PROTOCOL_VERSION    2               /* docs/PROTOCOL.md version */

/* The life of a task: docs/PROTOCOL.md "State machine". */
enum kwq_state {
    KWQ_STATE_UNKNOWN = 0, /* not found: never existed, done without result, purged */
    KWQ_STATE_PENDING,     /* waiting to be leased */
    KWQ_STATE_LEASED,      /* held by a worker until its lease deadline */
    KWQ_STATE_DELAYED,     /* waiting for its due time (delay or retry backoff) */
    KWQ_STATE_DONE,        /* acked; only visible while its result is kept */
    KWQ_STATE_DEAD,        /* dead-lettered: out of attempts or refused as bad input */
};

/* Static lowercase name: "pending", "leased", ... ("unknown" for others). */
const char *kwq_state_to_string(enum kwq_state s);

/* Parse a name made by kwq_state_to_string. Returns 0 or KWQ_EINVAL. */
int kwq_state_from_string(const char *s, enum kwq_state *ret);

/* A leased task, or a task read back by ID. */
struct kwq_task {
    char id[KWQ_ID_MAX];   /* task ID */
    char *payload;         /* payload bytes, owned, NUL-terminated for convenience */
    size_t payload_len;    /* bytes in payload, terminator excluded */
    uint64_t token;        /* fencing token of this lease; 0 when not leased */
    uint32_t attempt;      /* 1-based number of this attempt; 0 when not leased */
    uint32_t max_attempts; /* attempts allowed before dead-lettering */
    uint64_t timeout_ms;   /* per-task handler timeout; 0 = the worker's default */
    int64_t enqueued_ms;   /* server time of the (first) enqueue, Unix ms */
};

/* Free what t owns and zero it. t may be NULL. */
void kwq_task_done(struct kwq_task *t);

/*
 * Render t as a one-line JSON envelope (no newline):
 *   {"v":1,"id":"42","attempt":1,"max_attempts":3,"timeout_ms":0,
 *    "enqueued_ms":1764063350123,"payload":"...","enc":"utf8"|"base64"}
 * The payload is a JSON string when it is valid UTF-8 without NUL bytes,
 * else base64 with "enc":"base64". Returns a malloc'd string the caller
 * frees, or NULL on OOM.
 */
char *kwq_task_to_json(const struct kwq_task *t);

/*
 * Parse an envelope made by kwq_task_to_json (unknown fields are ignored;
 * "v" is required and must be 1). On success fills ret, which the caller
 * releases with kwq_task_done. Errors: KWQ_EINVAL with a message in err.
 */
int kwq_task_from_json(const char *buf, size_t len, struct kwq_task *ret, struct kwq_error *err);

/* True when s is a syntactically valid task ID. */
bool kwq_id_is_valid(const char *s);

/*
 * Check a queue name: 1 to KWQ_QUEUE_NAME_MAX bytes of [A-Za-z0-9._:-].
 * Returns 0 or KWQ_EINVAL with a message in err.
 */
int kwq_queue_name_check(const char *name, struct kwq_error *err);

#endif /* KWQ_TASK_H */
