/*
 * url.c - the Redis URL:
 *   redis://[[user]:password@]host[:port][/db][?db=N]   (port 6379, db 0)
 * A user name (Redis 6 ACL) is used with the password; without a password
 * it is ignored.
 *   unix://[[user]:password@]/path/to.sock[?db=N]
 * IPv6 hosts go in brackets: redis://[::1]:6379. The password may be
 * percent-encoded. Messages never repeat the password. Kept apart from the
 * client so that it can be fuzzed on its own.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Parse a decimal integer in [min, max] from exactly n bytes. */
static bool parse_int(const char *s, size_t n, long min, long max, int *ret)
{
    long v = 0;

    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *ret = (int)v;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode n bytes into a new string; NULL on OOM or a bad escape (*bad set). */
static char *pct_decode(const char *s, size_t n, bool *bad)
{
    char *out = malloc(n + 1);
    size_t o = 0;

    *bad = false;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int a = i + 2 < n ? hexval(s[i + 1]) : -1;
            int b = i + 2 < n ? hexval(s[i + 2]) : -1;
            int h = a < 0 || b < 0 ? -1 : a * 16 + b;

            if (h <= 0) { /* a bad escape, or %00 */
                *bad = true;
                free(out);
                return NULL;
            }
            out[o++] = (char)h;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void kwq__url_free(struct kwq__url *u)
{
    if (!u)
        return;
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    free(u->redacted);
    memset(u, 0, sizeof(*u));
}

/* The URL with the password between pw and pw_end replaced by "***". */
static char *redact(const char *s, const char *pw, const char *pw_end)
{
    size_t n = strlen(s);
    char *r;

    if (!pw)
        return dupn(s, n);
    r = malloc(n + 4);
    if (!r)
        return NULL;
    memcpy(r, s, (size_t)(pw - s));
    memcpy(r + (pw - s), "***", 3);
    memcpy(r + (pw - s) + 3, pw_end, strlen(pw_end) + 1);
    return r;
}

int kwq__url_parse(const char *s, struct kwq__url *u, struct kwq_error *err)
{
    const char *p, *end, *at, *q, *pw = NULL, *pw_end = NULL;
    bool bad;

    memset(u, 0, sizeof(*u));
    if (!s || !*s)
        return kwq_error_set(err, KWQ_EINVAL,
                             "the Redis URL is empty: use redis://host:port/db "
                             "or unix:///path/to.sock");
    if (strncmp(s, "redis://", 8) == 0) {
        p = s + 8;
    } else if (strncmp(s, "unix://", 7) == 0) {
        p = s + 7;
        u->is_unix = true;
    } else if (strncmp(s, "rediss://", 9) == 0) {
        return kwq_error_set(err, KWQ_EINVAL,
                             "rediss:// (TLS) is not supported: use redis:// "
                             "or unix://");
    } else {
        return kwq_error_set(err, KWQ_EINVAL,
                             "the Redis URL must start with redis:// or "
                             "unix://");
    }
    /* The query: only ?db=N is known. */
    q = strchr(p, '?');
    end = q ? q : p + strlen(p);
    /* Userinfo: everything before the last '@' of the authority part. */
    at = NULL;
    for (const char *i = p; i < end && *i != '/'; i++) {
        if (*i == '@')
            at = i;
    }
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        if (colon && colon > p) {
            /* A Redis 6 ACL user name before the password. */
            u->user = pct_decode(p, (size_t)(colon - p), &bad);
            if (!u->user) {
                kwq__url_free(u);
                return bad ? kwq_error_set(err, KWQ_EINVAL,
                                           "the user name in the Redis URL "
                                           "has a bad %%-escape")
                           : kwq_error_set(err, KWQ_ENOMEM, "out of memory");
            }
        }
        if (colon) {
            pw = colon + 1;
            pw_end = at;
            if (pw_end > pw) {
                u->password = pct_decode(pw, (size_t)(pw_end - pw), &bad);
                if (!u->password) {
                    kwq__url_free(u);
                    return bad ? kwq_error_set(err, KWQ_EINVAL,
                                               "the password in the Redis URL "
                                               "has a bad %%-escape")
                               : kwq_error_set(err, KWQ_ENOMEM, "out of memory");
                }
            }
        }
        p = at + 1;
    }
    u->db = 0;
    if (u->is_unix) {
        if (p >= end || *p != '/') {
            kwq__url_free(u);
            return kwq_error_set(err, KWQ_EINVAL,
                                 "a unix:// URL needs an absolute socket path, "
                                 "e.g. unix:///run/redis.sock");
        }
        u->path = dupn(p, (size_t)(end - p));
        if (!u->path)
            goto oom;
    } else {
        const char *hs = p, *he, *slash = memchr(p, '/', (size_t)(end - p));
        const char *auth_end = slash ? slash : end, *colon;

        if (*hs == '[') {
            he = memchr(hs, ']', (size_t)(auth_end - hs));
            if (!he) {
                kwq__url_free(u);
                return kwq_error_set(err, KWQ_EINVAL, "unclosed '[' in the Redis URL host");
            }
            colon = he + 1 < auth_end && he[1] == ':' ? he + 1 : NULL;
            if (he + 1 < auth_end && !colon) {
                kwq__url_free(u);
                return kwq_error_set(err, KWQ_EINVAL,
                                     "unexpected text after ']' in the Redis "
                                     "URL host");
            }
            hs++;
        } else {
            colon = memchr(hs, ':', (size_t)(auth_end - hs));
            he = colon ? colon : auth_end;
        }
        if (he == hs) {
            kwq__url_free(u);
            return kwq_error_set(err, KWQ_EINVAL,
                                 "the Redis URL has no host: use "
                                 "redis://host:port/db");
        }
        u->port = 6379;
        if (colon && !parse_int(colon + 1, (size_t)(auth_end - colon - 1), 1, 65535, &u->port)) {
            kwq__url_free(u);
            return kwq_error_set(err, KWQ_EINVAL,
                                 "the port in the Redis URL must be a number "
                                 "from 1 to 65535");
        }
        u->host = dupn(hs, (size_t)(he - hs));
        if (!u->host)
            goto oom;
        if (slash && slash + 1 < end &&
            !parse_int(slash + 1, (size_t)(end - slash - 1), 0, 100000, &u->db)) {
            kwq__url_free(u);
            return kwq_error_set(err, KWQ_EINVAL,
                                 "the database in the Redis URL must be a "
                                 "number, e.g. redis://host:6379/0");
        }
    }
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || !parse_int(q + 4, strlen(q + 4), 0, 100000, &u->db)) {
            kwq__url_free(u);
            return kwq_error_set(err, KWQ_EINVAL,
                                 "the only Redis URL option is ?db=N with N a "
                                 "database number");
        }
    }
    u->redacted = redact(s, pw, pw_end);
    if (!u->redacted)
        goto oom;
    return 0;
oom:
    kwq__url_free(u);
    return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
}
