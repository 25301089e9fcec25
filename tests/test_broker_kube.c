/*
 * test_broker_kube.c - kwq-broker --kube against the real control plane
 * (../shared/k8s), as a ServiceAccount with only what the broker uses
 * (leases: get, create, update; jobs: list): it leads through a Lease
 * (leader_backend "kubernetes"), the dashboard's API lists the Jobs working
 * on a queue and no other, and SIGTERM releases the Lease at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "kwq/client.h"

#include "broker_proc.h"
#include "k8s_rig.h"
#include "test_cli_exec.h"

TestSuite(broker_kube, .init = cli_setup, .fini = cli_teardown, .timeout = 240);

static void make_job(const struct k8s_rig *rig, const char *ns, const char *name, const char *queue)
{
    char path[256], body[1024];

    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", ns);
    (void)snprintf(body, sizeof(body),
                   "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"%s\","
                   "\"labels\":{\"app.kubernetes.io/managed-by\":\"kwq\"},"
                   "\"annotations\":{\"kwq.dev/queue\":\"%s\"}},\"spec\":{\"suspend\":true,"
                   "\"parallelism\":2,\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
                   "\"containers\":[{\"name\":\"worker\",\"image\":\"kwq-worker:test\"}]}}}}",
                   name, queue);
    free(k8s_rig_must(rig, "POST", path, body));
}

Test(broker_kube, leads_through_a_lease_and_lists_a_queues_jobs)
{
    struct k8s_rig rig;
    struct kwq_client *c;
    struct kwq_new_task t = {.payload = "x", .payload_len = 1};
    struct kwq_enqueued e;
    struct broker_proc b;
    struct http_answer a;
    char ns[128], token[4096], kubeconfig[600];
    size_t n;
    cJSON *o, *jobs, *j;
    char *holder;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "broker", ns, sizeof(ns));
    k8s_rig_service_account(&rig, ns, "kwq-broker",
                            "[{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],"
                            "\"verbs\":[\"get\",\"create\",\"update\"]},"
                            "{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\"],"
                            "\"verbs\":[\"list\"]}]",
                            token, sizeof(token));
    (void)snprintf(kubeconfig, sizeof(kubeconfig), "%s", test_path("kubeconfig"));
    k8s_rig_write_kubeconfig(&rig, kubeconfig, token, NULL, ns);
    make_job(&rig, ns, "kwq-photos", "photos");
    make_job(&rig, ns, "kwq-other", "other");
    c = test_client();
    cr_assert_eq(kwq_enqueue(c, "photos", &t, 1, &e, &n), 0);

    const char *args[] = {"--kube", "--kubeconfig", kubeconfig, "--identity", "broker-k", NULL};
    broker_start(&b, "broker.log", args);
    for (time_t deadline = time(NULL) + 60; broker_metric(&b, "kwq_broker_leader") != 1.0;) {
        cr_assert(time(NULL) < deadline, "never led through the Lease; see %s", b.log);
        (void)usleep(100000);
    }
    cr_assert_eq(broker_metric(&b, "kwq_broker_leader_term"), 1.0);
    holder = k8s_rig_lease_holder(&rig, ns, "kwq-broker");
    cr_assert_str_eq(holder, "broker-k");
    free(holder);

    broker_http(&b, "GET", "/api/queues/photos/jobs", NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    o = cJSON_Parse(a.body);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "enabled")), "%s", a.body);
    jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    cr_assert_eq(cJSON_GetArraySize(jobs), 1, "%s", a.body);
    j = cJSON_GetArrayItem(jobs, 0);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "name")->valuestring, "kwq-photos");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "parallelism")->valueint, 2);
    cJSON_Delete(o);
    http_answer_free(&a);

    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    holder = k8s_rig_lease_holder(&rig, ns, "kwq-broker");
    cr_assert_str_eq(holder, "", "the Lease was not released: held by %s", holder);
    free(holder);
    kwq_client_free(c);
}
