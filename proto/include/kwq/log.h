/*
 * kwq/log.h - structured logging for the kwq programs (never for libkwq
 * itself: the library returns errors, the program decides what to log).
 *
 * One JSON object per line on stderr:
 *   {"ts":1764063350.123,"level":"info","component":"worker","msg":"task done",
 *    "task":"42","attempt":1,"duration_ms":12}
 * or, with the text format, a readable line for terminals. Fields are given
 * as a list:
 *   kwq_log(KWQ_LOG_INFO, "task done", KWQ_LS("task", id), KWQ_LI("attempt", n));
 * The level is tested before anything is formatted. Never log payloads or
 * secrets.
 */
#ifndef KWQ_LOG_H
#define KWQ_LOG_H

#include <stddef.h>

enum kwq_log_level {
    KWQ_LOG_DEBUG = 0,
    KWQ_LOG_INFO,
    KWQ_LOG_WARN,
    KWQ_LOG_ERROR,
    KWQ_LOG_OFF, /* only as a minimum level: log nothing */
};

enum kwq_log_format {
    KWQ_LOG_AUTO = 0, /* text when stderr is a terminal, else json */
    KWQ_LOG_JSON,
    KWQ_LOG_TEXT,
};

enum kwq_log_field_type {
    KWQ_LOG_FIELD_STR,
    KWQ_LOG_FIELD_INT,
    KWQ_LOG_FIELD_DBL,
};

struct kwq_log_field {
    const char *key;              /* field name, a plain identifier */
    enum kwq_log_field_type type; /* which member of the union is set */
    union {
        const char *s; /* string value, escaped on output; NULL prints null */
        long long i;   /* integer value */
        double d;      /* floating value */
    } v;
};

#define KWQ_LS(k, val) ((struct kwq_log_field){.key = (k), .type = KWQ_LOG_FIELD_STR, .v.s = (val)})
#define KWQ_LI(k, val)                                                                             \
    ((struct kwq_log_field){.key = (k), .type = KWQ_LOG_FIELD_INT, .v.i = (long long)(val)})
#define KWQ_LD(k, val)                                                                             \
    ((struct kwq_log_field){.key = (k), .type = KWQ_LOG_FIELD_DBL, .v.d = (double)(val)})

/* Set the component name (static string), the format and the minimum level. */
void kwq_log_init(const char *component, enum kwq_log_format format, enum kwq_log_level min);

/* Parse "json"/"text"/"auto" and "debug"/"info"/"warn"/"error". Return 0 or KWQ_EINVAL. */
int kwq_log_format_from_string(const char *s, enum kwq_log_format *ret);
int kwq_log_level_from_string(const char *s, enum kwq_log_level *ret);

/* True when a message at lvl would be written. */
int kwq_log_enabled(enum kwq_log_level lvl);

/* Write one record: msg plus n fields. Use the kwq_log macro. */
void kwq_log_fields(enum kwq_log_level lvl, const char *msg, const struct kwq_log_field *fields,
                    size_t n);

#define kwq_log(lvl, msg, ...)                                                                     \
    do {                                                                                           \
        if (kwq_log_enabled(lvl)) {                                                                \
            const struct kwq_log_field kwq_f_[] = {{.key = NULL}, __VA_ARGS__};                    \
            kwq_log_fields((lvl), (msg), kwq_f_ + 1, sizeof(kwq_f_) / sizeof(kwq_f_[0]) - 1);      \
        }                                                                                          \
    } while (0)

#endif /* KWQ_LOG_H */
