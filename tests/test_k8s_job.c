/*
 * test_k8s_job.c - the Job `kwq job create --dry-run` prints, against the
 * real 1.26 API server of the test control plane: accepted as it is under
 * strict field validation (the Job the docs used to show, with
 * spec.podReplacementPolicy, is refused: the check can fail), the name
 * limit is the server's, and the Job really runs: its kwq-worker pods
 * (pod_runner maps the image kwq-worker to this build's) read Redis from the
 * Secret, drain a sealed queue and the Job completes, read back through
 * kube_job_status_parse and kube_pod_list_parse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/error.h"

#include "k8s_rig.h"
#include "kube/job.h"
#include "redis_fixture.h"
#include "test_cli_exec.h"

#define WAIT_S 180 /* safety limit of waiting for the Job; never a timing assertion */

static void clean_env(void)
{
    (void)unsetenv("KWQ_QUEUE");
    (void)unsetenv("KWQ_QUIET");
}

TestSuite(k8s_job, .init = clean_env, .timeout = 300);

/* `kwq job create NAME --dry-run ARGS... -- /bin/cat`: the JSON it prints (malloc'd). */
static char *dry_run(const char *const *args)
{
    const char *argv[48] = {KWQ_TEST_KWQ_BIN, "job", "create"};
    size_t n = 3;
    struct cli_out r;
    char *json;

    for (; *args; args++)
        argv[n++] = *args;
    argv[n++] = "--dry-run";
    argv[n++] = "--";
    argv[n++] = "/bin/cat";
    argv[n] = NULL;
    cli_exec_prog(&r, NULL, 0, argv);
    expect(&r, 0, NULL, "");
    json = strdup(r.out);
    cli_out_free(&r);
    return json;
}

#define DRY_RUN(...) dry_run((const char *const[]){__VA_ARGS__, NULL})

/* POST json as a server-side dry run with strict field validation; the status, *out the answer. */
static long post_strict(const struct k8s_rig *rig, const char *ns, const char *json, char **out)
{
    char path[256];

    (void)snprintf(path, sizeof(path),
                   "/apis/batch/v1/namespaces/%s/jobs?dryRun=All&fieldValidation=Strict", ns);
    return k8s_rig_request(rig, "POST", path, NULL, json, out);
}

static void expect_accepted(const struct k8s_rig *rig, const char *ns, char *json)
{
    char *out = NULL;
    long st = post_strict(rig, ns, json, &out);

    cr_assert_eq(st, 201, "HTTP %ld: %s\n%s", st, out, json);
    free(out);
    free(json);
}

Test(k8s_job, dry_run_jobs_pass_strict_validation_of_1_26)
{
    struct k8s_rig rig;
    char ns[64];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobdry", ns, sizeof(ns));
    expect_accepted(&rig, ns, DRY_RUN("plain", "--image", "kwq-worker"));
    expect_accepted(&rig, ns,
                    DRY_RUN("every-option", "--queue", "q:1.x", "--image", "kwq-worker:1", "-P",
                            "0", "-c", "16", "--lease", "2m", "--timeout", "0", "--grace", "1h",
                            "--kill-grace", "10m", "--stream", "--redis-secret", "other",
                            "--ready-file", "busy", "--cpu", "250m", "--cpu-limit", "1.5",
                            "--memory", "64Mi", "--memory-limit", "1G", "--label",
                            "example.com/team=vision,tier=batch,empty=", "--backoff-limit", "0",
                            "--ttl", "0", "--active-deadline", "36h", "--after", "every-option-1"));
    expect_accepted(&rig, ns,
                    DRY_RUN("abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh",
                            "--image", "kwq-worker")); /* 63: the longest name */
}

Test(k8s_job, the_server_refuses_what_kwq_leaves_out)
{
    struct k8s_rig rig;
    char ns[64], *json, *out = NULL, *bad;
    cJSON *job;
    long st;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobbad", ns, sizeof(ns));
    json = DRY_RUN("refused", "--image", "kwq-worker");
    job = cJSON_Parse(json);
    cr_assert_not_null(job);
    /* The field the docs' Job had: unknown to 1.26, so the whole Job is refused. */
    cr_assert_not_null(cJSON_AddStringToObject(cJSON_GetObjectItem(job, "spec"),
                                               "podReplacementPolicy", "Failed"));
    bad = cJSON_PrintUnformatted(job);
    st = post_strict(&rig, ns, bad, &out);
    cr_assert_eq(st, 400, "HTTP %ld: %s", st, out);
    cr_assert_not_null(strstr(out, "podReplacementPolicy"), "%s", out);
    free(out);
    cJSON_free(bad);
    /* A 64-character name: the server's limit is kube_job_check_name's. */
    cJSON_ReplaceItemInObject(
        cJSON_GetObjectItem(job, "metadata"), "name",
        cJSON_CreateString("abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghi"));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(job, "spec"), "podReplacementPolicy");
    bad = cJSON_PrintUnformatted(job);
    out = NULL;
    st = post_strict(&rig, ns, bad, &out);
    cr_assert_eq(st, 422, "HTTP %ld: %s", st, out);
    cr_assert_not_null(strstr(out, "must be no more than 63 characters"), "%s", out);
    free(out);
    cJSON_free(bad);
    cJSON_Delete(job);
    free(json);
}

/* ---- The Job runs ------------------------------------------------------------------------- */

static void enqueue_sealed(const char *queue, size_t n)
{
    struct kwq_client *c = test_client();
    struct kwq_new_task t[32];
    char payload[32][16];

    cr_assert(n <= 32);
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(payload[i], sizeof(payload[i]), "item-%zu", i);
        t[i] = (struct kwq_new_task){.payload = payload[i], .payload_len = strlen(payload[i])};
    }
    cr_assert_eq(kwq_enqueue(c, queue, t, n, NULL, NULL), 0);
    cr_assert_eq(kwq_seal(c, queue), 0);
    kwq_client_free(c);
}

/* GET the Job until it is Complete or Failed (the safety limit fails the test); parsed. */
static void wait_finished(const struct k8s_rig *rig, const char *ns, const char *name,
                          struct kube_job_status *st)
{
    char path[256];
    time_t end = time(NULL) + WAIT_S;
    struct kwq_error err = {0};

    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
    for (;;) {
        char *out = k8s_rig_must(rig, "GET", path, NULL);
        cJSON *job = cJSON_Parse(out);

        free(out);
        cr_assert_eq(kube_job_status_parse(job, st, &err), 0, "%s", err.msg);
        cJSON_Delete(job);
        if (kube_job_finished(st))
            return;
        kube_job_status_done(st);
        cr_assert(time(NULL) < end, "Job %s not finished after %d s", name, WAIT_S);
        (void)nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
    }
}

static void read_pods(const struct k8s_rig *rig, const char *ns, const struct kube_job_status *st,
                      struct kube_pod_list *pods)
{
    char path[512], sel[256];
    struct kwq_error err = {0};
    char *out, *eq;
    cJSON *list;

    (void)snprintf(sel, sizeof(sel), "%s", st->selector);
    eq = strchr(sel, '=');
    cr_assert_not_null(eq);
    *eq = '\0';
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s%%3D%s", ns, sel,
                   eq + 1);
    out = k8s_rig_must(rig, "GET", path, NULL);
    list = cJSON_Parse(out);
    free(out);
    cr_assert_eq(kube_pod_list_parse(list, pods, &err), 0, "%s", err.msg);
    cJSON_Delete(list);
}

Test(k8s_job, the_job_drains_a_sealed_queue_and_completes)
{
    struct k8s_rig rig;
    struct kube_job_status st;
    struct kube_pod_list pods;
    struct kwq_client *c;
    struct kwq_stats stats;
    char ns[64], path[256], uid_sel[128], *json;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobrun", ns, sizeof(ns));
    redis_fixture_start(&test_redis, NULL);
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    enqueue_sealed("work", 20);
    /* Relative ready file: pods of the rig share one filesystem, each in its own cwd. */
    json = DRY_RUN("drain", "--queue", "work", "--image", "kwq-worker", "-P", "2", "--ready-file",
                   "busy", "--grace", "2s", "--kill-grace", "1s");
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs?fieldValidation=Strict",
                   ns);
    free(k8s_rig_must(&rig, "POST", path, json));
    free(json);
    wait_finished(&rig, ns, "drain", &st);
    cr_assert(st.complete, "Job failed: %s", st.nconds ? st.conds[0].message : "");
    cr_assert_eq(st.succeeded, 2);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.active, 0);
    cr_assert_str_eq(st.queue, "work");
    cr_assert_not_null(st.completed);
    (void)snprintf(uid_sel, sizeof(uid_sel), "controller-uid=%s", st.uid);
    cr_assert_str_eq(st.selector, uid_sel); /* 1.26: the unprefixed label */
    read_pods(&rig, ns, &st, &pods);
    cr_assert_eq(pods.n, 2);
    for (size_t i = 0; i < pods.n; i++) {
        cr_assert_str_eq(pods.pods[i].phase, "Succeeded");
        cr_assert(pods.pods[i].terminated);
        cr_assert_eq(pods.pods[i].exit_code, 0);
        cr_assert(strncmp(pods.pods[i].name, "drain-", 6) == 0, "%s", pods.pods[i].name);
    }
    kube_pod_list_done(&pods);
    kube_job_status_done(&st);
    c = test_client();
    cr_assert_eq(kwq_stats(c, "work", &stats), 0);
    cr_assert_eq(stats.done, 20);
    cr_assert_eq(stats.dead, 0);
    cr_assert(stats.drained);
    kwq_client_free(c);
    redis_fixture_stop(&test_redis);
}
