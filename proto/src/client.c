/*
 * client.c - the connection: options, connect (password, AUTH, SELECT, the
 * eviction-policy check, SCRIPT LOAD), argument vectors, and running a
 * script by EVALSHA with one reload on NOSCRIPT. The operations live in
 * client_*.c.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "client_int.h"
#include "kwq/util.h"
#include "lua_scripts.h"

/* Script file names, in enum kwq__op order. */
static const char *const op_names[KWQ__OP_COUNT] = {
    "enqueue", "lease", "renew", "ack",  "fail",    "release", "reap", "seal",
    "stats",   "dead",  "task",  "cancel", "results", "purge", "conf",
};

/* ---- Argument vectors ------------------------------------------------------- */

#define KWQ__BLK_SIZE 4096

struct kwq__blk {
    struct kwq__blk *next;
    size_t used;
    char buf[KWQ__BLK_SIZE];
};

void kwq__args_init(struct kwq__args *a)
{
    memset(a, 0, sizeof(*a));
}

void kwq__args_free(struct kwq__args *a)
{
    struct kwq__blk *b = a->blk;

    while (b) {
        struct kwq__blk *next = b->next;

        free(b);
        b = next;
    }
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof(*a));
}

void kwq__args_add(struct kwq__args *a, const void *s, size_t len)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        const char **v = realloc(a->v, cap * sizeof(*v));
        size_t *l;

        if (!v) {
            a->oom = true;
            return;
        }
        a->v = v;
        l = realloc(a->len, cap * sizeof(*l));
        if (!l) {
            a->oom = true;
            return;
        }
        a->len = l;
        a->cap = cap;
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

void kwq__args_addz(struct kwq__args *a, const char *s)
{
    kwq__args_add(a, s, strlen(s));
}

void kwq__args_addcopy(struct kwq__args *a, const char *s, size_t len)
{
    struct kwq__blk *b = a->blk;

    if (len > KWQ__BLK_SIZE) {
        a->oom = true;
        return;
    }
    if (!b || b->used + len > KWQ__BLK_SIZE) {
        b = malloc(sizeof(*b));
        if (!b) {
            a->oom = true;
            return;
        }
        b->next = a->blk;
        b->used = 0;
        a->blk = b;
    }
    memcpy(b->buf + b->used, s, len);
    kwq__args_add(a, b->buf + b->used, len);
    b->used += len;
}

void kwq__args_addu(struct kwq__args *a, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);

    kwq__args_addcopy(a, buf, (size_t)n);
}

void kwq__args_addi(struct kwq__args *a, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);

    kwq__args_addcopy(a, buf, (size_t)n);
}

/* ---- Options, lifetime ----------------------------------------------------- */

void kwq_client_opts_init(struct kwq_client_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 5000;
    o->command_timeout_ms = 10000;
    o->max_payload = KWQ_DEFAULT_MAX_PAYLOAD;
    o->max_result = KWQ_DEFAULT_MAX_RESULT;
    o->result_ttl_ms = 86400000;
}

static bool dup_opt(const char **dst, const char *src)
{
    if (!src) {
        *dst = NULL;
        return true;
    }
    *dst = strdup(src);
    return *dst != NULL;
}

struct kwq_client *kwq_client_new(const struct kwq_client_opts *opts)
{
    struct kwq_client *c = calloc(1, sizeof(*c));
    struct kwq_client_opts d;

    if (!c)
        return NULL;
    kwq_client_opts_init(&d);
    if (!opts)
        opts = &d;
    c->opts = *opts;
    if (!c->opts.connect_timeout_ms)
        c->opts.connect_timeout_ms = d.connect_timeout_ms;
    if (!c->opts.command_timeout_ms)
        c->opts.command_timeout_ms = d.command_timeout_ms;
    if (!c->opts.max_payload)
        c->opts.max_payload = d.max_payload;
    if (!c->opts.max_result)
        c->opts.max_result = d.max_result;
    if (!c->opts.result_ttl_ms)
        c->opts.result_ttl_ms = d.result_ttl_ms;
    if (!opts->url) {
        const char *env = getenv("KWQ_REDIS_URL");

        opts = &d;
        d.url = env && *env ? env : KWQ_DEFAULT_URL;
    }
    if (!dup_opt(&c->opts.url, opts->url) || !dup_opt(&c->opts.password, c->opts.password) ||
        !dup_opt(&c->opts.password_file, c->opts.password_file)) {
        kwq_client_free(c);
        return NULL;
    }
    for (int i = 0; i < KWQ__OP_COUNT; i++)
        c->script_index[i] = -1;
    return c;
}

/* Overwrite a secret before freeing it. */
static void free_secret(char *s)
{
    if (s) {
        volatile char *p = s;

        while (*p)
            *p++ = '\0';
        free(s);
    }
}

void kwq__disconnect(struct kwq_client *c)
{
    if (c->rc) {
        redisFree(c->rc);
        c->rc = NULL;
    }
    c->waiting = false;
}

void kwq_client_free(struct kwq_client *c)
{
    if (!c)
        return;
    kwq__disconnect(c);
    kwq__url_free(&c->url);
    free(c->redacted);
    free((char *)c->opts.url);
    free_secret((char *)c->opts.password);
    free((char *)c->opts.password_file);
    free(c);
}

bool kwq_client_is_connected(const struct kwq_client *c)
{
    return c && c->rc != NULL;
}

const char *kwq_client_errstr(const struct kwq_client *c)
{
    return c ? c->errstr : "";
}

int kwq_client_fd(const struct kwq_client *c)
{
    return c && c->rc ? c->rc->fd : -1;
}

/* The URL for messages: the parsed, redacted one; before parsing, a safe placeholder. */
static const char *url_for_msg(const struct kwq_client *c)
{
    return c->redacted ? c->redacted : "(Redis URL not parsed)";
}

const char *kwq_client_url_redacted(const struct kwq_client *c)
{
    if (!c)
        return "";
    if (!c->redacted) {
        struct kwq__url u;

        /* Parse now so that the URL can be logged before connecting. */
        if (kwq__url_parse(c->opts.url, &u, NULL) == 0) {
            ((struct kwq_client *)c)->redacted = u.redacted;
            u.redacted = NULL;
            kwq__url_free(&u);
        }
    }
    return c->redacted ? c->redacted : "(invalid Redis URL)";
}

/* ---- Errors ----------------------------------------------------------------- */

int kwq__fail(struct kwq_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    char *nl;

    va_start(ap, fmt);
    (void)vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    /* One line, always. */
    while ((nl = strpbrk(c->errstr, "\r\n")) != NULL)
        *nl = ' ';
    return code;
}

/* A transport failure: name it, drop the connection. */
static int transport_error(struct kwq_client *c)
{
    int code = KWQ_ECONN;
    int err = c->rc ? c->rc->err : REDIS_ERR_EOF;
    const char *why = c->rc ? c->rc->errstr : "not connected";

    if (err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT ||
                                strstr(why, "temporarily unavailable") || strstr(why, "timed out"))) {
        kwq__fail(c, KWQ_ETIMEOUT, "Redis at %s did not answer within %u ms", url_for_msg(c),
                  c->opts.command_timeout_ms);
        code = KWQ_ETIMEOUT;
    } else if (err == REDIS_ERR_OOM) {
        code = kwq__fail(c, KWQ_ENOMEM, "out of memory reading a Redis reply");
    } else if (err == REDIS_ERR_PROTOCOL) {
        code = kwq__fail(c, KWQ_EPROTO, "bad reply from Redis at %s: %s", url_for_msg(c), why);
    } else {
        kwq__fail(c, KWQ_ECONN, "lost the connection to Redis at %s: %s", url_for_msg(c),
                  err == REDIS_ERR_EOF ? "the server closed it" : why);
    }
    kwq__disconnect(c);
    return code;
}

/* Map an error reply to a code and errstr. */
static int error_reply(struct kwq_client *c, const redisReply *r)
{
    int code = kwq_err_from_wire(r->str, r->len);
    const char *msg = r->str;

    if (code != KWQ_EREDIS) {
        /* Our own error: the text after the wire word is the message. */
        const char *sp = memchr(r->str, ' ', r->len);

        return kwq__fail(c, code, "%s", sp ? sp + 1 : kwq_strerror(code));
    }
    if (strncmp(msg, "OOM ", 4) == 0)
        return kwq__fail(c, KWQ_EFULL, "Redis is at its maxmemory limit and refused the write "
                         "(OOM); let workers drain queues or raise maxmemory");
    if (strncmp(msg, "NOAUTH", 6) == 0)
        return kwq__fail(c, KWQ_EAUTH, "Redis requires a password: set KWQ_REDIS_PASSWORD or "
                         "--redis-password-file");
    if (strncmp(msg, "WRONGPASS", 9) == 0 || strncmp(msg, "ERR invalid password", 20) == 0)
        return kwq__fail(c, KWQ_EAUTH, "Redis refused the password (WRONGPASS): check "
                         "KWQ_REDIS_PASSWORD / --redis-password-file");
    return kwq__fail(c, KWQ_EREDIS, "Redis error: %.*s", (int)(r->len > 200 ? 200 : r->len), msg);
}

/* ---- Commands and scripts ------------------------------------------------------ */

/*
 * A write to a connection the server closed raises SIGPIPE, whose default
 * action kills the process. A library must not change the process's signal
 * dispositions, so SIGPIPE is blocked in this thread around our writes, and
 * one raised by them is consumed before the mask is restored.
 */
void kwq__sigpipe_block(struct kwq__sigpipe *s)
{
    sigset_t pipe, pending;

    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigemptyset(&pending);
    (void)sigpending(&pending);
    s->was_pending = sigismember(&pending, SIGPIPE) == 1;
    s->blocked = pthread_sigmask(SIG_BLOCK, &pipe, &s->old) == 0;
}

void kwq__sigpipe_restore(struct kwq__sigpipe *s)
{
    sigset_t pipe, pending;
    int saved = errno;

    if (!s->blocked)
        return;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigemptyset(&pending);
    if (!s->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        const struct timespec zero = {0, 0};

        while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    (void)pthread_sigmask(SIG_SETMASK, &s->old, NULL);
    errno = saved;
}

void kwq__set_timeout(struct kwq_client *c, uint64_t extra_ms)
{
    uint64_t ms = c->opts.command_timeout_ms + extra_ms;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    if (c->rc)
        (void)redisSetTimeout(c->rc, tv);
}

int kwq__reply(struct kwq_client *c, redisReply **ret, bool *nosc)
{
    void *p = NULL;
    redisReply *r;

    *ret = NULL;
    if (nosc)
        *nosc = false;
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s", url_for_msg(c));
    struct kwq__sigpipe sp;
    int ok;

    errno = 0;
    kwq__sigpipe_block(&sp);
    ok = redisGetReply(c->rc, &p);
    kwq__sigpipe_restore(&sp);
    if (ok != REDIS_OK || !p)
        return transport_error(c);
    r = p;
    if (r->type == REDIS_REPLY_ERROR) {
        int code;

        if (nosc && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            *nosc = true;
            code = kwq__fail(c, KWQ_EREDIS, "Redis lost kwq's scripts (NOSCRIPT)");
        } else {
            code = error_reply(c, r);
        }
        freeReplyObject(r);
        return code;
    }
    *ret = r;
    return 0;
}

int kwq__command(struct kwq_client *c, const struct kwq__args *args, redisReply **ret)
{
    *ret = NULL;
    if (args->oom)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory building a command");
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s", url_for_msg(c));
    if (redisAppendCommandArgv(c->rc, (int)args->n, args->v, args->len) != REDIS_OK)
        return transport_error(c);
    return kwq__reply(c, ret, NULL);
}

int kwq__eval_append(struct kwq_client *c, enum kwq__op op, const char *queue,
                     const struct kwq__args *xkeys, const struct kwq__args *args)
{
    struct kwq__keys k;
    size_t nx = xkeys ? xkeys->n : 0, na = args ? args->n : 0;
    size_t n = 3 + KWQ__FIXED_KEYS + nx + na, i = 0;
    const char **v;
    size_t *len;
    char numkeys[16];
    int rc = 0;

    if ((xkeys && xkeys->oom) || (args && args->oom))
        return kwq__fail(c, KWQ_ENOMEM, "out of memory building a command");
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s", url_for_msg(c));
    v = malloc(n * sizeof(*v));
    len = malloc(n * sizeof(*len));
    if (!v || !len) {
        rc = kwq__fail(c, KWQ_ENOMEM, "out of memory building a command");
        goto cleanup;
    }
    kwq__keys_fixed(&k, queue);
    (void)snprintf(numkeys, sizeof(numkeys), "%zu", KWQ__FIXED_KEYS + nx);
    v[i] = "EVALSHA", len[i++] = 7;
    v[i] = c->sha[op], len[i++] = 40;
    v[i] = numkeys, len[i++] = strlen(numkeys);
    for (int j = 0; j < KWQ__FIXED_KEYS; j++)
        v[i] = k.name[j], len[i++] = k.len[j];
    for (size_t j = 0; j < nx; j++)
        v[i] = xkeys->v[j], len[i++] = xkeys->len[j];
    for (size_t j = 0; j < na; j++)
        v[i] = args->v[j], len[i++] = args->len[j];
    if (redisAppendCommandArgv(c->rc, (int)n, v, len) != REDIS_OK)
        rc = transport_error(c);
cleanup:
    free(v);
    free(len);
    return rc;
}

/* Send SCRIPT LOAD for op; the reply is read by script_load_reply. */
static int script_load_append(struct kwq_client *c, enum kwq__op op)
{
    const struct kwq__script *s = &kwq__scripts[c->script_index[op]];
    const char *v[] = {"SCRIPT", "LOAD", s->src};
    size_t len[] = {6, 4, s->len};

    if (redisAppendCommandArgv(c->rc, 3, v, len) != REDIS_OK)
        return transport_error(c);
    return 0;
}

static int script_load_reply(struct kwq_client *c, enum kwq__op op)
{
    redisReply *r;
    int rc = kwq__reply(c, &r, NULL);

    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        freeReplyObject(r);
        return kwq__bad_reply(c, "a SHA1 from SCRIPT LOAD");
    }
    memcpy(c->sha[op], r->str, 40);
    c->sha[op][40] = '\0';
    freeReplyObject(r);
    return 0;
}

int kwq__script_reload(struct kwq_client *c, enum kwq__op op)
{
    int rc = script_load_append(c, op);

    return rc ? rc : script_load_reply(c, op);
}

int kwq__eval(struct kwq_client *c, enum kwq__op op, const char *queue,
              const struct kwq__args *xkeys, const struct kwq__args *args, redisReply **ret)
{
    bool nosc;
    int rc;

    *ret = NULL;
    rc = kwq__eval_append(c, op, queue, xkeys, args);
    if (!rc)
        rc = kwq__reply(c, ret, &nosc);
    if (rc && nosc) {
        /* The script cache does not survive a restart or SCRIPT FLUSH. */
        rc = kwq__script_reload(c, op);
        if (!rc)
            rc = kwq__eval_append(c, op, queue, xkeys, args);
        if (!rc)
            rc = kwq__reply(c, ret, NULL);
    }
    return rc;
}

int kwq__begin(struct kwq_client *c, const char *queue)
{
    struct kwq_error e = {0};

    c->errstr[0] = '\0';
    if (c->waiting)
        return kwq__fail(c, KWQ_EINVAL, "a wait is in progress on this client: call "
                         "kwq_wait_finish first");
    if (kwq_queue_name_check(queue, &e))
        return kwq__fail(c, KWQ_EINVAL, "%s", e.msg);
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s: call kwq_client_connect",
                         url_for_msg(c));
    return 0;
}

/* ---- Reply helpers ------------------------------------------------------------ */

bool kwq__reply_int(const redisReply *r, long long *ret)
{
    char buf[32], *end;

    if (!r)
        return false;
    if (r->type == REDIS_REPLY_INTEGER) {
        *ret = r->integer;
        return true;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= sizeof(buf))
        return false;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    errno = 0;
    *ret = strtoll(buf, &end, 10);
    return errno == 0 && *end == '\0';
}

int kwq__bad_reply(struct kwq_client *c, const char *what)
{
    return kwq__fail(c, KWQ_EPROTO, "unexpected reply from Redis: expected %s (are kwq and "
                     "its scripts the same version?)", what);
}

char *kwq__reply_dup(const redisReply *r)
{
    char *s = malloc(r->len + 1);

    if (s) {
        memcpy(s, r->str, r->len);
        s[r->len] = '\0';
    }
    return s;
}

int kwq__item_status(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        return KWQ_EPROTO;
    if (r->len == 2 && memcmp(r->str, "OK", 2) == 0)
        return 0;
    return kwq_err_from_wire(r->str, r->len);
}

/* ---- Connect ---------------------------------------------------------------------- */

/* The password by precedence: opts, opts file, env file, env, URL. */
static int resolve_password(struct kwq_client *c, char **ret)
{
    const char *file = c->opts.password_file;
    const char *env;
    int rc;

    *ret = NULL;
    if (c->opts.password) {
        *ret = strdup(c->opts.password);
        return *ret ? 0 : kwq__fail(c, KWQ_ENOMEM, "out of memory");
    }
    if (!file) {
        env = getenv("KWQ_REDIS_PASSWORD_FILE");
        file = env && *env ? env : NULL;
    }
    if (file) {
        rc = kwq_read_secret_file(file, ret);
        if (rc == KWQ_EINVAL)
            return kwq__fail(c, KWQ_EINVAL, "the password file %s is empty", file);
        if (rc)
            return kwq__fail(c, KWQ_EINVAL, "cannot read the password file %s: %s", file,
                             kwq_strerror(rc));
        return 0;
    }
    env = getenv("KWQ_REDIS_PASSWORD");
    if (env && *env) {
        *ret = strdup(env);
        return *ret ? 0 : kwq__fail(c, KWQ_ENOMEM, "out of memory");
    }
    if (c->url.password) {
        *ret = strdup(c->url.password);
        return *ret ? 0 : kwq__fail(c, KWQ_ENOMEM, "out of memory");
    }
    return 0;
}

/* Run one command given as strings; reply in *ret. */
static int simple(struct kwq_client *c, redisReply **ret, int argc, const char **argv)
{
    struct kwq__args a;
    int rc;

    kwq__args_init(&a);
    for (int i = 0; i < argc; i++)
        kwq__args_addz(&a, argv[i]);
    rc = kwq__command(c, &a, ret);
    kwq__args_free(&a);
    return rc;
}

static int check_policy(struct kwq_client *c)
{
    redisReply *r;
    const char *p, *e;
    int rc = simple(c, &r, 2, (const char *[]){"INFO", "memory"});

    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return kwq__bad_reply(c, "INFO memory text");
    }
    p = strstr(r->str, "maxmemory_policy:");
    if (p) {
        p += strlen("maxmemory_policy:");
        e = p + strcspn(p, "\r\n");
        if ((size_t)(e - p) != strlen("noeviction") || memcmp(p, "noeviction", 10) != 0) {
            rc = kwq__fail(c, KWQ_EPOLICY, "Redis maxmemory-policy is '%.*s': kwq needs "
                           "'noeviction' (it must never evict queue keys); run CONFIG SET "
                           "maxmemory-policy noeviction", (int)(e - p > 40 ? 40 : e - p), p);
        }
    }
    freeReplyObject(r);
    return rc;
}

static int find_scripts(struct kwq_client *c)
{
    for (int op = 0; op < KWQ__OP_COUNT; op++) {
        for (unsigned i = 0; i < kwq__script_count; i++) {
            if (strcmp(kwq__scripts[i].name, op_names[op]) == 0)
                c->script_index[op] = (int)i;
        }
        if (c->script_index[op] < 0)
            return kwq__fail(c, KWQ_EPROTO, "libkwq was built without the '%s' script",
                             op_names[op]);
    }
    return 0;
}

static int load_scripts(struct kwq_client *c)
{
    int rc = 0, first = 0;

    for (int op = 0; op < KWQ__OP_COUNT && !rc; op++)
        rc = script_load_append(c, (enum kwq__op)op);
    /* Read every reply, so the connection stays in step; keep the first error. */
    for (int op = 0; op < KWQ__OP_COUNT && c->rc; op++) {
        rc = script_load_reply(c, (enum kwq__op)op);
        if (rc && !first)
            first = rc;
    }
    return first ? first : rc;
}

int kwq_client_connect(struct kwq_client *c)
{
    struct kwq_error e = {0};
    struct timeval tv;
    char *password = NULL;
    redisReply *r = NULL;
    int rc;

    c->errstr[0] = '\0';
    kwq__disconnect(c);
    kwq__url_free(&c->url);
    if (kwq__url_parse(c->opts.url, &c->url, &e))
        return kwq__fail(c, e.code, "%s", e.msg);
    /* The URL never changes: keep the string callers may hold from kwq_client_url_redacted. */
    if (!c->redacted)
        c->redacted = strdup(c->url.redacted);
    if (!c->redacted)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    rc = find_scripts(c);
    if (rc)
        return rc;
    rc = resolve_password(c, &password);
    if (rc)
        return rc;
    tv.tv_sec = (time_t)(c->opts.connect_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(c->opts.connect_timeout_ms % 1000) * 1000;
    errno = 0;
    if (c->url.is_unix)
        c->rc = redisConnectUnixWithTimeout(c->url.path, tv);
    else
        c->rc = redisConnectWithTimeout(c->url.host, c->url.port, tv);
    if (!c->rc) {
        rc = kwq__fail(c, KWQ_ENOMEM, "out of memory connecting to Redis");
        goto cleanup;
    }
    if (c->rc->err) {
        bool timeout = c->rc->err == REDIS_ERR_IO && (errno == ETIMEDOUT || errno == EINPROGRESS ||
                                                      errno == EAGAIN) &&
                       strstr(c->rc->errstr, "timed out") != NULL;

        rc = kwq__fail(c, timeout ? KWQ_ETIMEOUT : KWQ_ECONN, "cannot connect to Redis at %s: %s",
                       c->redacted, c->rc->errstr);
        kwq__disconnect(c);
        goto cleanup;
    }
    kwq__set_timeout(c, 0);
    if (password) {
        rc = simple(c, &r, 2, (const char *[]){"AUTH", password});
        if (rc)
            goto fail;
        freeReplyObject(r);
    }
    if (c->url.db != 0) {
        char db[16];

        (void)snprintf(db, sizeof(db), "%d", c->url.db);
        rc = simple(c, &r, 2, (const char *[]){"SELECT", db});
        if (rc)
            goto fail;
        freeReplyObject(r);
    }
    rc = check_policy(c);
    if (rc)
        goto fail;
    rc = load_scripts(c);
    if (rc)
        goto fail;
    goto cleanup;
fail:
    kwq__disconnect(c);
cleanup:
    free_secret(password);
    return rc;
}

/* ---- Server info --------------------------------------------------------------- */

int kwq_server_info(struct kwq_client *c, const char *section, char **ret)
{
    redisReply *r;
    int rc;

    *ret = NULL;
    c->errstr[0] = '\0';
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s: call kwq_client_connect",
                         url_for_msg(c));
    rc = section ? simple(c, &r, 2, (const char *[]){"INFO", section})
                 : simple(c, &r, 1, (const char *[]){"INFO"});
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return kwq__bad_reply(c, "INFO text");
    }
    *ret = kwq__reply_dup(r);
    freeReplyObject(r);
    return *ret ? 0 : kwq__fail(c, KWQ_ENOMEM, "out of memory");
}
