/*
 * async_resolve.c - looking up a TCP host name for kwq_async_connect without
 * blocking the loop. getaddrinfo has no non-blocking form (and hiredis 0.14
 * calls it inside redisAsyncConnect), so a short-lived thread does the
 * lookup and wakes the loop with an ev_async; hiredis then connects to the
 * address, which needs no lookup.
 *
 * The lookup and the client share one job: the thread fills it and sends
 * the wake-up unless the client gave up on it (disconnect, deadline, free),
 * both under the job's lock; whichever of the two lets go of it last frees
 * it, so a lookup that hangs in the resolver outlives the client harmlessly.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "async_int.h"

struct kwq__resolve {
    pthread_mutex_t mu;
    int refs;                  /* the thread and the client */
    bool abandoned;            /* the client let go: the thread must not wake it */
    bool done;                 /* the lookup finished (the fields below are set) */
    struct ev_loop *loop;      /* the client's loop, for the wake-up */
    ev_async *wake;            /* the client's watcher, until abandoned */
    char *host;                /* the name to look up (owned) */
    int gai;                   /* getaddrinfo's result, 0 when found */
    char ip[INET6_ADDRSTRLEN]; /* the first address found */
};

static void release(struct kwq__resolve *j)
{
    int refs;

    (void)pthread_mutex_lock(&j->mu);
    refs = --j->refs;
    (void)pthread_mutex_unlock(&j->mu);
    if (refs == 0) {
        (void)pthread_mutex_destroy(&j->mu);
        free(j->host);
        free(j);
    }
}

static void *lookup(void *arg)
{
    struct kwq__resolve *j = arg;
    struct addrinfo hints, *res = NULL;
    char ip[INET6_ADDRSTRLEN] = "";
    int gai;

    /* IPv4 first, as hiredis's own connect asks (the synchronous client's). */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    gai = getaddrinfo(j->host, NULL, &hints, &res);
    if (gai != 0) {
        hints.ai_family = AF_INET6;
        gai = getaddrinfo(j->host, NULL, &hints, &res);
    }
    if (gai == 0) {
        const void *addr =
            res->ai_family == AF_INET6
                ? (const void *)&((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr
                : (const void *)&((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;

        if (!inet_ntop(res->ai_family, addr, ip, sizeof(ip)))
            gai = EAI_FAIL;
        freeaddrinfo(res);
    }
    (void)pthread_mutex_lock(&j->mu);
    j->gai = gai;
    memcpy(j->ip, ip, sizeof(ip));
    j->done = true;
    if (!j->abandoned)
        ev_async_send(j->loop, j->wake);
    (void)pthread_mutex_unlock(&j->mu);
    release(j);
    return NULL;
}

bool kwq__resolve_needed(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1;
}

int kwq__resolve_start(struct kwq_async *a, const char *host)
{
    struct kwq__resolve *j = calloc(1, sizeof(*j));
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t t;
    int err;

    if (!j || !(j->host = strdup(host))) {
        free(j);
        return kwq__fail(a->c, KWQ_ENOMEM, "out of memory");
    }
    (void)pthread_mutex_init(&j->mu, NULL);
    j->refs = 2;
    j->loop = a->loop;
    j->wake = &a->resolved;
    /* Started before the thread: starting an ev_async forgets a wake-up already sent. */
    ev_async_start(a->loop, &a->resolved);
    (void)pthread_attr_init(&attr);
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Signals stay with the program's threads (libev may read them from a signalfd). */
    sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&t, &attr, lookup, j);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)pthread_attr_destroy(&attr);
    if (err) {
        ev_async_stop(a->loop, &a->resolved);
        (void)pthread_mutex_destroy(&j->mu);
        free(j->host);
        free(j);
        return kwq__fail(a->c, KWQ_ENOMEM, "cannot start looking up the Redis host %s: %s", host,
                         strerror(err));
    }
    a->resolve = j;
    return 0;
}

void kwq__resolve_abandon(struct kwq_async *a)
{
    struct kwq__resolve *j = a->resolve;

    if (!j)
        return;
    (void)pthread_mutex_lock(&j->mu);
    j->abandoned = true;
    (void)pthread_mutex_unlock(&j->mu);
    ev_async_stop(a->loop, &a->resolved);
    a->resolve = NULL;
    release(j);
}

void kwq__resolve_wakeup(struct ev_loop *loop, ev_async *w, int revents)
{
    struct kwq_async *a = w->data;
    struct kwq__resolve *j = a->resolve;
    char ip[INET6_ADDRSTRLEN];
    bool done;
    int gai;

    (void)loop;
    (void)revents;
    if (!j)
        return;
    (void)pthread_mutex_lock(&j->mu);
    done = j->done;
    gai = j->gai;
    memcpy(ip, j->ip, sizeof(ip));
    (void)pthread_mutex_unlock(&j->mu);
    if (!done)
        return;
    kwq__resolve_abandon(a); /* finished: let go of it */
    kwq__async_resolved(a, gai ? NULL : ip, gai ? gai_strerror(gai) : NULL);
}
