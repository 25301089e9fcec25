/*
 * util.c - parsers of numbers, durations and sizes given by users, base64,
 * UTF-8 validation, the monotonic clock and secret files. Every parser
 * states the accepted range in its error, so a user knows what to type.
 */
#include "kwq/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kwq/error.h"

#define MS_PER_S 1000ULL
#define MS_PER_M (60ULL * MS_PER_S)
#define MS_PER_H (60ULL * MS_PER_M)
#define MS_PER_D (24ULL * MS_PER_H)

/* Parse leading decimal digits of s; *end is set past them. 0 or KWQ_EINVAL. */
static int parse_digits(const char *s, uint64_t *ret, const char **end)
{
    uint64_t v = 0;
    const char *p = s;

    if (!isdigit((unsigned char)*p))
        return KWQ_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return KWQ_EINVAL;
        v = v * 10 + d;
    }
    *ret = v;
    *end = p;
    return 0;
}

void kwq_format_duration(uint64_t ms, char *buf, size_t len)
{
    static const struct {
        uint64_t ms;     /* unit length */
        const char *sfx; /* unit suffix */
    } units[] = {{MS_PER_D, "d"}, {MS_PER_H, "h"}, {MS_PER_M, "m"}, {MS_PER_S, "s"}};

    for (size_t i = 0; ms > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0) {
            (void)snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms),
                           units[i].sfx);
            return;
        }
    }
    (void)snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static int duration_error(const char *s, uint64_t min_ms, uint64_t max_ms, const char *what,
                          struct kwq_error *err)
{
    char lo[32], hi[32];

    kwq_format_duration(min_ms, lo, sizeof(lo));
    kwq_format_duration(max_ms, hi, sizeof(hi));
    return kwq_error_set(
        err, KWQ_EINVAL,
        "%s must be a duration between %s and %s (e.g. 250ms, 30s, 5m, 2h), got '%s'", what, lo, hi,
        s ? s : "");
}

int kwq_parse_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms, const char *what,
                          uint64_t *ret, struct kwq_error *err)
{
    static const struct {
        const char *sfx; /* unit suffix */
        uint64_t ms;     /* unit length */
    } units[] = {{"ms", 1},       {"s", MS_PER_S}, {"", MS_PER_S},
                 {"m", MS_PER_M}, {"h", MS_PER_H}, {"d", MS_PER_D}};
    const char *end;
    uint64_t v;

    if (!s || parse_digits(s, &v, &end) < 0)
        return duration_error(s, min_ms, max_ms, what, err);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].sfx) != 0)
            continue;
        if (v > UINT64_MAX / units[i].ms || v * units[i].ms < min_ms || v * units[i].ms > max_ms)
            return duration_error(s, min_ms, max_ms, what, err);
        *ret = v * units[i].ms;
        return 0;
    }
    return duration_error(s, min_ms, max_ms, what, err);
}

int kwq_parse_uint(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret,
                   struct kwq_error *err)
{
    const char *end;
    uint64_t v;

    if (!s || parse_digits(s, &v, &end) < 0 || *end != '\0' || v < min || v > max)
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s must be a whole number from %llu to %llu, got '%s'", what,
                             (unsigned long long)min, (unsigned long long)max, s ? s : "");
    *ret = v;
    return 0;
}

int kwq_parse_size(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret,
                   struct kwq_error *err)
{
    static const struct {
        const char *sfx; /* accepted suffix */
        uint64_t mult;   /* bytes per unit */
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1ULL << 10},
                 {"K", 1ULL << 10},
                 {"KiB", 1ULL << 10},
                 {"M", 1ULL << 20},
                 {"MiB", 1ULL << 20},
                 {"G", 1ULL << 30},
                 {"GiB", 1ULL << 30}};
    const char *end;
    uint64_t v;

    if (s && parse_digits(s, &v, &end) == 0) {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strcmp(end, units[i].sfx) == 0 && v <= UINT64_MAX / units[i].mult &&
                v * units[i].mult >= min && v * units[i].mult <= max) {
                *ret = v * units[i].mult;
                return 0;
            }
        }
    }
    return kwq_error_set(
        err, KWQ_EINVAL,
        "%s must be a size from %llu to %llu bytes (e.g. 512, 64k, 1MiB), got '%s'", what,
        (unsigned long long)min, (unsigned long long)max, s ? s : "");
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t kwq_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void kwq_base64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t i = 0, o = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(unsigned char c)
{
    const char *p = c ? strchr(b64, c) : NULL;

    return p ? (int)(p - b64) : -1;
}

long kwq_base64_decode(const char *in, size_t len, void *out)
{
    unsigned char *o = out;
    size_t n = 0;

    if (len % 4 != 0)
        return KWQ_EINVAL;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            /* Padding is only legal in the last two places of the last quad. */
            if (c == '=' && i + 4 == len && k >= 2 && (k == 3 || in[i + 3] == '=')) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0 || pad)
                return KWQ_EINVAL;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        o[n++] = (unsigned char)(w >> 16);
        if (pad < 2)
            o[n++] = (unsigned char)(w >> 8);
        if (pad < 1)
            o[n++] = (unsigned char)w;
    }
    return (long)n;
}

bool kwq_utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t extra;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + extra >= n)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

uint64_t kwq_monotonic_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int kwq_secret_line(const char *what, const char *s, size_t len, char **ret, struct kwq_error *err)
{
    *ret = NULL;
    if (len > 0 && s[len - 1] == '\n')
        len -= len > 1 && s[len - 2] == '\r' ? 2 : 1;
    if (len == 0)
        return kwq_error_set(err, KWQ_EINVAL, "%s is empty", what);
    if (len > KWQ_SECRET_MAX)
        return kwq_error_set(err, KWQ_EINVAL, "%s is longer than %d bytes", what, KWQ_SECRET_MAX);
    /* A second line is a mistake (two secrets, a comment), never part of a password. */
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
            return kwq_error_set(err, KWQ_EINVAL,
                                 "%s holds a %s inside: a password is one line (one trailing "
                                 "newline is dropped)",
                                 what, s[i] ? "line break" : "NUL byte");
    }
    *ret = strndup(s, len);
    return *ret ? 0 : kwq_error_set(err, KWQ_ENOMEM, "out of memory");
}

int kwq_read_secret_file(const char *path, char **ret, struct kwq_error *err)
{
    char buf[KWQ_SECRET_MAX + 3]; /* one byte more than a secret and its "\r\n" */
    char what[64 + PATH_MAX];
    size_t len = 0;
    ssize_t n = 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0, rc;

    *ret = NULL;
    (void)snprintf(what, sizeof(what), "the password file %s", path);
    if (fd < 0)
        return kwq_error_set(err, KWQ_EINVAL, "cannot read %s: %s", what, strerror(errno));
    while (len < sizeof(buf) && n > 0) {
        n = read(fd, buf + len, sizeof(buf) - len);
        if (n > 0)
            len += (size_t)n;
        else if (n < 0 && errno == EINTR)
            n = 1;
        else if (n < 0)
            e = errno;
    }
    (void)close(fd);
    if (e)
        rc = kwq_error_set(err, KWQ_EINVAL, "cannot read %s: %s", what, strerror(e));
    else
        rc = kwq_secret_line(what, buf, len, ret, err);
    /* The secret must not linger on the stack. */
    explicit_bzero(buf, sizeof(buf));
    return rc;
}
