/*
 * http_parse.c - the request head parser (see http_parse.h).
 *
 * The head is read line by line, each line only once it has ended, and only
 * within the first max_head_bytes. Bytes are judged in the order they come,
 * and a line's verdict depends only on the bytes before its end: so the
 * first refusal seen on any prefix of a request is the refusal of the whole
 * request, which is what lets the server re-parse from the start whenever a
 * line ends (a request split at any byte parses the same).
 */
#include "http_parse.h"

#include <string.h>

/* ---- Characters (RFC 9110 5.6.2, 5.5) ---- */

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte that no line of a head may hold (CR only ever before LF). */
static bool is_forbidden_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\r') || c == 0x7f;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool http_parse_name_is(const char *name, size_t len, const char *lower_name)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = name[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (lower_name[i] == '\0' || c != lower_name[i])
            return false;
    }
    return lower_name[i] == '\0';
}

long http_parse_decode_path(const char *src, size_t len, char *dst)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%') {
            dst[n++] = src[i];
            continue;
        }
        if (len - i < 3 || hex_value(src[i + 1]) < 0 || hex_value(src[i + 2]) < 0)
            return -1;
        dst[n] = (char)(hex_value(src[i + 1]) * 16 + hex_value(src[i + 2]));
        if (dst[n] == '\0')
            return -1;
        n++;
        i += 2;
    }
    dst[n] = '\0';
    return (long)n;
}

/* ---- Refusals ---- */

static enum http_parse_result refuse(struct http_head *h, int status, const char *reason)
{
    h->status = status;
    h->reason = reason;
    return HTTP_PARSE_ERROR;
}

/* ---- The request line ---- */

static bool method_is_known(const char *m, size_t len)
{
    static const char *const known[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                        "PATCH", "OPTIONS", "CONNECT", "TRACE"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strlen(known[i]) == len && memcmp(known[i], m, len) == 0)
            return true;
    }
    return false;
}

/* An origin-form target: '/' then visible ASCII but '#', a path whose escapes decode. */
static bool target_is_valid(const char *t, size_t len)
{
    size_t path_len = len;

    if (len == 0 || t[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];

        if (c <= 0x20 || c >= 0x7f || c == '#')
            return false;
        if (c == '?' && path_len == len)
            path_len = i;
    }
    for (size_t i = 0; i < path_len; i++) {
        if (t[i] != '%')
            continue;
        if (path_len - i < 3 || hex_value(t[i + 1]) < 0 || hex_value(t[i + 2]) < 0)
            return false;
        if (hex_value(t[i + 1]) == 0 && hex_value(t[i + 2]) == 0)
            return false;
    }
    return true;
}

/* Set h->minor_version from "HTTP/1.x"; 0 on success, else the status to answer. */
static int parse_version(const char *v, size_t len, struct http_head *h)
{
    if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1' || v[7] > '1')
        return 505;
    h->minor_version = v[7] - '0';
    return 0;
}

static enum http_parse_result parse_request_line(const char *buf, size_t pos, size_t eol,
                                                 struct http_head *h)
{
    const char *line = buf + pos;
    size_t len = eol - pos;
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2;
    int st;

    if (sp1 == NULL)
        return refuse(h, 400, "the request line is not METHOD /path HTTP/1.1");
    sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
    if (sp2 == NULL || sp1 == line || sp2 == sp1 + 1)
        return refuse(h, 400, "the request line is not METHOD /path HTTP/1.1");
    h->method = (struct http_span){pos, (size_t)(sp1 - line)};
    h->target = (struct http_span){(size_t)(sp1 + 1 - buf), (size_t)(sp2 - sp1 - 1)};
    for (size_t i = 0; i < h->method.len; i++) {
        if (!is_tchar((unsigned char)line[i]))
            return refuse(h, 400, "the method is not a token");
    }
    st = parse_version(sp2 + 1, len - (size_t)(sp2 + 1 - line), h);
    if (st == 400)
        return refuse(h, 400, "the HTTP version is not HTTP/1.0 or HTTP/1.1 in that form");
    if (st == 505)
        return refuse(h, 505, "only HTTP/1.0 and HTTP/1.1 are served");
    if (!method_is_known(line, h->method.len))
        return refuse(h, 501, "unknown method");
    if (!target_is_valid(buf + h->target.off, h->target.len))
        return refuse(h, 400, "the target is not a path such as /metrics (valid escapes, no NUL)");
    return HTTP_PARSE_MORE;
}

/* ---- Header lines ---- */

struct head_state {
    bool has_host;   /* a Host header was seen */
    bool has_length; /* a Content-Length header was seen */
    bool close;      /* "Connection: close" was seen */
    size_t max_body; /* max_body_bytes */
};

/* Content-Length: digits only; every copy the same; at most max_body. */
static enum http_parse_result take_length(const char *v, size_t len, struct head_state *s,
                                          struct http_head *h)
{
    size_t n = 0;
    bool big = false;

    if (len == 0)
        return refuse(h, 400, "Content-Length is not a number");
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return refuse(h, 400, "Content-Length is not a number");
        size_t d = (size_t)(v[i] - '0');

        if (big)
            continue;
        if (n > s->max_body / 10 || d > s->max_body - n * 10)
            big = true;
        else
            n = n * 10 + d;
    }
    if (big || n > s->max_body)
        return refuse(h, 413, "the body is longer than the server accepts");
    if (s->has_length && n != h->body_len)
        return refuse(h, 400, "two Content-Length headers disagree");
    s->has_length = true;
    h->body_len = n;
    return HTTP_PARSE_MORE;
}

/* True when the comma-separated list v holds the token "close". */
static bool list_has_close(const char *v, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t start, end;

        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        start = i;
        while (i < len && v[i] != ',')
            i++;
        end = i;
        while (end > start && is_ows(v[end - 1]))
            end--;
        if (http_parse_name_is(v + start, end - start, "close"))
            return true;
    }
    return false;
}

static enum http_parse_result take_field(const char *buf, const struct http_head_field *f,
                                         struct head_state *s, struct http_head *h)
{
    const char *name = buf + f->name.off;
    const char *value = buf + f->value.off;

    if (http_parse_name_is(name, f->name.len, "transfer-encoding"))
        return refuse(h, 501,
                      "Transfer-Encoding is not accepted: send the body with Content-Length");
    if (http_parse_name_is(name, f->name.len, "content-length"))
        return take_length(value, f->value.len, s, h);
    if (http_parse_name_is(name, f->name.len, "host")) {
        if (s->has_host)
            return refuse(h, 400, "more than one Host header");
        s->has_host = true;
    } else if (http_parse_name_is(name, f->name.len, "connection")) {
        s->close = s->close || list_has_close(value, f->value.len);
    }
    return HTTP_PARSE_MORE;
}

static enum http_parse_result parse_field(const char *buf, size_t pos, size_t eol,
                                          struct head_state *s, struct http_head *h)
{
    struct http_head_field *f;
    size_t i = pos;
    size_t vstart, vend;

    while (i < eol && is_tchar((unsigned char)buf[i]))
        i++;
    if (i == pos || i == eol || buf[i] != ':')
        return refuse(h, 400, "a header line is not Name: value");
    if (h->nfields == HTTP_PARSE_MAX_HEADERS)
        return refuse(h, 431, "more header lines than the server accepts");
    vstart = i + 1;
    while (vstart < eol && is_ows(buf[vstart]))
        vstart++;
    vend = eol;
    while (vend > vstart && is_ows(buf[vend - 1]))
        vend--;
    f = &h->fields[h->nfields++];
    f->name = (struct http_span){pos, i - pos};
    f->value = (struct http_span){vstart, vend - vstart};
    return take_field(buf, f, s, h);
}

static enum http_parse_result finish_head(struct head_state *s, struct http_head *h)
{
    if (h->minor_version == 1 && !s->has_host)
        return refuse(h, 400, "HTTP/1.1 needs a Host header");
    h->keep_alive = h->minor_version == 1 && !s->close;
    return HTTP_PARSE_DONE;
}

/* ---- Lines ---- */

/*
 * Find the end of the line at pos within lim bytes: *eol is where its text
 * ends (before CR LF or LF), *next where the next line starts. Returns DONE
 * for a line, MORE when lim came first, ERROR for a byte no head may hold.
 */
static enum http_parse_result next_line(const char *buf, size_t pos, size_t lim, size_t *eol,
                                        size_t *next, struct http_head *h)
{
    for (size_t i = pos; i < lim; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c == '\n') {
            *eol = i;
            *next = i + 1;
            return HTTP_PARSE_DONE;
        }
        if (c == '\r') {
            if (i + 1 == lim)
                return HTTP_PARSE_MORE;
            if (buf[i + 1] != '\n')
                return refuse(h, 400, "a CR not followed by LF");
            *eol = i;
            *next = i + 2;
            return HTTP_PARSE_DONE;
        }
        if (is_forbidden_ctl(c))
            return refuse(h, 400, "a control character in the request head");
    }
    return HTTP_PARSE_MORE;
}

enum http_parse_result http_parse_head(const char *buf, size_t len, size_t max_head_bytes,
                                       size_t max_body_bytes, struct http_head *h)
{
    struct head_state s = {.max_body = max_body_bytes};
    size_t lim = len < max_head_bytes ? len : max_head_bytes;
    size_t pos = 0;

    memset(h, 0, sizeof(*h));
    for (;;) {
        size_t eol, next;
        enum http_parse_result r = next_line(buf, pos, lim, &eol, &next, h);

        if (r == HTTP_PARSE_ERROR)
            return r;
        if (r == HTTP_PARSE_MORE) {
            if (len >= max_head_bytes)
                return refuse(h, 431, "the request head is longer than the server accepts");
            return HTTP_PARSE_MORE;
        }
        if (pos == 0)
            r = eol == 0 ? refuse(h, 400, "the request line is not METHOD /path HTTP/1.1")
                         : parse_request_line(buf, pos, eol, h);
        else if (eol == pos)
            r = finish_head(&s, h);
        else
            r = parse_field(buf, pos, eol, &s, h);
        if (r != HTTP_PARSE_MORE) {
            h->head_len = next;
            return r;
        }
        pos = next;
    }
}
