/*
 * test_broker_http_parse.c - the broker's request-head parser
 * (broker/http_parse.h) alone: what it accepts and refuses, byte for byte;
 * that every prefix of a request parses as "more" or as the whole does (the
 * server re-parses from the start as bytes come, so a request split at any
 * byte must parse the same); and that random bytes never make it read past
 * its buffer (the sanitizer build checks that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>

#include "http_parse.h"

static void same(const char *got, const char *want)
{
    cr_assert(strcmp(got, want) == 0, "got <<%s>>, want <<%s>>", got, want);
}

#define MAX_HEAD 1024
#define MAX_BODY 100

struct pcase {
    const char *in;     /* the bytes */
    size_t len;         /* 0: strlen(in) */
    int result;         /* enum http_parse_result */
    int status;         /* ERROR: the status */
    const char *reason; /* ERROR: the reason; DONE: NULL */
    const char *method; /* DONE: the method */
    const char *target; /* DONE: the target */
    int minor;          /* DONE: the minor version */
    size_t body_len;    /* DONE: Content-Length */
    bool keep_alive;    /* DONE: keep-alive */
};

#define OK(in, m, t, minor, body, ka)                                                              \
    {                                                                                              \
        in, 0, HTTP_PARSE_DONE, 0, NULL, m, t, minor, body, ka                                     \
    }
#define NO(in, st, why)                                                                            \
    {                                                                                              \
        in, 0, HTTP_PARSE_ERROR, st, why, NULL, NULL, 0, 0, false                                  \
    }
#define MORE(in)                                                                                   \
    {                                                                                              \
        in, 0, HTTP_PARSE_MORE, 0, NULL, NULL, NULL, 0, 0, false                                   \
    }

#define LINE_BAD "the request line is not METHOD /path HTTP/1.1"
#define CTL      "a control character in the request head"
#define FIELD    "a header line is not Name: value"
#define TARGET   "the target is not a path such as /metrics (valid escapes, no NUL)"
#define VERSION  "the HTTP version is not HTTP/1.0 or HTTP/1.1 in that form"

static const struct pcase cases[] = {
    OK("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, 0, true),
    OK("GET / HTTP/1.1\nHost: a\n\n", "GET", "/", 1, 0, true),
    OK("GET /x HTTP/1.0\r\n\r\n", "GET", "/x", 0, 0, false),
    OK("HEAD /m?a=%zz&b HTTP/1.1\r\nHost:\r\n\r\n", "HEAD", "/m?a=%zz&b", 1, 0, true),
    OK("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "POST", "/e", 1, 3, true),
    OK("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nContent-Length: 100\r\n\r\n", "POST",
       "/e", 1, 100, true),
    OK("POST /e HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\n\r\n", "POST", "/e", 1, 7, true),
    OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", "GET", "/", 1, 0,
       false),
    OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", "GET", "/", 1, 0, true),
    OK("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \t\r\n\r\n", "GET", "/", 1, 0, true),
    OK("DELETE /a%20b HTTP/1.1\r\nHost: a\r\n\r\n", "DELETE", "/a%20b", 1, 0, true),
    MORE("GET / HTTP/1.1\r\nHost: a\r\n"),
    MORE("GET / HTTP/1.1\r"),
    MORE(""),
    NO("hello there\r\n\r\n", 400, LINE_BAD),
    NO("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LINE_BAD),
    NO("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LINE_BAD),
    NO("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, VERSION),
    NO("GET / http/1.1\r\nHost: a\r\n\r\n", 400, VERSION),
    NO("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, VERSION),
    NO("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"),
    NO("GET / HTTP/1.2\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"),
    NO("GET / HTTP/0.9\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"),
    NO("BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "unknown method"),
    NO("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "the method is not a token"),
    NO("G\x80T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "the method is not a token"),
    NO("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, TARGET),
    NO("GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 needs a Host header"),
    NO("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header"),
    NO("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, FIELD),
    NO("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, FIELD),
    NO("GET / HTTP/1.1\r\n: a\r\n\r\n", 400, FIELD),
    NO("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, FIELD),
    NO("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "a CR not followed by LF"),
    NO("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400, CTL),
    NO("GET / HTTP/1.1\r\nHost: a\x01", 400, CTL),
    NO("\x16\x03\x01\x02\x00\x01", 400, CTL),
    NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
       "Transfer-Encoding is not accepted: send the body with Content-Length"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413,
       "the body is longer than the server accepts"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999999\r\n\r\n", 413,
       "the body is longer than the server accepts"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400,
       "Content-Length is not a number"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400,
       "Content-Length is not a number"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400,
       "Content-Length is not a number"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400,
       "Content-Length is not a number"),
    NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
       "two Content-Length headers disagree"),
    {"GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 28, HTTP_PARSE_ERROR, 400, CTL, NULL, NULL, 0, 0,
     false},
};

static size_t case_len(const struct pcase *c)
{
    return c->len != 0 ? c->len : strlen(c->in);
}

static void check(const struct pcase *c, const char *buf, size_t len, const struct http_head *h,
                  int r)
{
    cr_assert(eq(int, r, c->result), "input '%s'", c->in);
    if (r == HTTP_PARSE_ERROR) {
        cr_assert(eq(int, h->status, c->status), "input '%s'", c->in);
        same(h->reason, c->reason);
    } else if (r == HTTP_PARSE_DONE) {
        cr_assert(eq(sz, h->method.len, strlen(c->method)));
        cr_assert(memcmp(buf + h->method.off, c->method, h->method.len) == 0);
        cr_assert(eq(sz, h->target.len, strlen(c->target)));
        cr_assert(memcmp(buf + h->target.off, c->target, h->target.len) == 0);
        cr_assert(eq(int, h->minor_version, c->minor));
        cr_assert(eq(sz, h->body_len, c->body_len));
        cr_assert(eq(int, h->keep_alive, c->keep_alive));
        cr_assert(h->head_len <= len);
    }
}

static bool same_head(const struct http_head *a, const struct http_head *b)
{
    if (a->status != b->status || a->reason != b->reason || a->head_len != b->head_len ||
        a->body_len != b->body_len || a->keep_alive != b->keep_alive ||
        a->minor_version != b->minor_version || a->nfields != b->nfields ||
        a->method.off != b->method.off || a->method.len != b->method.len ||
        a->target.off != b->target.off || a->target.len != b->target.len)
        return false;
    for (size_t i = 0; i < a->nfields; i++) {
        if (a->fields[i].name.off != b->fields[i].name.off ||
            a->fields[i].name.len != b->fields[i].name.len ||
            a->fields[i].value.off != b->fields[i].value.off ||
            a->fields[i].value.len != b->fields[i].value.len)
            return false;
    }
    return true;
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Indices, not the cases: Criterion runs each in a new process, where pointers would not hold. */
ParameterizedTestParameters(broker_http_parse, cases)
{
    static size_t idx[NCASES];

    for (size_t i = 0; i < NCASES; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, NCASES);
}

ParameterizedTest(size_t *i, broker_http_parse, cases)
{
    const struct pcase *c = &cases[*i];
    size_t len = case_len(c);
    char *buf = malloc(len + 1); /* exactly len bytes readable (+1 for malloc(0)) */
    struct http_head whole, part;
    int r;

    cr_assert(buf != NULL);
    memcpy(buf, c->in, len);
    r = http_parse_head(buf, len, MAX_HEAD, MAX_BODY, &whole);
    check(c, buf, len, &whole, r);

    /* Every prefix: "more", or already the whole's verdict. */
    for (size_t k = 0; k < len; k++) {
        int rk = http_parse_head(buf, k, MAX_HEAD, MAX_BODY, &part);

        if (rk == HTTP_PARSE_MORE)
            continue;
        cr_assert(eq(int, rk, r), "input '%s' split at %zu", c->in, k);
        cr_assert(same_head(&part, &whole), "input '%s' split at %zu", c->in, k);
    }
    free(buf);
}

Test(broker_http_parse, fields_are_spans_of_trimmed_values)
{
    const char *in = "GET / HTTP/1.1\r\nHost: a.b:80\r\nX-Empty:\r\nX-Pad: \t v w \t\r\n\r\n";
    struct http_head h;

    cr_assert(eq(int, http_parse_head(in, strlen(in), MAX_HEAD, MAX_BODY, &h), HTTP_PARSE_DONE));
    cr_assert(eq(sz, h.nfields, 3));
    cr_assert(eq(sz, h.head_len, strlen(in)));
    cr_assert(eq(sz, h.fields[0].value.len, 6));
    cr_assert(memcmp(in + h.fields[0].value.off, "a.b:80", 6) == 0);
    cr_assert(eq(sz, h.fields[1].value.len, 0));
    cr_assert(eq(sz, h.fields[2].name.len, 5));
    cr_assert(memcmp(in + h.fields[2].name.off, "X-Pad", 5) == 0);
    cr_assert(eq(sz, h.fields[2].value.len, 3));
    cr_assert(memcmp(in + h.fields[2].value.off, "v w", 3) == 0);
}

Test(broker_http_parse, head_limit_is_431_before_and_after_the_end)
{
    char in[256];
    struct http_head h;
    int n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: %60d\r\n\r\n", 1);

    /* Exactly at the limit it is whole; one byte less and it is too long. */
    cr_assert(eq(int, http_parse_head(in, (size_t)n, (size_t)n, 0, &h), HTTP_PARSE_DONE));
    cr_assert(eq(int, http_parse_head(in, (size_t)n, (size_t)n - 1, 0, &h), HTTP_PARSE_ERROR));
    cr_assert(eq(int, h.status, 431));
    /* A head that has not ended yet but already fills the limit. */
    cr_assert(eq(int, http_parse_head(in, 40, 40, 0, &h), HTTP_PARSE_ERROR));
    cr_assert(eq(int, h.status, 431));
    cr_assert(eq(int, http_parse_head(in, 39, 40, 0, &h), HTTP_PARSE_MORE));
}

Test(broker_http_parse, too_many_header_lines_is_431)
{
    char in[4096];
    struct http_head h;
    size_t n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\n");

    for (int i = 1; i < HTTP_PARSE_MAX_HEADERS; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "X%d: v\r\n", i);
    n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
    cr_assert(eq(int, http_parse_head(in, n, sizeof(in), 0, &h), HTTP_PARSE_DONE));
    cr_assert(eq(sz, h.nfields, HTTP_PARSE_MAX_HEADERS));
    n -= 2;
    n += (size_t)snprintf(in + n, sizeof(in) - n, "One: more\r\n\r\n");
    cr_assert(eq(int, http_parse_head(in, n, sizeof(in), 0, &h), HTTP_PARSE_ERROR));
    cr_assert(eq(int, h.status, 431));
    same(h.reason, "more header lines than the server accepts");
}

Test(broker_http_parse, decode_path)
{
    char out[32];

    cr_assert(eq(long, http_parse_decode_path("/a%20b%2Fc", 10, out), 6));
    same(out, "/a b/c");
    cr_assert(eq(long, http_parse_decode_path("/q%41", 2, out), 2)); /* only len bytes */
    same(out, "/q");
    cr_assert(eq(long, http_parse_decode_path("/%00", 4, out), -1));
    cr_assert(eq(long, http_parse_decode_path("/%4", 3, out), -1));
    cr_assert(eq(long, http_parse_decode_path("/%g1", 4, out), -1));
    cr_assert(http_parse_name_is("Content-LENGTH", 14, "content-length"));
    cr_assert(http_parse_name_is("Content-Len", 11, "content-length") == false);
    cr_assert(http_parse_name_is("Content-Lengths", 15, "content-length") == false);
}

/* Random heads from pieces of valid and invalid ones: the parser stays in its buffer. */
Test(broker_http_parse, random_bytes_stay_in_bounds)
{
    static const char *const pieces[] = {
        "GET",      "POST",           " ",    "/",    "/a%2", "%41",  "?",
        "HTTP/1.1", "HTTP/1.",        "\r\n", "\n",   "\r",   "Host", ":",
        " v ",      "Content-Length", "99",   "\x00", "\xff", "\t"};
    unsigned long long seed = 42;

    for (int round = 0; round < 20000; round++) {
        char tmp[512];
        size_t n = 0;
        char *buf;
        struct http_head h;
        int r;

        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        for (int k = (int)(seed >> 60); k >= 0 && n < 400; k--) {
            const char *p;

            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            p = pieces[(seed >> 33) % (sizeof(pieces) / sizeof(pieces[0]))];
            /* "\x00" is one byte, the others their strlen. */
            memcpy(tmp + n, p, p[0] == '\0' ? 1 : strlen(p));
            n += p[0] == '\0' ? 1 : strlen(p);
        }
        buf = malloc(n + 1);
        cr_assert(buf != NULL);
        memcpy(buf, tmp, n);
        r = http_parse_head(buf, n, 64 + (size_t)(seed >> 58), 50, &h);
        cr_assert(r == HTTP_PARSE_DONE || r == HTTP_PARSE_MORE || r == HTTP_PARSE_ERROR);
        if (r == HTTP_PARSE_DONE) {
            cr_assert(h.head_len <= n && h.method.off + h.method.len <= n);
            cr_assert(h.target.off + h.target.len <= n && h.body_len <= 50);
        }
        free(buf);
    }
}
