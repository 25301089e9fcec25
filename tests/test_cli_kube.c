/*
 * test_cli_kube.c - the kwq binary's Kubernetes connection (kube_cli.c)
 * without a control plane: a configuration it cannot use is one exact line
 * and exit 78, an API server that cannot be reached is exit 69, and the
 * KWQ_KUBE_* variables draw no unknown-variable warning. The same options
 * against the real API server are in test_k8s_config.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/exit.h"

#include "kube_env.h"
#include "test_cli_exec.h"

TestSuite(cli_kube, .init = kube_env_setup, .fini = kube_env_teardown, .timeout = 60);

Test(cli_kube, no_configuration_is_one_line_and_78)
{
    struct cli_out r;
    char want[600];

    (void)snprintf(want, sizeof(want),
                   "kwq: no Kubernetes configuration found (no --kube-api, --kubeconfig, "
                   "$KUBECONFIG, in-cluster service account or %s/.kube/config); pass "
                   "--kubeconfig PATH, or --kube-api URL for 'kubectl proxy'\n",
                   kube_env_dir());
    kwq(&r, NULL, "job", "status", "work");
    expect(&r, KWQ_EXIT_CONFIG, "", want);
    cli_out_free(&r);
}

Test(cli_kube, bad_kube_api_from_flag_or_environment)
{
    static const char want[] = "kwq: --kube-api must be an http:// or https:// URL such as "
                               "http://127.0.0.1:8001 (kubectl proxy), got 'ftp://h'\n";
    struct cli_out r;

    kwq(&r, NULL, "job", "delete", "work", "--kube-api", "ftp://h");
    expect(&r, KWQ_EXIT_CONFIG, "", want);
    cli_out_free(&r);
    cr_assert_eq(setenv("KWQ_KUBE_API", "ftp://h", 1), 0);
    kwq(&r, NULL, "job", "status", "work");
    expect(&r, KWQ_EXIT_CONFIG, "", want);
    cli_out_free(&r);
}

Test(cli_kube, exec_plugin_user_points_to_kubectl_proxy)
{
    const char *kc =
        kube_env_write("config", "current-context: eks\n"
                                 "contexts: [{name: eks, context: {cluster: k, user: "
                                 "arn}}]\n"
                                 "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                                 "users:\n"
                                 "- name: arn\n"
                                 "  user:\n"
                                 "    exec: {command: aws, args: [eks, get-token]}\n");
    struct cli_out r;
    char want[600];

    (void)snprintf(want, sizeof(want),
                   "kwq: user 'arn' in kubeconfig %s gets its credentials from an exec plugin, "
                   "which kwq cannot run; run 'kubectl proxy' and pass --kube-api "
                   "http://127.0.0.1:8001\n",
                   kc);
    cr_assert_eq(setenv("KUBECONFIG", kc, 1), 0);
    kwq(&r, NULL, "job", "status", "work");
    expect(&r, KWQ_EXIT_CONFIG, "", want);
    cli_out_free(&r);
}

Test(cli_kube, in_cluster_variables_are_known_and_problems_named)
{
    struct cli_out r;
    char want[600];

    cr_assert_eq(setenv("KWQ_KUBE_SA_DIR", kube_env_dir(), 1), 0); /* a directory without a token */
    cr_assert_eq(setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1), 0);
    cr_assert_eq(setenv("KUBERNETES_SERVICE_PORT", "6443", 1), 0);
    cr_assert_eq(setenv("KWQ_KUBE_RETRY", "0", 1), 0);
    cr_assert_eq(setenv("KWQ_NAMESPACE", "jobs", 1), 0);
    (void)snprintf(want, sizeof(want),
                   "kwq: in cluster: cannot read the service account's %s/token: No such file or "
                   "directory; mount the service account token (automountServiceAccountToken), "
                   "or pass --kubeconfig or --kube-api\n",
                   kube_env_dir());
    kwq(&r, NULL, "job", "status", "work");
    expect(&r, KWQ_EXIT_CONFIG, "", want); /* exact: no unknown-variable warning before it */
    cli_out_free(&r);
}

/* A loopback port bound but not listening: a connection to it is refused at once. */
static int refusing_port(int *ret_fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *ret_fd = fd;
    return ntohs(a.sin_port);
}

Test(cli_kube, unreachable_api_server_is_69)
{
    struct cli_out r;
    char url[64];
    int fd, port = refusing_port(&fd);

    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    kwq(&r, NULL, "job", "status", "work", "--kube-api", url, "--kube-retry", "0");
    expect(&r, KWQ_EXIT_UNAVAILABLE, "", NULL);
    cr_assert(strncmp(r.err, "kwq: reading the Job: ", 22) == 0, "%s", r.err);
    cr_assert_not_null(strchr(r.err, '\n'));
    cr_assert_eq(strchr(r.err, '\n')[1], '\0', "one line: %s", r.err);
    cli_out_free(&r);
    (void)close(fd);
}
