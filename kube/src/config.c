/*
 * config.c - kube_config_load: which source says where the API server is
 * (--kube-api, --kubeconfig, $KUBECONFIG, the pod's service account,
 * ~/.kube/config: the first that applies), and the namespace on top
 * (--namespace, else the source's, else "default"). The sources
 * themselves are kubeconfig_load.c and incluster.c.
 */
#include "kube/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kwq/error.h"

#include "config_int.h"

static bool set(const char *s)
{
    return s && *s;
}

static int no_memory(struct kwq_error *err)
{
    return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
}

static int dup_to(char **dst, const char *s, struct kwq_error *err)
{
    *dst = strdup(s);
    return *dst ? 0 : no_memory(err);
}

/* --kube-api: a URL and nothing else; whatever serves it (kubectl proxy) adds the credentials. */
static int use_kube_api(const struct kube_config_opts *o, struct kube_config *cfg,
                        struct kwq_error *err)
{
    int r = kube__url_check(o->kube_api, "--kube-api", err);

    if (r < 0)
        return r;
    if (set(o->context))
        return kwq_error_set(err, KWQ_EINVAL,
                             "--context chooses a kubeconfig context, and --kube-api uses none; "
                             "drop one of them");
    r = dup_to(&cfg->server, o->kube_api, err);
    return r ? r : dup_to(&cfg->source, "--kube-api", err);
}

/* $KUBECONFIG: a ':' list; files that do not exist are skipped, as kubectl does. */
static int use_kubeconfig_env(const char *list, const char *context, struct kube_config *cfg,
                              struct kwq_error *err)
{
    char *copy = strdup(list), *where = NULL, *save = NULL;
    const char **paths = calloc(strlen(list) / 2 + 1, sizeof(*paths));
    size_t n = 0;
    int r;

    if (!copy || !paths || asprintf(&where, "$KUBECONFIG (%s)", list) < 0) {
        where = NULL;
        r = no_memory(err);
        goto out;
    }
    for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
        paths[n++] = p;
    r = kube__kubeconfig_load(
        cfg, &(struct kube_kc_source){.paths = paths, .n = n, .missing_ok = true, .where = where},
        context, err);
out:
    free(where);
    free(paths);
    free(copy);
    return r;
}

static int use_kubeconfig_file(const char *path, const char *context, struct kube_config *cfg,
                               struct kwq_error *err)
{
    char *where;
    int r;

    if (asprintf(&where, "kubeconfig %s", path) < 0)
        return no_memory(err);
    r = kube__kubeconfig_load(cfg, &(struct kube_kc_source){.paths = &path, .n = 1, .where = where},
                              context, err);
    free(where);
    return r;
}

/* The last source: ~/.kube/config, or the line that says nothing was found. */
static int use_home(const struct kube_config_opts *o, struct kube_config *cfg,
                    struct kwq_error *err)
{
    const char *home = getenv("HOME");
    struct stat st;
    char *path;
    int r;

    if (!set(home))
        return kwq_error_set(err, KWQ_EINVAL,
                             "no Kubernetes configuration found (no --kube-api, --kubeconfig, "
                             "$KUBECONFIG or in-cluster service account, and $HOME is not set); "
                             "pass --kubeconfig PATH, or --kube-api URL for 'kubectl proxy'");
    if (asprintf(&path, "%s/.kube/config", home) < 0)
        return no_memory(err);
    if (stat(path, &st) < 0 && errno == ENOENT)
        r = kwq_error_set(err, KWQ_EINVAL,
                          "no Kubernetes configuration found (no --kube-api, --kubeconfig, "
                          "$KUBECONFIG, in-cluster service account or %s); pass --kubeconfig "
                          "PATH, or --kube-api URL for 'kubectl proxy'",
                          path);
    else
        r = use_kubeconfig_file(path, o->context, cfg, err);
    free(path);
    return r;
}

static int use_source(const struct kube_config_opts *o, struct kube_config *cfg,
                      struct kwq_error *err)
{
    const char *env = getenv("KUBECONFIG");

    if (set(o->kube_api))
        return use_kube_api(o, cfg, err);
    if (set(o->kubeconfig))
        return use_kubeconfig_file(o->kubeconfig, o->context, cfg, err);
    if (set(env))
        return use_kubeconfig_env(env, o->context, cfg, err);
    if (!set(getenv("KUBERNETES_SERVICE_HOST")))
        return use_home(o, cfg, err);
    if (set(o->context))
        return kwq_error_set(err, KWQ_EINVAL,
                             "--context chooses a kubeconfig context, but in cluster kwq uses the "
                             "service account; pass --kubeconfig too, or drop --context");
    return kube__incluster_load(cfg, err);
}

int kube_config_load(const struct kube_config_opts *o, struct kube_config *cfg,
                     struct kwq_error *err)
{
    static const struct kube_config_opts none;
    int r = 0;

    memset(cfg, 0, sizeof(*cfg));
    if (!o)
        o = &none;
    /* --namespace goes in first: the sources fill in theirs only where it is unset. */
    if (set(o->namespace)) {
        r = kube__namespace_check(o->namespace, "--namespace", err);
        if (r == 0)
            r = dup_to(&cfg->namespace, o->namespace, err);
    }
    if (r == 0)
        r = use_source(o, cfg, err);
    if (r == 0 && !cfg->namespace)
        r = dup_to(&cfg->namespace, "default", err);
    if (r < 0) {
        kube_config_free(cfg);
        return r;
    }
    /* Request paths start with '/': "https://h:6443/" + "/api" would make a '//'. */
    for (size_t n = strlen(cfg->server); n > 0 && cfg->server[n - 1] == '/'; n--)
        cfg->server[n - 1] = '\0';
    return 0;
}

/* Free a secret after overwriting it: freed heap memory can end up in a core dump. */
static void free_secret(char *s, size_t len)
{
    if (s) {
        explicit_bzero(s, len);
        free(s);
    }
}

void kube_config_free(struct kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->ca_file);
    free(cfg->ca_data);
    free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
    free(cfg->token_file);
    free(cfg->cert_file);
    free(cfg->cert_data);
    free(cfg->key_file);
    free_secret(cfg->key_data, cfg->key_len);
    free(cfg->tls_server_name);
    free(cfg->source);
    memset(cfg, 0, sizeof(*cfg));
}
