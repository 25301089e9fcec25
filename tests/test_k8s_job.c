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
#include <ev.h>

#include "kwq/client.h"
#include "kwq/error.h"

#include "k8s_rig.h"
#include "kube/config.h"
#include "kube/http.h"
#include "kube/job.h"
#include "redis_fixture.h"
#include "test_k8s_exec.h"

#define WAIT_S K8S_WAIT_S

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
    char payload[32][32];

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

/* ---- kwq job create, status, delete end to end ---------------------------------------------- */

Test(k8s_job, kwq_job_create_status_delete)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64], want[512];
    const cJSON *pod;
    cJSON *st;
    struct kwq_client *c;
    struct kwq_stats stats;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobcli", ns, sizeof(ns));
    redis_fixture_start(&test_redis, NULL);
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    enqueue_sealed("e2e", 30);
    KWQ_KUBE(&r, &rig, ns, "job", "create", "e2e", "--queue", "e2e", "--image", "kwq-worker", "-P",
             "3", "--ready-file", "busy", "--", "/bin/cat");
    (void)snprintf(want, sizeof(want),
                   "job e2e created in namespace %s (queue e2e, parallelism 3)\n", ns);
    expect(&r, 0, want, "");
    cli_out_free(&r);
    st = k8s_wait_state(&rig, ns, "e2e", "complete");
    cr_assert_str_eq(k8s_str_of(st, "queue"), "e2e");
    cr_assert_str_eq(k8s_str_of(st, "namespace"), ns);
    cr_assert_eq(k8s_num_of(st, "parallelism"), 3);
    cr_assert_eq(k8s_num_of(st, "succeeded"), 3);
    cr_assert_eq(k8s_num_of(st, "failed"), 0);
    cr_assert_eq(k8s_num_of(st, "active"), 0);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(st, "terminating"))); /* 1.26 */
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(st, "finished")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(st, "scalable")));
    cr_assert_str_eq(
        k8s_str_of(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0), "type"),
        "Complete");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "pods")), 3);
    cJSON_ArrayForEach(pod, cJSON_GetObjectItem(st, "pods"))
    {
        cr_assert_str_eq(k8s_str_of(pod, "phase"), "Succeeded");
        cr_assert_eq(k8s_num_of(pod, "exit_code"), 0);
        cr_assert_str_eq(k8s_str_of(pod, "reason"), "Completed");
    }
    cJSON_Delete(st);
    c = test_client();
    cr_assert_eq(kwq_stats(c, "e2e", &stats), 0);
    cr_assert_eq(stats.done, 30);
    kwq_client_free(c);

    KWQ_KUBE(&r, &rig, ns, "job", "status", "e2e");
    (void)snprintf(want, sizeof(want), "job e2e  namespace %s  queue e2e  complete\n", ns);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "parallelism 3  active 0  ready 0  succeeded 3  failed 0\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "condition Complete=True\n"), "%s", r.out);
    cr_assert_eq(cli_count_line(r.out, ""), 0);
    cli_out_free(&r);

    KWQ_KUBE(&r, &rig, ns, "job", "create", "e2e", "--image", "kwq-worker", "--", "/bin/cat");
    (void)snprintf(want, sizeof(want),
                   "kwq: Job e2e already exists in namespace %s; delete it ('kwq job delete e2e') "
                   "or choose another name\n",
                   ns);
    expect(&r, 1, "", want);
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "job", "delete", "e2e");
    expect(&r, 0, "job e2e deleted; its pods stop in the background\n", "");
    cli_out_free(&r);
    (void)snprintf(want, sizeof(want), "kwq: no Job e2e in namespace %s\n", ns);
    KWQ_KUBE(&r, &rig, ns, "job", "status", "e2e");
    expect(&r, 5, "", want);
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "job", "delete", "e2e");
    expect(&r, 5, "", want);
    cli_out_free(&r);
    redis_fixture_stop(&test_redis);
}

Test(k8s_job, a_handler_that_cannot_run_fails_the_job_through_the_policy)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64];
    const cJSON *pod, *cond = NULL;
    int exits_78 = 0;
    cJSON *st;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobfail", ns, sizeof(ns));
    redis_fixture_start(&test_redis, NULL);
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    enqueue_sealed("broken", 3);
    KWQ_KUBE(&r, &rig, ns, "job", "create", "broken", "--queue", "broken", "--image", "kwq-worker",
             "-P", "2", "--ready-file", "busy", "--quiet", "--", "/nonexistent/handler");
    expect(&r, 0, "", "");
    cli_out_free(&r);
    st = k8s_wait_state(&rig, ns, "broken", "failed");
    cr_assert_eq(k8s_num_of(st, "succeeded"), 0);
    cJSON_ArrayForEach(pod, cJSON_GetObjectItem(st, "conditions"))
    {
        if (strcmp(k8s_str_of(pod, "type"), "Failed") == 0)
            cond = pod;
    }
    cr_assert_not_null(cond);
    cr_assert_str_eq(k8s_str_of(cond, "reason"), "PodFailurePolicy");
    cr_assert_not_null(strstr(k8s_str_of(cond, "message"),
                              "failed with exit code 78 matching FailJob rule at index 0"),
                       "%s", k8s_str_of(cond, "message"));
    cr_assert(k8s_num_of(st, "failed") >= 1);
    cJSON_ArrayForEach(pod, cJSON_GetObjectItem(st, "pods"))
    {
        const cJSON *code = cJSON_GetObjectItem(pod, "exit_code");

        exits_78 += strcmp(k8s_str_of(pod, "phase"), "Failed") == 0 && cJSON_IsNumber(code) &&
                    code->valuedouble == 78;
    }
    cr_assert(exits_78 >= 1, "no pod failed with exit code 78");
    cJSON_Delete(st);
    redis_fixture_stop(&test_redis);
}

Test(k8s_job, create_refuses_a_missing_secret_when_it_may_read_secrets)
{
    struct k8s_rig rig, as;
    struct cli_out r;
    char ns[64], want[512], token[2048], kubeconfig[600];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobsecret", ns, sizeof(ns));
    redis_fixture_start(&test_redis, NULL);
    KWQ_KUBE(&r, &rig, ns, "job", "create", "nosecret", "--image", "kwq-worker", "--", "/bin/cat");
    (void)snprintf(want, sizeof(want),
                   "kwq: no Secret kwq-redis in namespace %s, so the pods could not start: "
                   "create it (kubectl create secret generic kwq-redis "
                   "--from-literal=url=redis://HOST:6379/0) or name another with --redis-secret\n",
                   ns);
    expect(&r, 78, "", want);
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "job", "status", "nosecret");
    expect(&r, 5, "", NULL); /* nothing was created */
    cli_out_free(&r);
    /* A submitter that may not read Secrets (the usual Role): kwq cannot tell, and creates. */
    k8s_rig_service_account(&rig, ns, "submitter",
                            "[{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\"],"
                            "\"verbs\":[\"create\",\"get\",\"delete\"]},"
                            "{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"list\"]}]",
                            token, sizeof(token));
    (void)snprintf(kubeconfig, sizeof(kubeconfig), "%s", test_path("submitter.kubeconfig"));
    k8s_rig_write_kubeconfig(&rig, kubeconfig, token, NULL, ns);
    as = rig;
    (void)snprintf(as.kubeconfig, sizeof(as.kubeconfig), "%s", kubeconfig);
    KWQ_KUBE(&r, &as, ns, "job", "create", "nosecret", "-P", "0", "--image", "kwq-worker", "--",
             "/bin/cat");
    (void)snprintf(want, sizeof(want),
                   "job nosecret created in namespace %s (queue default, parallelism 0)\n", ns);
    expect(&r, 0, want, "");
    cli_out_free(&r);
    KWQ_KUBE(&r, &as, ns, "job", "status", "nosecret");
    (void)snprintf(want, sizeof(want), "job nosecret  namespace %s  queue default  paused\n", ns);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\nno pods\n"), "%s", r.out);
    cli_out_free(&r);
    KWQ_KUBE(&r, &as, ns, "job", "delete", "nosecret");
    expect(&r, 0, "job nosecret deleted; its pods stop in the background\n", "");
    cli_out_free(&r);
    redis_fixture_stop(&test_redis);
}

/* ---- The API calls of kube/job.h on their own ------------------------------------------------ */

static struct kube_client *admin_client(const struct k8s_rig *rig, const char *ns)
{
    struct kube_config_opts o = {.kubeconfig = rig->kubeconfig, .namespace = ns};
    struct kube_client_opts copts = {.timeout_ms = 10000, .retry_ms = 10000, .quiet = true};
    struct kube_config cfg;
    struct kube_client *k = NULL;
    struct kwq_error err = {0};

    cr_assert_eq(kube_config_load(&o, &cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(kube_client_new(ev_default_loop(EVFLAG_AUTO), &cfg, &copts, &k, &err), 0, "%s",
                 err.msg);
    kube_config_free(&cfg);
    return k;
}

/* kube_job_pods until exactly n pods are not being deleted (the safety limit fails the test). */
static void wait_pods(struct kube_client *k, const struct kube_job_status *job, size_t n,
                      struct kube_pod_list *pods)
{
    time_t end = time(NULL) + WAIT_S;
    struct kwq_error err = {0};

    for (;;) {
        size_t live = 0;

        cr_assert_eq(kube_job_pods(k, job, pods, &err), 0, "%s", err.msg);
        for (size_t i = 0; i < pods->n; i++)
            live += !pods->pods[i].deleting && strcmp(pods->pods[i].phase, "Running") == 0;
        if (live == n)
            return;
        kube_pod_list_done(pods);
        cr_assert(time(NULL) < end, "never %zu running pods", n);
        (void)nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
    }
}

Test(k8s_job, create_get_scale_list_and_delete_through_the_api)
{
    static const char *const handler[] = {"/bin/cat"};
    struct kube_job_spec spec = {.name = "api",
                                 .queue = "idle",
                                 .image = "kwq-worker",
                                 .handler = handler,
                                 .nhandler = 1,
                                 .parallelism = 0,
                                 .concurrency = 1,
                                 .lease_ms = 30000,
                                 .grace_ms = 1000,
                                 .kill_grace_ms = 1000,
                                 .redis_secret = "kwq-redis",
                                 .ready_file = "busy",
                                 .backoff_limit = 6,
                                 .ttl_s = 600};
    struct k8s_rig rig;
    struct kube_client *k;
    struct kube_job_status st, got;
    struct kube_pod_list pods;
    struct kwq_error err = {0};
    char ns[64], *json = NULL;
    size_t deleting = 0;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "jobapi", ns, sizeof(ns));
    redis_fixture_start(&test_redis, NULL); /* queue "idle": never sealed, so workers wait */
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", test_redis.url, NULL);
    k = admin_client(&rig, ns);
    cr_assert_eq(kube_job_build(&spec, false, &json, &err), 0, "%s", err.msg);
    cr_assert_eq(kube_job_create(k, json, &st, &err), 0, "%s", err.msg);
    cr_assert_str_eq(st.name, "api");
    cr_assert_eq(st.parallelism, 0);
    cr_assert_eq(kube_job_create(k, json, &got, &err), KWQ_ESTATE);
    free(json);
    cr_assert_eq(kube_job_set_parallelism(k, "api", 2, &got, &err), 0, "%s", err.msg);
    cr_assert_eq(got.parallelism, 2); /* read back from the server's answer */
    cr_assert_str_eq(got.uid, st.uid);
    kube_job_status_done(&got);
    wait_pods(k, &st, 2, &pods);
    cr_assert_eq(pods.n, 2);
    kube_pod_list_done(&pods);
    cr_assert_eq(kube_job_set_parallelism(k, "api", 1, &got, &err), 0, "%s", err.msg);
    cr_assert_eq(got.parallelism, 1);
    kube_job_status_done(&got);
    wait_pods(k, &st, 1, &pods); /* the controller deletes one of the two */
    for (size_t i = 0; i < pods.n; i++)
        deleting += pods.pods[i].deleting;
    cr_assert_eq(pods.n - deleting, 1);
    kube_pod_list_done(&pods);
    cr_assert_eq(kube_job_get(k, "api", &got, &err), 0, "%s", err.msg);
    cr_assert_eq(got.parallelism, 1);
    cr_assert(kube_job_scalable(&got));
    kube_job_status_done(&got);
    cr_assert_eq(kube_job_delete(k, "api", &err), 0, "%s", err.msg);
    cr_assert_eq(kube_job_get(k, "api", &got, &err), KWQ_ENOTFOUND);
    cr_assert_eq(kube_job_delete(k, "api", &err), KWQ_ENOTFOUND);
    cr_assert_eq(kube_job_set_parallelism(k, "api", 3, &got, &err), KWQ_ENOTFOUND);
    cr_assert_eq(kube_job_get(k, "Bad", &got, &err), KWQ_EINVAL);
    kube_job_status_done(&st);
    kube_client_free(k);
    redis_fixture_stop(&test_redis);
}
