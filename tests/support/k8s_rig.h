/*
 * k8s_rig.h - the suite's real Kubernetes control plane (tests/k8s/rig.sh,
 * started once per build dir by the ctest fixture "k8s") as C tests see it:
 * where it is, a namespace of a test's own, requests as the admin through
 * plain libcurl (for setting up and checking, independent of kube/), and
 * ServiceAccounts with exactly the RBAC a test gives them.
 *
 * Every helper aborts the test (cr_assert) when the control plane fails it.
 */
#ifndef KWQ_K8S_RIG_H
#define KWQ_K8S_RIG_H

#include <stdbool.h>
#include <stddef.h>

struct k8s_rig {
    char dir[512];        /* RIG_DIR */
    char server[128];     /* "https://127.0.0.1:PORT" */
    char ca_file[600];    /* the API server's CA (PEM) */
    char token_file[600]; /* the admin's bearer token (system:masters) */
    char kubeconfig[600]; /* a kubeconfig for the admin */
    char token[2048];     /* the admin token itself (tests only) */
};

/*
 * Fill rig from the fixture. Where ../shared/k8s is absent, the test is
 * skipped with one line saying so (cr_skip_test); where the fixture did not
 * run (a test started alone), it fails with how to start it.
 */
void k8s_rig_get(struct k8s_rig *rig);

/*
 * Create a fresh namespace "kwq-<prefix>-<random>" (prefix: lowercase,
 * digits and '-') and wait until its default ServiceAccount exists (the API
 * refuses pods before that). Tests run in parallel on one control plane:
 * each works in its own.
 */
void k8s_rig_namespace(const struct k8s_rig *rig, const char *prefix, char *ns, size_t len);

/*
 * One request as the admin: method, path from the server root, body (JSON,
 * or NULL), content_type (NULL: application/json). Returns the HTTP status;
 * *out gets the body (malloc, NUL-terminated; free it) when out is not NULL.
 */
long k8s_rig_request(const struct k8s_rig *rig, const char *method, const char *path,
                     const char *content_type, const char *body, char **out);

/* k8s_rig_request with another bearer token (a ServiceAccount's): what that identity may do. */
long k8s_rig_request_as(const struct k8s_rig *rig, const char *token, const char *method,
                        const char *path, const char *content_type, const char *body, char **out);

/* k8s_rig_request that must answer 2xx (else the test fails with the answer). */
char *k8s_rig_must(const struct k8s_rig *rig, const char *method, const char *path,
                   const char *body);

/*
 * A ServiceAccount name in ns bound to a new Role (also called name) with
 * rules_json (a JSON array of PolicyRule, e.g.
 * [{"apiGroups":["batch"],"resources":["jobs"],"verbs":["get"]}]), and a
 * token for it (TokenRequest, 1 h) in token.
 */
void k8s_rig_service_account(const struct k8s_rig *rig, const char *ns, const char *name,
                             const char *rules_json, char *token, size_t len);

/* A token (TokenRequest, 1 h) of the existing ServiceAccount name in ns, into token. */
void k8s_rig_token(const struct k8s_rig *rig, const char *ns, const char *name, char *token,
                   size_t len);

/*
 * Write a kubeconfig to path for this server with the given token (inline,
 * or token_file when token is NULL) and namespace ns (may be NULL).
 */
void k8s_rig_write_kubeconfig(const struct k8s_rig *rig, const char *path, const char *token,
                              const char *token_file, const char *ns);

/*
 * A Secret named name in ns holding the string data pairs key0, value0,
 * key1, value1, ..., NULL.
 */
void k8s_rig_secret(const struct k8s_rig *rig, const char *ns, const char *name, ...);

/* The holder of the Lease name in ns (spec.holderIdentity, "" when none; malloc). */
char *k8s_rig_lease_holder(const struct k8s_rig *rig, const char *ns, const char *name);

#endif /* KWQ_K8S_RIG_H */
