/*
 * test_broker_http.c - the broker's HTTP server (broker/http.h) over real
 * sockets: each test starts its own broker_http_server (tests/helpers) on a
 * port the kernel picks, talks to it as well- and ill-behaved clients, and
 * stops it with SIGTERM, which must end in exit 0 (under the sanitizers: no
 * error, no leak). Replies are compared byte for byte, but for the Date
 * line, which is checked for its IMF-fixdate form and then removed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "test_proc.h"

static void same(const char *got, const char *want)
{
    cr_assert(strcmp(got, want) == 0, "got <<%s>>, want <<%s>>", got, want);
}

#define SAFETY_S 20 /* bounds a broken test; nothing is timed against it */

/* The reply of a request the server refuses itself (the Date line removed). */
#define REFUSAL(status, len, body)                                                                 \
    "HTTP/1.1 " status "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " len       \
    "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" body

/* A reply of the test server's handler (the Date line removed). */
#define REPLY(status, type, len, conn, body)                                                       \
    "HTTP/1.1 " status "\r\nContent-Type: " type "\r\nContent-Length: " len                        \
    "\r\nCache-Control: no-store\r\nConnection: " conn "\r\n\r\n" body

struct srv {
    pid_t pid;
    char addr[200]; /* as the server printed it */
};

/* ---- The server ---- */

static bool read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;

    while (n + 1 < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, SAFETY_S * 1000) <= 0 || read(fd, buf + n, 1) != 1)
            return false;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return true;
}

/* Start the server with argv extra (NULL-terminated); its stderr goes to errfd (-1: ours). */
static pid_t srv_spawn(const char *const *extra, int outfd, int errfd)
{
    const char *argv[24] = {KWQ_TEST_BROKER_HTTP_SERVER};
    size_t n = 1;

    for (; extra != NULL && extra[n - 1] != NULL && n < 23; n++)
        argv[n] = extra[n - 1];
    argv[n] = NULL;
    return test_proc_start(argv, (const int[3]){-1, outfd, errfd});
}

static struct srv srv_start(const char *const *extra)
{
    struct srv s = {0};
    char line[200];
    int out[2];

    cr_assert(pipe(out) == 0);
    s.pid = srv_spawn(extra, out[1], -1);
    (void)close(out[1]);
    cr_assert(read_line(out[0], line, sizeof(line)), "the server did not say where it listens");
    (void)close(out[0]);
    cr_assert(strncmp(line, "listening ", 10) == 0, "server said '%s'", line);
    (void)snprintf(s.addr, sizeof(s.addr), "%s", line + 10);
    return s;
}

static void srv_stop(struct srv *s)
{
    cr_assert(kill(s->pid, SIGTERM) == 0);
    cr_assert(eq(int, test_proc_wait(s->pid, time(NULL) + SAFETY_S), 0));
}

/* ---- A client ---- */

/* Connect to "1.2.3.4:port" or "[v6]:port" ("[::]" and "0.0.0.0" mean loopback). */
static int cl_connect_tcp(const char *addr)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    const char *colon = strrchr(addr, ':');
    bool v6 = addr[0] == '[';
    char host[64];
    size_t hl;
    int fd;

    cr_assert(colon != NULL);
    hl = (size_t)(colon - addr) - (v6 ? 2 : 0);
    cr_assert(hl < sizeof(host));
    memcpy(host, addr + (v6 ? 1 : 0), hl);
    host[hl] = '\0';
    if (v6) {
        in6->sin6_family = AF_INET6;
        cr_assert(inet_pton(AF_INET6, host, &in6->sin6_addr) == 1);
        in6->sin6_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    } else {
        in->sin_family = AF_INET;
        cr_assert(inet_pton(AF_INET, host, &in->sin_addr) == 1);
        in->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    }
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert(connect(fd, (struct sockaddr *)&ss, v6 ? sizeof(*in6) : sizeof(*in)) == 0,
              "connect to %s: %s", addr, strerror(errno));
    return fd;
}

static int cl_connect(const struct srv *s)
{
    struct timeval tv = {.tv_sec = SAFETY_S};
    int fd;

    if (strncmp(s->addr, "unix:", 5) == 0) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};

        (void)snprintf(un.sun_path, sizeof(un.sun_path), "%s", s->addr + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        cr_assert(fd >= 0);
        cr_assert(connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0, "connect: %s",
                  strerror(errno));
    } else {
        fd = cl_connect_tcp(s->addr);
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void cl_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        cr_assert(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

static void cl_sends(int fd, const char *s)
{
    cl_send(fd, s, strlen(s));
}

/* Everything until the server closes (a reset ends it too); the caller frees. */
static char *cl_read_all(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t n;

    cr_assert(buf != NULL);
    while (len < cap && (n = recv(fd, buf + len, cap - len, 0)) > 0)
        len += (size_t)n;
    cr_assert(len < cap);
    buf[len] = '\0';
    return buf;
}

/* One reply: the head, then Content-Length bytes unless head_only; the caller frees. */
static char *cl_read_reply(int fd, bool head_only)
{
    size_t cap = 1 << 16, len = 0, body = 0;
    char *buf = malloc(cap + 1);
    const char *cl;

    cr_assert(buf != NULL);
    while (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0) {
        cr_assert(len < cap && recv(fd, buf + len, 1, 0) == 1, "the reply's head ended early");
        len++;
    }
    buf[len] = '\0';
    cl = strstr(buf, "\r\nContent-Length: ");
    if (cl != NULL && !head_only)
        body = strtoul(cl + 18, NULL, 10);
    cr_assert(len + body < cap);
    while (body > 0) {
        ssize_t n = recv(fd, buf + len, body, 0);

        cr_assert(n > 0, "the reply's body ended early");
        len += (size_t)n;
        body -= (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* resp without its Date lines, each of which must be an IMF-fixdate; frees resp. */
static char *strip_date(char *resp)
{
    regex_t re;
    regmatch_t m;
    char *p;

    cr_assert(regcomp(&re,
                      "\r\nDate: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
                      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                      "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\r\n",
                      REG_EXTENDED) == 0);
    for (p = strstr(resp, "\r\nDate: "); p != NULL; p = strstr(p + 2, "\r\nDate: ")) {
        cr_assert(regexec(&re, p, 1, &m, 0) == 0 && m.rm_so == 0, "bad Date in %s", resp);
        memmove(p + 2, p + m.rm_eo, strlen(p + m.rm_eo) + 1);
    }
    regfree(&re);
    return resp;
}

/* Send req on a new connection and return all the server sent until it closed, Date removed. */
static char *exchange(const struct srv *s, const char *req, size_t len)
{
    int fd = cl_connect(s);
    char *resp;

    cl_send(fd, req, len);
    resp = strip_date(cl_read_all(fd));
    (void)close(fd);
    return resp;
}

static void expect(const struct srv *s, const char *req, const char *want)
{
    char *got = exchange(s, req, strlen(req));

    same(got, want);
    free(got);
}

TestSuite(broker_http, .timeout = 60);

/* ---- Refusals ---- */

Test(broker_http, garbage_request_line_is_400_and_close)
{
    struct srv s = srv_start(NULL);
    static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

    expect(&s, "hello there\r\n\r\n",
           REFUSAL("400 Bad Request", "63",
                   "400 Bad Request: the request line is not METHOD /path HTTP/1.1\n"));
    expect(&s, tls_hello,
           REFUSAL("400 Bad Request", "57",
                   "400 Bad Request: a control character in the request head\n"));
    srv_stop(&s);
}

Test(broker_http, oversized_headers_are_431)
{
    const char *opts[] = {"--max-header", "1024", NULL};
    struct srv s = srv_start(opts);
    char req[4096];

    (void)snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: h\r\nX-Big: %2000d\r\n\r\n", 7);
    expect(&s, req,
           REFUSAL("431 Request Header Fields Too Large", "88",
                   "431 Request Header Fields Too Large: the request head is longer than the "
                   "server accepts\n"));
    srv_stop(&s);
}

Test(broker_http, body_over_the_limit_is_413)
{
    const char *opts[] = {"--max-body", "100", NULL};
    struct srv s = srv_start(opts);

    expect(&s, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
           REFUSAL("413 Content Too Large", "66",
                   "413 Content Too Large: the body is longer than the server accepts\n"));
    /* At the limit it is served. */
    expect(&s,
           "POST /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n\r\nab\ncd",
           REPLY("200 OK", "application/octet-stream", "5", "close", "ab\ncd"));
    srv_stop(&s);
}

Test(broker_http, transfer_encoding_is_501)
{
    struct srv s = srv_start(NULL);

    expect(
        &s,
        "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        REFUSAL("501 Not Implemented", "90",
                "501 Not Implemented: Transfer-Encoding is not accepted: send the body with "
                "Content-Length\n"));
    expect(&s, "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n",
           REFUSAL("501 Not Implemented", "36", "501 Not Implemented: unknown method\n"));
    srv_stop(&s);
}

Test(broker_http, http_2_is_505)
{
    struct srv s = srv_start(NULL);

    expect(&s, "GET /hello HTTP/2.0\r\nHost: h\r\n\r\n",
           REFUSAL("505 HTTP Version Not Supported", "70",
                   "505 HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 are served\n"));
    srv_stop(&s);
}

Test(broker_http, http_1_1_without_host_is_400)
{
    struct srv s = srv_start(NULL);

    expect(&s, "GET /hello HTTP/1.1\r\n\r\n",
           REFUSAL("400 Bad Request", "46", "400 Bad Request: HTTP/1.1 needs a Host header\n"));
    /* HTTP/1.0 needs none, and closes after its reply. */
    expect(&s, "GET /hello HTTP/1.0\r\n\r\n",
           REPLY("200 OK", "text/plain", "6", "close", "hello\n"));
    srv_stop(&s);
}

/* ---- Slow clients ---- */

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 1;
}

Test(broker_http, byte_a_second_client_gets_408_while_another_is_served)
{
    const char *opts[] = {"--request-timeout", "2500", NULL};
    struct srv s = srv_start(opts);
    const char *req = "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n";
    int slow = cl_connect(&s);
    int fast;
    char *got;

    cl_send(slow, req, 1);
    fast = cl_connect(&s);
    cl_sends(fast, "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    got = strip_date(cl_read_all(fast));
    same(got, REPLY("200 OK", "text/plain", "6", "close", "hello\n"));
    free(got);
    (void)close(fast);
    /* The other client's answer came first: the slow one has nothing yet. */
    cr_assert(readable(slow) == false, "the slow client was answered before the other one");

    /* Drip the rest, a byte a second, until the server answers. */
    for (size_t i = 1; req[i] != '\0' && !readable(slow); i++) {
        struct timespec second = {.tv_sec = 1};

        (void)nanosleep(&second, NULL);
        if (!readable(slow) && send(slow, req + i, 1, MSG_NOSIGNAL) != 1)
            break;
    }
    got = strip_date(cl_read_all(slow));
    same(got, REFUSAL("408 Request Timeout", "56",
                      "408 Request Timeout: the request did not arrive in time\n"));
    free(got);
    (void)close(slow);
    srv_stop(&s);
}

Test(broker_http, idle_keep_alive_connection_is_closed)
{
    const char *opts[] = {"--idle-timeout", "300", NULL};
    struct srv s = srv_start(opts);
    int fd = cl_connect(&s);
    char *got;

    cl_sends(fd, "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
    got = strip_date(cl_read_reply(fd, false));
    same(got, REPLY("200 OK", "text/plain", "6", "keep-alive", "hello\n"));
    free(got);
    got = cl_read_all(fd); /* closed without a word: no request had begun */
    same(got, "");
    free(got);
    (void)close(fd);
    srv_stop(&s);
}

/* ---- Keep-alive, pipelining, HEAD ---- */

Test(broker_http, pipelined_requests_are_answered_in_order)
{
    struct srv s = srv_start(NULL);

    expect(&s,
           "GET /show?a=1 HTTP/1.1\r\nHost: h\r\n\r\n"
           "GET /show?b=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           REPLY("200 OK", "text/plain", "82", "keep-alive",
                 "method=GET\ntarget=/show?a=1\npath=/show\nquery=a=1\nhost=h\nx-test=(none)\n"
                 "version=1.1\n")
               REPLY("200 OK", "text/plain", "82", "close",
                     "method=GET\ntarget=/show?b=2\npath=/show\nquery=b=2\nhost=h\n"
                     "x-test=(none)\nversion=1.1\n"));
    srv_stop(&s);
}

Test(broker_http, request_sent_a_byte_at_a_time_is_served)
{
    struct srv s = srv_start(NULL);
    const char *req = "POST /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                      "Content-Length: 6\r\n\r\nab\r\ncd";
    int fd = cl_connect(&s);
    int one = 1;
    char *got;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; req[i] != '\0'; i++) {
        struct timespec ms = {.tv_nsec = 1000000};

        cl_send(fd, req + i, 1);
        (void)nanosleep(&ms, NULL); /* so that the server reads the pieces apart */
    }
    got = strip_date(cl_read_all(fd));
    same(got, REPLY("200 OK", "application/octet-stream", "6", "close", "ab\r\ncd"));
    free(got);
    (void)close(fd);
    srv_stop(&s);
}

Test(broker_http, keep_alive_serves_requests_one_after_another)
{
    struct srv s = srv_start(NULL);
    int fd = cl_connect(&s);

    for (int i = 0; i < 3; i++) {
        char *got;

        cl_sends(fd, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n");
        cl_sends(fd, "abc");
        got = strip_date(cl_read_reply(fd, false));
        same(got, REPLY("200 OK", "application/octet-stream", "3", "keep-alive", "abc"));
        free(got);
    }
    (void)close(fd);
    srv_stop(&s);
}

Test(broker_http, expect_100_continue_is_answered_before_the_body)
{
    struct srv s = srv_start(NULL);
    int fd = cl_connect(&s);
    char cont[26] = {0};
    char *got;

    cl_sends(fd, "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                 "Connection: close\r\nContent-Length: 4\r\n\r\n");
    cr_assert(eq(sz, (size_t)recv(fd, cont, 25, MSG_WAITALL), 25));
    same(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    cl_sends(fd, "body");
    got = strip_date(cl_read_all(fd));
    same(got, REPLY("200 OK", "application/octet-stream", "4", "close", "body"));
    free(got);
    (void)close(fd);
    srv_stop(&s);
}

Test(broker_http, head_has_content_length_but_no_body)
{
    struct srv s = srv_start(NULL);

    /* The GET's reply starts right after the HEAD's head: no body bytes between. */
    expect(&s,
           "HEAD /hello HTTP/1.1\r\nHost: h\r\n\r\n"
           "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           REPLY("200 OK", "text/plain", "6", "keep-alive", "")
               REPLY("200 OK", "text/plain", "6", "close", "hello\n"));
    srv_stop(&s);
}

Test(broker_http, handler_sees_decoded_path_and_trimmed_headers)
{
    struct srv s = srv_start(NULL);

    expect(&s, "GET /show%41%20b?x=%41 HTTP/1.0\r\nx-test: \t v  1 \t\r\n\r\n",
           REPLY("200 OK", "text/plain", "99", "close",
                 "method=GET\ntarget=/show%41%20b?x=%41\npath=/showA b\nquery=x=%41\n"
                 "host=(none)\nx-test=v  1\nversion=1.0\n"));
    expect(&s, "PUT /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n"
           "Cache-Control: no-store\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\nuse GET\n");
    srv_stop(&s);
}

/* ---- Deferred replies ---- */

Test(broker_http, deferred_reply_arrives)
{
    struct srv s = srv_start(NULL);

    expect(&s, "GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           REPLY("200 OK", "text/plain", "5", "close", "slow\n"));
    srv_stop(&s);
}

Test(broker_http, client_gone_before_deferred_reply)
{
    struct srv s = srv_start(NULL);
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    int quiet = cl_connect(&s);
    int rude = cl_connect(&s);

    /* One leaves with FIN, one with RST (the reply's send then fails). */
    cl_sends(quiet, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    cl_sends(rude, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    (void)close(quiet);
    cr_assert(setsockopt(rude, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)) == 0);
    (void)close(rude);
    /* A later /slow is answered after theirs (same delay, later start): the server lived. */
    expect(&s, "GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           REPLY("200 OK", "text/plain", "5", "close", "slow\n"));
    srv_stop(&s);
}

Test(broker_http, stop_with_a_deferred_reply_pending)
{
    struct srv s = srv_start(NULL);
    int fd = cl_connect(&s);
    char *got;

    cl_sends(fd, "GET /conns HTTP/1.1\r\nHost: h\r\n\r\n");
    got = strip_date(cl_read_reply(fd, false));
    same(got, REPLY("200 OK", "text/plain", "2", "keep-alive", "1\n"));
    free(got);
    cl_sends(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    srv_stop(&s); /* freed unanswered: exit 0, nothing leaked */
    (void)close(fd);
}

/* ---- Connections ---- */

static void get_hello(int fd)
{
    char *got;

    cl_sends(fd, "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
    got = strip_date(cl_read_reply(fd, false));
    same(got, REPLY("200 OK", "text/plain", "6", "keep-alive", "hello\n"));
    free(got);
}

Test(broker_http, max_connections_is_503)
{
    const char *opts[] = {"--max-connections", "2", NULL};
    struct srv s = srv_start(opts);
    int a = cl_connect(&s);
    int b = cl_connect(&s);
    int c;
    char *got;

    get_hello(a);
    get_hello(b);
    c = cl_connect(&s);
    cl_sends(c, "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
    got = strip_date(cl_read_all(c));
    same(got, REFUSAL("503 Service Unavailable", "63",
                      "503 Service Unavailable: too many connections: try again later\n"));
    free(got);
    (void)close(c);
    /* Once one closes, a new one is served. */
    (void)close(a);
    for (;;) {
        cl_sends(b, "GET /conns HTTP/1.1\r\nHost: h\r\n\r\n");
        got = strip_date(cl_read_reply(b, false));
        if (strstr(got, "\r\n\r\n1\n") != NULL)
            break;
        same(got, REPLY("200 OK", "text/plain", "2", "keep-alive", "2\n"));
        free(got);
    }
    free(got);
    c = cl_connect(&s);
    get_hello(c);
    (void)close(c);
    (void)close(b);
    srv_stop(&s);
}

/* ---- Addresses ---- */

Test(broker_http, unix_socket)
{
    char dir[] = "/tmp/kwq-http-XXXXXX";
    char addr[128];
    struct srv s;

    cr_assert(mkdtemp(dir) != NULL);
    (void)snprintf(addr, sizeof(addr), "unix:%s/http.sock", dir);
    s = srv_start((const char *[]){"--addr", addr, NULL});
    same(s.addr, addr);
    expect(&s, "GET /show HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           REPLY("200 OK", "text/plain", "75", "close",
                 "method=GET\ntarget=/show\npath=/show\nquery=\nhost=h\nx-test=(none)\n"
                 "version=1.1\n"));
    srv_stop(&s);
    cr_assert(access(addr + 5, F_OK) != 0, "the socket file was left behind");
    cr_assert(rmdir(dir) == 0);
}

/* Start the server expecting it to refuse: exit 2 and the line on stderr. */
static void expect_refused_addr(const char *addr, const char *line)
{
    int err[2];
    char got[300];
    pid_t pid;

    cr_assert(pipe(err) == 0);
    pid = srv_spawn((const char *[]){"--addr", addr, NULL}, -1, err[1]);
    (void)close(err[1]);
    cr_assert(read_line(err[0], got, sizeof(got)));
    (void)close(err[0]);
    cr_assert(eq(int, test_proc_wait(pid, time(NULL) + SAFETY_S), 2));
    same(got, line);
}

Test(broker_http, bad_and_taken_addresses)
{
    struct srv s = srv_start(NULL);
    char taken[300];

    expect_refused_addr("nonsense", "bad listen address 'nonsense': use host:port, [ipv6]:port, "
                                    ":port or unix:/path");
    expect_refused_addr("127.0.0.1:70000", "bad listen address '127.0.0.1:70000': use host:port, "
                                           "[ipv6]:port, :port or unix:/path");
    expect_refused_addr("::1:80", "bad listen address '::1:80': use host:port, [ipv6]:port, "
                                  ":port or unix:/path");
    (void)snprintf(taken, sizeof(taken), "address %s is taken: another process listens there",
                   s.addr);
    expect_refused_addr(s.addr, taken);
    srv_stop(&s);
}

Test(broker_http, every_address_form)
{
    struct srv any = srv_start((const char *[]){"--addr", ":0", NULL});
    struct srv v6 = srv_start((const char *[]){"--addr", "[::1]:0", NULL});
    char loop4[sizeof(any.addr) + 16];
    int fd;
    char *got;

    cr_assert(strncmp(any.addr, "[::]:", 5) == 0, "%s", any.addr);
    cr_assert(strncmp(v6.addr, "[::1]:", 6) == 0, "%s", v6.addr);
    /* ":port" takes IPv4 too. */
    (void)snprintf(loop4, sizeof(loop4), "127.0.0.1:%s", any.addr + 5);
    fd = cl_connect_tcp(loop4);
    get_hello(fd);
    (void)close(fd);
    fd = cl_connect(&v6);
    cl_sends(fd, "GET /show HTTP/1.0\r\n\r\n");
    got = strip_date(cl_read_all(fd));
    same(got, REPLY("200 OK", "text/plain", "80", "close",
                    "method=GET\ntarget=/show\npath=/show\nquery=\nhost=(none)\nx-test=(none)\n"
                    "version=1.0\n"));
    free(got);
    (void)close(fd);
    srv_stop(&any);
    srv_stop(&v6);
}

/* ---- Stopping, write deadline, out of files ---- */

Test(broker_http, stop_closes_idle_connections_and_finishes_pending_ones)
{
    struct srv s = srv_start(NULL);
    int idle = cl_connect(&s);
    int pending = cl_connect(&s);
    int stopper = cl_connect(&s);
    char *got;

    get_hello(idle);
    cl_sends(pending, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    /* Stop only once the server holds the /slow exchange. */
    for (;;) {
        cl_sends(stopper, "GET /pending HTTP/1.1\r\nHost: h\r\n\r\n");
        got = strip_date(cl_read_reply(stopper, false));
        if (strcmp(got, REPLY("200 OK", "text/plain", "2", "keep-alive", "1\n")) == 0)
            break;
        same(got, REPLY("200 OK", "text/plain", "2", "keep-alive", "0\n"));
        free(got);
    }
    free(got);
    cl_sends(stopper, "POST /stop HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    got = strip_date(cl_read_all(stopper));
    same(got, REPLY("200 OK", "text/plain", "9", "close", "stopping\n"));
    free(got);
    got = cl_read_all(idle);
    same(got, "");
    free(got);
    /* The reply that was pending still comes, and then the connection closes. */
    got = strip_date(cl_read_all(pending));
    same(got, REPLY("200 OK", "text/plain", "5", "close", "slow\n"));
    free(got);
    (void)close(idle);
    (void)close(pending);
    (void)close(stopper);
    srv_stop(&s);
}

Test(broker_http, reply_not_taken_is_dropped_after_write_timeout)
{
    const size_t body = 12000000; /* well past the kernel's buffers (tcp_wmem max 4 MB) */
    char max[32];
    struct srv s;
    int small = 4096;
    int fd, other;
    char *data;
    size_t total = 0;
    ssize_t n;

    (void)snprintf(max, sizeof(max), "%zu", body);
    s = srv_start((const char *[]){"--max-body", max, "--write-timeout", "300", NULL});
    fd = cl_connect(&s);
    cr_assert(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
    data = malloc(body);
    cr_assert(data != NULL);
    memset(data, 'x', body);
    cl_sends(fd, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 12000000\r\n\r\n");
    cl_send(fd, data, body);
    free(data);
    /* Not reading: meanwhile another client is served. */
    other = cl_connect(&s);
    get_hello(other);
    (void)close(other);
    /* The server gave up on the reply: fewer bytes than it has, then a reset. */
    data = malloc(1 << 16);
    cr_assert(data != NULL);
    while ((n = recv(fd, data, 1 << 16, 0)) > 0)
        total += (size_t)n;
    free(data);
    cr_assert(n < 0 && errno == ECONNRESET, "not reset: %s", n == 0 ? "EOF" : strerror(errno));
    cr_assert(total < body, "the whole reply arrived: %zu bytes", total);
    (void)close(fd);
    srv_stop(&s);
}

Test(broker_http, out_of_files_pauses_accepting_and_resumes)
{
    struct srv s = srv_start((const char *[]){"--fd-room", "2", NULL});
    int a = cl_connect(&s);
    int b = cl_connect(&s);
    int c;
    char *got;

    get_hello(a);
    get_hello(b);
    /* The kernel completes the third connection; the server has no file for it. */
    c = cl_connect(&s);
    cl_sends(c, "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    cl_sends(b, "GET /conns HTTP/1.1\r\nHost: h\r\n\r\n");
    got = strip_date(cl_read_reply(b, false));
    same(got, REPLY("200 OK", "text/plain", "2", "keep-alive", "2\n"));
    free(got);
    cr_assert(readable(c) == false, "served without a file");
    /* One closes: the waiting connection is taken and served. */
    (void)close(a);
    got = strip_date(cl_read_all(c));
    same(got, REPLY("200 OK", "text/plain", "6", "close", "hello\n"));
    free(got);
    (void)close(c);
    (void)close(b);
    srv_stop(&s);
}
