/*
 * test_manifests_cron.c - the worker CronJob of manifests/base for real:
 * applied to the control plane as checked in, patched only for the rig
 * (pods are local processes: the ready file is relative to the pod's
 * directory, the handler is a test helper), then `kubectl create job my-run
 * --from=cronjob/kwq-worker`, `kwq scale`, and the queue drains with every
 * item done once and the Job Complete. Without kubectl the Job is built as
 * kubectl builds it; a second test checks that build against kubectl's.
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

#define GATE    KWQ_TEST_HELPERS_DIR "/helper_gate"
#define ITEMS   8
#define CRONJOB MANIFESTS_DIR "/base/worker/cronjob.yaml"

TestSuite(manifests_cron, .init = cli_setup, .fini = cli_teardown, .timeout = 180);

/* ---- The CronJob on the rig ----------------------------------------------------------------- */

/*
 * Apply the checked-in CronJob, then change what the rig needs: the handler,
 * a ready file in the pod's own directory (every pod shares this host's
 * filesystem), short grace periods; job_suspend suspends the Jobs it makes.
 */
static void cronjob_for_rig(const struct k8s_rig *rig, const char *ns, const char *gate_dir,
                            bool job_suspend)
{
    char body[2048];

    manifests_apply(rig, ns, CRONJOB);
    (void)snprintf(
        body, sizeof(body),
        "{\"spec\":{\"jobTemplate\":{\"spec\":{%s\"template\":{\"spec\":{\"containers\":[{"
        "\"name\":\"worker\",\"args\":[\"--\",\"%s\",\"%s\"],"
        "\"env\":[{\"name\":\"KWQ_READY_FILE\",\"value\":\"busy\"},"
        "{\"name\":\"KWQ_GRACE\",\"value\":\"5s\"},{\"name\":\"KWQ_KILL_GRACE\",\"value\":\"1s\"}],"
        "\"readinessProbe\":{\"exec\":{\"command\":[\"test\",\"-e\",\"busy\"]}}}]}}}}}}",
        job_suspend ? "\"suspend\":true," : "", GATE, gate_dir);
    manifests_patch_cronjob(rig, ns, "kwq-worker", body);
}

/* The queue the CronJob's workers work on (its annotation kwq.dev/queue). */
static char *cronjob_queue(const struct k8s_rig *rig, const char *ns)
{
    cJSON *cj = manifests_get(rig, ns, "cronjobs", "kwq-worker");
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(cj, "metadata"), "annotations");
    const char *q = cJSON_GetStringValue(cJSON_GetObjectItem(ann, "kwq.dev/queue"));
    char *ret;

    cr_assert_not_null(q, "the CronJob has no kwq.dev/queue annotation");
    ret = strdup(q);
    cJSON_Delete(cj);
    return ret;
}

/* ---- Waiting -------------------------------------------------------------------------------- */

static double status_num(const cJSON *job, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(job, "status"), key);

    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Wait until Job name has ready pods Ready (each holding a task). */
static void wait_ready(const struct k8s_rig *rig, const char *ns, const char *name, int ready)
{
    time_t end = time(NULL) + K8S_WAIT_S;

    for (;;) {
        cJSON *job = manifests_get(rig, ns, "jobs", name);
        double have = status_num(job, "ready");

        cJSON_Delete(job);
        if (have == ready)
            return;
        cr_assert(time(NULL) < end, "Job %s never had %d ready pods (%g)", name, ready, have);
        (void)usleep(100 * 1000);
    }
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fclose(f), 0);
}

/* ---- The tests ------------------------------------------------------------------------------ */

static struct kwq_stats stats_of(const char *queue)
{
    struct kwq_client *c = test_client();
    struct kwq_stats st = cli_stats(c, queue);

    kwq_client_free(c);
    return st;
}

/* ITEMS payloads "block:1".."block:N" on queue, sealed. */
static void enqueue_blocking(const char *queue)
{
    char items[ITEMS * 16] = "";
    size_t o = 0;
    struct cli_out r;
    char want[128];

    for (int i = 1; i <= ITEMS; i++)
        o += (size_t)snprintf(items + o, sizeof(items) - o, "block:%d\n", i);
    kwq(&r, items, "--queue", queue, "enqueue", "--seal");
    (void)snprintf(want, sizeof(want), "queue '%s': %d added, 0 duplicates, sealed\n", queue,
                   ITEMS);
    expect(&r, 0, want, "");
    cli_out_free(&r);
}

/* The Job as kubectl makes it from the CronJob: a work-queue Job the CronJob owns. */
static void expect_shape(const cJSON *job)
{
    const cJSON *meta = cJSON_GetObjectItem(job, "metadata");
    const cJSON *owners = cJSON_GetObjectItem(meta, "ownerReferences"), *o;
    const cJSON *spec = cJSON_GetObjectItem(job, "spec");

    cr_assert_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "annotations"),
                                                 "cronjob.kubernetes.io/instantiate")),
        "manual");
    cr_assert_eq(cJSON_GetArraySize(owners), 1);
    o = cJSON_GetArrayItem(owners, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")), "CronJob");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")), "kwq-worker");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "controller")));
    cr_assert_null(cJSON_GetObjectItem(spec, "completions"), "completions is set");
    cr_assert_eq(cJSON_GetArraySize(
                     cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "podFailurePolicy"), "rules")),
                 3);
}

Test(manifests_cron, a_job_from_the_cronjob_drains_the_queue_scaled_by_kwq_and_completes)
{
    struct k8s_rig rig;
    struct cli_out r;
    struct kwq_stats st;
    char ns[64], dir[512], path[600], *queue, *pid;
    cJSON *job;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "cron", ns, sizeof(ns));
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    (void)snprintf(dir, sizeof(dir), "%s", test_path("gate"));
    cr_assert_eq(mkdir(dir, 0700), 0);
    cronjob_for_rig(&rig, ns, dir, false);
    queue = cronjob_queue(&rig, ns);
    enqueue_blocking(queue);

    manifests_job_from_cronjob(&rig, ns, "kwq-worker", "my-run");
    job = manifests_get(&rig, ns, "jobs", "my-run");
    expect_shape(job);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(job, "spec"), "parallelism")->valueint, 1);
    cJSON_Delete(job);

    /* Every task blocks until its go file: 8 waiting, 2 per pod, so 4 pods, each holding one. */
    KWQ_KUBE(&r, &rig, ns, "scale", "--job", "my-run", "--queue", queue, "--tasks-per-worker", "2",
             "--max", "4");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strncmp(r.out, "Job my-run: parallelism 1 -> 4 (pending ", 40) == 0, "%s", r.out);
    cli_out_free(&r);
    wait_ready(&rig, ns, "my-run", 4);
    for (int i = 1; i <= ITEMS; i++) {
        (void)snprintf(path, sizeof(path), "%s/%d.go", dir, i);
        touch(path);
    }

    job = k8s_wait_state(&rig, ns, "my-run", "complete");
    cr_assert_eq(k8s_num_of(job, "failed"), 0);
    cJSON_Delete(job);
    st = stats_of(queue);
    cr_assert_eq(st.enqueued, ITEMS);
    cr_assert_eq(st.done, ITEMS);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.expired, 0);
    cr_assert_eq(st.released, 0);
    cr_assert_eq(st.dead, 0);
    cr_assert(st.drained);
    /* Each handler ran once: its first attempt is the result, ITEMS times. */
    kwq(&r, NULL, "--queue", queue, "results");
    expect(&r, 0, NULL, "");
    cr_assert_eq(cli_count_line(r.out, "attempt 1"), ITEMS, "%s", r.out);
    cli_out_free(&r);
    for (int i = 1; i <= ITEMS; i++) {
        (void)snprintf(path, sizeof(path), "%s/%d.pid", dir, i);
        pid = cli_read_file(path);
        cr_assert_neq(pid[0], '\0', "the handler of block:%d never ran", i);
        free(pid);
    }
    free(queue);
}

/*
 * What of a Job came from its CronJob: spec, labels, annotations and owner,
 * less what the API server gives each Job (its selector and the labels with
 * its name and uid), as compact JSON (malloc).
 */
static char *from_cronjob(const cJSON *job)
{
    static const char *const keys[] = {"labels", "annotations", "ownerReferences"};
    static const char *const own[] = {"controller-uid", "job-name",
                                      "batch.kubernetes.io/controller-uid",
                                      "batch.kubernetes.io/job-name"};
    cJSON *o = cJSON_CreateObject(), *spec, *labels;
    const cJSON *meta = cJSON_GetObjectItem(job, "metadata");
    char *s;

    spec = cJSON_Duplicate(cJSON_GetObjectItem(job, "spec"), 1);
    cJSON_DeleteItemFromObject(spec, "selector");
    labels = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "template"), "metadata"), "labels");
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        cJSON_DeleteItemFromObject(labels, own[i]);
    cJSON_AddItemToObject(o, "spec", spec);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(cJSON_GetObjectItem(meta, keys[i]), 1));
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The Job the test builds without kubectl is the one kubectl builds, but for its name. */
Test(manifests_cron, the_api_route_builds_the_job_kubectl_builds)
{
    struct k8s_rig rig;
    const char *kubectl, *why;
    char ns[64], *sa, *sb;
    cJSON *a, *b;

    k8s_rig_get(&rig);
    kubectl = manifests_kubectl(&why);
    if (!kubectl)
        cr_skip_test("%s: nothing to compare the API route's Job with", why);
    k8s_rig_namespace(&rig, "cronapi", ns, sizeof(ns));
    cronjob_for_rig(&rig, ns, "/nonexistent", true);
    manifests_job_from_cronjob_kubectl(kubectl, &rig, ns, "kwq-worker", "by-kubectl");
    manifests_job_from_cronjob_api(&rig, ns, "kwq-worker", "by-api");
    a = manifests_get(&rig, ns, "jobs", "by-kubectl");
    b = manifests_get(&rig, ns, "jobs", "by-api");
    expect_shape(a);
    sa = from_cronjob(a);
    sb = from_cronjob(b);
    cr_assert_str_eq(sb, sa);
    free(sa);
    free(sb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
