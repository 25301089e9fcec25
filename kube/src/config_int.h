/*
 * config_int.h - what the files behind kube/config.h share: reading small
 * files, joining paths, and the checks every source of a server URL or a
 * namespace goes through, whichever source it came from.
 */
#ifndef KUBE_CONFIG_INT_H
#define KUBE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

struct kube_config;
struct kwq_error;

/* The largest kubeconfig read, in bytes: many clusters with their CAs fit well within it. */
#define KUBE_FILE_MAX (4 * 1024 * 1024)

/*
 * Read all of path (at most max bytes) into *ret, malloc'd with a NUL after
 * the *ret_len bytes. Returns 0 or -errno (-EFBIG over max, -EISDIR for a
 * directory); *ret is NULL then.
 */
int kube__read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* path when absolute or dir is NULL, else "dir/path"; malloc'd, NULL on OOM. */
char *kube__path_join(const char *dir, const char *path);

/*
 * 0 when url is http:// or https:// with a host, else KWQ_EINVAL: "<what>
 * must be an http:// or https:// URL ..., got '<url>'".
 */
int kube__url_check(const char *url, const char *what, struct kwq_error *err);

/*
 * 0 when ns is a namespace name (a DNS label: a-z, 0-9 and '-', at most 63
 * bytes), else KWQ_EINVAL naming what ("--namespace", "the namespace of
 * context 'c'"). It goes into every request path, so nothing else passes.
 */
int kube__namespace_check(const char *ns, const char *what, struct kwq_error *err);

/*
 * Fill cfg from the pod's service account (incluster.c): server from
 * KUBERNETES_SERVICE_HOST/PORT, token and CA files, the namespace file's
 * namespace when there is one. Returns 0 or KWQ_EINVAL / KWQ_ENOMEM.
 */
int kube__incluster_load(struct kube_config *cfg, struct kwq_error *err);

/* Which kubeconfig files to read, and how messages name them. */
struct kube_kc_source {
    const char *const *paths; /* in the order their definitions win */
    size_t n;                 /* how many */
    bool missing_ok;          /* skip files that do not exist ($KUBECONFIG) */
    const char *where;        /* "kubeconfig /p" or "$KUBECONFIG (/a:/b)" */
};

/*
 * Fill cfg from the kubeconfig files of src (kubeconfig_load.c); context:
 * --context, else the current-context. Returns 0 or KWQ_EINVAL /
 * KWQ_ENOMEM.
 */
int kube__kubeconfig_load(struct kube_config *cfg, const struct kube_kc_source *src,
                          const char *context, struct kwq_error *err);

#endif /* KUBE_CONFIG_INT_H */
