/*
 * test_k8s_config.c - every way kwq finds the API server reaches the real
 * one (the suite's control plane): --kubeconfig with the admin kubeconfig
 * the rig wrote, a $KUBECONFIG list whose context gives the namespace,
 * ~/.kube/config with certificate-authority-data, and the pod's service
 * account (a ServiceAccount token with a Role, in KWQ_KUBE_SA_DIR). Each
 * asks for a Job that does not exist: exit 5 naming the namespace proves
 * TLS, the token and the namespace all worked. A CA that does not match is
 * exit 78; so is a request the service account's Role does not allow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/exit.h"
#include "kwq/util.h"

#include "k8s_rig.h"
#include "kube_env.h"
#include "test_cli_exec.h"

TestSuite(k8s_config, .init = kube_env_setup, .fini = kube_env_teardown, .timeout = 120);

static void expect_no_job(struct cli_out *r, const char *ns)
{
    char want[256];

    (void)snprintf(want, sizeof(want), "kwq: no Job nope in namespace %s\n", ns);
    expect(r, KWQ_EXIT_NOTFOUND, "", want);
    cli_out_free(r);
}

Test(k8s_config, kubeconfig_option_with_the_rigs_admin_kubeconfig)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "cfg", ns, sizeof(ns));
    kwq(&r, NULL, "job", "status", "nope", "--kubeconfig", rig.kubeconfig, "--namespace", ns,
        "--kube-retry", "0");
    expect_no_job(&r, ns);
}

Test(k8s_config, kubeconfig_list_and_the_contexts_namespace)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64], list[1200], kc[512];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "cfg", ns, sizeof(ns));
    (void)snprintf(kc, sizeof(kc), "%s", kube_env_path("kc"));
    k8s_rig_write_kubeconfig(&rig, kc, NULL, rig.token_file, ns);
    (void)snprintf(list, sizeof(list), "%s:%s", kube_env_path("missing"), kc);
    cr_assert_eq(setenv("KUBECONFIG", list, 1), 0);
    kwq(&r, NULL, "job", "status", "nope", "--kube-retry", "0");
    expect_no_job(&r, ns);
}

Test(k8s_config, home_kubeconfig_with_certificate_authority_data)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64], *ca, *b64, *text;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "cfg", ns, sizeof(ns));
    ca = cli_read_file(rig.ca_file);
    cr_assert(strlen(ca) > 0, "%s is empty", rig.ca_file);
    b64 = malloc(kwq_base64_len(strlen(ca)) + 1);
    cr_assert_not_null(b64);
    kwq_base64_encode(ca, strlen(ca), b64);
    cr_assert(asprintf(&text,
                       "apiVersion: v1\nkind: Config\ncurrent-context: home\n"
                       "clusters:\n- name: rig\n  cluster:\n    server: %s\n"
                       "    certificate-authority-data: %s\n"
                       "users:\n- name: admin\n  user: {token: %s}\n"
                       "contexts:\n- {name: home, context: {cluster: rig, user: admin, "
                       "namespace: %s}}\n",
                       rig.server, b64, rig.token, ns) > 0);
    (void)kube_env_write(".kube/config", text);
    kwq(&r, NULL, "job", "status", "nope", "--kube-retry", "0");
    expect_no_job(&r, ns);
    free(text);
    free(b64);
    free(ca);
}

Test(k8s_config, a_ca_that_does_not_match_is_78)
{
    struct k8s_rig rig;
    struct cli_out r;
    char *text;

    k8s_rig_get(&rig);
    cr_assert(asprintf(&text,
                       "current-context: c\n"
                       "clusters:\n- name: rig\n  cluster:\n    server: %s\n"
                       "    certificate-authority: /etc/ssl/certs/ca-certificates.crt\n"
                       "users:\n- name: admin\n  user: {token: %s}\n"
                       "contexts:\n- {name: c, context: {cluster: rig, user: admin}}\n",
                       rig.server, rig.token) > 0);
    (void)kube_env_write("kc", text);
    free(text);
    kwq(&r, NULL, "job", "status", "nope", "--kubeconfig", kube_env_path("kc"), "--kube-retry",
        "0");
    expect(&r, KWQ_EXIT_CONFIG, "", NULL);
    cr_assert(strncmp(r.err, "kwq: reading the Job: ", 22) == 0, "%s", r.err);
    cr_assert_null(strstr(r.err, rig.token), "no token in messages");
    cli_out_free(&r);
}

/* The pod's view: KUBERNETES_SERVICE_HOST/PORT and a service account directory. */
static void in_cluster(const struct k8s_rig *rig, const char *ns, const char *token)
{
    char *ca = cli_read_file(rig->ca_file), host_port[128], *colon;

    (void)kube_env_write("sa/token", token);
    (void)kube_env_write("sa/ca.crt", ca);
    (void)kube_env_write("sa/namespace", ns);
    free(ca);
    /* rig->server is "https://127.0.0.1:PORT". */
    (void)snprintf(host_port, sizeof(host_port), "%s", rig->server + strlen("https://"));
    colon = strrchr(host_port, ':');
    cr_assert_not_null(colon, "%s", rig->server);
    *colon = '\0';
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", host_port, 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", colon + 1, 1), 0);
    cr_assert_eq(setenv("KWQ_KUBE_SA_DIR", kube_env_path("sa"), 1), 0);
}

Test(k8s_config, in_cluster_service_account_with_its_role)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64], token[2048];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "cfg", ns, sizeof(ns));
    k8s_rig_service_account(&rig, ns, "reader",
                            "[{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\"],"
                            "\"verbs\":[\"get\"]}]",
                            token, sizeof(token));
    in_cluster(&rig, ns, token);
    (void)kube_env_write(".kube/config", "not: [yaml"); /* in cluster comes first: never read */
    kwq(&r, NULL, "job", "status", "nope", "--kube-retry", "0");
    expect_no_job(&r, ns);

    /* The Role grants get, not delete: RBAC's 403 is a configuration error. */
    kwq(&r, NULL, "job", "delete", "nope", "--kube-retry", "0");
    expect(&r, KWQ_EXIT_CONFIG, "", NULL);
    cr_assert(strncmp(r.err, "kwq: deleting the Job: ", 23) == 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "delete"), "%s", r.err);
    cr_assert_null(strstr(r.err, token), "no token in messages");
    cli_out_free(&r);
}
