/*
 * curl_ev.c - libcurl's multi interface on a libev loop. libcurl says which
 * sockets to watch for what (CURLMOPT_SOCKETFUNCTION) and when it next needs
 * a call with no socket ready (CURLMOPT_TIMERFUNCTION); we keep one ev_io per
 * socket and one ev_timer, and hand every readiness and expiry back to
 * curl_multi_socket_action. Finished transfers are collected after each such
 * call, never from inside a libcurl callback, so the owner's done function
 * is free to start new transfers or to destroy everything.
 */
#include <stdlib.h>

#include "kwq/error.h"

#include "http_int.h"

/* One socket libcurl asked us to watch; its address is libcurl's socketp. */
struct kube_sock {
    ev_io io;
    struct kube_curl_ev *cev;
    struct kube_sock *prev, *next;
};

static void sock_free(struct kube_sock *s)
{
    struct kube_curl_ev *cev = s->cev;

    ev_io_stop(cev->loop, &s->io);
    if (s->prev)
        s->prev->next = s->next;
    else
        cev->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/*
 * Report every finished transfer. Returns true when the owner was destroyed
 * by its done function (cev is gone).
 */
static bool collect_done(struct kube_curl_ev *cev)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(cev->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;

        (void)curl_multi_remove_handle(cev->multi, easy);
        if (cev->done(cev->arg, easy, rc))
            return true;
    }
    return false;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct kube_sock *s = (struct kube_sock *)w;
    struct kube_curl_ev *cev = s->cev;
    int flags = 0, running;

    (void)loop;
    if (revents & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (revents & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    /* s may be freed inside (CURL_POLL_REMOVE): only cev is used after. */
    (void)curl_multi_socket_action(cev->multi, w->fd, flags, &running);
    (void)collect_done(cev);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kube_curl_ev *cev = w->data;
    int running;

    (void)loop;
    (void)revents;
    (void)curl_multi_socket_action(cev->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    (void)collect_done(cev);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what, or stop watching it. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct kube_curl_ev *cev = userp;
    struct kube_sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_free(s);
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1; /* libcurl fails the transfer: KWQ_ENOMEM reaches its owner as an error */
        s->cev = cev;
        s->next = cev->socks;
        if (s->next)
            s->next->prev = s;
        cev->socks = s;
        ev_init(&s->io, on_io);
        if (curl_multi_assign(cev->multi, fd, s) != CURLM_OK) {
            sock_free(s);
            return -1;
        }
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= EV_WRITE;
    ev_io_stop(cev->loop, &s->io);
    if (events) {
        ev_io_set(&s->io, fd, events);
        ev_io_start(cev->loop, &s->io);
    }
    return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: libcurl wants a call in timeout_ms (-1: never).
 * A 0 is kept as a 0 s timer: libcurl must not be called back from here.
 */
static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    struct kube_curl_ev *cev = userp;

    (void)multi;
    ev_timer_stop(cev->loop, &cev->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&cev->timer, (double)timeout_ms / 1000.0, 0.0);
        ev_timer_start(cev->loop, &cev->timer);
    }
    return 0;
}

int kube__curl_ev_init(struct kube_curl_ev *cev, struct ev_loop *loop, kube_curl_done_fn *done,
                       void *arg)
{
    *cev = (struct kube_curl_ev){.loop = loop, .done = done, .arg = arg};
    cev->multi = curl_multi_init();
    if (!cev->multi)
        return KWQ_ENOMEM;
    ev_init(&cev->timer, on_timer);
    cev->timer.data = cev;
    if (curl_multi_setopt(cev->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(cev->multi, CURLMOPT_SOCKETDATA, cev) != CURLM_OK ||
        curl_multi_setopt(cev->multi, CURLMOPT_TIMERFUNCTION, on_timeout) != CURLM_OK ||
        curl_multi_setopt(cev->multi, CURLMOPT_TIMERDATA, cev) != CURLM_OK) {
        (void)curl_multi_cleanup(cev->multi);
        cev->multi = NULL;
        return KWQ_ENOMEM;
    }
    return 0;
}

int kube__curl_ev_add(struct kube_curl_ev *cev, CURL *easy)
{
    CURLMcode rc = curl_multi_add_handle(cev->multi, easy);

    return rc == CURLM_OK ? 0 : KWQ_ENOMEM;
}

void kube__curl_ev_remove(struct kube_curl_ev *cev, CURL *easy)
{
    (void)curl_multi_remove_handle(cev->multi, easy);
}

void kube__curl_ev_done(struct kube_curl_ev *cev)
{
    if (!cev->multi)
        return;
    /* Closing the cached connections may still call on_socket with REMOVE. */
    (void)curl_multi_cleanup(cev->multi);
    cev->multi = NULL;
    while (cev->socks)
        sock_free(cev->socks);
    ev_timer_stop(cev->loop, &cev->timer);
}
