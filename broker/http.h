/*
 * http.h - the broker's HTTP/1.1 server: a strict, small server on the
 * broker's libev loop (docs/design.md "The broker's HTTP server" says why it
 * is written here rather than taken from a library).
 *
 * What it accepts: GET, HEAD and POST requests with an origin-form target,
 * headers up to limits.max_header_bytes in all, a body only with
 * Content-Length up to limits.max_body_bytes (Transfer-Encoding is refused),
 * keep-alive (HTTP/1.1 default, "Connection: close" honoured, HTTP/1.0
 * closes), pipelined requests answered in order. What it answers itself,
 * then closing the connection:
 *   400 a request line or header that does not parse, a bad Content-Length,
 *       a Host missing in HTTP/1.1
 *   408 the whole request (line, headers, body) did not arrive within
 *       limits.request_timeout_ms of its first byte (a client sending one
 *       byte a second gets this, not an open connection forever)
 *   413 a body longer than limits.max_body_bytes
 *   431 headers longer than limits.max_header_bytes
 *   501 Transfer-Encoding, or a method it does not know at all
 *   505 an HTTP version other than 1.0 and 1.1
 * and 503 when limits.max_connections are open (the new one is closed after
 * it). An idle keep-alive connection is closed after limits.idle_timeout_ms,
 * and one whose reply the client does not read within
 * limits.write_timeout_ms is dropped. Every connection is non-blocking on
 * the one loop: a slow client never delays another.
 *
 * Routing (404, 405 with Allow) is the handler's job: the server hands over
 * every request that parsed.
 */
#ifndef KWQ_BROKER_HTTP_H
#define KWQ_BROKER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

struct http_server;
struct http_exchange;

struct http_limits {
    size_t max_header_bytes;     /* request line + headers; default 16384 */
    size_t max_body_bytes;       /* default 65536 */
    uint64_t request_timeout_ms; /* first byte to last byte of a request; default 10000 */
    uint64_t idle_timeout_ms;    /* keep-alive connection with no request; default 30000 */
    uint64_t write_timeout_ms;   /* a reply not taken by the client; default 10000 */
    size_t max_connections;      /* default 256 */
};

/* Fill l with the defaults above. */
void http_limits_init(struct http_limits *l);

/* A parsed request; every string is NUL-terminated and valid until the reply. */
struct http_request {
    const char *method; /* as sent: "GET", "HEAD", "POST" */
    const char *target; /* as sent: "/api/queues?x=1" */
    const char *path;   /* the target up to '?', percent-decoded; never contains NUL */
    const char *query;  /* after '?', not decoded; "" when none */
    const char *body;   /* the body bytes (NUL after them), "" when none */
    size_t body_len;
    int minor_version; /* 0 or 1 (HTTP/1.x) */
};

/* A header's value (first occurrence, case-insensitive name, trimmed), or NULL. */
const char *http_header(const struct http_exchange *x, const char *name);

/* The request of an exchange. */
const struct http_request *http_exchange_request(const struct http_exchange *x);

/* The peer as "127.0.0.1:53122" / "[::1]:53122" / "unix" (for logs). */
const char *http_exchange_peer(const struct http_exchange *x);

/*
 * Called for every request that parsed. The handler answers with http_reply
 * now or later (after a Redis round trip): x stays valid until then, even if
 * the client has gone meanwhile (the reply is then dropped). Every exchange
 * gets exactly one http_reply.
 */
typedef void http_handler(struct http_exchange *x, void *data);

/*
 * Answer x: status, Content-Type (NULL for none), body (copied; for a HEAD
 * request only its length is sent), and extra header lines, each ending in
 * "\r\n" (NULL for none; e.g. "Allow: GET, HEAD\r\n"). Date, Content-Length,
 * Connection and Cache-Control: no-store are added. x is freed.
 */
void http_reply(struct http_exchange *x, int status, const char *content_type, const char *body,
                size_t body_len, const char *extra_headers);

/*
 * A server that will listen on addr: "127.0.0.1:9090", "[::1]:9090",
 * ":9090" (every address), "0" port for a free one, or "unix:/path". NULL on
 * error with a one-line reason in err (size errlen): a bad address names the
 * accepted forms; a taken port says so.
 */
struct http_server *http_server_new(struct ev_loop *loop, const char *addr,
                                    const struct http_limits *limits, http_handler *handler,
                                    void *data, char *err, size_t errlen);

/* The bound address as "127.0.0.1:40123" (the real port when "0" was asked). */
const char *http_server_addr(const struct http_server *s);

/* Open connections (for /metrics and tests). */
size_t http_server_connections(const struct http_server *s);

/*
 * Stop accepting; close idle connections now and the others once their
 * current reply is written. Exchanges not yet answered stay valid until
 * their http_reply.
 */
void http_server_stop(struct http_server *s);

/* Close everything and free s. Exchanges not yet answered must not be replied to after. */
void http_server_free(struct http_server *s);

/* The reason phrase of a status ("Not Found"), "" for unknown ones. */
const char *http_status_text(int status);

#endif /* KWQ_BROKER_HTTP_H */
