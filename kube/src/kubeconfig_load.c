/*
 * kubeconfig_load.c - from kubeconfig files to a struct kube_config: the
 * context (--context, else current-context), its cluster and user, each the
 * first definition across the files. Paths in a file are relative to that
 * file's directory, as kubectl takes them. What kwq cannot do (plugins,
 * passwords, impersonation, a proxy) is refused with a line that names the
 * entry and points to `kubectl proxy`, never silently dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kwq/error.h"

#include "b64.h"
#include "config_int.h"
#include "kube/config.h"
#include "kubeconfig.h"

#define PROXY_HINT "run 'kubectl proxy' and pass --kube-api http://127.0.0.1:8001"

/* One load: the files, how messages name them, and the entry being read. */
struct kc_load {
    struct kc_files fs;       /* the files, in the order their definitions win */
    const char *where;        /* "kubeconfig /a/config" or "$KUBECONFIG (/a:/b)" */
    struct kube_config *cfg;  /* being filled */
    struct kwq_error *err;    /* the message on failure */
    const char *context;      /* the context's name */
    const char *cluster_name; /* its cluster's name */
    const char *user_name;    /* its user's name, NULL: none (anonymous) */
    struct kc_entry e;        /* the entry being read */
    char what[300];           /* it, for messages: "cluster 'k'" */
};

static int no_memory(struct kc_load *l)
{
    return kwq_error_set(l->err, KWQ_ENOMEM, "out of memory");
}

/* dup of s into *dst; s may be NULL (then *dst stays NULL). */
static int dup_to(struct kc_load *l, char **dst, const char *s)
{
    if (!s)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : no_memory(l);
}

/* The scalar key of the entry being read (kc_scalar). */
static int field(struct kc_load *l, const char *key, const char **ret)
{
    return kc_scalar(l->e.file, l->e.body, key, l->what, ret, l->err);
}

/*
 * Make the first definition of kind ("context", "cluster", "user") named
 * name the entry being read. 1 when no file defines it (no message set).
 */
static int enter(struct kc_load *l, const char *kind, const char *name)
{
    int r = kc_find(&l->fs, kind, name, &l->e, l->err);

    (void)snprintf(l->what, sizeof(l->what), "%s '%s'", kind, name);
    return r;
}

/* ---- The context ------------------------------------------------------------ */

static int context_name(struct kc_load *l, const char *wanted)
{
    struct kc_file *f;
    int r;

    l->context = wanted;
    if (wanted)
        return 0;
    r = kc_current_context(&l->fs, &l->context, &f, l->err);
    if (r == 0 && !l->context)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s sets no current-context; pass --context NAME or run "
                             "'kubectl config use-context NAME'",
                             l->where);
    return r;
}

static int use_context(struct kc_load *l, const char *wanted)
{
    const char *ns = NULL;
    char ns_what[400];
    int r = context_name(l, wanted);

    if (r == 0)
        r = enter(l, "context", l->context);
    if (r == 1)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "context '%s' is not defined in %s; pass --context with one of its "
                             "contexts ('kubectl config get-contexts')",
                             l->context, l->where);
    if (r == 0)
        r = field(l, "cluster", &l->cluster_name);
    if (r == 0)
        r = field(l, "user", &l->user_name);
    if (r == 0)
        r = field(l, "namespace", &ns);
    if (r == 0 && !l->cluster_name)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "context '%s' in kubeconfig %s names no cluster; fix the context or "
                             "pass --context",
                             l->context, l->e.file->path);
    if (r == 0 &&
        asprintf(&l->cfg->source, "kubeconfig %s (context %s)", l->e.file->path, l->context) < 0) {
        l->cfg->source = NULL;
        return no_memory(l);
    }
    /* --namespace, already in cfg, wins over the context's. */
    if (r < 0 || l->cfg->namespace || !ns)
        return r;
    (void)snprintf(ns_what, sizeof(ns_what), "the namespace of context '%s'", l->context);
    r = dup_to(l, &l->cfg->namespace, ns);
    return r ? r : kube__namespace_check(ns, ns_what, l->err);
}

/*
 * Enter the cluster or user the context names; a name no file defines is
 * an error that says which context named it.
 */
static int enter_named(struct kc_load *l, const char *kind, const char *name)
{
    int r = enter(l, kind, name);

    if (r == 1)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s '%s' of context '%s' is not defined in %s; fix the context or "
                             "add the %s",
                             kind, name, l->context, l->where, kind);
    return r;
}

/* ---- PEM fields: a file, or the same bytes inline as base64 ----------------- */

/*
 * The pair "<key>" (a path) / "<key>-data" (base64) of the entry: the data
 * wins when both are set, as in kubectl.
 */
static int pem_field(struct kc_load *l, const char *key, char **ret_file, char **ret_data,
                     size_t *ret_len)
{
    char data_key[64], msg_what[400];
    const char *data = NULL, *path = NULL;
    int r;

    (void)snprintf(data_key, sizeof(data_key), "%s-data", key);
    r = field(l, data_key, &data);
    if (r == 0 && data) {
        (void)snprintf(msg_what, sizeof(msg_what), "%s of %s in kubeconfig %s", data_key, l->what,
                       l->e.file->path);
        return kube__b64_field(msg_what, data, strlen(data), ret_data, ret_len, l->err);
    }
    if (r == 0)
        r = field(l, key, &path);
    if (r < 0 || !path)
        return r;
    *ret_file = kube__path_join(l->e.file->dir, path);
    return *ret_file ? 0 : no_memory(l);
}

/* ---- The cluster ------------------------------------------------------------ */

static int parse_bool(struct kc_load *l, const char *s, const char *key, bool *ret)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *ret = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return kwq_error_set(l->err, KWQ_EINVAL,
                         "%s of %s in kubeconfig %s must be true or false, got '%s'; fix the file",
                         key, l->what, l->e.file->path, s);
}

static int cluster_server(struct kc_load *l)
{
    const char *server = NULL;
    char url_what[400];
    int r = field(l, "server", &server);

    if (r == 0 && !server)
        return kwq_error_set(l->err, KWQ_EINVAL, "%s in kubeconfig %s has no server; fix the file",
                             l->what, l->e.file->path);
    (void)snprintf(url_what, sizeof(url_what), "the server of %s in kubeconfig %s", l->what,
                   l->e.file->path);
    if (r == 0)
        r = kube__url_check(server, url_what, l->err);
    if (r == 0 && kc_has(l->e.file, l->e.body, "proxy-url"))
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s in kubeconfig %s sets proxy-url, which kwq does not "
                             "support; " PROXY_HINT,
                             l->what, l->e.file->path);
    return r ? r : dup_to(l, &l->cfg->server, server);
}

static int use_cluster(struct kc_load *l)
{
    struct kube_config *cfg = l->cfg;
    const char *insecure = NULL, *name = NULL;
    int r = enter_named(l, "cluster", l->cluster_name);

    if (r == 0)
        r = cluster_server(l);
    if (r == 0)
        r = field(l, "tls-server-name", &name);
    if (r == 0)
        r = dup_to(l, &cfg->tls_server_name, name);
    if (r == 0)
        r = field(l, "insecure-skip-tls-verify", &insecure);
    if (r == 0 && insecure)
        r = parse_bool(l, insecure, "insecure-skip-tls-verify", &cfg->insecure);
    if (r == 0)
        r = pem_field(l, "certificate-authority", &cfg->ca_file, &cfg->ca_data, &cfg->ca_len);
    if (r == 0 && cfg->insecure && (cfg->ca_file || cfg->ca_data))
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s in kubeconfig %s sets both insecure-skip-tls-verify and a "
                             "certificate authority; keep only one (kubectl refuses it too)",
                             l->what, l->e.file->path);
    return r;
}

/* ---- The user --------------------------------------------------------------- */

/* User settings kwq cannot honour: refused rather than ignored, since ignoring changes who kwq is. */
static const struct {
    const char *key;  /* the field in users[].user */
    const char *what; /* what it means, for the message */
} refused_user[] = {
    {"exec", "gets its credentials from an exec plugin, which kwq cannot run"},
    {"auth-provider", "gets its credentials from an auth-provider plugin, which kwq cannot run"},
    {"username", "uses a username and password, which kwq does not send"},
    {"password", "uses a username and password, which kwq does not send"},
    {"as", "impersonates another user (as), which kwq does not do"},
};

static int token_fields(struct kc_load *l)
{
    const char *token = NULL, *token_file = NULL;
    int r = field(l, "token", &token);

    if (r == 0 && token) {
        /* Sent as a header: a line break would end it. The token itself is never quoted. */
        for (const char *p = token; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return kwq_error_set(l->err, KWQ_EINVAL,
                                     "the token of %s in kubeconfig %s holds a line break or a "
                                     "control character; fix the file",
                                     l->what, l->e.file->path);
        }
        /* kubeconfig's rule: token wins over tokenFile. */
        return dup_to(l, &l->cfg->token, token);
    }
    if (r == 0)
        r = field(l, "tokenFile", &token_file);
    if (r < 0 || !token_file)
        return r;
    l->cfg->token_file = kube__path_join(l->e.file->dir, token_file);
    return l->cfg->token_file ? 0 : no_memory(l);
}

static int use_user(struct kc_load *l)
{
    struct kube_config *cfg = l->cfg;
    bool cert, key;
    int r;

    if (!l->user_name)
        return 0; /* no credentials: the server decides what an anonymous client may do */
    r = enter_named(l, "user", l->user_name);
    for (size_t i = 0; r == 0 && i < sizeof(refused_user) / sizeof(refused_user[0]); i++) {
        if (kc_has(l->e.file, l->e.body, refused_user[i].key))
            return kwq_error_set(l->err, KWQ_EINVAL, "%s in kubeconfig %s %s; " PROXY_HINT, l->what,
                                 l->e.file->path, refused_user[i].what);
    }
    if (r == 0)
        r = token_fields(l);
    if (r == 0)
        r = pem_field(l, "client-certificate", &cfg->cert_file, &cfg->cert_data, &cfg->cert_len);
    if (r == 0)
        r = pem_field(l, "client-key", &cfg->key_file, &cfg->key_data, &cfg->key_len);
    cert = cfg->cert_file || cfg->cert_data;
    key = cfg->key_file || cfg->key_data;
    if (r == 0 && cert != key)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s in kubeconfig %s has a client %s but no client %s; add it or "
                             "remove both",
                             l->what, l->e.file->path, cert ? "certificate" : "key",
                             cert ? "key" : "certificate");
    return r;
}

/* ---- Loading ---------------------------------------------------------------- */

int kube__kubeconfig_load(struct kube_config *cfg, const struct kube_kc_source *src,
                          const char *context, struct kwq_error *err)
{
    struct kc_load l = {.where = src->where, .cfg = cfg, .err = err};
    int r = 0;

    for (size_t i = 0; i < src->n && r >= 0; i++)
        r = kc_files_add(&l.fs, src->paths[i], src->missing_ok, err);
    if (r >= 0 && l.fs.n == 0)
        r = kwq_error_set(err, KWQ_EINVAL,
                          "none of the files in %s exists; fix $KUBECONFIG or pass --kubeconfig",
                          src->where);
    if (r >= 0)
        r = use_context(&l, context && *context ? context : NULL);
    if (r == 0)
        r = use_cluster(&l);
    if (r == 0)
        r = use_user(&l);
    kc_files_free(&l.fs);
    return r;
}
