/*
 * log.c - one structured record per line on stderr, JSON or text.
 *
 * A record is built in a bounded buffer of PIPE_BUF (4096) bytes and written
 * with one write(2), so records of several processes sharing one pipe for
 * stderr never interleave mid-line. A longer record is cut.
 */
#include "kwq/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kwq/error.h"

#define LOG_LINE_MAX 4096

static struct {
    const char *component;      /* "worker", "kwq", ... */
    enum kwq_log_format format; /* resolved: never KWQ_LOG_AUTO after init */
    enum kwq_log_level min;     /* lowest level written */
} logcfg = {"kwq", KWQ_LOG_TEXT, KWQ_LOG_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void kwq_log_init(const char *component, enum kwq_log_format format, enum kwq_log_level min)
{
    logcfg.component = component ? component : "kwq";
    if (format == KWQ_LOG_AUTO)
        format = isatty(STDERR_FILENO) ? KWQ_LOG_TEXT : KWQ_LOG_JSON;
    logcfg.format = format;
    logcfg.min = min;
}

int kwq_log_format_from_string(const char *s, enum kwq_log_format *ret)
{
    static const char *const names[] = {"auto", "json", "text"};

    for (int i = 0; s && i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            *ret = (enum kwq_log_format)i;
            return 0;
        }
    }
    return KWQ_EINVAL;
}

int kwq_log_level_from_string(const char *s, enum kwq_log_level *ret)
{
    for (int i = 0; s && i <= KWQ_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *ret = (enum kwq_log_level)i;
            return 0;
        }
    }
    return KWQ_EINVAL;
}

int kwq_log_enabled(enum kwq_log_level lvl)
{
    return lvl >= logcfg.min && lvl < KWQ_LOG_OFF;
}

/* A bounded output buffer: appends past the end are dropped, never overflow. */
struct line {
    char buf[LOG_LINE_MAX]; /* record text */
    size_t len;             /* bytes used, < sizeof(buf) */
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 1 - l->len;

    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct line *l, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Append s as the inside of a JSON string: quotes, backslashes and control bytes escaped. */
static void put_json_str(struct line *l, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            putf(l, "\\u%04x", c);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
}

/* Text values are quoted only when they would otherwise be ambiguous. */
static void put_text_str(struct line *l, const char *s)
{
    int plain = *s != '\0' && strpbrk(s, " \"=\n\t") == NULL;

    if (plain) {
        put(l, s, strlen(s));
        return;
    }
    put(l, "\"", 1);
    put_json_str(l, s);
    put(l, "\"", 1);
}

static void put_value(struct line *l, const struct kwq_log_field *f, int json)
{
    switch (f->type) {
    case KWQ_LOG_FIELD_STR:
        if (!f->v.s) {
            put(l, "null", 4);
        } else if (json) {
            put(l, "\"", 1);
            put_json_str(l, f->v.s);
            put(l, "\"", 1);
        } else {
            put_text_str(l, f->v.s);
        }
        break;
    case KWQ_LOG_FIELD_INT:
        putf(l, "%lld", f->v.i);
        break;
    case KWQ_LOG_FIELD_DBL:
        if (isfinite(f->v.d))
            putf(l, "%.6g", f->v.d);
        else
            put(l, "null", 4);
        break;
    }
}

static void format_json(struct line *l, double ts, enum kwq_log_level lvl, const char *msg,
                        const struct kwq_log_field *fields, size_t n)
{
    putf(l, "{\"ts\":%.3f,\"level\":\"%s\",\"component\":\"", ts, level_names[lvl]);
    put_json_str(l, logcfg.component);
    put(l, "\",\"msg\":\"", 9);
    put_json_str(l, msg);
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        put(l, ",\"", 2);
        put_json_str(l, fields[i].key);
        put(l, "\":", 2);
        put_value(l, &fields[i], 1);
    }
    /* A cut record must still end as valid JSON for log shippers. */
    if (l->len >= sizeof(l->buf) - 3)
        l->len = sizeof(l->buf) - 3;
    put(l, "}\n", 2);
}

static void format_text(struct line *l, double ts, enum kwq_log_level lvl, const char *msg,
                        const struct kwq_log_field *fields, size_t n)
{
    time_t secs = (time_t)ts;
    struct tm tm;
    char when[32];

    (void)localtime_r(&secs, &tm);
    (void)strftime(when, sizeof(when), "%H:%M:%S", &tm);
    putf(l, "%s.%03d %-5s %s: ", when, (int)((ts - (double)secs) * 1000), level_names[lvl],
         logcfg.component);
    put(l, msg, strlen(msg));
    for (size_t i = 0; i < n; i++) {
        put(l, " ", 1);
        put(l, fields[i].key, strlen(fields[i].key));
        put(l, "=", 1);
        put_value(l, &fields[i], 0);
    }
    if (l->len >= sizeof(l->buf) - 2)
        l->len = sizeof(l->buf) - 2;
    put(l, "\n", 1);
}

void kwq_log_fields(enum kwq_log_level lvl, const char *msg, const struct kwq_log_field *fields,
                    size_t n)
{
    struct line l = {.len = 0};
    struct timeval tv;
    double ts;

    if (!kwq_log_enabled(lvl))
        return;
    (void)gettimeofday(&tv, NULL);
    ts = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    if (logcfg.format == KWQ_LOG_JSON)
        format_json(&l, ts, lvl, msg ? msg : "", fields, n);
    else
        format_text(&l, ts, lvl, msg ? msg : "", fields, n);
    for (size_t off = 0; off < l.len;) {
        ssize_t w = write(STDERR_FILENO, l.buf + off, l.len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}
