/*
 * linebuf.h - split a byte stream (a handler's stdout or stderr) into lines,
 * with a maximum line length so that a handler cannot make the worker grow
 * without bound.
 */
#ifndef KWQ_WORKER_LINEBUF_H
#define KWQ_WORKER_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Called once per line, without the newline: line is NUL-terminated at
 * len, lives in the linebuf until the callback returns, and may be
 * modified in place. overflow is true when the line was longer than the
 * maximum: line then holds the next max bytes of it; in split mode the rest
 * follows in further calls, in discard mode it is skipped.
 */
typedef void (*linebuf_line_cb)(void *arg, char *line, size_t len, bool overflow);

struct linebuf {
    char *buf;     /* bytes of the current partial line, owned */
    size_t len;    /* bytes in buf */
    size_t cap;    /* bytes allocated */
    size_t max;    /* longest line kept, bytes */
    bool split;    /* over-long lines: true = emit in pieces, false = discard */
    bool skipping; /* discarding the rest of an over-long line */
};

/* Set up an empty buffer (nothing is allocated yet). */
void linebuf_init(struct linebuf *lb, size_t max, bool split);

/* Free what lb owns. */
void linebuf_done(struct linebuf *lb);

/* Append n bytes, calling cb for every complete line. Returns 0 or KWQ_ENOMEM. */
int linebuf_feed(struct linebuf *lb, const char *data, size_t n, linebuf_line_cb cb, void *arg);

/* At end of stream: emit a last line without newline, if any. */
void linebuf_flush(struct linebuf *lb, linebuf_line_cb cb, void *arg);

/*
 * Replace, in place, every byte of s[0..len) that is not part of a valid
 * UTF-8 sequence (and every NUL) with '?', so that handler output can go
 * into JSON logs and error texts.
 */
void linebuf_scrub_utf8(char *s, size_t len);

#endif /* KWQ_WORKER_LINEBUF_H */
