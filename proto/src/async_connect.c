/*
 * async_connect.c - kwq_async_connect: the handshake of kwq_client_connect
 * (AUTH, SELECT, INFO checked by kwq__server_check, SCRIPT LOAD of every
 * script) built by the same builders and sent at once as one request, so
 * that connecting takes one round trip after the socket connects and never
 * blocks the loop; connect_timeout_ms bounds all of it.
 */
#include <fcntl.h>
#include <string.h>

#include "async_int.h"

/* The step of a handshake part (in kwq__part.first); a script's is STEP_SCRIPT + its op. */
enum step { STEP_AUTH, STEP_SELECT, STEP_INFO, STEP_SCRIPT };

static int parse_step(struct kwq_async *a, struct kwq__req *r, struct kwq__part *p,
                      const redisReply *reply)
{
    (void)r;
    if (p->first == STEP_INFO)
        return kwq__server_check(a->c, reply);
    if (p->first >= STEP_SCRIPT)
        return kwq__script_sha(a->c, reply, (enum kwq__op)(p->first - STEP_SCRIPT));
    return 0; /* AUTH, SELECT: +OK */
}

static void deliver_connect(struct kwq_async *a, struct kwq__req *r, int rc)
{
    if (a->state == KWQ__ASYNC_CONNECTING) {
        if (rc == 0) {
            a->state = KWQ__ASYNC_READY;
        } else {
            char why[KWQ_ERRSTR_LEN];

            /* A refused handshake leaves the client down before its callback runs. */
            memcpy(why, a->c->errstr, sizeof(why));
            kwq__async_fail_all(a, rc, true);
            memcpy(a->c->errstr, why, sizeof(why));
        }
    }
    if (r->cb.connect)
        r->cb.connect(a, rc, r->data);
}

/* Build the handshake's parts into r. */
static int build_steps(struct kwq_async *a, struct kwq__req *r, const char *password)
{
    struct kwq_client *c = a->c;
    int rc = 0;

    if (password) {
        kwq__args_clear(&a->argv);
        kwq__auth_argv(c, password, &a->argv);
        rc = kwq__async_part(a, r, &a->argv, STEP_AUTH, 0);
    }
    if (!rc && c->url.db != 0) {
        kwq__args_clear(&a->argv);
        kwq__select_argv(c, &a->argv);
        rc = kwq__async_part(a, r, &a->argv, STEP_SELECT, 0);
    }
    if (!rc) {
        kwq__args_clear(&a->argv);
        kwq__args_add(&a->argv, "INFO", 4);
        rc = kwq__async_part(a, r, &a->argv, STEP_INFO, 0);
    }
    for (int op = 0; op < KWQ__OP_COUNT && !rc; op++) {
        kwq__args_clear(&a->argv);
        kwq__script_load_argv(c, (enum kwq__op)op, &a->argv);
        rc = kwq__async_part(a, r, &a->argv, STEP_SCRIPT + (size_t)op, 0);
    }
    kwq__args_clear(&a->argv); /* it pointed at the password */
    return rc;
}

/* Open the connection (to ip, or to the URL's unix socket) and attach it to the loop. */
static int open_connection(struct kwq_async *a, const char *ip)
{
    struct kwq_client *c = a->c;
    redisAsyncContext *ac =
        c->url.is_unix ? redisAsyncConnectUnix(c->url.path) : redisAsyncConnect(ip, c->url.port);
    int rc;

    if (!ac)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory connecting to Redis");
    if (ac->err) {
        rc =
            kwq__fail(c, KWQ_ECONN, "cannot connect to Redis at %s: %s", c->redacted, ac->c.errstr);
        redisAsyncFree(ac);
        return rc;
    }
    /* A process the caller starts must not inherit an authenticated connection. */
    (void)fcntl(ac->c.fd, F_SETFD, fcntl(ac->c.fd, F_GETFD) | FD_CLOEXEC);
    rc = kwq__async_attach(a, ac);
    if (rc)
        redisAsyncFree(ac);
    return rc;
}

int kwq_async_connect(struct kwq_async *a, kwq_async_connect_cb *cb, void *data)
{
    struct kwq_client *c = a->c;
    struct kwq__req *r = NULL;
    char *password = NULL;
    int rc;

    c->errstr[0] = '\0';
    if (a->state != KWQ__ASYNC_DOWN)
        return kwq__fail(c, KWQ_ESTATE, "already connected or connecting to Redis at %s",
                         kwq__url_for_msg(c));
    rc = kwq__connect_prepare(c, &password);
    if (rc)
        goto cleanup;
    r = kwq__async_req(a, (password ? 1 : 0) + (c->url.db ? 1 : 0) + 1 + KWQ__OP_COUNT, parse_step,
                       deliver_connect);
    if (!r) {
        rc = KWQ_ENOMEM;
        goto cleanup;
    }
    r->cb.connect = cb;
    r->data = data;
    rc = build_steps(a, r, password);
    if (rc)
        goto cleanup;
    if (!c->url.is_unix && kwq__resolve_needed(c->url.host)) {
        /* The lookup is part of connecting: the deadline runs from now. */
        rc = kwq__resolve_start(a, c->url.host);
        if (rc)
            goto cleanup;
        a->state = KWQ__ASYNC_CONNECTING;
        kwq__async_enqueue(a, r, c->opts.connect_timeout_ms);
        r = NULL;
        goto cleanup;
    }
    rc = open_connection(a, c->url.host);
    if (rc)
        goto cleanup;
    a->state = KWQ__ASYNC_CONNECTING;
    rc = kwq__async_submit(a, r, c->opts.connect_timeout_ms);
    r = NULL; /* submitted, or freed by a failed submit */
    if (rc) {
        redisAsyncContext *ac = a->ac;

        a->ac = NULL;
        a->state = KWQ__ASYNC_DOWN;
        redisAsyncFree(ac);
    }
cleanup:
    kwq__async_req_drop(a, r);
    kwq__free_secret(password);
    return rc;
}

void kwq__async_resolved(struct kwq_async *a, const char *ip, const char *why)
{
    struct kwq_client *c = a->c;
    int rc;

    if (a->state != KWQ__ASYNC_CONNECTING || !a->head)
        return;
    if (!ip) {
        rc = kwq__fail(c, KWQ_ECONN, "cannot connect to Redis at %s: cannot look up %s: %s",
                       c->redacted, c->url.host, why);
    } else {
        rc = open_connection(a, ip);
        if (!rc)
            rc = kwq__async_send(a, a->head);
    }
    if (rc)
        kwq__async_fail_all(a, rc, true);
}
