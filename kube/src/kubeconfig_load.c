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

/* One load: the files, and how messages name them. */
struct kc_load {
    struct kc_files fs;       /* the files, in the order their definitions win */
    const char *where;        /* "kubeconfig /a/config" or "$KUBECONFIG (/a:/b)" */
    struct kube_config *cfg;  /* being filled */
    struct kwq_error *err;    /* the message on failure */
    const char *context;      /* the context's name */
    const char *cluster_name; /* its cluster's name */
    const char *user_name;    /* its user's name, NULL: none (anonymous) */
};

/* dup of s into *dst; s may be NULL (then *dst stays NULL). */
static int dup_to(struct kc_load *l, char **dst, const char *s)
{
    if (!s)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : kwq_error_set(l->err, KWQ_ENOMEM, "out of memory");
}

/* ---- The context ------------------------------------------------------------ */

static int use_context(struct kc_load *l, const char *wanted)
{
    struct kc_file *f;
    yaml_node_t *body;
    const char *ns;
    char what[300];
    int r;

    if (!wanted) {
        r = kc_current_context(&l->fs, &wanted, &f, l->err);
        if (r < 0)
            return r;
        if (!wanted)
            return kwq_error_set(l->err, KWQ_EINVAL,
                                 "%s sets no current-context; pass --context NAME or run "
                                 "'kubectl config use-context NAME'",
                                 l->where);
    }
    l->context = wanted;
    r = kc_find(&l->fs, "contexts", "context", wanted, &f, &body, l->err);
    if (r == 1)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "context '%s' is not defined in %s; pass --context with one of its "
                             "contexts ('kubectl config get-contexts')",
                             wanted, l->where);
    (void)snprintf(what, sizeof(what), "context '%s'", wanted);
    if (r == 0)
        r = kc_scalar(f, body, "cluster", what, &l->cluster_name, l->err);
    if (r == 0)
        r = kc_scalar(f, body, "user", what, &l->user_name, l->err);
    if (r == 0)
        r = kc_scalar(f, body, "namespace", what, &ns, l->err);
    if (r < 0)
        return r;
    if (!l->cluster_name)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "context '%s' in kubeconfig %s names no cluster; fix the context or "
                             "pass --context",
                             wanted, f->path);
    if (asprintf(&l->cfg->source, "kubeconfig %s (context %s)", f->path, wanted) < 0) {
        l->cfg->source = NULL;
        return kwq_error_set(l->err, KWQ_ENOMEM, "out of memory");
    }
    /* --namespace, already in cfg, wins over the context's. */
    if (l->cfg->namespace || !ns)
        return 0;
    (void)snprintf(what, sizeof(what), "the namespace of context '%s'", wanted);
    r = dup_to(l, &l->cfg->namespace, ns);
    return r ? r : kube__namespace_check(ns, what, l->err);
}

/*
 * The first definition of the kind ("cluster", "user") named name, which
 * the context refers to; what becomes "<kind> '<name>'" for messages.
 */
static int find_named(struct kc_load *l, const char *kind, const char *name,
                      struct kc_file **ret_file, yaml_node_t **ret_body, char *what,
                      size_t what_len)
{
    char section[16];
    int r;

    (void)snprintf(section, sizeof(section), "%ss", kind);
    r = kc_find(&l->fs, section, kind, name, ret_file, ret_body, l->err);
    if (r == 1)
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s '%s' of context '%s' is not defined in %s; fix the context or "
                             "add the %s",
                             kind, name, l->context, l->where, kind);
    (void)snprintf(what, what_len, "%s '%s'", kind, name);
    return r;
}

/* ---- PEM fields: a file, or the same bytes inline as base64 ----------------- */

/*
 * The pair "<key>" (a path) / "<key>-data" (base64) of map in f: the data
 * wins when both are set, as in kubectl. what names the entry in messages.
 */
static int pem_field(struct kc_load *l, struct kc_file *f, yaml_node_t *map, const char *key,
                     const char *what, char **ret_file, char **ret_data, size_t *ret_len)
{
    char data_key[64], msg_what[400];
    const char *data, *path;
    int r;

    (void)snprintf(data_key, sizeof(data_key), "%s-data", key);
    r = kc_scalar(f, map, data_key, what, &data, l->err);
    if (r == 0 && data) {
        (void)snprintf(msg_what, sizeof(msg_what), "%s of %s in kubeconfig %s", data_key, what,
                       f->path);
        return kube__b64_field(msg_what, data, strlen(data), ret_data, ret_len, l->err);
    }
    if (r == 0)
        r = kc_scalar(f, map, key, what, &path, l->err);
    if (r < 0 || !path)
        return r;
    *ret_file = kube__path_join(f->dir, path);
    return *ret_file ? 0 : kwq_error_set(l->err, KWQ_ENOMEM, "out of memory");
}

/* ---- The cluster ------------------------------------------------------------ */

static int parse_bool(struct kc_load *l, struct kc_file *f, const char *s, const char *key,
                      const char *what, bool *ret)
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
                         key, what, f->path, s);
}

static int cluster_fields(struct kc_load *l, struct kc_file *f, yaml_node_t *body, const char *what)
{
    struct kube_config *cfg = l->cfg;
    const char *server, *insecure, *name;
    char url_what[400];
    int r = kc_scalar(f, body, "server", what, &server, l->err);

    if (r == 0 && !server)
        return kwq_error_set(l->err, KWQ_EINVAL, "%s in kubeconfig %s has no server; fix the file",
                             what, f->path);
    (void)snprintf(url_what, sizeof(url_what), "the server of %s in kubeconfig %s", what, f->path);
    if (r == 0)
        r = kube__url_check(server, url_what, l->err);
    if (r == 0 && kc_has(f, body, "proxy-url"))
        return kwq_error_set(
            l->err, KWQ_EINVAL,
            "%s in kubeconfig %s sets proxy-url, which kwq does not support; " PROXY_HINT, what,
            f->path);
    if (r == 0)
        r = dup_to(l, &cfg->server, server);
    if (r == 0)
        r = kc_scalar(f, body, "tls-server-name", what, &name, l->err);
    if (r == 0)
        r = dup_to(l, &cfg->tls_server_name, name);
    if (r == 0)
        r = kc_scalar(f, body, "insecure-skip-tls-verify", what, &insecure, l->err);
    if (r == 0 && insecure)
        r = parse_bool(l, f, insecure, "insecure-skip-tls-verify", what, &cfg->insecure);
    if (r == 0)
        r = pem_field(l, f, body, "certificate-authority", what, &cfg->ca_file, &cfg->ca_data,
                      &cfg->ca_len);
    if (r == 0 && cfg->insecure && (cfg->ca_file || cfg->ca_data))
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s in kubeconfig %s sets both insecure-skip-tls-verify and a "
                             "certificate authority; keep only one (kubectl refuses it too)",
                             what, f->path);
    return r;
}

static int use_cluster(struct kc_load *l)
{
    struct kc_file *f;
    yaml_node_t *body;
    char what[300];
    int r = find_named(l, "cluster", l->cluster_name, &f, &body, what, sizeof(what));

    return r ? r : cluster_fields(l, f, body, what);
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

static int token_fields(struct kc_load *l, struct kc_file *f, yaml_node_t *body, const char *what)
{
    const char *token, *token_file;
    int r = kc_scalar(f, body, "token", what, &token, l->err);

    if (r == 0 && token) {
        /* Sent as a header: a line break would end it. The token itself is never quoted. */
        for (const char *p = token; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return kwq_error_set(l->err, KWQ_EINVAL,
                                     "the token of %s in kubeconfig %s holds a line break or a "
                                     "control character; fix the file",
                                     what, f->path);
        }
        /* kubeconfig's rule: token wins over tokenFile. */
        return dup_to(l, &l->cfg->token, token);
    }
    if (r == 0)
        r = kc_scalar(f, body, "tokenFile", what, &token_file, l->err);
    if (r < 0 || !token_file)
        return r;
    l->cfg->token_file = kube__path_join(f->dir, token_file);
    return l->cfg->token_file ? 0 : kwq_error_set(l->err, KWQ_ENOMEM, "out of memory");
}

static int user_fields(struct kc_load *l, struct kc_file *f, yaml_node_t *body, const char *what)
{
    struct kube_config *cfg = l->cfg;
    int r;

    for (size_t i = 0; i < sizeof(refused_user) / sizeof(refused_user[0]); i++) {
        if (kc_has(f, body, refused_user[i].key))
            return kwq_error_set(l->err, KWQ_EINVAL, "%s in kubeconfig %s %s; " PROXY_HINT, what,
                                 f->path, refused_user[i].what);
    }
    r = token_fields(l, f, body, what);
    if (r == 0)
        r = pem_field(l, f, body, "client-certificate", what, &cfg->cert_file, &cfg->cert_data,
                      &cfg->cert_len);
    if (r == 0)
        r = pem_field(l, f, body, "client-key", what, &cfg->key_file, &cfg->key_data,
                      &cfg->key_len);
    if (r == 0 && !(cfg->cert_file || cfg->cert_data) != !(cfg->key_file || cfg->key_data))
        return kwq_error_set(l->err, KWQ_EINVAL,
                             "%s in kubeconfig %s has a client %s but no client %s; add it or "
                             "remove both",
                             what, f->path, cfg->key_file || cfg->key_data ? "key" : "certificate",
                             cfg->key_file || cfg->key_data ? "certificate" : "key");
    return r;
}

static int use_user(struct kc_load *l)
{
    struct kc_file *f;
    yaml_node_t *body;
    char what[300];
    int r;

    if (!l->user_name)
        return 0; /* no credentials: the server decides what an anonymous client may do */
    r = find_named(l, "user", l->user_name, &f, &body, what, sizeof(what));
    return r ? r : user_fields(l, f, body, what);
}

/* ---- Loading ---------------------------------------------------------------- */

int kube__kubeconfig_load(struct kube_config *cfg, const char *const *paths, size_t n,
                          bool missing_ok, const char *where, const char *context,
                          struct kwq_error *err)
{
    struct kc_load l = {.where = where, .cfg = cfg, .err = err};
    int r = 0;

    for (size_t i = 0; i < n && r >= 0; i++)
        r = kc_files_add(&l.fs, paths[i], missing_ok, err);
    if (r >= 0 && l.fs.n == 0)
        r = kwq_error_set(err, KWQ_EINVAL,
                          "none of the files in %s exists; fix $KUBECONFIG or pass --kubeconfig",
                          where);
    if (r >= 0)
        r = use_context(&l, context && *context ? context : NULL);
    if (r == 0)
        r = use_cluster(&l);
    if (r == 0)
        r = use_user(&l);
    kc_files_free(&l.fs);
    return r;
}
