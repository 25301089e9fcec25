/*
 * test_kube_config.c - kube_config_load (kube/config.h) on files written
 * into a fresh directory per test: kubeconfigs with inline data and with
 * file paths, the $KUBECONFIG merge, --context, --kube-api, the pod's
 * service account, the namespace's precedence, and every refusal with its
 * exact line. No network: loading a configuration makes no request.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "kwq/error.h"

#include "kube/config.h"
#include "kube_env.h"

TestSuite(kube_config, .init = kube_env_setup, .fini = kube_env_teardown, .timeout = 30);

/* Load expecting failure; the message must be exactly the printf-style expectation. */
static void expect_error(const struct kube_config_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expect_error(const struct kube_config_opts *o, const char *fmt, ...)
{
    struct kube_config cfg;
    struct kwq_error err = {0};
    char want[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    cr_assert_eq(kube_config_load(o, &cfg, &err), KWQ_EINVAL, "loaded: %s", cfg.server);
    cr_assert_eq(err.code, KWQ_EINVAL);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(cfg.server, "cfg must hold nothing on error");
    cr_assert_null(cfg.namespace);
}

static void load_ok(const struct kube_config_opts *o, struct kube_config *cfg)
{
    struct kwq_error err = {0};

    cr_assert_eq(kube_config_load(o, cfg, &err), 0, "%s", err.msg);
}

/* ---- Kubeconfig contents -------------------------------------------------------- */

/* "hello\n" and the bytes 00 01 02 ff fe, base64. */
#define B64_HELLO "aGVsbG8K"
#define B64_BYTES "AAEC//4="

Test(kube_config, data_fields_are_decoded_to_the_exact_bytes)
{
    const char *kc = kube_env_write("config", "apiVersion: v1\n"
                                              "kind: Config\n"
                                              "current-context: c\n"
                                              "contexts:\n"
                                              "- name: c\n"
                                              "  context: {cluster: k, user: u, namespace: jobs}\n"
                                              "clusters:\n"
                                              "- name: k\n"
                                              "  cluster:\n"
                                              "    server: https://10.1.2.3:6443/\n"
                                              "    certificate-authority-data: " B64_HELLO "\n"
                                              "    tls-server-name: api.internal\n"
                                              "users:\n"
                                              "- name: u\n"
                                              "  user:\n"
                                              "    token: abc.def\n"
                                              "    client-certificate-data: " B64_BYTES "\n"
                                              "    client-key-data: |\n"
                                              "      aGVs\n"
                                              "      bG8K\n");
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;
    char source[600];

    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://10.1.2.3:6443");
    cr_assert_str_eq(cfg.namespace, "jobs");
    cr_assert_eq(cfg.ca_len, 6);
    cr_assert_eq(memcmp(cfg.ca_data, "hello\n", 7), 0, "decoded bytes and a NUL after them");
    cr_assert_eq(cfg.cert_len, 5);
    cr_assert_eq(memcmp(cfg.cert_data, "\x00\x01\x02\xff\xfe", 5), 0);
    cr_assert_eq(cfg.key_len, 6, "a block scalar's line breaks are not data");
    cr_assert_eq(memcmp(cfg.key_data, "hello\n", 6), 0);
    cr_assert_str_eq(cfg.token, "abc.def");
    cr_assert_str_eq(cfg.tls_server_name, "api.internal");
    cr_assert_null(cfg.ca_file);
    cr_assert_null(cfg.cert_file);
    cr_assert_null(cfg.key_file);
    cr_assert_null(cfg.token_file);
    cr_assert_not(cfg.insecure);
    (void)snprintf(source, sizeof(source), "kubeconfig %s (context c)", kc);
    cr_assert_str_eq(cfg.source, source);
    kube_config_free(&cfg);
    cr_assert_null(cfg.server, "free zeroes");
}

Test(kube_config, file_fields_are_relative_to_the_kubeconfig_directory)
{
    const char *kc = kube_env_write("sub/config", "current-context: c\n"
                                                  "contexts:\n"
                                                  "- name: c\n"
                                                  "  context: {cluster: k, user: u}\n"
                                                  "clusters:\n"
                                                  "- name: k\n"
                                                  "  cluster:\n"
                                                  "    server: https://k.example:443\n"
                                                  "    certificate-authority: ca.crt\n"
                                                  "users:\n"
                                                  "- name: u\n"
                                                  "  user:\n"
                                                  "    tokenFile: secrets/token\n"
                                                  "    client-certificate: ../c.crt\n"
                                                  "    client-key: /etc/kwq/k.key\n");
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.ca_file, kube_env_path("sub/ca.crt"));
    cr_assert_str_eq(cfg.token_file, kube_env_path("sub/secrets/token"));
    cr_assert_str_eq(cfg.cert_file, kube_env_path("sub/../c.crt"));
    cr_assert_str_eq(cfg.key_file, "/etc/kwq/k.key");
    cr_assert_null(cfg.ca_data);
    cr_assert_null(cfg.token);
    cr_assert_str_eq(cfg.namespace, "default");
    kube_config_free(&cfg);
}

Test(kube_config, an_empty_string_is_unset)
{
    const char *kc = kube_env_write("config", "current-context: c\n"
                                              "contexts: [{name: c, context: {cluster: k, user: "
                                              "u, namespace: ''}}]\n"
                                              "clusters: [{name: k, cluster: {server: 'https://k', "
                                              "certificate-authority-data: \"\"}}]\n"
                                              "users: [{name: u, user: {token: \"\", tokenFile: "
                                              "/run/tok}}]\n");
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert_null(cfg.token);
    cr_assert_str_eq(cfg.token_file, "/run/tok");
    cr_assert_null(cfg.ca_data);
    cr_assert_str_eq(cfg.namespace, "default");
    kube_config_free(&cfg);
}

Test(kube_config, token_wins_over_token_file_and_data_over_file)
{
    const char *kc =
        kube_env_write("config", "current-context: c\n"
                                 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                                 "clusters:\n"
                                 "- name: k\n"
                                 "  cluster:\n"
                                 "    server: https://k:1\n"
                                 "    certificate-authority: ca.crt\n"
                                 "    certificate-authority-data: " B64_HELLO "\n"
                                 "users:\n"
                                 "- name: u\n"
                                 "  user: {token: t1, tokenFile: tok}\n");
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.token, "t1");
    cr_assert_null(cfg.token_file);
    cr_assert_eq(cfg.ca_len, 6);
    cr_assert_null(cfg.ca_file);
    kube_config_free(&cfg);
}

/* The shape ../shared/k8s/up.sh writes (write_kubeconfig): a flow mapping for the context. */
Test(kube_config, the_test_control_planes_admin_kubeconfig)
{
    char text[2048];
    const char *kc;
    struct kube_config_opts o = {0};
    struct kube_config cfg;

    (void)snprintf(text, sizeof(text),
                   "apiVersion: v1\n"
                   "kind: Config\n"
                   "clusters:\n"
                   "- name: rig\n"
                   "  cluster:\n"
                   "    server: https://127.0.0.1:7443\n"
                   "    certificate-authority: %s/pki/ca.crt\n"
                   "users:\n"
                   "- name: admin\n"
                   "  user:\n"
                   "    token: 3f9c0a7e5b2d4e6f8a1b3c5d7e9f0a2b\n"
                   "contexts:\n"
                   "- name: rig\n"
                   "  context: {cluster: rig, user: admin, namespace: default}\n"
                   "current-context: rig\n",
                   kube_env_dir());
    kc = kube_env_write("admin.kubeconfig", text);
    cr_assert_eq(setenv("KUBECONFIG", kc, 1), 0);
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://127.0.0.1:7443");
    cr_assert_str_eq(cfg.ca_file, kube_env_path("pki/ca.crt"));
    cr_assert_str_eq(cfg.token, "3f9c0a7e5b2d4e6f8a1b3c5d7e9f0a2b");
    cr_assert_str_eq(cfg.namespace, "default");
    kube_config_free(&cfg);
}

/* ---- Which file, which context ------------------------------------------------------ */

Test(kube_config, kubeconfig_list_first_current_context_and_first_definition_win)
{
    const char *a = kube_env_write("a", "clusters:\n"
                                        "- name: x\n"
                                        "  cluster: {server: 'https://from-a:1'}\n");
    const char *b = kube_env_write("b", "current-context: ctx\n"
                                        "contexts:\n"
                                        "- name: ctx\n"
                                        "  context: {cluster: x, user: u, namespace: from-b}\n"
                                        "clusters:\n"
                                        "- name: x\n"
                                        "  cluster: {server: 'https://from-b:2'}\n");
    const char *c = kube_env_write("c/c", "current-context: other\n"
                                          "contexts:\n"
                                          "- name: ctx\n"
                                          "  context: {cluster: y, user: v}\n"
                                          "users:\n"
                                          "- name: u\n"
                                          "  user: {tokenFile: t}\n");
    char list[2048], source[600];
    struct kube_config_opts o = {0};
    struct kube_config cfg;

    /* An empty entry and a file that does not exist are skipped. */
    (void)snprintf(list, sizeof(list), "%s::%s:%s:%s", a, kube_env_path("missing"), b, c);
    cr_assert_eq(setenv("KUBECONFIG", list, 1), 0);
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://from-a:1");
    cr_assert_str_eq(cfg.namespace, "from-b");
    cr_assert_str_eq(cfg.token_file, kube_env_path("c/t"), "relative to the file that defines it");
    (void)snprintf(source, sizeof(source), "kubeconfig %s (context ctx)", b);
    cr_assert_str_eq(cfg.source, source);
    kube_config_free(&cfg);
}

Test(kube_config, kubeconfig_list_of_missing_files_is_refused)
{
    char list[1100];
    struct kube_config_opts o = {0};

    (void)snprintf(list, sizeof(list), "%s:%s", kube_env_path("no1"), kube_env_path("no2"));
    cr_assert_eq(setenv("KUBECONFIG", list, 1), 0);
    expect_error(&o,
                 "none of the files in $KUBECONFIG (%s) exists; fix $KUBECONFIG or pass "
                 "--kubeconfig",
                 list);
}

#define TWO_CONTEXTS                                                                               \
    "current-context: one\n"                                                                       \
    "contexts:\n"                                                                                  \
    "- name: one\n"                                                                                \
    "  context: {cluster: k1, namespace: ns-one}\n"                                                \
    "- name: two\n"                                                                                \
    "  context: {cluster: k2}\n"                                                                   \
    "clusters:\n"                                                                                  \
    "- {name: k1, cluster: {server: 'https://one:1'}}\n"                                           \
    "- {name: k2, cluster: {server: 'http://two:2'}}\n"

Test(kube_config, context_option_chooses_another_context)
{
    const char *kc = kube_env_write("config", TWO_CONTEXTS);
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://one:1");
    cr_assert_str_eq(cfg.namespace, "ns-one");
    cr_assert_null(cfg.token, "a context without a user has no credentials");
    kube_config_free(&cfg);
    o.context = "two";
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "http://two:2");
    cr_assert_str_eq(cfg.namespace, "default");
    kube_config_free(&cfg);
}

Test(kube_config, kubeconfig_option_wins_over_the_environment)
{
    const char *kc = kube_env_write("config", TWO_CONTEXTS);
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;

    cr_assert_eq(setenv("KUBECONFIG", kube_env_path("missing"), 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1), 0);
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://one:1");
    kube_config_free(&cfg);
}

Test(kube_config, home_kubeconfig_is_the_last_resort)
{
    struct kube_config_opts o = {0};
    struct kube_config cfg;

    (void)kube_env_write(".kube/config", TWO_CONTEXTS);
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://one:1");
    kube_config_free(&cfg);
}

Test(kube_config, undefined_context_cluster_or_user_is_named)
{
    const char *kc =
        kube_env_write("config", "current-context: c\n"
                                 "contexts:\n"
                                 "- {name: c, context: {cluster: nok, user: u}}\n"
                                 "- {name: d, context: {cluster: k, user: nou}}\n"
                                 "- {name: e, context: {user: u}}\n"
                                 "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                                 "users: [{name: u, user: {token: t}}]\n");
    struct kube_config_opts o = {.kubeconfig = kc, .context = "nope"};

    expect_error(&o,
                 "context 'nope' is not defined in kubeconfig %s; pass --context with one of its "
                 "contexts ('kubectl config get-contexts')",
                 kc);
    o.context = NULL;
    expect_error(&o,
                 "cluster 'nok' of context 'c' is not defined in kubeconfig %s; fix the context "
                 "or add the cluster",
                 kc);
    o.context = "d";
    expect_error(&o,
                 "user 'nou' of context 'd' is not defined in kubeconfig %s; fix the context or "
                 "add the user",
                 kc);
    o.context = "e";
    expect_error(
        &o, "context 'e' in kubeconfig %s names no cluster; fix the context or pass --context", kc);
}

/* ---- What kwq refuses, and files that are not kubeconfigs --------------------------- */

#define USER_WITH(fields)                                                                          \
    "current-context: c\n"                                                                         \
    "contexts: [{name: c, context: {cluster: k, user: alice}}]\n"                                  \
    "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"                                      \
    "users:\n"                                                                                     \
    "- name: alice\n"                                                                              \
    "  user:\n" fields

#define CLUSTER_WITH(fields)                                                                       \
    "current-context: c\n"                                                                         \
    "contexts: [{name: c, context: {cluster: k}}]\n"                                               \
    "clusters:\n"                                                                                  \
    "- name: k\n"                                                                                  \
    "  cluster:\n"                                                                                 \
    "    server: https://k:6443\n" fields

#define PROXY_HINT "run 'kubectl proxy' and pass --kube-api http://127.0.0.1:8001"

/*
 * A kubeconfig and the exact line it gets. Arrays, not pointers: Criterion
 * may run a parameterized test in a new process image.
 */
struct refusal {
    char yaml[320]; /* the file */
    char want[256]; /* the message, with %s for the path */
};

static struct refusal refusals[] = {
    {"clusters: []\n", "kubeconfig %s sets no current-context; pass --context NAME or run "
                       "'kubectl config use-context NAME'"},
    {USER_WITH("    exec:\n"
               "      apiVersion: client.authentication.k8s.io/v1\n"
               "      command: aws\n"
               "      args: [eks, get-token]\n"),
     "user 'alice' in kubeconfig %s gets its credentials from an exec plugin, which kwq cannot "
     "run; " PROXY_HINT},
    {USER_WITH("    auth-provider:\n"
               "      name: gcp\n"
               "      config: {access-token: secret-at}\n"),
     "user 'alice' in kubeconfig %s gets its credentials from an auth-provider plugin, which kwq "
     "cannot run; " PROXY_HINT},
    {USER_WITH("    username: alice\n"
               "    password: hunter2\n"),
     "user 'alice' in kubeconfig %s uses a username and password, which kwq does not "
     "send; " PROXY_HINT},
    {USER_WITH("    token: t\n"
               "    as: bob\n"),
     "user 'alice' in kubeconfig %s impersonates another user (as), which kwq does not "
     "do; " PROXY_HINT},
    {CLUSTER_WITH("    proxy-url: socks5://localhost:1080\n"),
     "cluster 'k' in kubeconfig %s sets proxy-url, which kwq does not support; " PROXY_HINT},
    /* The token goes into a header: a line break would end it. It is never quoted. */
    {USER_WITH("    token: \"abc\\r\\nX-Evil: 1\"\n"),
     "the token of user 'alice' in kubeconfig %s holds a line break or a control character; fix "
     "the file"},
    {USER_WITH("    client-certificate: c.crt\n"),
     "user 'alice' in kubeconfig %s has a client certificate but no client key; add it or remove "
     "both"},
    {USER_WITH("    client-certificate-data: " B64_HELLO "\n"
               "    client-key-data: c2Vj*mV0a2V5\n"),
     "client-key-data of user 'alice' in kubeconfig %s is not valid base64 (a character outside "
     "A-Z a-z 0-9 + / or misplaced '=' padding); encode the PEM file with 'base64 -w0'"},
    {CLUSTER_WITH("    insecure-skip-tls-verify: maybe\n"),
     "insecure-skip-tls-verify of cluster 'k' in kubeconfig %s must be true or false, got "
     "'maybe'; fix the file"},
    {CLUSTER_WITH("    insecure-skip-tls-verify: true\n"
                  "    certificate-authority: ca.crt\n"),
     "cluster 'k' in kubeconfig %s sets both insecure-skip-tls-verify and a certificate "
     "authority; keep only one (kubectl refuses it too)"},
    {"current-context: c\n"
     "contexts: [{name: c, context: {cluster: k}}]\n"
     "clusters: [{name: k, cluster: {server: 'k:6443'}}]\n",
     "the server of cluster 'k' in kubeconfig %s must be an http:// or https:// URL such as "
     "http://127.0.0.1:8001 (kubectl proxy), got 'k:6443'"},
    {"current-context: c\n"
     "clusters:\n"
     "- name: k\n"
     "  cluster: {server: https://k\n"
     "users: []\n",
     "kubeconfig %s is not valid YAML: while parsing a flow mapping: did not find expected ',' "
     "or '}' at line 5; fix the file or pass another with --kubeconfig"},
    {"- a\n- b\n", "kubeconfig %s is not a kubeconfig: its top level is not a mapping (line 1); "
                   "fix the file or pass another with --kubeconfig"},
    {"current-context: c\n"
     "contexts: [{name: c, context: {cluster: k}}]\n"
     "clusters: {k: 1}\n",
     "kubeconfig %s line 3: clusters must be a list; fix the file"},
    {CLUSTER_WITH("    tls-server-name: [a, b]\n"),
     "kubeconfig %s line 7: tls-server-name of cluster 'k' must be a string; fix the file"},
};

ParameterizedTestParameters(kube_config, refused)
{
    return cr_make_param_array(struct refusal, refusals, sizeof(refusals) / sizeof(refusals[0]));
}

ParameterizedTest(struct refusal *r, kube_config, refused)
{
    const char *kc = kube_env_write("config", r->yaml);
    struct kube_config_opts o = {.kubeconfig = kc};

    expect_error(&o, r->want, kc);
}

Test(kube_config, insecure_skip_tls_verify_is_read)
{
    const char *yes = kube_env_write("yes", CLUSTER_WITH("    insecure-skip-tls-verify: true\n"));
    const char *no = kube_env_write("no", CLUSTER_WITH("    insecure-skip-tls-verify: false\n"));
    struct kube_config_opts o = {.kubeconfig = yes};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert(cfg.insecure);
    cr_assert_null(cfg.ca_file);
    kube_config_free(&cfg);
    o.kubeconfig = no;
    load_ok(&o, &cfg);
    cr_assert_not(cfg.insecure);
    kube_config_free(&cfg);
}

Test(kube_config, unreadable_kubeconfig_option)
{
    const char *missing = kube_env_path("missing");
    struct kube_config_opts o = {.kubeconfig = missing};

    expect_error(&o,
                 "cannot read kubeconfig %s: No such file or directory; check the path "
                 "(--kubeconfig, $KUBECONFIG) and its permissions",
                 missing);
    o.kubeconfig = kube_env_dir();
    expect_error(&o,
                 "cannot read kubeconfig %s: Is a directory; check the path (--kubeconfig, "
                 "$KUBECONFIG) and its permissions",
                 kube_env_dir());
}

Test(kube_config, nothing_found_says_where_it_looked)
{
    struct kube_config_opts o = {0};

    expect_error(&o,
                 "no Kubernetes configuration found (no --kube-api, --kubeconfig, $KUBECONFIG, "
                 "in-cluster service account or %s/.kube/config); pass --kubeconfig PATH, or "
                 "--kube-api URL for 'kubectl proxy'",
                 kube_env_dir());
    cr_assert_eq(unsetenv("HOME"), 0);
    expect_error(&o, "no Kubernetes configuration found (no --kube-api, --kubeconfig, "
                     "$KUBECONFIG or in-cluster service account, and $HOME is not set); pass "
                     "--kubeconfig PATH, or --kube-api URL for 'kubectl proxy'");
}

/* ---- --kube-api ------------------------------------------------------------------ */

Test(kube_config, kube_api_is_taken_as_is)
{
    struct kube_config_opts o = {.kube_api = "http://127.0.0.1:8001/", .namespace = "batch"};
    struct kube_config cfg;

    (void)kube_env_write(".kube/config", TWO_CONTEXTS); /* never read */
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "http://127.0.0.1:8001");
    cr_assert_str_eq(cfg.namespace, "batch");
    cr_assert_str_eq(cfg.source, "--kube-api");
    cr_assert_null(cfg.token);
    cr_assert_null(cfg.token_file);
    cr_assert_null(cfg.ca_file);
    kube_config_free(&cfg);
    o.namespace = NULL;
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.namespace, "default");
    kube_config_free(&cfg);
}

Test(kube_config, kube_api_must_be_http_or_https)
{
    struct kube_config_opts o = {.kube_api = "127.0.0.1:8001"};

    expect_error(&o, "--kube-api must be an http:// or https:// URL such as "
                     "http://127.0.0.1:8001 (kubectl proxy), got '127.0.0.1:8001'");
    o.kube_api = "ftp://h";
    expect_error(&o, "--kube-api must be an http:// or https:// URL such as "
                     "http://127.0.0.1:8001 (kubectl proxy), got 'ftp://h'");
    o.kube_api = "https://";
    expect_error(&o, "--kube-api must be an http:// or https:// URL such as "
                     "http://127.0.0.1:8001 (kubectl proxy), got 'https://'");
    o.kube_api = "http://127.0.0.1:8001";
    o.context = "c";
    expect_error(&o, "--context chooses a kubeconfig context, and --kube-api uses none; drop one "
                     "of them");
}

/* ---- Namespace -------------------------------------------------------------------- */

Test(kube_config, namespace_option_wins_over_the_context)
{
    const char *kc = kube_env_write("config", TWO_CONTEXTS);
    struct kube_config_opts o = {.kubeconfig = kc, .namespace = "mine"};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.namespace, "mine");
    kube_config_free(&cfg);
    o.namespace = "Not_A-Name";
    expect_error(&o, "--namespace 'Not_A-Name' is not a namespace name (lowercase letters, digits "
                     "and '-', at most 63); pass another with --namespace");
}

Test(kube_config, a_bad_context_namespace_is_named)
{
    const char *kc =
        kube_env_write("config", "current-context: c\n"
                                 "contexts: [{name: c, context: {cluster: k, namespace: ../x}}]\n"
                                 "clusters: [{name: k, cluster: {server: 'https://k'}}]\n");
    struct kube_config_opts o = {.kubeconfig = kc};
    struct kube_config cfg;

    expect_error(&o, "the namespace of context 'c' '../x' is not a namespace name (lowercase "
                     "letters, digits and '-', at most 63); pass another with --namespace");
    o.namespace = "ok";
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.namespace, "ok", "--namespace replaces it unchecked");
    kube_config_free(&cfg);
}

/* ---- In cluster ------------------------------------------------------------------- */

static void service_account(const char *namespace_file)
{
    (void)kube_env_write("sa/token", "eyJhbGciOi.fake.token\n");
    (void)kube_env_write("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
    if (namespace_file)
        (void)kube_env_write("sa/namespace", namespace_file);
    cr_assert_eq(setenv("KWQ_KUBE_SA_DIR", kube_env_path("sa"), 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "::1", 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "6443", 1), 0);
}

Test(kube_config, in_cluster_uses_the_service_account)
{
    struct kube_config_opts o = {0};
    struct kube_config cfg;

    service_account("team-a\n");
    (void)kube_env_write(".kube/config", TWO_CONTEXTS); /* in cluster comes first */
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://[::1]:6443");
    cr_assert_str_eq(cfg.token_file, kube_env_path("sa/token"));
    cr_assert_str_eq(cfg.ca_file, kube_env_path("sa/ca.crt"));
    cr_assert_null(cfg.token, "the token is re-read from its file, never copied");
    cr_assert_str_eq(cfg.namespace, "team-a");
    cr_assert_str_eq(cfg.source, "in-cluster");
    kube_config_free(&cfg);

    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1), 0);
    o.namespace = "other";
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://10.96.0.1:6443");
    cr_assert_str_eq(cfg.namespace, "other");
    kube_config_free(&cfg);
}

Test(kube_config, in_cluster_without_a_namespace_file_is_default)
{
    struct kube_config_opts o = {0};
    struct kube_config cfg;

    service_account(NULL);
    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.namespace, "default");
    kube_config_free(&cfg);
}

Test(kube_config, in_cluster_problems_are_named)
{
    struct kube_config_opts o = {0};

    service_account(NULL);
    cr_assert_eq(unlink(kube_env_path("sa/token")), 0);
    expect_error(&o,
                 "in cluster: cannot read the service account's %s: No such file or directory; "
                 "mount the service account token (automountServiceAccountToken), or pass "
                 "--kubeconfig or --kube-api",
                 kube_env_path("sa/token"));
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "https", 1), 0);
    expect_error(&o, "in cluster: KUBERNETES_SERVICE_PORT must be a whole number from 1 to "
                     "65535, got 'https'");
    cr_assert_eq(unsetenv("KUBERNETES_SERVICE_PORT"), 0);
    expect_error(&o, "in cluster: KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is "
                     "not; set both, or pass --kubeconfig or --kube-api");
    o.context = "c";
    expect_error(&o, "--context chooses a kubeconfig context, but in cluster kwq uses the service "
                     "account; pass --kubeconfig too, or drop --context");
}

/* Comments, quoting and an alias: YAML that kubectl reads, which no hand-made reader would. */
Test(kube_config, yaml_as_kubectl_reads_it)
{
    const char *kc = kube_env_write("config", "# written by hand\n"
                                              "current-context: \"prod\"   # the live one\n"
                                              "contexts:\n"
                                              "- name: 'prod'\n"
                                              "  context: &ctx\n"
                                              "    cluster: k\n"
                                              "    user: u\n"
                                              "- name: other\n"
                                              "  context: *ctx\n"
                                              "clusters:\n"
                                              "- name: k\n"
                                              "  cluster:\n"
                                              "    server: >-\n"
                                              "      https://k.example:6443\n"
                                              "users:\n"
                                              "- name: u\n"
                                              "  user:\n"
                                              "    token: 'it''s'\n");
    struct kube_config_opts o = {.kubeconfig = kc, .context = "other"};
    struct kube_config cfg;

    load_ok(&o, &cfg);
    cr_assert_str_eq(cfg.server, "https://k.example:6443");
    cr_assert_str_eq(cfg.token, "it's");
    kube_config_free(&cfg);
}

Test(kube_config, a_kubeconfig_over_4_mib_is_refused)
{
    size_t n = 5 * 1024 * 1024;
    char *big = malloc(n + 1);
    const char *kc;
    struct kube_config_opts o = {0};

    cr_assert_not_null(big);
    memset(big, '#', n); /* one long comment: valid YAML, only too big */
    big[n] = '\0';
    kc = kube_env_write("big", big);
    free(big);
    o.kubeconfig = kc;
    expect_error(&o, "kubeconfig %s is larger than 4 MiB; pass another with --kubeconfig", kc);
}
