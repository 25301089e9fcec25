/*
 * test_manifests_rbac.c - the Roles of manifests/base applied as checked in
 * and used through their own ServiceAccounts' tokens on the real API server
 * (RBAC on): kwq-submitter's is enough for `kwq run --kube` and `kwq job`,
 * kwq-broker's for the Lease and the dashboard's Jobs, and neither grants a
 * verb beyond those (403).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "broker_proc.h"
#include "redis_fixture.h"
#include "test_k8s_exec.h"
#include "test_manifests.h"

#define ECHO KWQ_TEST_HELPERS_DIR "/helper_echo"

TestSuite(manifests_rbac, .init = cli_setup, .fini = cli_teardown, .timeout = 180);

/*
 * Apply base/<part>/{serviceaccount,role,rolebinding}.yaml to ns for real,
 * then write a kubeconfig (path) with a token of the ServiceAccount sa.
 */
static void identity(const struct k8s_rig *rig, const char *ns, const char *part, const char *sa,
                     char *token, size_t len, const char *path)
{
    static const char *const files[] = {"serviceaccount", "role", "rolebinding"};
    char file[1024];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        (void)snprintf(file, sizeof(file), "%s/base/%s/%s.yaml", MANIFESTS_DIR, part, files[i]);
        manifests_apply(rig, ns, file);
    }
    k8s_rig_token(rig, ns, sa, token, len);
    k8s_rig_write_kubeconfig(rig, path, token, NULL, ns);
}

/* Status of one request as token, with its message in the test's failure text. */
static void expect_status(const struct k8s_rig *rig, const char *token, const char *method,
                          const char *path, const char *body, long want)
{
    char *out = NULL;
    long st = k8s_rig_request_as(rig, token, method, path, NULL, body, &out);

    cr_assert_eq(st, want, "%s %s: HTTP %ld, want %ld: %s", method, path, st, want, out);
    free(out);
}

Test(manifests_rbac, the_submitter_role_runs_kwq_run_kube_and_grants_nothing_more)
{
    struct k8s_rig rig, sub;
    struct cli_out r;
    char ns[64], token[4096], kubeconfig[600], items[600], out[600], path[512], want[512];
    char *results;
    FILE *f;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "rbacsub", ns, sizeof(ns));
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    (void)snprintf(kubeconfig, sizeof(kubeconfig), "%s", test_path("submitter.kubeconfig"));
    identity(&rig, ns, "submitter", "kwq-submitter", token, sizeof(token), kubeconfig);
    /* kwq as kwq-submitter: the rig with that kubeconfig instead of the admin's. */
    sub = rig;
    (void)snprintf(sub.kubeconfig, sizeof(sub.kubeconfig), "%s", kubeconfig);

    (void)snprintf(items, sizeof(items), "%s", test_path("items"));
    (void)snprintf(out, sizeof(out), "%s", test_path("out"));
    f = fopen(items, "w");
    cr_assert_not_null(f);
    for (int i = 1; i <= 20; i++)
        (void)fprintf(f, "item%d\n", i);
    cr_assert_eq(fclose(f), 0);
    KWQ_KUBE(&r, &sub, ns, "run", "--kube", "--queue", "sub", "--job", "sub", "--max", "2",
             "--image", "kwq-worker", "--ready-file", "busy", "--grace", "5s", "--kill-grace", "1s",
             "--input", items, "--output", out, "--", ECHO);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_not_null(
        strstr(r.err, "kwq: finished: 20 done, 0 failed attempts, 0 dead-lettered in "), "%s",
        r.err);
    cli_out_free(&r);
    results = cli_read_file(out);
    for (int i = 1; i <= 20; i++) {
        (void)snprintf(want, sizeof(want), "item%d", i);
        cr_assert_eq(cli_count_line(results, want), 1, "%s: %s", want, results);
    }
    free(results);

    /* kwq job create, scale, job status and delete: every call of theirs is granted. */
    KWQ_KUBE(&r, &sub, ns, "job", "create", "solo", "-P", "0", "--image", "kwq-worker", "--", ECHO);
    (void)snprintf(want, sizeof(want),
                   "job solo created in namespace %s (queue default, parallelism 0)\n", ns);
    expect(&r, 0, want, "");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "one");
    expect(&r, 0, "queue 'default': 1 added, 0 duplicates\n", "");
    cli_out_free(&r);
    KWQ_KUBE(&r, &sub, ns, "scale", "--job", "solo");
    expect(&r, 0, "Job solo: parallelism 0 -> 1 (pending 1, leased 0, ready 0)\n", "");
    cli_out_free(&r);
    KWQ_KUBE(&r, &sub, ns, "job", "status", "solo", "--json");
    expect(&r, 0, NULL, "");
    cr_assert_not_null(strstr(r.out, "\"state\":"), "%s", r.out);
    cli_out_free(&r);
    KWQ_KUBE(&r, &sub, ns, "job", "delete", "solo");
    expect(&r, 0, "job solo deleted; its pods stop in the background\n", "");
    cli_out_free(&r);

    /* Outside the Role: another namespace, kwq refused with the API's reason (exit 78). */
    KWQ_KUBE(&r, &sub, "default", "job", "create", "solo", "--image", "kwq-worker", "--", ECHO);
    (void)snprintf(want, sizeof(want),
                   "kwq: creating the Job: jobs.batch is forbidden: User "
                   "\"system:serviceaccount:%s:kwq-submitter\" cannot create resource \"jobs\" "
                   "in API group \"batch\" in the namespace \"default\"\n",
                   ns);
    expect(&r, 78, "", want);
    cli_out_free(&r);

    /* The token itself: its Secret is readable, nothing else of the kind, and no pod writes. */
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/kwq-redis", ns);
    expect_status(&rig, token, "GET", path, NULL, 200);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", ns);
    expect_status(&rig, token, "GET", path, NULL, 403);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/default-token", ns);
    expect_status(&rig, token, "GET", path, NULL, 403);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
    expect_status(&rig, token, "DELETE", path, NULL, 403);
    expect_status(&rig, token, "POST", path,
                  "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
                  "\"image\":\"kwq\"}]}}",
                  403);
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs?watch=1", ns);
    expect_status(&rig, token, "GET", path, NULL, 403);
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/cronjobs", ns);
    expect_status(&rig, token, "GET", path, NULL, 403);
}

Test(manifests_rbac, the_broker_role_takes_the_lease_and_grants_nothing_more)
{
    struct k8s_rig rig;
    struct broker_proc b;
    struct http_answer a;
    char ns[64], token[4096], kubeconfig[600], path[512], *holder;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "rbacbrk", ns, sizeof(ns));
    (void)snprintf(kubeconfig, sizeof(kubeconfig), "%s", test_path("broker.kubeconfig"));
    identity(&rig, ns, "broker", "kwq-broker", token, sizeof(token), kubeconfig);

    broker_start(&b, "broker.log",
                 (const char *const[]){"--kube", "--kubeconfig", kubeconfig, "--identity",
                                       "broker-m", "--queues", "q", NULL});
    for (time_t end = time(NULL) + 60; broker_metric(&b, "kwq_broker_leader") != 1.0;) {
        cr_assert(time(NULL) < end, "never led through the Lease; see %s", b.log);
        (void)usleep(100 * 1000);
    }
    holder = k8s_rig_lease_holder(&rig, ns, "kwq-broker");
    cr_assert_str_eq(holder, "broker-m");
    free(holder);
    /* The dashboard lists the queue's Jobs (list on jobs). */
    broker_http(&b, "GET", "/api/queues/q/jobs", NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    cr_assert_not_null(strstr(a.body, "\"enabled\":true"), "%s", a.body);
    http_answer_free(&a);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    holder = k8s_rig_lease_holder(&rig, ns, "kwq-broker");
    cr_assert_str_eq(holder, "", "the Lease was not released: held by %s", holder);
    free(holder);

    /* Only its own Lease, and Jobs only listed. */
    (void)snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/other",
                   ns);
    expect_status(&rig, token, "GET", path, NULL, 403);
    (void)snprintf(path, sizeof(path),
                   "/apis/coordination.k8s.io/v1/namespaces/%s/leases/kwq-broker", ns);
    expect_status(&rig, token, "DELETE", path, NULL, 403);
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", ns);
    expect_status(&rig, token, "GET", path, NULL, 200);
    expect_status(
        &rig, token, "POST", path,
        "{\"metadata\":{\"name\":\"j\"},\"spec\":{\"template\":{\"spec\":{"
        "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}",
        403);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", ns);
    expect_status(&rig, token, "GET", path, NULL, 403);
}
