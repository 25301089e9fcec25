/*
 * http.c - the broker's HTTP/1.1 server (see http.h): the listening socket,
 * connections, their deadlines and the replies, on the broker's libev loop.
 *
 * A connection is one ev_io and one ev_timer. It serves one request at a
 * time, in order: read until the head parses (http_parse.c) and the body is
 * in, hand the request to the handler with reading stopped, write the reply,
 * then go on with the bytes that are already buffered (pipelining). So at
 * most max_header_bytes + max_body_bytes are ever buffered per connection,
 * and the timer has one meaning at a time: idle, the request's deadline
 * (from its first byte), the reply's write deadline, or the lingering close.
 *
 * Exchanges outlive their connection: a connection that closes while its
 * request is with the handler only detaches the exchange, which http_reply
 * then frees without writing. Nothing here frees a connection from inside
 * the handler or http_reply: only the connection's own watchers, stop and
 * free close it.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kwq/log.h"

#include "http_parse.h"

#define ACCEPT_BURST     64    /* connections taken per wake, so that others get a turn */
#define ACCEPT_PAUSE_S   0.1   /* no accept for this long after EMFILE and the like, s */
#define LINGER_S         1.0   /* read and drop what a client sends after a final reply, s */
#define LINGER_MAX_BYTES 65536 /* ... but no more than this */
#define PAUSE_LOG_S      10.0  /* one warning per this many seconds of accept pauses, s */
#define IN_FIRST_BYTES   4096  /* first input buffer; it doubles up to the limits */
#define PEER_LEN         64    /* "[ipv6]:port" */
#define ADDR_LEN         128   /* "unix:/path" (sun_path is 108) or "[ipv6]:port" */
#define REPLY_HEAD_BYTES 256   /* the fixed header lines of a reply, bytes */

/* ---- Types ---- */

enum conn_state {
    CONN_READ,    /* reading a request (or waiting for one) */
    CONN_HANDLER, /* a request is with the handler; not reading */
    CONN_WRITE,   /* writing a reply */
    CONN_LINGER,  /* last reply written, write side shut: draining the client */
};

enum conn_timer {
    TIMER_NONE,
    TIMER_IDLE,    /* no byte of a request yet: close quietly */
    TIMER_REQUEST, /* the request's deadline: 408 */
    TIMER_WRITE,   /* the reply was not taken: drop */
    TIMER_LINGER,  /* end of the lingering close */
};

struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next; /* the server's connections */
    int fd;
    ev_io io;
    ev_timer timer;
    enum conn_state state;
    enum conn_timer timer_for; /* what the running timer means */
    int events;                /* what io watches: 0, EV_READ or EV_WRITE */
    bool rejected;             /* over max_connections: one 503, not counted */
    bool close_after;          /* close once the reply is written */
    bool eof;                  /* the client shut its side */
    bool parse;                /* a byte that can decide the head arrived since the last parse */
    bool continued;            /* "100 Continue" was sent for the current request */
    size_t need;               /* bytes of the request, once its head parsed; else 0 */
    char *in;                  /* input bytes: the current request, then pipelined ones */
    size_t in_len;             /* bytes in in */
    size_t in_cap;             /* bytes allocated at in */
    char *out;                 /* the reply being written */
    size_t out_len;            /* bytes in out */
    size_t out_off;            /* bytes of out written */
    size_t lingered;           /* bytes dropped while lingering */
    struct http_exchange *x;   /* the request with the handler, NULL otherwise */
    char peer[PEER_LEN];       /* for logs and http_exchange_peer */
};

struct http_exchange {
    struct http_server *srv;
    struct http_conn *conn;            /* NULL once the client has gone */
    struct http_exchange *prev, *next; /* the server's unanswered exchanges */
    struct http_request req;           /* points into the block after fields */
    bool head;                         /* a HEAD request: the reply has no body */
    bool keep_alive;                   /* the request allows another one after it */
    size_t nfields;                    /* header lines */
    const char **fields;               /* name, value, name, value... */
    char peer[PEER_LEN];               /* copied: the connection may go first */
};

struct http_server {
    struct ev_loop *loop;
    struct http_limits lim;
    http_handler *handler;
    void *data;
    int fd; /* listening socket, -1 once stopped */
    ev_io accept_io;
    ev_timer accept_pause;         /* accepting again after EMFILE */
    double pause_logged;           /* when an accept pause was last logged, ev_now */
    bool stopped;                  /* http_server_stop was called */
    char addr[ADDR_LEN];           /* as http_server_addr says it */
    char unix_path[ADDR_LEN];      /* the socket file to remove, "" for TCP */
    struct http_conn *conns;       /* every open connection, rejected ones too */
    size_t nconns;                 /* open connections, not the rejected */
    size_t nrejected;              /* open rejected connections */
    struct http_exchange *pending; /* unanswered exchanges */
    time_t date_sec;               /* the second date holds */
    char date[40];                 /* IMF-fixdate of date_sec */
};

void http_limits_init(struct http_limits *l)
{
    l->max_header_bytes = 16384;
    l->max_body_bytes = 65536;
    l->request_timeout_ms = 10000;
    l->idle_timeout_ms = 30000;
    l->write_timeout_ms = 10000;
    l->max_connections = 256;
}

const char *http_status_text(int status)
{
    static const struct {
        int status;
        const char *text;
    } table[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].status == status)
            return table[i].text;
    }
    return "";
}

/* ---- Replies ---- */

/* The Date header's value, computed once a second; not strftime: %a and %b follow the locale. */
static const char *server_date(struct http_server *s)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (now == s->date_sec && s->date[0] != '\0')
        return s->date;
    if (gmtime_r(&now, &tm) == NULL)
        return s->date;
    (void)snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                   days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                   tm.tm_hour, tm.tm_min, tm.tm_sec);
    s->date_sec = now;
    return s->date;
}

/* 1xx, 204 and 304 replies carry no body and no Content-Length (RFC 9110 8.6). */
static bool status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

struct reply {
    int status;
    const char *content_type; /* NULL for none */
    const char *body;
    size_t body_len;   /* bytes */
    const char *extra; /* header lines ending in CRLF, NULL for none */
    bool head;         /* HEAD: the length, not the body */
    bool close;        /* Connection: close */
};

/* Build r into a new buffer (*ret_len bytes); NULL when out of memory. */
static char *reply_build(struct http_server *s, const struct reply *r, size_t *ret_len)
{
    bool has_body = status_has_body(r->status);
    size_t ct_len = r->content_type != NULL ? strlen(r->content_type) : 0;
    size_t extra_len = r->extra != NULL ? strlen(r->extra) : 0;
    size_t body = has_body && !r->head ? r->body_len : 0;
    size_t cap = REPLY_HEAD_BYTES + ct_len + extra_len + body;
    char *buf = malloc(cap);
    int n;

    if (buf == NULL)
        return NULL;
    n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n", r->status, http_status_text(r->status),
                 server_date(s));
    if (r->content_type != NULL)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Type: %s\r\n", r->content_type);
    if (has_body)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Length: %zu\r\n", r->body_len);
    n += snprintf(buf + n, cap - (size_t)n, "Cache-Control: no-store\r\nConnection: %s\r\n%s\r\n",
                  r->close ? "close" : "keep-alive", r->extra != NULL ? r->extra : "");
    if (body > 0)
        memcpy(buf + n, r->body, body);
    *ret_len = (size_t)n + body;
    return buf;
}

/* ---- Connection plumbing ---- */

static void conn_watch(struct http_conn *c, int events)
{
    struct ev_loop *loop = c->srv->loop;

    if (c->events == events)
        return;
    ev_io_stop(loop, &c->io);
    c->events = events;
    if (events != 0) {
        ev_io_set(&c->io, c->fd, events);
        ev_io_start(loop, &c->io);
    }
}

/* Run the timer for kind; a timer already running for kind keeps its deadline. */
static void conn_timer(struct http_conn *c, enum conn_timer kind, double seconds)
{
    struct ev_loop *loop = c->srv->loop;

    if (c->timer_for == kind)
        return;
    ev_timer_stop(loop, &c->timer);
    c->timer_for = kind;
    if (kind != TIMER_NONE) {
        ev_timer_set(&c->timer, seconds, 0.);
        ev_timer_start(loop, &c->timer);
    }
}

static double ms_to_s(uint64_t ms)
{
    return (double)ms / 1000.0;
}

static void conn_close(struct http_conn *c)
{
    struct http_server *s = c->srv;

    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    (void)close(c->fd);
    if (c->x != NULL)
        c->x->conn = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->rejected)
        s->nrejected--;
    else
        s->nconns--;
    free(c->in);
    free(c->out);
    free(c);
}

/* Queue a built reply (taking buf) and start writing it. */
static void conn_send(struct http_conn *c, char *buf, size_t len, bool close_after)
{
    free(c->out);
    c->out = buf;
    c->out_len = len;
    c->out_off = 0;
    c->close_after = close_after;
    c->state = CONN_WRITE;
    conn_watch(c, EV_WRITE);
    conn_timer(c, TIMER_WRITE, ms_to_s(c->srv->lim.write_timeout_ms));
}

/*
 * Answer a request the server refuses itself, then close. Only the status
 * and the parser's static reason are logged: never a header's value.
 */
static void conn_refuse(struct http_conn *c, int status, const char *reason)
{
    char body[160];
    struct reply r = {
        .status = status, .content_type = "text/plain; charset=utf-8", .body = body, .close = true};
    char *buf;
    size_t len;

    r.body_len = (size_t)snprintf(body, sizeof(body), "%d %s: %s\n", status,
                                  http_status_text(status), reason);
    if (r.body_len >= sizeof(body))
        r.body_len = sizeof(body) - 1;
    kwq_log(KWQ_LOG_DEBUG, "http request refused", KWQ_LI("status", status),
            KWQ_LS("reason", reason), KWQ_LS("peer", c->peer));
    buf = reply_build(c->srv, &r, &len);
    if (buf == NULL) {
        conn_close(c);
        return;
    }
    conn_send(c, buf, len, true);
}

/* ---- Exchanges ---- */

static size_t exchange_size(const struct http_head *h)
{
    size_t n = sizeof(struct http_exchange) + 2 * h->nfields * sizeof(char *);

    n += h->method.len + 1 + 2 * (h->target.len + 1) + 1 + h->body_len + 1;
    for (size_t i = 0; i < h->nfields; i++)
        n += h->fields[i].name.len + 1 + h->fields[i].value.len + 1;
    return n;
}

/* Copy a span as a string at *p; return it and move *p past its NUL. */
static char *put_span(char **p, const char *in, struct http_span sp)
{
    char *s = *p;

    memcpy(s, in + sp.off, sp.len);
    s[sp.len] = '\0';
    *p += sp.len + 1;
    return s;
}

/* Fill the request's strings from the head and body at in. */
static void exchange_fill(struct http_exchange *x, const char *in, const struct http_head *h)
{
    struct http_request *rq = &x->req;
    char *p = (char *)(x->fields + 2 * h->nfields);
    const char *q;
    char *path;
    long path_len;

    rq->method = put_span(&p, in, h->method);
    rq->target = put_span(&p, in, h->target);
    q = memchr(rq->target, '?', h->target.len);
    path = p;
    path_len = http_parse_decode_path(rq->target,
                                      q != NULL ? (size_t)(q - rq->target) : h->target.len, path);
    rq->path = path;
    p += path_len >= 0 ? (size_t)path_len + 1 : 1;
    if (path_len < 0)
        path[0] = '\0'; /* cannot happen: the parser checked the escapes */
    rq->query = q != NULL ? q + 1 : "";
    rq->body = put_span(&p, in, (struct http_span){h->head_len, h->body_len});
    rq->body_len = h->body_len;
    rq->minor_version = h->minor_version;
    for (size_t i = 0; i < h->nfields; i++) {
        x->fields[2 * i] = put_span(&p, in, h->fields[i].name);
        x->fields[2 * i + 1] = put_span(&p, in, h->fields[i].value);
    }
}

static struct http_exchange *exchange_new(struct http_conn *c, const struct http_head *h)
{
    struct http_server *s = c->srv;
    struct http_exchange *x = calloc(1, exchange_size(h));

    if (x == NULL)
        return NULL;
    x->srv = s;
    x->conn = c;
    x->nfields = h->nfields;
    x->fields = (const char **)(x + 1);
    x->keep_alive = h->keep_alive;
    memcpy(x->peer, c->peer, sizeof(x->peer));
    exchange_fill(x, c->in, h);
    x->head = strcmp(x->req.method, "HEAD") == 0;
    x->next = s->pending;
    if (s->pending != NULL)
        s->pending->prev = x;
    s->pending = x;
    return x;
}

static void exchange_free(struct http_exchange *x)
{
    struct http_server *s = x->srv;

    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        s->pending = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    free(x);
}

const char *http_header(const struct http_exchange *x, const char *name)
{
    for (size_t i = 0; i < x->nfields; i++) {
        if (strcasecmp(x->fields[2 * i], name) == 0)
            return x->fields[2 * i + 1];
    }
    return NULL;
}

const struct http_request *http_exchange_request(const struct http_exchange *x)
{
    return &x->req;
}

const char *http_exchange_peer(const struct http_exchange *x)
{
    return x->peer;
}

void http_reply(struct http_exchange *x, int status, const char *content_type, const char *body,
                size_t body_len, const char *extra_headers)
{
    struct http_conn *c = x->conn;
    struct reply r = {.status = status,
                      .content_type = content_type,
                      .body = body,
                      .body_len = body_len,
                      .extra = extra_headers,
                      .head = x->head};
    char *buf;
    size_t len;

    if (c != NULL) {
        c->x = NULL;
        r.close = !x->keep_alive || c->srv->stopped;
        buf = reply_build(c->srv, &r, &len);
        if (buf != NULL) {
            conn_send(c, buf, len, r.close);
        } else {
            /* Out of memory: the client sees the connection close; the timer does it. */
            c->state = CONN_WRITE;
            c->close_after = true;
            conn_timer(c, TIMER_WRITE, 0.);
        }
    }
    exchange_free(x);
}

/* ---- Reading requests ---- */

/* Drop the first n bytes of the input (a request that was handed over). */
static void conn_consume(struct http_conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    c->need = 0;
    c->parse = true;
    c->continued = false;
    if (c->in_len == 0 && c->in_cap > IN_FIRST_BYTES) {
        /* An idle keep-alive connection does not keep a big request's buffer. */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void conn_dispatch(struct http_conn *c, const struct http_head *h)
{
    struct http_server *s = c->srv;
    struct http_exchange *x = exchange_new(c, h);

    if (x == NULL) {
        conn_refuse(c, 503, "out of memory");
        return;
    }
    conn_consume(c, h->head_len + h->body_len);
    c->x = x;
    c->state = CONN_HANDLER;
    conn_watch(c, 0);
    conn_timer(c, TIMER_NONE, 0.);
    s->handler(x, s->data);
}

/*
 * A client that sent "Expect: 100-continue" waits for this before its body
 * (curl does for large bodies, for a second). Sent at most once per request,
 * while nothing else is being written: 25 bytes on an idle socket go out
 * whole or not at all, and a client not told waits its time and sends anyway.
 */
static void conn_continue(struct http_conn *c, const struct http_head *h)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    if (h->minor_version != 1 || c->in_len != h->head_len || c->continued)
        return;
    for (size_t i = 0; i < h->nfields; i++) {
        const struct http_head_field *f = &h->fields[i];

        if (http_parse_name_is(c->in + f->name.off, f->name.len, "expect") &&
            http_parse_name_is(c->in + f->value.off, f->value.len, "100-continue")) {
            c->continued = true;
            (void)send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            return;
        }
    }
}

/*
 * In CONN_READ: serve the next buffered request, or wait for more bytes
 * under the right timer. Parsing again only when a line may have ended keeps
 * a client sending a byte per packet from costing a parse per byte.
 */
static void conn_advance(struct http_conn *c)
{
    const struct http_limits *l = &c->srv->lim;
    struct http_head h;
    enum http_parse_result r = HTTP_PARSE_MORE;

    if (c->in_len == 0) {
        if (c->eof || c->srv->stopped) {
            conn_close(c);
            return;
        }
        conn_watch(c, EV_READ);
        conn_timer(c, TIMER_IDLE, ms_to_s(l->idle_timeout_ms));
        return;
    }
    if (c->need > 0 ? c->in_len >= c->need : c->parse || c->in_len >= l->max_header_bytes) {
        c->parse = false;
        r = http_parse_head(c->in, c->in_len, l->max_header_bytes, l->max_body_bytes, &h);
    }
    if (r == HTTP_PARSE_ERROR) {
        conn_refuse(c, h.status, h.reason);
        return;
    }
    if (r == HTTP_PARSE_DONE) {
        c->need = h.head_len + h.body_len;
        if (c->in_len >= c->need) {
            conn_dispatch(c, &h);
            return;
        }
        conn_continue(c, &h);
    }
    if (c->eof) {
        conn_close(c); /* half a request and nothing more will come */
        return;
    }
    conn_watch(c, EV_READ);
    conn_timer(c, TIMER_REQUEST, ms_to_s(l->request_timeout_ms));
}

/* True when the bytes may end a line or hold a byte the parser refuses. */
static bool may_decide(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return true;
    }
    return false;
}

/* Grow the input buffer towards the most a request can take; false when it cannot. */
static bool conn_room(struct http_conn *c)
{
    const struct http_limits *l = &c->srv->lim;
    size_t max = l->max_header_bytes + l->max_body_bytes;
    size_t cap;
    char *in;

    if (c->in_len < c->in_cap)
        return true;
    if (c->in_cap >= max)
        return false;
    cap = c->in_cap == 0 ? IN_FIRST_BYTES : 2 * c->in_cap;
    if (cap > max)
        cap = max;
    in = realloc(c->in, cap);
    if (in == NULL)
        return false;
    c->in = in;
    c->in_cap = cap;
    return true;
}

static void conn_on_read(struct http_conn *c)
{
    ssize_t n;

    if (!conn_room(c)) {
        conn_refuse(c, 503, "out of memory");
        return;
    }
    n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_close(c);
        return;
    }
    if (n == 0) {
        c->eof = true;
    } else {
        if (!c->parse && c->need == 0)
            c->parse = may_decide(c->in + c->in_len, (size_t)n);
        c->in_len += (size_t)n;
    }
    conn_advance(c);
}

/* ---- Writing replies, closing ---- */

static void conn_linger(struct http_conn *c)
{
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_close(c);
        return;
    }
    c->state = CONN_LINGER;
    conn_watch(c, EV_READ);
    conn_timer(c, TIMER_LINGER, LINGER_S);
}

/* The whole reply is out: linger and close, or read the next request. */
static void conn_written(struct http_conn *c)
{
    free(c->out);
    c->out = NULL;
    if (c->close_after || c->srv->stopped) {
        conn_linger(c);
        return;
    }
    c->state = CONN_READ;
    conn_advance(c);
}

/*
 * At the write deadline, one last try: when the loop itself ran late (a
 * busy host), the deadline and the socket's writability come due together
 * and the timer may be called first. A reply the socket takes whole now was
 * not refused by the client. True when it went out.
 */
static bool conn_write_rest(struct http_conn *c)
{
    size_t rest = c->out ? c->out_len - c->out_off : 0;
    ssize_t n = rest ? send(c->fd, c->out + c->out_off, rest, MSG_NOSIGNAL) : -1;

    if (n < 0 || (size_t)n < rest)
        return false;
    c->out_off = c->out_len;
    return true;
}

static void conn_on_write(struct http_conn *c)
{
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_close(c);
        return;
    }
    c->out_off += (size_t)n;
    if (c->out_off < c->out_len)
        return;
    conn_written(c);
}

/*
 * After a final reply, what the client still sends is read and dropped for
 * a moment: closing with unread input would reset the connection, and the
 * client could lose the reply it had not read yet.
 */
static void conn_on_linger(struct http_conn *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0)
        c->lingered += (size_t)n;
    if (n <= 0 || c->lingered > LINGER_MAX_BYTES)
        conn_close(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_conn *c = w->data;

    (void)loop;
    (void)revents;
    switch (c->state) {
    case CONN_READ:
        conn_on_read(c);
        break;
    case CONN_WRITE:
        conn_on_write(c);
        break;
    case CONN_LINGER:
        conn_on_linger(c);
        break;
    case CONN_HANDLER:
        conn_watch(c, 0);
        break;
    }
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http_conn *c = w->data;
    enum conn_timer kind = c->timer_for;

    (void)loop;
    (void)revents;
    c->timer_for = TIMER_NONE;
    if (kind == TIMER_REQUEST && c->state == CONN_READ) {
        conn_refuse(c, 408, "the request did not arrive in time");
    } else if (kind == TIMER_WRITE && conn_write_rest(c)) {
        conn_written(c);
    } else if (kind == TIMER_WRITE) {
        /*
         * Reset, not close: a close would leave the kernel delivering the
         * buffered rest of the reply to the client that does not read it.
         */
        struct linger reset = {.l_onoff = 1, .l_linger = 0};

        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        conn_close(c);
    } else {
        conn_close(c);
    }
}

/* ---- Accepting ---- */

static void format_peer(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

        (void)inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        (void)snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

        (void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        (void)snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        (void)snprintf(buf, len, "unix");
    }
}

static void conn_open(struct http_server *s, int fd, const struct sockaddr_storage *ss)
{
    bool over = s->nconns >= s->lim.max_connections;
    struct http_conn *c;
    int one = 1;

    /* Past max_connections, a bounded number more get their 503; the rest only a close. */
    if (over && s->nrejected >= s->lim.max_connections) {
        (void)close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        (void)close(fd);
        return;
    }
    if (ss->ss_family != AF_UNIX)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->srv = s;
    c->fd = fd;
    c->rejected = over;
    format_peer(ss, c->peer, sizeof(c->peer));
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->timer, conn_timer_cb, 0., 0.);
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (over) {
        s->nrejected++;
        conn_refuse(c, 503, "too many connections: try again later");
        return;
    }
    s->nconns++;
    c->state = CONN_READ;
    conn_watch(c, EV_READ);
    /* A new connection has request_timeout_ms for its first byte, not the longer idle time. */
    conn_timer(c, TIMER_IDLE, ms_to_s(s->lim.request_timeout_ms));
}

/*
 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays queued and
 * the socket stays readable, so waiting on it again would spin. Pause
 * instead and let connections close meanwhile.
 */
static void accept_pause(struct http_server *s, int err)
{
    if (s->pause_logged + PAUSE_LOG_S <= ev_now(s->loop)) {
        kwq_log(KWQ_LOG_WARN, "cannot accept connections, pausing for 100 ms",
                KWQ_LS("err", strerror(err)));
        s->pause_logged = ev_now(s->loop);
    }
    ev_io_stop(s->loop, &s->accept_io);
    ev_timer_set(&s->accept_pause, ACCEPT_PAUSE_S, 0.);
    ev_timer_start(s->loop, &s->accept_pause);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_server *s = w->data;

    (void)loop;
    (void)revents;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss = {0};
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            conn_open(s, fd, &ss);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        accept_pause(s, errno);
        return;
    }
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http_server *s = w->data;

    (void)revents;
    if (!s->stopped && s->fd >= 0)
        ev_io_start(loop, &s->accept_io);
}

/* ---- Listening ---- */

/* Whether a server answers on the socket file at path (true), or it is a dead one's (false). */
static bool unix_alive(const struct sockaddr_un *un)
{
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool alive = probe >= 0 && connect(probe, (const struct sockaddr *)un, sizeof(*un)) == 0;

    if (probe >= 0)
        (void)close(probe);
    return alive;
}

/* Bind and listen on a unix socket path; a socket file left by a dead server is replaced. */
static int listen_unix(struct http_server *s, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (path[0] == '\0' || strlen(path) >= sizeof(un.sun_path)) {
        (void)snprintf(err, errlen,
                       "bad listen address 'unix:%s': the path must have 1 to %zu bytes", path,
                       sizeof(un.sun_path) - 1);
        return -1;
    }
    memcpy(un.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        if (errno != EADDRINUSE || lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
            goto fail;
        if (unix_alive(&un)) {
            (void)snprintf(err, errlen, "address unix:%s is taken: another server listens there",
                           path);
            (void)close(fd);
            return -1;
        }
        (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
            goto fail;
    }
    if (listen(fd, SOMAXCONN) < 0)
        goto fail;
    (void)snprintf(s->addr, sizeof(s->addr), "unix:%s", path);
    (void)snprintf(s->unix_path, sizeof(s->unix_path), "%s", path);
    return fd;
fail:
    (void)snprintf(err, errlen, "cannot listen on unix:%s: %s", path, strerror(errno));
    if (fd >= 0)
        (void)close(fd);
    return -1;
}

/* Split "host:port", "[v6]:port", ":port" into host (maybe "") and port; false when bad. */
static bool split_addr(const char *addr, char *host, size_t hostlen, const char **port)
{
    const char *colon;
    const char *h = addr;
    size_t hl;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');

        if (close == NULL || close[1] != ':')
            return false;
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
        if (hl == 0)
            return false;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
            return false;
        hl = (size_t)(colon - addr);
    }
    if (hl >= hostlen)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = colon + 1;
    if ((*port)[0] == '\0' || strlen(*port) > 5 || strspn(*port, "0123456789") != strlen(*port))
        return false;
    return strtol(*port, NULL, 10) <= 65535;
}

static void format_bound(struct http_server *s, int fd)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        format_peer(&ss, s->addr, sizeof(s->addr));
}

static int bind_one(const struct addrinfo *ai)
{
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        int v6only = 0; /* "::" takes IPv4 too, so ":port" means every address */

        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;

        (void)close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Listen on the first address of host (NULL: any of family) that binds; -1, errno or *gai_rc. */
static int bind_first(const char *host, const char *port, int family, int *gai_rc)
{
    struct addrinfo hints = {
        .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int fd = -1;
    int e;

    *gai_rc = getaddrinfo(host, port, &hints, &res);
    if (*gai_rc != 0)
        return -1;
    errno = 0;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = bind_one(ai);
    e = errno;
    freeaddrinfo(res);
    errno = e;
    return fd;
}

static int listen_tcp(struct http_server *s, const char *addr, char *err, size_t errlen)
{
    char host[ADDR_LEN];
    const char *port;
    int fd, rc;

    if (!split_addr(addr, host, sizeof(host), &port)) {
        (void)snprintf(err, errlen,
                       "bad listen address '%s': use host:port, [ipv6]:port, :port or unix:/path",
                       addr);
        return -1;
    }
    if (host[0] != '\0') {
        fd = bind_first(host, port, AF_UNSPEC, &rc);
    } else {
        /* Every address: "::" takes IPv4 too; a host without IPv6 gets 0.0.0.0. */
        fd = bind_first(NULL, port, AF_INET6, &rc);
        if (fd < 0 && (rc != 0 || errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
            fd = bind_first(NULL, port, AF_INET, &rc);
    }
    if (fd < 0 && rc != 0)
        (void)snprintf(err, errlen, "cannot listen on %s: %s", addr, gai_strerror(rc));
    else if (fd < 0 && errno == EADDRINUSE)
        (void)snprintf(err, errlen, "address %s is taken: another process listens there", addr);
    else if (fd < 0)
        (void)snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
    else
        format_bound(s, fd);
    return fd;
}

/* ---- The server ---- */

struct http_server *http_server_new(struct ev_loop *loop, const char *addr,
                                    const struct http_limits *limits, http_handler *handler,
                                    void *data, char *err, size_t errlen)
{
    struct http_server *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->lim = *limits;
    s->handler = handler;
    s->data = data;
    if (strncmp(addr, "unix:", 5) == 0)
        s->fd = listen_unix(s, addr + 5, err, errlen);
    else
        s->fd = listen_tcp(s, addr, err, errlen);
    if (s->fd < 0) {
        free(s);
        return NULL;
    }
    ev_io_init(&s->accept_io, accept_cb, s->fd, EV_READ);
    s->accept_io.data = s;
    ev_timer_init(&s->accept_pause, accept_pause_cb, 0., 0.);
    s->accept_pause.data = s;
    ev_io_start(loop, &s->accept_io);
    return s;
}

const char *http_server_addr(const struct http_server *s)
{
    return s->addr;
}

size_t http_server_connections(const struct http_server *s)
{
    return s->nconns;
}

static void server_unlisten(struct http_server *s)
{
    ev_io_stop(s->loop, &s->accept_io);
    ev_timer_stop(s->loop, &s->accept_pause);
    if (s->fd >= 0)
        (void)close(s->fd);
    s->fd = -1;
    if (s->unix_path[0] != '\0')
        (void)unlink(s->unix_path);
    s->unix_path[0] = '\0';
}

void http_server_stop(struct http_server *s)
{
    struct http_conn *next;

    s->stopped = true;
    server_unlisten(s);
    for (struct http_conn *c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_READ)
            conn_close(c);
        else if (c->state != CONN_LINGER)
            c->close_after = true;
    }
}

void http_server_free(struct http_server *s)
{
    if (s == NULL)
        return;
    server_unlisten(s);
    for (struct http_conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    for (struct http_exchange *x = s->pending, *next; x != NULL; x = next) {
        next = x->next;
        free(x); /* not exchange_free: the list goes whole */
    }
    free(s);
}
