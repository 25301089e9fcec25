/*
 * http_parse.h - the pure part of the broker's HTTP server: the request line,
 * the headers and the Content-Length of one request, read from a byte buffer.
 *
 * No I/O, no allocation, no state between calls: the server calls
 * http_parse_head again on the whole buffer each time a line ends, so a
 * request split anywhere parses exactly as in one piece. Every byte is
 * checked against the buffer's length (this is a fuzz target: any bytes, any
 * length), and the work is bounded by the limits, not by the input.
 */
#ifndef KWQ_BROKER_HTTP_PARSE_H
#define KWQ_BROKER_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* More header lines than this is answered 431, like too many header bytes. */
#define HTTP_PARSE_MAX_HEADERS 64

enum http_parse_result {
    HTTP_PARSE_DONE = 0, /* the head is complete and valid: see struct http_head */
    HTTP_PARSE_MORE,     /* nothing wrong so far; the head has not ended yet */
    HTTP_PARSE_ERROR,    /* refused: status and reason say why */
};

/* A piece of the parsed buffer. */
struct http_span {
    size_t off; /* from the start of the buffer, bytes */
    size_t len; /* bytes */
};

struct http_head_field {
    struct http_span name;  /* as sent (compare case-insensitively) */
    struct http_span value; /* without the whitespace around it */
};

struct http_head {
    int status;         /* HTTP_PARSE_ERROR: 400, 413, 431, 501 or 505 */
    const char *reason; /* HTTP_PARSE_ERROR: one line for the client, static */
    struct http_span method;
    struct http_span target;
    int minor_version; /* 0 or 1 */
    size_t head_len;   /* request line + headers + the empty line, bytes */
    size_t body_len;   /* Content-Length, 0 when none, bytes */
    bool keep_alive;   /* HTTP/1.1 without "Connection: close" */
    size_t nfields;    /* used entries of fields */
    struct http_head_field fields[HTTP_PARSE_MAX_HEADERS];
};

/*
 * Parse the head of the request at the start of buf (len bytes). A head
 * longer than max_head_bytes is 431 (also before it ends); a Content-Length
 * above max_body_bytes is 413. Line ends are CRLF or a bare LF. On DONE the
 * body is the body_len bytes after head_len (they may not have arrived yet).
 */
enum http_parse_result http_parse_head(const char *buf, size_t len, size_t max_head_bytes,
                                       size_t max_body_bytes, struct http_head *h);

/*
 * Percent-decode the path of an origin-form target (the part before '?')
 * into dst, which has room for at least len + 1 bytes, and NUL-terminate it.
 * Return the decoded length, or -1 for a bad escape or an encoded NUL.
 */
long http_parse_decode_path(const char *src, size_t len, char *dst);

/* True when the name (len bytes) equals lower_name, a lower-case string, ignoring case. */
bool http_parse_name_is(const char *name, size_t len, const char *lower_name);

#endif /* KWQ_BROKER_HTTP_PARSE_H */
