/*
 * client_connect.c - connecting: the password by precedence, AUTH, SELECT,
 * the eviction-policy check and SCRIPT LOAD of every script; and INFO.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "kwq/util.h"

#include "client_int.h"
#include "lua_scripts.h"

/*
 * The password by precedence: opts, opts file, env file, env, URL. A file
 * and KWQ_REDIS_PASSWORD lose one trailing newline (kwq_secret_line), the
 * same for both: a Kubernetes Secret made from a file keeps it.
 */
static int resolve_password(struct kwq_client *c, char **ret)
{
    struct kwq_error e = {0};
    const char *file = c->opts.password_file;
    const char *env;
    int rc = 0;

    *ret = NULL;
    if (c->opts.password) {
        *ret = strdup(c->opts.password);
        return *ret ? 0 : kwq__fail(c, KWQ_ENOMEM, "out of memory");
    }
    if (!file) {
        env = getenv("KWQ_REDIS_PASSWORD_FILE");
        file = env && *env ? env : NULL;
    }
    env = getenv("KWQ_REDIS_PASSWORD");
    if (file)
        rc = kwq_read_secret_file(file, ret, &e);
    else if (env && *env)
        rc = kwq_secret_line("KWQ_REDIS_PASSWORD", env, strlen(env), ret, &e);
    else if (c->url.password && !(*ret = strdup(c->url.password)))
        rc = kwq_error_set(&e, KWQ_ENOMEM, "out of memory");
    return rc ? kwq__fail(c, rc, "%s", e.msg) : 0;
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

/* The value of "name:" in INFO text, and its length in *len; NULL when absent. */
static const char *info_field(const char *info, const char *name, size_t *len)
{
    size_t n = strlen(name);
    const char *p = info;

    while ((p = strstr(p, name)) != NULL) {
        if ((p == info || p[-1] == '\n') && p[n] == ':') {
            p += n + 1;
            *len = strcspn(p, "\r\n");
            return p;
        }
        p += n;
    }
    return NULL;
}

/* Copy the field name's value from info into buf (len bytes), "?" when absent. */
static const char *info_copy(const char *info, const char *name, char *buf, size_t len)
{
    size_t n;
    const char *p = info_field(info, name, &n);

    if (!p) {
        p = "?";
        n = 1;
    }
    (void)snprintf(buf, len, "%.*s", (int)n, p);
    return buf;
}

/* True when the value of the field name in info is exactly want. */
static bool info_is(const char *info, const char *name, const char *want)
{
    size_t n;
    const char *p = info_field(info, name, &n);

    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

int kwq__info_check(const char *info, const char *url, bool replica_ok, char *run_id,
                    struct kwq_error *err)
{
    const char *p;
    size_t n;
    char a[48], b[48];

    /* It changes with every restart or failover: scripts use it to notice a rollback. */
    p = info_field(info, "run_id", &n);
    run_id[0] = '\0'; /* never the previous server's */
    if (p && n == KWQ__RUN_ID_LEN) {
        memcpy(run_id, p, n);
        run_id[n] = '\0';
    }
    /* A replica refuses every write: permanent, whether or not it is loading. */
    if (!replica_ok && info_field(info, "role", &n) && !info_is(info, "role", "master"))
        return kwq_error_set(err, KWQ_EREADONLY,
                             "Redis at %s is a read-only replica of %s:%s; point the Redis URL at "
                             "the master",
                             url, info_copy(info, "master_host", a, sizeof(a)),
                             info_copy(info, "master_port", b, sizeof(b)));
    if (info_is(info, "loading", "1"))
        return kwq_error_set(err, KWQ_ECONN,
                             "Redis at %s is still loading its data set into memory (LOADING, %s%% "
                             "done); retry in a moment",
                             url, info_copy(info, "loading_loaded_perc", a, 9));
    if (info_field(info, "maxmemory_policy", &n) &&
        !info_is(info, "maxmemory_policy", "noeviction"))
        return kwq_error_set(err, KWQ_EPOLICY,
                             "Redis maxmemory-policy is '%s': kwq needs 'noeviction' (it must "
                             "never evict queue keys); run CONFIG SET maxmemory-policy noeviction",
                             info_copy(info, "maxmemory_policy", a, 41));
    return 0;
}

int kwq__server_check(struct kwq_client *c, const redisReply *r)
{
    struct kwq_error e = {0};
    int rc;

    if (r->type != REDIS_REPLY_STRING)
        return kwq__bad_reply(c, "INFO text");
    rc = kwq__info_check(r->str, kwq__url_for_msg(c), c->opts.read_only, c->run_id, &e);
    return rc ? kwq__fail(c, rc, "%s", e.msg) : 0;
}

/* One INFO (default sections) for what the server must be before kwq uses it. */
static int check_server(struct kwq_client *c)
{
    redisReply *r;
    int rc = simple(c, &r, 1, (const char *[]){"INFO"});

    if (rc)
        return rc;
    rc = kwq__server_check(c, r);
    freeReplyObject(r);
    return rc;
}

static int find_scripts(struct kwq_client *c)
{
    for (int op = 0; op < KWQ__OP_COUNT; op++) {
        for (unsigned i = 0; i < kwq__script_count; i++) {
            if (strcmp(kwq__scripts[i].name, kwq__op_names[op]) == 0)
                c->script_index[op] = (int)i;
        }
        if (c->script_index[op] < 0)
            return kwq__fail(c, KWQ_EPROTO, "libkwq was built without the '%s' script",
                             kwq__op_names[op]);
    }
    return 0;
}

static int load_scripts(struct kwq_client *c)
{
    int rc = 0, first = 0;

    for (int op = 0; op < KWQ__OP_COUNT && !rc; op++)
        rc = kwq__script_load_append(c, (enum kwq__op)op);
    /* Read every reply, so the connection stays in step; keep the first error. */
    for (int op = 0; op < KWQ__OP_COUNT && c->rc; op++) {
        rc = kwq__script_load_reply(c, (enum kwq__op)op);
        if (rc && !first)
            first = rc;
    }
    return first ? first : rc;
}

int kwq__connect_prepare(struct kwq_client *c, char **password)
{
    struct kwq_error e = {0};
    int rc;

    *password = NULL;
    kwq__url_free(&c->url);
    if (kwq__url_parse(c->opts.url, &c->url, &e))
        return kwq__fail(c, e.code, "%s", e.msg);
    /* The URL never changes: keep the string callers may hold from kwq_client_url_redacted. */
    if (!c->redacted)
        c->redacted = strdup(c->url.redacted);
    if (!c->redacted)
        return kwq__fail(c, KWQ_ENOMEM, "out of memory");
    rc = find_scripts(c);
    return rc ? rc : resolve_password(c, password);
}

void kwq__auth_argv(const struct kwq_client *c, const char *password, struct kwq__args *argv)
{
    kwq__args_addz(argv, "AUTH");
    if (c->url.user)
        kwq__args_addz(argv, c->url.user);
    kwq__args_addz(argv, password);
}

void kwq__select_argv(const struct kwq_client *c, struct kwq__args *argv)
{
    char db[16];
    int n = snprintf(db, sizeof(db), "%d", c->url.db);

    kwq__args_addz(argv, "SELECT");
    kwq__args_addcopy(argv, db, (size_t)n);
}

/* Run a command built by one of the builders above; its reply is only checked for errors. */
static int run_built(struct kwq_client *c, struct kwq__args *argv)
{
    redisReply *r;
    int rc = kwq__command(c, argv, &r);

    if (!rc)
        freeReplyObject(r);
    kwq__args_free(argv);
    return rc;
}

int kwq_client_connect(struct kwq_client *c)
{
    struct kwq__args argv;
    struct timeval tv;
    char *password = NULL;
    int rc;

    c->errstr[0] = '\0';
    kwq__disconnect(c);
    rc = kwq__connect_prepare(c, &password);
    if (rc)
        goto cleanup;
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
        bool timeout = c->rc->err == REDIS_ERR_IO &&
                       (errno == ETIMEDOUT || errno == EINPROGRESS || errno == EAGAIN) &&
                       strstr(c->rc->errstr, "timed out") != NULL;

        rc = kwq__fail(c, timeout ? KWQ_ETIMEOUT : KWQ_ECONN, "cannot connect to Redis at %s: %s",
                       c->redacted, c->rc->errstr);
        kwq__disconnect(c);
        goto cleanup;
    }
    /* A process the caller starts must not inherit an authenticated connection. */
    (void)fcntl(c->rc->fd, F_SETFD, fcntl(c->rc->fd, F_GETFD) | FD_CLOEXEC);
    kwq__set_timeout(c, 0);
    if (password) {
        kwq__args_init(&argv);
        kwq__auth_argv(c, password, &argv);
        rc = run_built(c, &argv);
        if (rc)
            goto fail;
    }
    if (c->url.db != 0) {
        kwq__args_init(&argv);
        kwq__select_argv(c, &argv);
        rc = run_built(c, &argv);
        if (rc)
            goto fail;
    }
    rc = check_server(c);
    if (rc)
        goto fail;
    rc = load_scripts(c);
    if (rc)
        goto fail;
    goto cleanup;
fail:
    kwq__disconnect(c);
cleanup:
    kwq__free_secret(password);
    return rc;
}

const char *kwq_client_server_run_id(const struct kwq_client *c)
{
    return c ? c->run_id : "";
}

void kwq__args_run_id(const struct kwq_client *c, struct kwq__args *args)
{
    if (c->run_id[0])
        kwq__args_addcopy(args, c->run_id, strlen(c->run_id));
    else
        kwq__args_addz(args, "unknown");
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
                         kwq__url_for_msg(c));
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
