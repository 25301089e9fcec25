/*
 * test_manifests_submit.c - the example overlay's CronJob kwq-submit for
 * real: a Job made from it runs `kwq run --kube` in its pod, in cluster
 * (the ServiceAccount kwq-submitter's token, CA and namespace, where a
 * kubelet would mount them), with the Role of base/submitter; the run makes
 * its worker Job, drains the queue, deletes that Job, and the submit Job
 * completes. The pod's args are the rig's (the ConfigMap volume that holds
 * items.txt is not mounted by the test's node agent); its image, account,
 * environment and Secret references are the overlay's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "redis_fixture.h"
#include "test_k8s_exec.h"
#include "test_manifests.h"

#define ECHO   KWQ_TEST_HELPERS_DIR "/helper_echo"
#define SUBMIT MANIFESTS_DIR "/examples/overlay/submit-cronjob.yaml"
#define ITEMS  12

TestSuite(manifests_submit, .init = cli_setup, .fini = cli_teardown, .timeout = 180);

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    (void)fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* What a kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount, in dir. */
static void service_account_dir(const struct k8s_rig *rig, const char *ns, const char *dir)
{
    char path[600], token[4096], *ca = cli_read_file(rig->ca_file);

    cr_assert_eq(mkdir(dir, 0700), 0);
    k8s_rig_token(rig, ns, "kwq-submitter", token, sizeof(token));
    (void)snprintf(path, sizeof(path), "%s/token", dir);
    write_file(path, token);
    (void)snprintf(path, sizeof(path), "%s/ca.crt", dir);
    write_file(path, ca);
    (void)snprintf(path, sizeof(path), "%s/namespace", dir);
    write_file(path, ns);
    free(ca);
}

/* The submit Job's state: "complete", "failed" or "" (running). */
static const char *job_state(const struct k8s_rig *rig, const char *ns, const char *name)
{
    cJSON *job = manifests_get(rig, ns, "jobs", name);
    const cJSON *c;
    const char *state = "";

    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(job, "status"), "conditions"))
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(c, "type"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));

        if (strcmp(st, "True") == 0 && strcmp(type, "Complete") == 0)
            state = "complete";
        else if (strcmp(st, "True") == 0 && strcmp(type, "Failed") == 0)
            state = "failed";
    }
    cJSON_Delete(job);
    return state;
}

Test(manifests_submit, the_example_cronjob_runs_kwq_run_kube_in_cluster_as_kwq_submitter)
{
    static const char *const rbac[] = {"serviceaccount", "role", "rolebinding"};
    struct k8s_rig rig;
    struct kwq_client *c;
    struct kwq_stats st;
    char ns[64], sa[512], items[512], out[512], file[600], patch[4096], want[32];
    char *results;
    const char *state;
    time_t end;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "submit", ns, sizeof(ns));
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    for (size_t i = 0; i < sizeof(rbac) / sizeof(rbac[0]); i++) {
        (void)snprintf(file, sizeof(file), "%s/base/submitter/%s.yaml", MANIFESTS_DIR, rbac[i]);
        manifests_apply(&rig, ns, file);
    }
    (void)snprintf(sa, sizeof(sa), "%s", test_path("serviceaccount"));
    service_account_dir(&rig, ns, sa);
    (void)snprintf(items, sizeof(items), "%s", test_path("items.txt"));
    (void)snprintf(out, sizeof(out), "%s", test_path("results"));
    results = calloc(ITEMS, 16);
    cr_assert_not_null(results);
    for (int i = 1; i <= ITEMS; i++)
        (void)snprintf(results + strlen(results), 16, "image%d\n", i);
    write_file(items, results);
    free(results);

    manifests_apply(&rig, ns, SUBMIT);
    (void)snprintf(
        patch, sizeof(patch),
        "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{"
        "\"name\":\"submit\",\"command\":[\"%s\"],"
        "\"args\":[\"run\",\"--kube\",\"--input\",\"%s\",\"--output\",\"%s\",\"--max\",\"2\","
        "\"--ready-file\",\"busy\",\"--grace\",\"5s\",\"--kill-grace\",\"1s\",\"--\",\"%s\"],"
        "\"env\":[{\"name\":\"KWQ_IMAGE\",\"value\":\"kwq-worker\"},"
        "{\"name\":\"KWQ_KUBE_SA_DIR\",\"value\":\"%s\"}]}]}}}}}}",
        KWQ_TEST_KWQ_BIN, items, out, ECHO, sa);
    manifests_patch_cronjob(&rig, ns, "kwq-submit", patch);
    manifests_job_from_cronjob(&rig, ns, "kwq-submit", "first-run");

    end = time(NULL) + K8S_WAIT_S;
    while ((state = job_state(&rig, ns, "first-run"))[0] == '\0') {
        cr_assert(time(NULL) < end, "the submit Job never finished");
        (void)usleep(200 * 1000);
    }
    cr_assert_str_eq(state, "complete", "the submit Job failed; see its pod's submit.log");

    results = cli_read_file(out);
    for (int i = 1; i <= ITEMS; i++) {
        (void)snprintf(want, sizeof(want), "image%d", i);
        cr_assert_eq(cli_count_line(results, want), 1, "%s: %s", want, results);
    }
    free(results);
    c = test_client();
    st = cli_stats(c, "demo");
    kwq_client_free(c);
    cr_assert_eq(st.enqueued, ITEMS);
    cr_assert_eq(st.done, ITEMS);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.dead, 0);
    cr_assert(st.drained);
    /* The run deleted the worker Job it made (kwq-QUEUE). */
    (void)snprintf(file, sizeof(file), "/apis/batch/v1/namespaces/%s/jobs/kwq-demo", ns);
    cr_assert_eq(k8s_rig_request(&rig, "GET", file, NULL, NULL, NULL), 404);
}
