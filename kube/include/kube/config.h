/*
 * kube/config.h - where kwq finds a Kubernetes API server and how it
 * proves who it is: a kubeconfig file (parsed with libyaml), the pod's
 * service account when kwq runs in a cluster, or a plain URL (`--kube-api`,
 * for `kubectl proxy`). The result is one struct the HTTP client
 * (kube/http.h) is built from; nothing here does network I/O.
 *
 * Order (the first that applies wins):
 *   1. o->kube_api: that URL, no credentials read from anywhere (kubectl
 *      proxy adds them); namespace from o->namespace, else "default".
 *   2. o->kubeconfig, else $KUBECONFIG (a ':' list: the first file that
 *      sets current-context wins; the first definition of a named cluster,
 *      user or context wins), else the pod's service account when
 *      KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
 * The namespace is o->namespace, else the context's (kubeconfig) or the
 * service account's namespace file (in cluster), else "default"; whichever
 * it is, it must be a DNS label (it goes into every request path).
 * Within a kubeconfig entry, as kubectl does: "<field>-data" wins over the
 * file field, token over tokenFile, and relative paths are relative to the
 * directory of the file that holds them. Refused by name rather than
 * ignored: exec and auth-provider users, username/password, impersonation
 * ("as"), a cluster's proxy-url, insecure-skip-tls-verify together with a CA.
 */
#ifndef KUBE_CONFIG_H
#define KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct kwq_error;

/* The service account's files in a pod; KWQ_KUBE_SA_DIR replaces it (tests, odd mounts). */
#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* What the command line says; every field may be NULL. */
struct kube_config_opts {
    const char *kube_api;   /* --kube-api URL */
    const char *kubeconfig; /* --kubeconfig PATH */
    const char *context;    /* --context NAME, else the file's current-context */
    const char *namespace;  /* --namespace NS */
};

/* Everything needed to talk to one API server. All strings are owned (malloc). */
struct kube_config {
    char *server;          /* base URL without a trailing '/': "https://127.0.0.1:6443" */
    char *namespace;       /* never NULL after a successful load */
    char *ca_file;         /* PEM file to verify the server with, or NULL */
    char *ca_data;         /* PEM bytes (decoded certificate-authority-data), or NULL; */
                           /* one of ca_file/ca_data at most (so cert, key); *_data end in NUL */
    size_t ca_len;         /* bytes in ca_data */
    char *token;           /* bearer token given inline, or NULL */
    char *token_file;      /* bearer token in a file, re-read as it rotates, or NULL; */
                           /* at most one of token and token_file */
    char *cert_file;       /* client certificate (PEM file), or NULL */
    char *cert_data;       /* client certificate (PEM bytes), or NULL */
    size_t cert_len;       /* bytes in cert_data */
    char *key_file;        /* client key (PEM file), or NULL */
    char *key_data;        /* client key (PEM bytes), or NULL */
    size_t key_len;        /* bytes in key_data */
    char *tls_server_name; /* name to verify the certificate against, or NULL: the URL's host */
    bool insecure;         /* insecure-skip-tls-verify: only when a kubeconfig says so */
    char *source; /* for messages: "kubeconfig /p (context c)", "in-cluster", "--kube-api" */
};

/*
 * Fill cfg from o and the environment as above. Returns 0, or KWQ_EINVAL
 * with one line in err saying what was wrong and what to do (a file that
 * cannot be read or parsed, a context/cluster/user that is not defined, no
 * configuration found, a user with an exec or auth-provider plugin, which
 * kwq cannot run: the line points to `kubectl proxy` and --kube-api).
 * cfg is zeroed first and holds nothing on error. No secret is ever put in
 * err.
 */
int kube_config_load(const struct kube_config_opts *o, struct kube_config *cfg,
                     struct kwq_error *err);

/* Free what cfg holds and zero it. cfg may be NULL. */
void kube_config_free(struct kube_config *cfg);

#endif /* KUBE_CONFIG_H */
