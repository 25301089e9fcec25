/*
 * incluster.c - the API server and credentials of a pod: the kubernetes
 * Service's address from KUBERNETES_SERVICE_HOST/PORT (which the kubelet
 * sets in every container), and the service account's token, CA and
 * namespace files. The token file is handed on, not read: the HTTP client
 * re-reads it as the kubelet rotates it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kwq/error.h"
#include "kwq/util.h"

#include "config_int.h"
#include "kube/config.h"

/* What to do when the pod's setup is not what kwq needs. */
#define INCLUSTER_HINT                                                                             \
    "mount the service account token (automountServiceAccountToken), or pass --kubeconfig or "     \
    "--kube-api"

static int server_url(struct kube_config *cfg, struct kwq_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    struct kwq_error perr = {0};
    uint64_t p;
    int n;

    if (!host || !*host)
        return kwq_error_set(err, KWQ_EINVAL,
                             "in cluster: KUBERNETES_SERVICE_HOST is not set; pass --kubeconfig "
                             "or --kube-api");
    if (!port || !*port)
        return kwq_error_set(err, KWQ_EINVAL,
                             "in cluster: KUBERNETES_SERVICE_HOST is set but "
                             "KUBERNETES_SERVICE_PORT is not; set both, or pass --kubeconfig or "
                             "--kube-api");
    if (kwq_parse_uint(port, 1, 65535, "KUBERNETES_SERVICE_PORT", &p, &perr) < 0)
        return kwq_error_set(err, KWQ_EINVAL, "in cluster: %s", perr.msg);
    /* An IPv6 address (it has ':') goes in brackets, so that its colons are not the port's. */
    if (strchr(host, ':'))
        n = asprintf(&cfg->server, "https://[%s]:%llu", host, (unsigned long long)p);
    else
        n = asprintf(&cfg->server, "https://%s:%llu", host, (unsigned long long)p);
    if (n < 0) {
        cfg->server = NULL;
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    }
    return kube__url_check(cfg->server, "in cluster: KUBERNETES_SERVICE_HOST", err);
}

/* dir/name into *ret, which must be readable now (the client reads it later, again). */
static int sa_file(const char *dir, const char *name, char **ret, struct kwq_error *err)
{
    int fd;

    *ret = kube__path_join(dir, name);
    if (!*ret)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    fd = open(*ret, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kwq_error_set(
            err, KWQ_EINVAL,
            "in cluster: cannot read the service account's %s: %s; " INCLUSTER_HINT, *ret,
            strerror(errno));
    (void)close(fd);
    return 0;
}

/*
 * The namespace file's content less surrounding whitespace, unless
 * --namespace is already in cfg; a file that is absent is not an error.
 */
static int sa_namespace(const char *dir, struct kube_config *cfg, struct kwq_error *err)
{
    char *path, *text = NULL;
    size_t len, start = 0;
    int r;

    if (cfg->namespace)
        return 0;
    path = kube__path_join(dir, "namespace");
    if (!path)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    r = kube__read_file(path, 4096, &text, &len);
    if (r == -ENOENT) {
        free(path);
        return 0;
    }
    if (r < 0) {
        r = kwq_error_set(err, KWQ_EINVAL, "in cluster: cannot read %s: %s; " INCLUSTER_HINT, path,
                          strerror(-r));
        free(path);
        return r;
    }
    while (len > 0 && strchr(" \t\r\n", text[len - 1]))
        text[--len] = '\0';
    while (start < len && strchr(" \t\r\n", text[start]))
        start++;
    r = 0;
    if (start < len) {
        cfg->namespace = strdup(text + start);
        if (!cfg->namespace)
            r = kwq_error_set(err, KWQ_ENOMEM, "out of memory");
        else
            r = kube__namespace_check(cfg->namespace, "the service account's namespace", err);
    }
    free(text);
    free(path);
    return r;
}

int kube__incluster_load(struct kube_config *cfg, struct kwq_error *err)
{
    const char *dir = getenv("KWQ_KUBE_SA_DIR");
    int r;

    if (!dir || !*dir)
        dir = KUBE_SA_DIR;
    r = server_url(cfg, err);
    if (r == 0)
        r = sa_file(dir, "token", &cfg->token_file, err);
    if (r == 0)
        r = sa_file(dir, "ca.crt", &cfg->ca_file, err);
    if (r == 0)
        r = sa_namespace(dir, cfg, err);
    if (r == 0)
        cfg->source = strdup("in-cluster");
    if (r == 0 && !cfg->source)
        r = kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    return r;
}
