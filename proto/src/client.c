/*
 * client.c - the client object and its connection: options and lifetime,
 * errors (errstr, mapping Redis replies to KWQ_E* codes), and running a
 * command or a script by EVALSHA with one reload on NOSCRIPT. Connecting is
 * in client_connect.c, the operations in the other client_*.c files.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "kwq/util.h"

#include "client_int.h"
#include "lua_scripts.h"

/* Script file names, in enum kwq__op order. */
const char *const kwq__op_names[KWQ__OP_COUNT] = {
    "enqueue", "lease",      "renew", "ack",      "fail",      "release", "reap",
    "seal",    "stats",      "dead",  "task",     "cancel",    "results", "purge",
    "conf",    "ack_result", "start", "stats_ro", "dead_list", "leader",  "leader_read",
};

/* ---- Options, lifetime ----------------------------------------------------- */

void kwq_client_opts_init(struct kwq_client_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 5000;
    o->command_timeout_ms = 10000;
    o->max_payload = KWQ_DEFAULT_MAX_PAYLOAD;
    o->max_result = KWQ_DEFAULT_MAX_RESULT;
    o->result_ttl_ms = 86400000;
    o->max_lease_bytes = KWQ_DEFAULT_MAX_LEASE_BYTES;
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
    const char *url;

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
    if (!c->opts.max_lease_bytes)
        c->opts.max_lease_bytes = d.max_lease_bytes;
    /* The copy owns its strings: none of the caller's pointers survive. */
    c->opts.url = c->opts.password = c->opts.password_file = NULL;
    url = opts->url;
    if (!url) {
        const char *env = getenv("KWQ_REDIS_URL");

        url = env && *env ? env : KWQ_DEFAULT_URL;
    }
    if (!dup_opt(&c->opts.url, url) || !dup_opt(&c->opts.password, opts->password) ||
        !dup_opt(&c->opts.password_file, opts->password_file)) {
        kwq_client_free(c);
        return NULL;
    }
    for (int i = 0; i < KWQ__OP_COUNT; i++)
        c->script_index[i] = -1;
    return c;
}

/* Overwrite a secret before freeing it. */
void kwq__free_secret(char *s)
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
    kwq__free_secret((char *)c->opts.password);
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
const char *kwq__url_for_msg(const struct kwq_client *c)
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

    if (err == REDIS_ERR_IO &&
        (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT ||
         strstr(why, "temporarily unavailable") || strstr(why, "timed out"))) {
        kwq__fail(c, KWQ_ETIMEOUT, "Redis at %s did not answer within %u ms", kwq__url_for_msg(c),
                  c->opts.command_timeout_ms);
        code = KWQ_ETIMEOUT;
    } else if (err == REDIS_ERR_OOM) {
        code = kwq__fail(c, KWQ_ENOMEM, "out of memory reading a Redis reply");
    } else if (err == REDIS_ERR_PROTOCOL) {
        code = kwq__fail(c, KWQ_EPROTO, "bad reply from Redis at %s: %s", kwq__url_for_msg(c), why);
    } else {
        kwq__fail(c, KWQ_ECONN, "lost the connection to Redis at %s: %s", kwq__url_for_msg(c),
                  err == REDIS_ERR_EOF ? "the server closed it" : why);
    }
    kwq__disconnect(c);
    return code;
}

/* True when the reply starts with prefix. */
static bool reply_starts(const char *reply, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(reply, prefix, n) == 0;
}

/* Redis's own error replies that kwq names, by the start of their text. */
enum rerr_kind {
    RERR_LOADING,
    RERR_BUSY,
    RERR_MASTERDOWN,
    RERR_CLUSTER,
    RERR_MAXCLIENTS,
    RERR_MISCONF,
    RERR_NOREPLICAS,
    RERR_UNBLOCKED,
    RERR_READONLY,
    RERR_OOM,
    RERR_NOAUTH,
    RERR_WRONGPASS,
    RERR_NOPASS,
    RERR_NOPERM,
    RERR_NODB,
    RERR_OTHER,
};

static enum rerr_kind rerr_kind(const char *r, size_t len)
{
    static const struct {
        const char *prefix;
        enum rerr_kind kind;
    } prefixes[] = {
        {"LOADING", RERR_LOADING},
        {"BUSY ", RERR_BUSY},
        {"MASTERDOWN", RERR_MASTERDOWN},
        {"TRYAGAIN", RERR_CLUSTER},
        {"CLUSTERDOWN", RERR_CLUSTER},
        {"ERR max number of clients reached", RERR_MAXCLIENTS},
        {"MISCONF", RERR_MISCONF},
        {"NOREPLICAS", RERR_NOREPLICAS},
        {"UNBLOCKED", RERR_UNBLOCKED},
        {"READONLY", RERR_READONLY},
        {"OOM ", RERR_OOM},
        {"NOAUTH", RERR_NOAUTH},
        {"WRONGPASS", RERR_WRONGPASS},
        {"ERR invalid password", RERR_WRONGPASS},
        {"NOPERM", RERR_NOPERM},
        {"ERR DB index is out of range", RERR_NODB},
    };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (reply_starts(r, len, prefixes[i].prefix))
            return prefixes[i].kind;
    }
    /* Redis 6+ answers AUTH so when the user (default: "default") has no password at all. */
    if (reply_starts(r, len, "ERR AUTH") && memmem(r, len, "without any password configured", 31))
        return RERR_NOPASS;
    return RERR_OTHER;
}

int kwq__redis_error(const char *reply, size_t len, const char *url, struct kwq_error *err)
{
    int code = kwq_err_from_wire(reply, len);
    int shown = (int)(len > 200 ? 200 : len);

    if (code != KWQ_EREDIS) {
        /* Our own error: the text after the wire word is the message. */
        const char *sp = memchr(reply, ' ', len);

        if (!sp)
            return kwq_error_set(err, code, "%s", kwq_strerror(code));
        return kwq_error_set(err, code, "%.*s", (int)(reply + len - sp - 1), sp + 1);
    }
    switch (rerr_kind(reply, len)) {
    /*
     * Passing states: the command was refused, not run, and the same call
     * can succeed later with nobody changing anything. They are reported as
     * a lost connection (and the caller drops it) so that every caller
     * reconnects and retries them the one way it already does.
     */
    case RERR_LOADING:
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s is still loading its data set into memory (LOADING); "
                             "retry in a moment",
                             url);
    case RERR_BUSY:
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s is busy running a script past its time limit (BUSY); "
                             "retry in a moment, or SCRIPT KILL it",
                             url);
    case RERR_MASTERDOWN:
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s lost the link to its master (MASTERDOWN); retry in a "
                             "moment, and point the URL at the master",
                             url);
    case RERR_CLUSTER:
        return kwq_error_set(err, KWQ_ECONN, "Redis at %s cannot serve the keys now (%.*s)", url,
                             shown, reply);
    case RERR_MAXCLIENTS:
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s has its maximum number of clients connected; retry in a "
                             "moment, or raise its maxclients",
                             url);
    case RERR_MISCONF:
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s refuses writes because it cannot save to disk "
                             "(MISCONF); free its disk or check its log",
                             url);
    case RERR_NOREPLICAS:
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s has fewer replicas than its min-replicas-to-write "
                             "(NOREPLICAS); retry in a moment",
                             url);
    case RERR_UNBLOCKED:
        /* E.g. a master turned replica under a BLPOP: connecting again finds out which. */
        return kwq_error_set(err, KWQ_ECONN, "Redis at %s cut a blocking wait short (%.*s)", url,
                             shown, reply);
    case RERR_OOM:
        /* Transient too, but the connection is sound: workers draining queues free memory. */
        return kwq_error_set(err, KWQ_EOOM,
                             "Redis at %s is at its maxmemory limit and refused the write (OOM); "
                             "let workers drain queues or raise maxmemory",
                             url);
    /* Permanent: a person must change the URL, the password or the ACL first. */
    case RERR_READONLY:
        return kwq_error_set(err, KWQ_EREADONLY,
                             "Redis at %s is a read-only replica (READONLY): the URL points at a "
                             "replica; use the master",
                             url);
    case RERR_NOAUTH:
        return kwq_error_set(err, KWQ_EAUTH,
                             "Redis requires a password; set KWQ_REDIS_PASSWORD or "
                             "--redis-password-file");
    case RERR_WRONGPASS:
        return kwq_error_set(err, KWQ_EAUTH,
                             "Redis refused the password (WRONGPASS); check "
                             "KWQ_REDIS_PASSWORD / --redis-password-file");
    case RERR_NOPASS:
        return kwq_error_set(err, KWQ_EAUTH,
                             "a password was given but this Redis user has none; unset "
                             "KWQ_REDIS_PASSWORD / --redis-password-file, or name the ACL user in "
                             "the URL (redis://USER@host)");
    case RERR_NOPERM:
        return kwq_error_set(err, KWQ_ENOPERM,
                             "the Redis user may not do what kwq needs (%.*s); grant it the ACL "
                             "rules in docs/PROTOCOL.md \"Client rules\"",
                             shown, reply);
    case RERR_NODB: /* only SELECT at connect: the URL's db */
        return kwq_error_set(err, KWQ_EINVAL,
                             "Redis at %s has fewer databases than the URL's db (DB index is out "
                             "of range); use a db below its 'databases' setting (16 by default)",
                             url);
    case RERR_OTHER:
        break;
    }
    /* WRONGTYPE, a protocol mismatch and the unknown: retrying the same call cannot help. */
    return kwq_error_set(err, KWQ_EREDIS, "Redis error: %.*s", shown, reply);
}

/* Map an error reply to a code and errstr; *drop for a passing state: the connection must go. */
static int error_reply(struct kwq_client *c, const redisReply *r, bool *drop)
{
    struct kwq_error e = {0};
    int code = kwq__redis_error(r->str, r->len, kwq__url_for_msg(c), &e);

    kwq__fail(c, code, "%s", e.msg);
    if (code == KWQ_EREADONLY && c->opts.read_only)
        kwq__fail(c, code,
                  "Redis at %s is a read-only replica (READONLY) and this call writes: on a "
                  "replica only kwq_stats_read, kwq_queues_list, kwq_dead_list and kwq_task_get "
                  "work; use the master for the others",
                  kwq__url_for_msg(c));
    *drop = code == KWQ_ECONN;
    return code;
}

int kwq__reply_error(struct kwq_client *c, const redisReply *r, bool *nosc, bool *drop)
{
    *drop = false;
    if (nosc)
        *nosc = false;
    if (nosc && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        *nosc = true;
        return kwq__fail(c, KWQ_EREDIS, "Redis lost kwq's scripts (NOSCRIPT)");
    }
    return error_reply(c, r, drop);
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
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s", kwq__url_for_msg(c));
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
        bool drop;
        int code = kwq__reply_error(c, r, nosc, &drop);

        freeReplyObject(r);
        if (drop)
            kwq__disconnect(c);
        return code;
    }
    *ret = r;
    return 0;
}

/* Queue argv on the connection; nothing is written until a reply is read. */
static int append_argv(struct kwq_client *c, const struct kwq__args *argv)
{
    if (argv->oom)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory building a command");
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s", kwq__url_for_msg(c));
    if (redisAppendCommandArgv(c->rc, (int)argv->n, argv->v, argv->len) != REDIS_OK)
        return transport_error(c);
    return 0;
}

int kwq__command_append(struct kwq_client *c, const struct kwq__args *argv)
{
    return append_argv(c, argv);
}

int kwq__command(struct kwq_client *c, const struct kwq__args *args, redisReply **ret)
{
    int rc = append_argv(c, args);

    *ret = NULL;
    return rc ? rc : kwq__reply(c, ret, NULL);
}

int kwq__eval_argv(struct kwq_client *c, enum kwq__op op, const char *queue,
                   const struct kwq__args *xkeys, const struct kwq__args *args,
                   struct kwq__args *out)
{
    struct kwq__keys k;
    size_t nx = xkeys ? xkeys->n : 0, na = args ? args->n : 0;
    int nfixed = queue ? KWQ__FIXED_KEYS : 0;

    if ((xkeys && xkeys->oom) || (args && args->oom))
        return kwq__fail(c, KWQ_ENOMEM, "out of memory building a command");
    if (queue)
        kwq__keys_fixed(&k, queue);
    kwq__args_add(out, "EVALSHA", 7);
    kwq__args_add(out, c->sha[op], 40);
    kwq__args_addu(out, (uint64_t)nfixed + nx);
    for (int j = 0; j < nfixed; j++)
        kwq__args_addcopy(out, k.name[j], k.len[j]);
    for (size_t j = 0; j < nx; j++)
        kwq__args_add(out, xkeys->v[j], xkeys->len[j]);
    for (size_t j = 0; j < na; j++)
        kwq__args_add(out, args->v[j], args->len[j]);
    return out->oom ? kwq__fail(c, KWQ_ENOMEM, "out of memory building a command") : 0;
}

int kwq__eval_append(struct kwq_client *c, enum kwq__op op, const char *queue,
                     const struct kwq__args *xkeys, const struct kwq__args *args)
{
    struct kwq__args argv;
    int rc;

    kwq__args_init(&argv);
    rc = kwq__eval_argv(c, op, queue, xkeys, args, &argv);
    if (!rc)
        rc = append_argv(c, &argv);
    kwq__args_free(&argv);
    return rc;
}

void kwq__script_load_argv(const struct kwq_client *c, enum kwq__op op, struct kwq__args *argv)
{
    const struct kwq__script *s = &kwq__scripts[c->script_index[op]];

    kwq__args_add(argv, "SCRIPT", 6);
    kwq__args_add(argv, "LOAD", 4);
    kwq__args_add(argv, s->src, s->len);
}

int kwq__script_sha(struct kwq_client *c, const redisReply *r, enum kwq__op op)
{
    if (r->type != REDIS_REPLY_STRING || r->len != 40)
        return kwq__bad_reply(c, "a SHA1 from SCRIPT LOAD");
    memcpy(c->sha[op], r->str, 40);
    c->sha[op][40] = '\0';
    return 0;
}

/* Send SCRIPT LOAD for op; the reply is read by script_load_reply. */
int kwq__script_load_append(struct kwq_client *c, enum kwq__op op)
{
    struct kwq__args argv;
    int rc;

    kwq__args_init(&argv);
    kwq__script_load_argv(c, op, &argv);
    rc = append_argv(c, &argv);
    kwq__args_free(&argv);
    return rc;
}

int kwq__script_load_reply(struct kwq_client *c, enum kwq__op op)
{
    redisReply *r;
    int rc = kwq__reply(c, &r, NULL);

    if (rc)
        return rc;
    rc = kwq__script_sha(c, r, op);
    freeReplyObject(r);
    return rc;
}

int kwq__script_reload(struct kwq_client *c, enum kwq__op op)
{
    int rc = kwq__script_load_append(c, op);

    return rc ? rc : kwq__script_load_reply(c, op);
}

int kwq__eval(struct kwq_client *c, enum kwq__op op, const char *queue,
              const struct kwq__args *xkeys, const struct kwq__args *args, redisReply **ret)
{
    struct kwq__args argv;
    bool nosc = false; /* set only when a reply was read */
    int rc;

    *ret = NULL;
    kwq__args_init(&argv);
    rc = kwq__eval_argv(c, op, queue, xkeys, args, &argv);
    if (!rc)
        rc = append_argv(c, &argv);
    if (!rc)
        rc = kwq__reply(c, ret, &nosc);
    if (rc && nosc) {
        /* The script cache does not survive a restart or SCRIPT FLUSH. */
        rc = kwq__script_reload(c, op);
        if (!rc)
            rc = append_argv(c, &argv);
        if (!rc)
            rc = kwq__reply(c, ret, NULL);
    }
    kwq__args_free(&argv);
    return rc;
}

int kwq__task_argv(struct kwq_client *c, const char *queue, const char *verb, const char *id,
                   bool result_key, struct kwq__args *keys, struct kwq__args *args, char **ret_key)
{
    size_t klen = 0;
    int rc = kwq__check_id(c, id);

    *ret_key = NULL;
    if (rc)
        return rc;
    if (result_key) {
        *ret_key = kwq__key_item(queue, "result", id, strlen(id), &klen);
        if (!*ret_key)
            return kwq__fail(c, KWQ_ENOMEM, "out of memory");
        kwq__args_add(keys, *ret_key, klen);
    }
    if (verb)
        kwq__args_addz(args, verb);
    kwq__args_addz(args, id);
    return 0;
}

int kwq__eval_task(struct kwq_client *c, enum kwq__op op, const char *queue, const char *verb,
                   const char *id, bool result_key, redisReply **ret)
{
    struct kwq__args keys, args;
    char *rkey = NULL;
    int rc = kwq__begin(c, queue);

    *ret = NULL;
    if (rc)
        return rc;
    kwq__args_init(&keys);
    kwq__args_init(&args);
    rc = kwq__task_argv(c, queue, verb, id, result_key, &keys, &args, &rkey);
    if (!rc)
        rc = kwq__eval(c, op, queue, &keys, &args, ret);
    kwq__args_free(&keys);
    kwq__args_free(&args);
    free(rkey);
    return rc;
}

/* The checks of every call: no wait in progress, the queue's name (when named), a connection. */
static int begin(struct kwq_client *c, const char *queue, bool named)
{
    struct kwq_error e = {0};

    c->errstr[0] = '\0';
    if (c->waiting)
        return kwq__fail(c, KWQ_EINVAL,
                         "a wait is in progress on this client: call "
                         "kwq_wait_finish first");
    if (named && kwq_queue_name_check(queue, &e))
        return kwq__fail(c, KWQ_EINVAL, "%s", e.msg);
    if (!c->rc)
        return kwq__fail(c, KWQ_ECONN, "not connected to Redis at %s: call kwq_client_connect",
                         kwq__url_for_msg(c));
    return 0;
}

int kwq__begin(struct kwq_client *c, const char *queue)
{
    return begin(c, queue, true);
}

int kwq__begin_server(struct kwq_client *c)
{
    return begin(c, NULL, false);
}

/* ---- Reply helpers ------------------------------------------------------------ */

int kwq__check_id(struct kwq_client *c, const char *id)
{
    if (!kwq_id_is_valid(id))
        return kwq__fail(c, KWQ_EINVAL,
                         "'%.30s' is not a task ID (decimal digits, no leading "
                         "zero)",
                         id ? id : "(null)");
    return 0;
}

/* Copy a string reply into a fixed ID buffer. */
bool kwq__copy_id(char *dst, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= KWQ_ID_MAX)
        return false;
    memcpy(dst, r->str, r->len);
    dst[r->len] = '\0';
    return true;
}

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
    return kwq__fail(c, KWQ_EPROTO,
                     "unexpected reply from Redis: expected %s (are kwq and "
                     "its scripts the same version?)",
                     what);
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
