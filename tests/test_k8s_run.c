/*
 * test_k8s_run.c - `kwq run --kube`, `kwq scale` and `kwq autoscale` end to
 * end against the real 1.26 control plane of the tests: the Job's pods are
 * this build's kwq-worker run by pod_runner.py as local processes, each in
 * its own directory (so the relative ready file "busy" is per pod). What
 * happens between two polls (each value parallelism took, the exit code of
 * a pod whose object is gone) is read from watches (test_k8s_watch.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/error.h"

#include "k8s_rig.h"
#include "kube/job.h"
#include "redis_fixture.h"
#include "test_k8s_exec.h"
#include "test_k8s_watch.h"

#define GATE KWQ_TEST_HELPERS_DIR "/helper_gate"
#define ECHO KWQ_TEST_HELPERS_DIR "/helper_echo"
/* The payload, a space and the pod's directory name (NS_POD): which Job ran the task. */
#define WHERE "printf '%s %s' \"$(cat)\" \"${PWD##*/}\""

TestSuite(k8s_run, .init = cli_setup, .fini = cli_teardown, .timeout = 400);

/* ---- Set-up and reading back ---------------------------------------------------------------- */

/* The rig, a namespace of the test's own, and the Secret kwq-redis with the fixture's Redis. */
static void k8s_setup(struct k8s_rig *rig, const char *prefix, char *ns, size_t len)
{
    k8s_rig_get(rig);
    k8s_rig_namespace(rig, prefix, ns, len);
    k8s_rig_secret(rig, ns, "kwq-redis", "url", test_redis.url, NULL);
}

static void sleep_ms(long ms)
{
    (void)nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L},
                    NULL);
}

/* Enqueue payloads (unsealed) on queue; their task IDs into ids (may be NULL). */
static void enqueue(const char *queue, const char *const *payloads, size_t n, char (*ids)[32])
{
    struct kwq_client *c = test_client();
    struct kwq_new_task *t = calloc(n, sizeof(*t));
    struct kwq_enqueued *res = calloc(n, sizeof(*res));

    cr_assert(t && res);
    for (size_t i = 0; i < n; i++)
        t[i] = (struct kwq_new_task){.payload = payloads[i], .payload_len = strlen(payloads[i])};
    cr_assert_eq(kwq_enqueue(c, queue, t, n, res, NULL), 0, "%s", kwq_client_errstr(c));
    for (size_t i = 0; ids && i < n; i++)
        (void)snprintf(ids[i], sizeof(ids[i]), "%s", res[i].id);
    free(res);
    free(t);
    kwq_client_free(c);
}

/* n payloads "PREFIX1".."PREFIXn" (static storage, reused by the next call). */
static const char *const *numbered(const char *prefix, size_t n)
{
    static char buf[128][40];
    static const char *list[128];

    cr_assert(n <= 128);
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(buf[i], sizeof(buf[i]), "%s%zu", prefix, i + 1);
        list[i] = buf[i];
    }
    return list;
}

static struct kwq_stats stats_of(const char *queue)
{
    struct kwq_client *c = test_client();
    struct kwq_stats st = cli_stats(c, queue);

    kwq_client_free(c);
    return st;
}

/* The Job as the API server has it now (parsed). */
static void job_get(const struct k8s_rig *rig, const char *ns, const char *name,
                    struct kube_job_status *st)
{
    char path[256], *out;
    struct kwq_error err = {0};
    cJSON *j;

    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
    out = k8s_rig_must(rig, "GET", path, NULL);
    j = cJSON_Parse(out);
    free(out);
    cr_assert_eq(kube_job_status_parse(j, st, &err), 0, "%s", err.msg);
    cJSON_Delete(j);
}

/* Wait until the Job's parallelism is want and ready pods are ready (-1: any). */
static void wait_job(const struct k8s_rig *rig, const char *ns, const char *name, int64_t want,
                     int64_t ready)
{
    time_t end = time(NULL) + K8S_WAIT_S;

    for (;;) {
        struct kube_job_status st;
        bool ok;

        job_get(rig, ns, name, &st);
        ok = st.parallelism == want && (ready < 0 || st.ready == ready);
        kube_job_status_done(&st);
        if (ok)
            return;
        cr_assert(time(NULL) < end, "Job %s never had parallelism %lld and %lld ready", name,
                  (long long)want, (long long)ready);
        sleep_ms(100);
    }
}

/* Wait until the queue has done n tasks. */
static void wait_done(const char *queue, uint64_t n)
{
    time_t end = time(NULL) + K8S_WAIT_S;

    while (stats_of(queue).done < n) {
        cr_assert(time(NULL) < end, "queue %s never reached %llu done", queue,
                  (unsigned long long)n);
        sleep_ms(100);
    }
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fclose(f), 0);
}

/* Wait until path exists; its contents (a pid file of helper_gate). */
static long wait_pid_file(const char *path)
{
    time_t end = time(NULL) + K8S_WAIT_S;

    for (;;) {
        char *s = cli_read_file(path);
        long pid = atol(s);

        free(s);
        if (pid > 0)
            return pid;
        cr_assert(time(NULL) < end, "%s never written", path);
        sleep_ms(50);
    }
}

/*
 * `kwq task ID --json`: its attempts (0 once done: an acked task keeps only
 * its result, so helper_gate writes its attempt into it), *result its result
 * (malloc) when result is not NULL.
 */
static int task_attempts(const char *queue, const char *id, char **result)
{
    struct cli_out r;
    cJSON *t;
    int n;

    kwq(&r, NULL, "--queue", queue, "task", id, "--json");
    expect(&r, 0, NULL, "");
    t = cJSON_Parse(r.out);
    cr_assert_not_null(t, "%s", r.out);
    n = (int)k8s_num_of(t, "attempts");
    if (result)
        *result = strdup(cJSON_IsString(cJSON_GetObjectItem(t, "result"))
                             ? cJSON_GetStringValue(cJSON_GetObjectItem(t, "result"))
                             : "");
    cJSON_Delete(t);
    cli_out_free(&r);
    return n;
}

/* ---- What the watches saw ------------------------------------------------------------------- */

/* The highest spec.parallelism and status.active Job name ever had. */
static void job_peaks(struct k8s_watch *w, const char *name, int64_t *par, int64_t *active)
{
    cJSON *evs = k8s_watch_events(w);
    const cJSON *ev;

    *par = *active = 0;
    cJSON_ArrayForEach(ev, evs)
    {
        const cJSON *obj = cJSON_GetObjectItem(ev, "object");
        struct kube_job_status st;
        struct kwq_error err = {0};

        if (kube_job_status_parse(obj, &st, &err) < 0)
            continue;
        if (strcmp(st.name, name) == 0) {
            *par = st.parallelism > *par ? st.parallelism : *par;
            *active = st.active > *active ? st.active : *active;
        }
        kube_job_status_done(&st);
    }
    cJSON_Delete(evs);
}

#define PODS_MAX 256

/* Every pod a watch saw: its last state, and whether its object was deleted. */
struct pod_seen {
    char name[128];
    bool terminated; /* its container stopped */
    int exit_code;   /* ... with this code */
    bool ready;      /* Ready at its last state */
    bool deleted;    /* a DELETED event came */
};

static size_t pods_seen(struct k8s_watch *w, struct pod_seen *out)
{
    cJSON *evs = k8s_watch_events(w);
    const cJSON *ev;
    size_t n = 0;

    cJSON_ArrayForEach(ev, evs)
    {
        cJSON *list = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(list, "items");
        struct kube_pod_list pods;
        struct kwq_error err = {0};
        size_t i;

        cJSON_AddItemToArray(items, cJSON_Duplicate(cJSON_GetObjectItem(ev, "object"), 1));
        cr_assert_eq(kube_pod_list_parse(list, &pods, &err), 0, "%s", err.msg);
        cJSON_Delete(list);
        cr_assert_eq(pods.n, 1);
        for (i = 0; i < n && strcmp(out[i].name, pods.pods[0].name) != 0; i++)
            ;
        if (i == n) {
            cr_assert(n < PODS_MAX);
            memset(&out[n], 0, sizeof(out[n]));
            (void)snprintf(out[n].name, sizeof(out[n].name), "%s", pods.pods[0].name);
            n++;
        }
        if (pods.pods[0].terminated) {
            out[i].terminated = true;
            out[i].exit_code = pods.pods[0].exit_code;
        }
        out[i].ready = pods.pods[0].ready;
        out[i].deleted =
            out[i].deleted ||
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type")), "DELETED") == 0;
        kube_pod_list_done(&pods);
    }
    cJSON_Delete(evs);
    return n;
}

static struct k8s_watch *watch_of(const struct k8s_rig *rig, const char *ns, const char *what)
{
    char path[256];

    (void)snprintf(path, sizeof(path), "%s/namespaces/%s/%s",
                   strcmp(what, "jobs") == 0 ? "/apis/batch/v1" : "/api/v1", ns, what);
    return k8s_watch_start(rig, path);
}

/* ---- kwq run --kube over 5,000 items ---------------------------------------------------- */

Test(k8s_run, five_thousand_items_at_most_eight_pods)
{
    struct k8s_rig rig;
    struct k8s_watch *jobs, *podw;
    struct pod_seen pods[PODS_MAX];
    struct kwq_stats st;
    struct cli_out r;
    char ns[64], *items, *out, *line, *save = NULL;
    static unsigned char seen[5001];
    size_t n, np, exit0 = 0, lines = 0;
    int64_t par, active;
    cJSON *job;
    FILE *f;

    k8s_setup(&rig, "run5k", ns, sizeof(ns));
    f = fopen(test_path("items"), "w");
    cr_assert_not_null(f);
    for (int i = 1; i <= 5000; i++)
        (void)fprintf(f, "%d\n", i);
    cr_assert_eq(fclose(f), 0);
    items = strdup(test_path("items"));
    out = strdup(test_path("out"));
    jobs = watch_of(&rig, ns, "jobs");
    podw = watch_of(&rig, ns, "pods");
    KWQ_KUBE(&r, &rig, ns, "run", "--kube", "--queue", "big", "--job", "big", "--max", "8",
             "--concurrency", "4", "--image", "kwq-worker", "--ready-file", "busy", "--grace", "5s",
             "--kill-grace", "1s", "--keep-job", "--input", items, "--output", out, "--", ECHO);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_not_null(
        strstr(r.err, "kwq: finished: 5,000 done, 0 failed attempts, 0 dead-lettered in "), "%s",
        r.err);
    cli_out_free(&r);

    /* Every item exactly once in the results. */
    line = cli_read_file(out);
    for (char *l = strtok_r(line, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        long v = atol(l);

        cr_assert(v >= 1 && v <= 5000, "result '%s'", l);
        cr_assert_eq(seen[v], 0, "item %ld twice", v);
        seen[v] = 1;
        lines++;
    }
    cr_assert_eq(lines, 5000);
    free(line);

    /* One attempt each: none failed, expired (a pod died holding it) or was given back. */
    st = stats_of("big");
    cr_assert_eq(st.enqueued, 5000);
    cr_assert_eq(st.done, 5000);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.expired, 0);
    cr_assert_eq(st.released, 0);
    cr_assert_eq(st.dead, 0);
    cr_assert(st.drained);

    job = k8s_wait_state(&rig, ns, "big", "complete");
    cr_assert_eq(k8s_num_of(job, "failed"), 0);
    cr_assert(k8s_num_of(job, "succeeded") >= 1);
    cJSON_Delete(job);

    job_peaks(jobs, "big", &par, &active);
    cr_assert_eq(par, 8, "parallelism peaked at %lld", (long long)par);
    cr_assert(active <= 8, "%lld pods active at once", (long long)active);
    /* Pods removed by a scale-down exit 75 (their tasks given back: released is 0 above). */
    np = pods_seen(podw, pods);
    cr_assert(np >= 1);
    for (n = 0; n < np; n++) {
        if (!pods[n].terminated)
            continue;
        cr_assert(pods[n].exit_code == 0 || pods[n].exit_code == 75, "pod %s exited %d",
                  pods[n].name, pods[n].exit_code);
        exit0 += pods[n].exit_code == 0;
    }
    cr_assert(exit0 >= 1);
    k8s_watch_stop(podw);
    k8s_watch_stop(jobs);
    free(items);
    free(out);
}

/* ---- kwq autoscale: parallelism follows the depth ------------------------------------------- */

Test(k8s_run, autoscale_raises_parallelism_with_depth_and_the_job_completes)
{
    struct k8s_rig rig;
    struct k8s_watch *jobs;
    struct cli_out r;
    struct kwq_stats st;
    char ns[64], dir[512], errf[512], *err, go[600];
    int64_t par, active;
    cJSON *job;
    pid_t pid;

    k8s_setup(&rig, "autoscale", ns, sizeof(ns));
    (void)snprintf(dir, sizeof(dir), "%s", test_path("gate"));
    cr_assert_eq(mkdir(dir, 0700), 0);
    (void)snprintf(errf, sizeof(errf), "%s", test_path("autoscale.err"));
    jobs = watch_of(&rig, ns, "jobs");
    KWQ_KUBE(&r, &rig, ns, "job", "create", "auto", "--queue", "auto", "-P", "0", "--image",
             "kwq-worker", "--ready-file", "busy", "--grace", "5s", "--kill-grace", "1s", "--quiet",
             "--", GATE, dir);
    expect(&r, 0, "", "");
    cli_out_free(&r);
    pid = kwq_kube_start(&rig, ns, test_path("autoscale.out"), errf,
                         (const char *const[]){"autoscale", "--job", "auto", "--queue", "auto",
                                               "--max", "8", "--tasks-per-worker", "10", NULL});

    /* 20 items that block: pending + leased stays 20, so 2 pods. */
    enqueue("auto", numbered("block:a", 20), 20, NULL);
    wait_job(&rig, ns, "auto", 2, 2);
    job_peaks(jobs, "auto", &par, &active);
    cr_assert_eq(par, 2);
    /* 60 more: 80, so 8 pods. */
    enqueue("auto", numbered("block:b", 60), 60, NULL);
    wait_job(&rig, ns, "auto", 8, 8);
    job_peaks(jobs, "auto", &par, &active);
    cr_assert_eq(par, 8);

    /* Sealed, and every handler let go: the queue drains, autoscale ends, the Job completes. */
    kwq(&r, NULL, "--queue", "auto", "seal");
    cli_out_free(&r);
    for (int i = 1; i <= 60; i++) {
        (void)snprintf(go, sizeof(go), "%s/a%d.go", dir, i);
        if (i <= 20)
            touch(go);
        (void)snprintf(go, sizeof(go), "%s/b%d.go", dir, i);
        touch(go);
    }
    cr_assert_eq(test_proc_wait(pid, time(NULL) + K8S_WAIT_S), 0, "%s", cli_read_file(errf));
    job = k8s_wait_state(&rig, ns, "auto", "complete");
    cr_assert_eq(k8s_num_of(job, "failed"), 0);
    cJSON_Delete(job);
    st = stats_of("auto");
    cr_assert_eq(st.done, 80);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.expired, 0);
    err = cli_read_file(errf);
    cr_assert_not_null(
        strstr(err, "kwq: Job auto: parallelism 0 -> 2 (pending 20, leased 0, ready 0)\n"), "%s",
        err);
    cr_assert_not_null(strstr(err, "kwq: Job auto: parallelism 2 -> 8 ("), "%s", err);
    cr_assert_not_null(
        strstr(err, "kwq: queue 'auto' is sealed and drained: Job auto completes as its workers "
                    "exit\n"),
        "%s", err);
    free(err);
    job_peaks(jobs, "auto", &par, &active);
    cr_assert_eq(par, 8);
    cr_assert(active <= 8);
    k8s_watch_stop(jobs);
}

/* ---- Lowering parallelism spares the busy pod ------------------------------------------------ */

Test(k8s_run, lowering_parallelism_removes_the_idle_pods_and_spares_the_busy_one)
{
    struct k8s_rig rig;
    struct k8s_watch *podw;
    struct pod_seen pods[PODS_MAX];
    struct cli_out r;
    struct kwq_stats st;
    char ns[64], dir[512], path[600], busy[128] = "", ids[1][32], *result;
    const cJSON *pod;
    size_t np, gone;
    time_t end;
    cJSON *job;

    k8s_setup(&rig, "lower", ns, sizeof(ns));
    (void)snprintf(dir, sizeof(dir), "%s", test_path("gate"));
    cr_assert_eq(mkdir(dir, 0700), 0);
    podw = watch_of(&rig, ns, "pods");
    KWQ_KUBE(&r, &rig, ns, "job", "create", "trio", "--queue", "trio", "-P", "3", "--image",
             "kwq-worker", "--ready-file", "busy", "--grace", "5s", "--kill-grace", "1s", "--quiet",
             "--", GATE, dir);
    expect(&r, 0, "", "");
    cli_out_free(&r);
    /* Three pods up (the queue is unsealed and empty: they wait), then one task that blocks. */
    end = time(NULL) + K8S_WAIT_S;
    for (;;) {
        struct kube_job_status s;
        bool up;

        job_get(&rig, ns, "trio", &s);
        up = s.active == 3;
        kube_job_status_done(&s);
        if (up)
            break;
        cr_assert(time(NULL) < end, "never 3 active pods");
        sleep_ms(100);
    }
    enqueue("trio", (const char *const[]){"block:b"}, 1, ids);
    (void)snprintf(path, sizeof(path), "%s/b.pid", dir);
    (void)wait_pid_file(path);
    wait_job(&rig, ns, "trio", 3, 1);
    job = k8s_wait_state(&rig, ns, "trio", "running");
    cJSON_ArrayForEach(pod, cJSON_GetObjectItem(job, "pods"))
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(pod, "ready")))
            (void)snprintf(busy, sizeof(busy), "%s", k8s_str_of(pod, "name"));
    }
    cJSON_Delete(job);
    cr_assert_neq(busy[0], '\0');

    KWQ_KUBE(&r, &rig, ns, "scale", "--job", "trio", "--queue", "trio");
    expect(&r, 0, "Job trio: parallelism 3 -> 1 (pending 0, leased 1, ready 1)\n", "");
    cli_out_free(&r);
    /* The two idle pods go, each exiting 75 (which the Job does not count as failed). */
    end = time(NULL) + K8S_WAIT_S;
    for (;;) {
        np = pods_seen(podw, pods);
        gone = 0;
        for (size_t i = 0; i < np; i++)
            gone += pods[i].deleted;
        if (gone == 2)
            break;
        cr_assert(gone < 2 && time(NULL) < end, "%zu pods deleted", gone);
        sleep_ms(100);
    }
    cr_assert_eq(np, 3);
    for (size_t i = 0; i < np; i++) {
        if (strcmp(pods[i].name, busy) == 0) {
            cr_assert(!pods[i].deleted && !pods[i].terminated, "the busy pod %s stopped", busy);
            continue;
        }
        cr_assert(pods[i].deleted && pods[i].terminated);
        cr_assert_eq(pods[i].exit_code, 75, "idle pod %s exited %d", pods[i].name,
                     pods[i].exit_code);
    }
    /* The busy pod finishes its task: one attempt, nothing given back. */
    (void)snprintf(path, sizeof(path), "%s/b.go", dir);
    touch(path);
    wait_done("trio", 1);
    (void)task_attempts("trio", ids[0], &result);
    cr_assert_str_eq(result, "attempt 1");
    free(result);
    kwq(&r, NULL, "--queue", "trio", "seal");
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "trio", "complete");
    cr_assert_eq(k8s_num_of(job, "failed"), 0);
    cr_assert_eq(k8s_num_of(job, "succeeded"), 1);
    cJSON_Delete(job);
    st = stats_of("trio");
    cr_assert_eq(st.released, 0);
    cr_assert_eq(st.expired, 0);
    cr_assert_eq(st.failed, 0);
    np = pods_seen(podw, pods);
    for (size_t i = 0; i < np; i++)
        if (strcmp(pods[i].name, busy) == 0)
            cr_assert(pods[i].terminated && pods[i].exit_code == 0);
    k8s_watch_stop(podw);
}

/* ---- Work after completion: a successor Job ----------------------------------------------- */

/* Lines of `kwq results` for queue (malloc). */
static char *results_of(const char *queue)
{
    struct cli_out r;
    char *s;

    kwq(&r, NULL, "--queue", queue, "results");
    expect(&r, 0, NULL, "");
    s = strdup(r.out);
    cli_out_free(&r);
    return s;
}

Test(k8s_run, items_enqueued_after_completion_run_in_a_successor_job)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64], want[512], first[160], second[160], *res, *save = NULL;
    size_t old = 0, new = 0;
    cJSON *job;

    k8s_setup(&rig, "succ", ns, sizeof(ns));
    enqueue("chain", numbered("old-", 10), 10, NULL);
    KWQ_KUBE(&r, &rig, ns, "run", "--kube", "--queue", "chain", "--job", "chain", "--max", "2",
             "--image", "kwq-worker", "--ready-file", "busy", "--grace", "5s", "--kill-grace", "1s",
             "--keep-job", "--results", "none", "--", "/bin/sh", "-c", WHERE);
    expect(&r, 0, "", NULL);
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "chain", "complete");
    cJSON_Delete(job);

    kwq(&r, NULL, "--queue", "chain", "unseal");
    cli_out_free(&r);
    enqueue("chain", numbered("new-", 5), 5, NULL);
    kwq(&r, NULL, "--queue", "chain", "seal");
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "scale", "--job", "chain", "--queue", "chain");
    expect(&r, 0,
           "Job chain can no longer start pods: made its successor chain-2 with parallelism 1 "
           "(pending 5, leased 0, ready 0)\n",
           "");
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "chain-2", "complete");
    cr_assert_str_eq(k8s_str_of(job, "predecessor"), "chain");
    cr_assert_eq(k8s_num_of(job, "failed"), 0);
    cJSON_Delete(job);

    /* The old items ran in pods of chain, the new ones in pods of chain-2, each once. */
    (void)snprintf(first, sizeof(first), "%s_chain-", ns);
    (void)snprintf(second, sizeof(second), "%s_chain-2-", ns);
    res = results_of("chain");
    for (char *l = strtok_r(res, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        const char *pod = strchr(l, ' ');

        cr_assert_not_null(pod, "%s", l);
        if (strncmp(l, "new-", 4) == 0) {
            cr_assert(strncmp(pod + 1, second, strlen(second)) == 0, "%s", l);
            new ++;
        } else {
            cr_assert(strncmp(l, "old-", 4) == 0, "%s", l);
            cr_assert(strncmp(pod + 1, first, strlen(first)) == 0 &&
                          strncmp(pod + 1, second, strlen(second)) != 0,
                      "%s", l);
            old++;
        }
    }
    free(res);
    cr_assert_eq(old, 10);
    cr_assert_eq(new, 5);
    cr_assert_eq(stats_of("chain").done, 15);

    /* Status shows the chain both ways. */
    KWQ_KUBE(&r, &rig, ns, "job", "status", "chain-2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "chain chain -> chain-2 (this one)\n"), "%s", r.out);
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "job", "status", "chain");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "chain chain (this one) -> chain-2\n"), "%s", r.out);
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "job", "status", "chain", "--json");
    job = cJSON_Parse(r.out);
    cr_assert_not_null(job, "%s", r.out);
    (void)snprintf(want, sizeof(want), "[\"chain\",\"chain-2\"]");
    {
        char *chain = cJSON_PrintUnformatted(cJSON_GetObjectItem(job, "chain"));

        cr_assert_str_eq(chain, want);
        cJSON_free(chain);
    }
    cr_assert_str_eq(k8s_str_of(job, "successor"), "chain-2");
    cJSON_Delete(job);
    cli_out_free(&r);

    /* More work: chain-2 is taken and finished too, so the next name of the chain. */
    kwq(&r, NULL, "--queue", "chain", "unseal");
    cli_out_free(&r);
    enqueue("chain", numbered("more-", 3), 3, NULL);
    kwq(&r, NULL, "--queue", "chain", "seal");
    cli_out_free(&r);
    KWQ_KUBE(&r, &rig, ns, "scale", "--job", "chain", "--queue", "chain");
    expect(&r, 0,
           "Job chain can no longer start pods: made its successor chain-3 with parallelism 1 "
           "(pending 3, leased 0, ready 0)\n",
           "");
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "chain-3", "complete");
    cr_assert_str_eq(k8s_str_of(job, "predecessor"), "chain-2");
    cJSON_Delete(job);
    cr_assert_eq(stats_of("chain").done, 18);
    KWQ_KUBE(&r, &rig, ns, "job", "status", "chain-2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "chain chain -> chain-2 (this one) -> chain-3\n"), "%s",
                       r.out);
    cli_out_free(&r);
}

/* ---- A pod killed mid-task --------------------------------------------------------------- */

/* The parent of pid (from /proc). */
static long parent_of(long pid)
{
    char path[64], *stat, *p;
    long ppid = 0;

    (void)snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    stat = cli_read_file(path);
    p = strrchr(stat, ')');
    cr_assert_not_null(p, "%s", path);
    cr_assert_eq(sscanf(p + 2, "%*c %ld", &ppid), 1);
    free(stat);
    return ppid;
}

Test(k8s_run, a_pod_killed_mid_task_its_task_completes_elsewhere)
{
    struct k8s_rig rig;
    struct k8s_watch *podw;
    struct pod_seen pods[PODS_MAX];
    struct kwq_stats st;
    char ns[64], dir[512], path[600], cwd[600], link[64], prefix[700], ids[11][32], *result;
    const char *payloads[11];
    size_t np, killed = 0;
    long handler, worker;
    ssize_t n;
    pid_t pid;
    cJSON *job;

    k8s_setup(&rig, "sigkill", ns, sizeof(ns));
    (void)snprintf(dir, sizeof(dir), "%s", test_path("gate"));
    cr_assert_eq(mkdir(dir, 0700), 0);
    for (int i = 0; i < 10; i++)
        payloads[i] = "quick";
    payloads[10] = "block:k";
    enqueue("kill", payloads, 11, ids);
    podw = watch_of(&rig, ns, "pods");
    pid = kwq_kube_start(&rig, ns, test_path("run.out"), test_path("run.err"),
                         (const char *const[]){"run",
                                               "--kube",
                                               "--queue",
                                               "kill",
                                               "--job",
                                               "kill",
                                               "--max",
                                               "2",
                                               "--lease",
                                               "2s",
                                               "--image",
                                               "kwq-worker",
                                               "--ready-file",
                                               "busy",
                                               "--grace",
                                               "5s",
                                               "--kill-grace",
                                               "1s",
                                               "--keep-job",
                                               "--results",
                                               "none",
                                               "--",
                                               GATE,
                                               dir,
                                               NULL});
    /* The handler holding block:k: its parent is the pod's kwq-worker, in the pod's directory. */
    (void)snprintf(path, sizeof(path), "%s/k.pid", dir);
    handler = wait_pid_file(path);
    worker = parent_of(handler);
    (void)snprintf(link, sizeof(link), "/proc/%ld/cwd", worker);
    n = readlink(link, cwd, sizeof(cwd) - 1);
    cr_assert(n > 0);
    cwd[n] = '\0';
    (void)snprintf(prefix, sizeof(prefix), "%s/pods/%s_kill-", rig.dir, ns);
    cr_assert(strncmp(cwd, prefix, strlen(prefix)) == 0, "worker %ld in %s", worker, cwd);
    cr_assert_eq(kill((pid_t)worker, SIGKILL), 0);
    /* The next attempt (on another pod, once the lease ran out) goes through at once. */
    (void)snprintf(path, sizeof(path), "%s/k.go", dir);
    touch(path);

    cr_assert_eq(test_proc_wait(pid, time(NULL) + K8S_WAIT_S), 0, "%s",
                 cli_read_file(test_path("run.err")));
    st = stats_of("kill");
    cr_assert_eq(st.done, 11);
    cr_assert_eq(st.dead, 0);
    cr_assert_eq(st.expired, 1);
    cr_assert(st.drained);
    for (int i = 0; i <= 10; i++) {
        (void)task_attempts("kill", ids[i], &result);
        cr_assert_str_eq(result, i == 10 ? "attempt 2" : "attempt 1", "task %s", ids[i]);
        free(result);
    }
    job = k8s_wait_state(&rig, ns, "kill", "complete");
    cr_assert_eq(k8s_num_of(job, "failed"), 1); /* the killed pod */
    cJSON_Delete(job);
    /* The killed pod; any other left at the drain (0) or was removed idle by a lowering (75). */
    np = pods_seen(podw, pods);
    for (size_t i = 0; i < np; i++) {
        if (!pods[i].terminated)
            continue;
        cr_assert(pods[i].exit_code == 0 || pods[i].exit_code == 75 || pods[i].exit_code == 137,
                  "pod %s exited %d", pods[i].name, pods[i].exit_code);
        killed += pods[i].exit_code == 137;
    }
    cr_assert_eq(killed, 1);
    k8s_watch_stop(podw);
}

/* ---- A handler that cannot run ------------------------------------------------------------ */

Test(k8s_run, a_missing_handler_fails_the_job_through_failjob_and_charges_nothing)
{
    struct k8s_rig rig;
    struct cli_out r;
    struct kwq_stats st;
    char ns[64], want[512], ids[5][32];

    k8s_setup(&rig, "nohandler", ns, sizeof(ns));
    enqueue("broken", numbered("item-", 5), 5, ids);
    KWQ_KUBE(&r, &rig, ns, "run", "--kube", "--queue", "broken", "--job", "broken", "--image",
             "kwq-worker", "--ready-file", "busy", "--", "/no/such/handler");
    cr_assert_eq(r.status, 78, "exit %d: %s", r.status, r.err);
    (void)snprintf(want, sizeof(want),
                   "kwq: Job broken failed: Container worker for pod %s/broken-", ns);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    cr_assert_not_null(strstr(r.err, " failed with exit code 78 matching FailJob rule at index 0; "
                                     "a worker exited 78: the handler cannot be run or a setting "
                                     "is wrong (see the pod's log: 'kubectl logs -n "),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "no task was charged for it\n"), "%s", r.err);
    cli_out_free(&r);
    st = stats_of("broken");
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.pending, 5);
    cr_assert_eq(st.leased, 0);
    cr_assert_eq(st.done, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(task_attempts("broken", ids[i], NULL), 0);
}

/* ---- A name taken by another queue's Job ---------------------------------------------------- */

Test(k8s_run, a_job_of_another_queue_is_refused_before_anything_is_enqueued)
{
    struct k8s_rig rig;
    struct cli_out r;
    struct kwq_stats st;
    char ns[64], *items;

    k8s_setup(&rig, "taken", ns, sizeof(ns));
    KWQ_KUBE(&r, &rig, ns, "job", "create", "taken", "--queue", "first", "-P", "0", "--image",
             "kwq-worker", "--quiet", "--", "/bin/cat");
    expect(&r, 0, "", "");
    cli_out_free(&r);
    items = strdup(test_path("items"));
    {
        FILE *f = fopen(items, "w");

        cr_assert_not_null(f);
        (void)fputs("a\nb\n", f);
        cr_assert_eq(fclose(f), 0);
    }
    KWQ_KUBE(&r, &rig, ns, "run", "--kube", "--queue", "second", "--job", "taken", "--image",
             "kwq-worker", "--input", items, "--", "/bin/cat");
    expect(&r, 78, "",
           "kwq: Job taken exists and runs another queue ('first'); choose another name with "
           "--job\n");
    cli_out_free(&r);
    st = stats_of("second");
    cr_assert_eq(st.enqueued, 0);
    cr_assert(!st.sealed);
    free(items);
}

/* ---- A drained queue and a paused Job ----------------------------------------------------- */

/* `kwq job create NAME -P 0` on queue idle. */
static void create_paused(const struct k8s_rig *rig, const char *ns, const char *name)
{
    struct cli_out r;

    KWQ_KUBE(&r, rig, ns, "job", "create", name, "--queue", "idle", "-P", "0", "--image",
             "kwq-worker", "--ready-file", "busy", "--quiet", "--", "/bin/cat");
    expect(&r, 0, "", "");
    cli_out_free(&r);
}

Test(k8s_run, a_paused_job_on_a_drained_queue_gets_one_pod_and_completes)
{
    struct k8s_rig rig;
    struct cli_out r;
    char ns[64];
    cJSON *job;

    k8s_setup(&rig, "paused", ns, sizeof(ns));
    kwq(&r, NULL, "--queue", "idle", "seal");
    cli_out_free(&r);
    create_paused(&rig, ns, "idle");
    KWQ_KUBE(&r, &rig, ns, "autoscale", "--job", "idle", "--queue", "idle");
    expect(&r, 0, "",
           "kwq: queue 'idle' is sealed and drained: Job idle completes as its workers exit\n"
           "kwq: Job idle: parallelism 0 -> 1: one pod sees the drain, so the Job completes\n");
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "idle", "complete");
    cr_assert_eq(k8s_num_of(job, "succeeded"), 1);
    cJSON_Delete(job);

    /* kwq scale, once, does the same. */
    create_paused(&rig, ns, "idle-once");
    KWQ_KUBE(&r, &rig, ns, "scale", "--job", "idle-once", "--queue", "idle");
    expect(&r, 0, "queue 'idle' is sealed and drained: Job idle-once needs no pods\n",
           "kwq: Job idle-once: parallelism 0 -> 1: one pod sees the drain, so the Job "
           "completes\n");
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "idle-once", "complete");
    cJSON_Delete(job);

    /* kwq run --kube --min 0 on a drained queue makes its Job with parallelism 0. */
    KWQ_KUBE(&r, &rig, ns, "run", "--kube", "--min", "0", "--queue", "idle", "--job", "idle-run",
             "--image", "kwq-worker", "--ready-file", "busy", "--keep-job", "--", "/bin/cat");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "with parallelism 0\n"), "%s", r.err);
    cli_out_free(&r);
    job = k8s_wait_state(&rig, ns, "idle-run", "complete");
    cr_assert_eq(k8s_num_of(job, "parallelism"), 1);
    cJSON_Delete(job);
}
