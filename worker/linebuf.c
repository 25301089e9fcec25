/*
 * linebuf.c - bounded line splitting. The buffer grows as needed up to the
 * maximum line length plus one, never beyond.
 */
#include "linebuf.h"

#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"

void linebuf_init(struct linebuf *lb, size_t max, bool split)
{
    memset(lb, 0, sizeof(*lb));
    lb->max = max ? max : 1;
    lb->split = split;
}

void linebuf_done(struct linebuf *lb)
{
    free(lb->buf);
    memset(lb, 0, sizeof(*lb));
}

static int reserve(struct linebuf *lb, size_t need)
{
    size_t cap = lb->cap ? lb->cap : 256;
    char *p;

    if (need <= lb->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if (cap > lb->max + 1)
        cap = lb->max + 1;
    p = realloc(lb->buf, cap);
    if (!p)
        return KWQ_ENOMEM;
    lb->buf = p;
    lb->cap = cap;
    return 0;
}

static void emit(struct linebuf *lb, linebuf_line_cb cb, void *arg, bool overflow)
{
    lb->buf[lb->len] = '\0';
    cb(arg, lb->buf, lb->len, overflow);
    lb->len = 0;
}

/*
 * Append take bytes of the current line (ends: a newline follows them).
 * Returns the bytes consumed: less than take only when an over-long line is
 * split, and the caller goes on with the rest.
 */
static size_t take_part(struct linebuf *lb, const char *data, size_t take, bool ends,
                        linebuf_line_cb cb, void *arg)
{
    size_t room = lb->max - lb->len;

    if (take > room) {
        memcpy(lb->buf + lb->len, data, room);
        lb->len += room;
        emit(lb, cb, arg, true);
        if (lb->split)
            return room;
        lb->skipping = !ends;
        return take;
    }
    memcpy(lb->buf + lb->len, data, take);
    lb->len += take;
    if (ends)
        emit(lb, cb, arg, false);
    return take;
}

int linebuf_feed(struct linebuf *lb, const char *data, size_t n, linebuf_line_cb cb, void *arg)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        size_t want = lb->len + take + 1 < lb->max + 1 ? lb->len + take + 1 : lb->max + 1;
        size_t used;

        if (lb->skipping) {
            lb->skipping = nl == NULL;
        } else {
            if (reserve(lb, want) < 0)
                return KWQ_ENOMEM;
            used = take_part(lb, data, take, nl != NULL, cb, arg);
            if (used < take) {
                data += used;
                n -= used;
                continue;
            }
        }
        if (!nl)
            break;
        n -= take + 1;
        data = nl + 1;
    }
    return 0;
}

void linebuf_flush(struct linebuf *lb, linebuf_line_cb cb, void *arg)
{
    if (lb->len > 0 && !lb->skipping)
        emit(lb, cb, arg, false);
    lb->len = 0;
    lb->skipping = false;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] > 0 && s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void linebuf_scrub_utf8(char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        if (n == 0) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
}
