/*
 * broker_http_server.c - the broker's HTTP server (broker/http.h) with a few
 * routes, for test_broker_http: a process of its own, so that a test can be
 * a slow or vanishing client while the server runs on its loop, and so that
 * the sanitizers judge the server when it exits.
 *
 *   broker_http_server [--addr A] [--max-header N] [--max-body N]
 *                      [--request-timeout MS] [--idle-timeout MS]
 *                      [--write-timeout MS] [--max-connections N] [--fd-room N]
 *
 * Prints "listening ADDR" on stdout once it listens; exits 0 on SIGTERM
 * after freeing everything (SIGPIPE keeps its default: the server must never
 * raise it), 2 when an option or the address is bad (with
 * http_server_new's line on stderr). --fd-room N lowers the open-file limit
 * so that only N more files can open (for EMFILE). Routes:
 *   GET|HEAD /hello   200 "hello\n"
 *   GET /slow         200 "slow\n", 200 ms later (a deferred reply)
 *   POST /echo        200, the body
 *   GET /show...      200, the request as the handler sees it
 *   GET /conns        200, http_server_connections
 *   GET /pending      200, the /slow replies waiting
 *   POST /stop        200 "stopping\n", after http_server_stop
 * /hello with another method is 405 (Allow: GET, HEAD); anything else 404.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <ev.h>

#include "http.h"

#define SLOW_MS 200

/* A reply that waits for its timer; freed unanswered when the server exits first. */
struct slow {
    ev_timer timer;
    struct http_exchange *x;
    struct slow *prev, *next;
};

struct app {
    struct ev_loop *loop;
    unsigned long long fd_room; /* --fd-room, 0 for none */
    struct http_server *srv;
    struct slow *slow; /* replies waiting */
};

static void slow_unlink(struct app *a, struct slow *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        a->slow = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
}

static void slow_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct slow *w = (struct slow *)t;
    struct app *a = t->data;

    (void)loop;
    (void)revents;
    slow_unlink(a, w);
    http_reply(w->x, 200, "text/plain", "slow\n", 5, NULL);
    free(w);
}

static void answer_slow(struct app *a, struct http_exchange *x)
{
    struct slow *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        http_reply(x, 500, NULL, "", 0, NULL);
        return;
    }
    w->x = x;
    ev_timer_init(&w->timer, slow_cb, SLOW_MS / 1000.0, 0.);
    w->timer.data = a;
    w->next = a->slow;
    if (a->slow != NULL)
        a->slow->prev = w;
    a->slow = w;
    ev_timer_start(a->loop, &w->timer);
}

static size_t slow_count(const struct app *a)
{
    size_t n = 0;

    for (const struct slow *w = a->slow; w != NULL; w = w->next)
        n++;
    return n;
}

static void answer_show(struct http_exchange *x)
{
    const struct http_request *rq = http_exchange_request(x);
    const char *host = http_header(x, "host");
    const char *xt = http_header(x, "X-Test");
    char body[1024];
    int n = snprintf(body, sizeof(body),
                     "method=%s\ntarget=%s\npath=%s\nquery=%s\nhost=%s\nx-test=%s\nversion=1.%d\n",
                     rq->method, rq->target, rq->path, rq->query, host ? host : "(none)",
                     xt ? xt : "(none)", rq->minor_version);

    http_reply(x, 200, "text/plain", body, (size_t)n < sizeof(body) ? (size_t)n : 0, NULL);
}

static void handler(struct http_exchange *x, void *data)
{
    struct app *a = data;
    const struct http_request *rq = http_exchange_request(x);
    bool get = strcmp(rq->method, "GET") == 0;
    char body[32];

    if (strcmp(rq->path, "/hello") == 0) {
        if (get || strcmp(rq->method, "HEAD") == 0)
            http_reply(x, 200, "text/plain", "hello\n", 6, NULL);
        else
            http_reply(x, 405, "text/plain", "use GET\n", 8, "Allow: GET, HEAD\r\n");
    } else if (get && strcmp(rq->path, "/slow") == 0) {
        answer_slow(a, x);
    } else if (strcmp(rq->method, "POST") == 0 && strcmp(rq->path, "/echo") == 0) {
        http_reply(x, 200, "application/octet-stream", rq->body, rq->body_len, NULL);
    } else if (get && strncmp(rq->path, "/show", 5) == 0) {
        answer_show(x);
    } else if (get && strcmp(rq->path, "/conns") == 0) {
        int n = snprintf(body, sizeof(body), "%zu\n", http_server_connections(a->srv));

        http_reply(x, 200, "text/plain", body, (size_t)n, NULL);
    } else if (get && strcmp(rq->path, "/pending") == 0) {
        int n = snprintf(body, sizeof(body), "%zu\n", slow_count(a));

        http_reply(x, 200, "text/plain", body, (size_t)n, NULL);
    } else if (strcmp(rq->method, "POST") == 0 && strcmp(rq->path, "/stop") == 0) {
        http_server_stop(a->srv);
        http_reply(x, 200, "text/plain", "stopping\n", 9, NULL);
    } else {
        http_reply(x, 404, "text/plain", "not found\n", 10, NULL);
    }
}

/* Leave exactly room free file numbers below the open-file limit (new files take the lowest). */
static void limit_files(unsigned long long room)
{
    struct rlimit rl;
    rlim_t fd = 0;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        exit(3);
    for (; room > 0 && fd < rl.rlim_cur; fd++) {
        if (fcntl((int)fd, F_GETFD) < 0)
            room--;
    }
    rl.rlim_cur = fd;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        exit(3);
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static int parse_args(int argc, char **argv, const char **addr, struct http_limits *l,
                      unsigned long long *fd_room)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        bool num = *end == '\0' && argv[i + 1][0] != '\0';

        if (strcmp(argv[i], "--addr") == 0)
            *addr = argv[i + 1];
        else if (num && strcmp(argv[i], "--max-header") == 0)
            l->max_header_bytes = v;
        else if (num && strcmp(argv[i], "--max-body") == 0)
            l->max_body_bytes = v;
        else if (num && strcmp(argv[i], "--request-timeout") == 0)
            l->request_timeout_ms = v;
        else if (num && strcmp(argv[i], "--idle-timeout") == 0)
            l->idle_timeout_ms = v;
        else if (num && strcmp(argv[i], "--write-timeout") == 0)
            l->write_timeout_ms = v;
        else if (num && strcmp(argv[i], "--max-connections") == 0)
            l->max_connections = v;
        else if (num && strcmp(argv[i], "--fd-room") == 0)
            *fd_room = v;
        else
            return -1;
    }
    return argc % 2 == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct app a = {.loop = ev_default_loop(0)};
    struct http_limits lim;
    const char *addr = "127.0.0.1:0";
    char err[256];
    ev_signal term;

    http_limits_init(&lim);
    if (parse_args(argc, argv, &addr, &lim, &a.fd_room) < 0) {
        (void)fprintf(stderr, "broker_http_server: bad options\n");
        return 2;
    }
    a.srv = http_server_new(a.loop, addr, &lim, handler, &a, err, sizeof(err));
    if (a.srv == NULL) {
        (void)fprintf(stderr, "%s\n", err);
        return 2;
    }
    (void)printf("listening %s\n", http_server_addr(a.srv));
    (void)fflush(stdout);
    ev_signal_init(&term, stop_cb, SIGTERM);
    ev_signal_start(a.loop, &term);
    if (a.fd_room > 0)
        limit_files(a.fd_room);
    ev_run(a.loop, 0);
    ev_signal_stop(a.loop, &term);
    http_server_free(a.srv);
    for (struct slow *w = a.slow, *next; w != NULL; w = next) {
        next = w->next;
        ev_timer_stop(a.loop, &w->timer);
        free(w); /* unanswered: the server that held its exchange is gone */
    }
    ev_loop_destroy(a.loop);
    return 0;
}
