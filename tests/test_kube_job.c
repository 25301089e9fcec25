/*
 * test_kube_job.c - the worker Job kwq builds (kube/job.h), field by field,
 * the checks on its name, labels and quantities with their exact lines, the
 * chain names, and the readers of a Job and of a PodList on answers recorded
 * from a real 1.26 API server (tests/data/k8s/, copied from
 * shared/k8s-recorded/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "kwq/error.h"

#include "kube/job.h"

static const char *const handler[] = {"/app/resize", "--width", "800"};

static struct kube_job_spec base_spec(void)
{
    return (struct kube_job_spec){.name = "images",
                                  .queue = "images",
                                  .image = "registry.example.com/kwq-worker:1.0",
                                  .handler = handler,
                                  .nhandler = 3,
                                  .parallelism = 8,
                                  .concurrency = 2,
                                  .lease_ms = 30000,
                                  .timeout_ms = 3600000,
                                  .grace_ms = 20000,
                                  .kill_grace_ms = 5000,
                                  .redis_secret = "kwq-redis",
                                  .backoff_limit = 6,
                                  .ttl_s = 86400};
}

/* Build s and parse the result (asserts success). */
static cJSON *build(const struct kube_job_spec *s)
{
    struct kwq_error err = {0};
    char *text = NULL;
    cJSON *job;

    cr_assert_eq(kube_job_build(s, false, &text, &err), 0, "%s", err.msg);
    job = cJSON_Parse(text);
    cr_assert_not_null(job, "%s", text);
    free(text);
    return job;
}

/* The message of a refused spec (asserts KWQ_EINVAL). */
static const char *refused(const struct kube_job_spec *s)
{
    static struct kwq_error err;
    char *text = (char *)"untouched";

    memset(&err, 0, sizeof(err));
    cr_assert_eq(kube_job_build(s, true, &text, &err), KWQ_EINVAL);
    cr_assert_null(text);
    return err.msg;
}

/* The node at a '.'-separated path; numbers index arrays. */
static const cJSON *at(const cJSON *o, const char *path)
{
    char buf[256], *save = NULL;

    (void)snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        if (cJSON_IsArray(o))
            o = cJSON_GetArrayItem(o, atoi(k));
        else
            o = cJSON_GetObjectItemCaseSensitive(o, k);
    }
    cr_assert_not_null(o, "no %s", path);
    return o;
}

static void expect_str(const cJSON *o, const char *path, const char *want)
{
    const char *s = cJSON_GetStringValue(at(o, path));

    cr_assert_not_null(s, "%s is not a string", path);
    cr_assert_str_eq(s, want, "%s", path);
}

static void expect_num(const cJSON *o, const char *path, double want)
{
    const cJSON *v = at(o, path);

    cr_assert(cJSON_IsNumber(v), "%s is not a number", path);
    cr_assert_eq(v->valuedouble, want, "%s = %g, want %g", path, v->valuedouble, want);
}

/* The compact JSON of the node at path. */
static void expect_json(const cJSON *o, const char *path, const char *want)
{
    char *s = cJSON_PrintUnformatted(at(o, path));

    cr_assert_str_eq(s, want, "%s", path);
    free(s);
}

static void expect_absent(const cJSON *o, const char *key)
{
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(o, key), "%s is there", key);
}

/* ---- The Job ------------------------------------------------------------------------------ */

Test(kube_job, a_work_queue_job_with_the_worker_settings)
{
    struct kube_job_spec s = base_spec();
    cJSON *job = build(&s);
    const cJSON *spec = at(job, "spec"), *pod = at(job, "spec.template.spec");

    expect_str(job, "apiVersion", "batch/v1");
    expect_str(job, "kind", "Job");
    expect_str(job, "metadata.name", "images");
    expect_json(job, "metadata.labels",
                "{\"app.kubernetes.io/name\":\"kwq-worker\",\"app.kubernetes.io/managed-by\":"
                "\"kwq\"}");
    expect_json(job, "metadata.annotations", "{\"kwq.dev/queue\":\"images\"}");
    expect_num(job, "spec.parallelism", 8);
    expect_absent(spec, "completions");
    expect_absent(spec, "podReplacementPolicy"); /* 1.28+: a 1.26 server refuses it */
    expect_absent(spec, "activeDeadlineSeconds");
    expect_num(job, "spec.backoffLimit", 6);
    expect_num(job, "spec.ttlSecondsAfterFinished", 86400);
    expect_json(job, "spec.template.metadata.labels",
                "{\"app.kubernetes.io/name\":\"kwq-worker\",\"app.kubernetes.io/managed-by\":"
                "\"kwq\"}");
    expect_str(pod, "restartPolicy", "Never");
    expect_num(pod, "terminationGracePeriodSeconds", 35);
    cr_assert(cJSON_IsFalse(at(pod, "automountServiceAccountToken")));
    cr_assert_eq(cJSON_GetArraySize(at(pod, "containers")), 1);
    expect_str(pod, "containers.0.name", "worker");
    expect_str(pod, "containers.0.image", "registry.example.com/kwq-worker:1.0");
    expect_json(pod, "containers.0.args", "[\"--\",\"/app/resize\",\"--width\",\"800\"]");
    expect_absent(at(pod, "containers.0"), "command"); /* the image's entrypoint: kwq-worker */
    cJSON_Delete(job);
}

Test(kube_job, the_failure_policy_of_the_exit_codes)
{
    struct kube_job_spec s = base_spec();
    cJSON *job = build(&s);

    expect_json(job, "spec.podFailurePolicy",
                "{\"rules\":["
                "{\"action\":\"FailJob\",\"onExitCodes\":{\"containerName\":\"worker\","
                "\"operator\":\"In\",\"values\":[8,78]}},"
                "{\"action\":\"Ignore\",\"onExitCodes\":{\"containerName\":\"worker\","
                "\"operator\":\"In\",\"values\":[69,75]}},"
                "{\"action\":\"Ignore\",\"onPodConditions\":[{\"type\":\"DisruptionTarget\","
                "\"status\":\"True\"}]}]}");
    cJSON_Delete(job);
}

Test(kube_job, env_probe_volume_and_security)
{
    struct kube_job_spec s = base_spec();
    cJSON *job = build(&s);
    const cJSON *c = at(job, "spec.template.spec.containers.0");

    expect_json(c, "env",
                "[{\"name\":\"KWQ_QUEUE\",\"value\":\"images\"},"
                "{\"name\":\"KWQ_CONCURRENCY\",\"value\":\"2\"},"
                "{\"name\":\"KWQ_LEASE\",\"value\":\"30s\"},"
                "{\"name\":\"KWQ_TIMEOUT\",\"value\":\"1h\"},"
                "{\"name\":\"KWQ_GRACE\",\"value\":\"20s\"},"
                "{\"name\":\"KWQ_KILL_GRACE\",\"value\":\"5s\"},"
                "{\"name\":\"KWQ_READY_FILE\",\"value\":\"/var/run/kwq/busy\"},"
                "{\"name\":\"KWQ_REDIS_URL\",\"valueFrom\":{\"secretKeyRef\":{\"name\":"
                "\"kwq-redis\",\"key\":\"url\"}}},"
                "{\"name\":\"KWQ_REDIS_PASSWORD\",\"valueFrom\":{\"secretKeyRef\":{\"name\":"
                "\"kwq-redis\",\"key\":\"password\",\"optional\":true}}}]");
    expect_json(c, "readinessProbe",
                "{\"exec\":{\"command\":[\"test\",\"-e\",\"/var/run/kwq/busy\"]},"
                "\"periodSeconds\":1,\"failureThreshold\":1}");
    expect_json(c, "volumeMounts",
                "[{\"name\":\"kwq-ready\",\"mountPath\":\"/var/run/kwq\"},"
                "{\"name\":\"kwq-tmp\",\"mountPath\":\"/tmp\"}]");
    expect_json(
        job, "spec.template.spec.volumes",
        "[{\"name\":\"kwq-ready\",\"emptyDir\":{}},{\"name\":\"kwq-tmp\",\"emptyDir\":{}}]");
    expect_json(c, "resources", "{}");
    /* the restricted Pod Security Standard, and a read-only root filesystem */
    expect_json(c, "securityContext",
                "{\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,"
                "\"capabilities\":{\"drop\":[\"ALL\"]}}");
    expect_json(job, "spec.template.spec.securityContext",
                "{\"runAsNonRoot\":true,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
    cJSON_Delete(job);
}

Test(kube_job, optional_settings_when_given)
{
    static const char *const labels[] = {"team=vision", "example.com/cost-centre=42", "team=ml"};
    struct kube_job_spec s = base_spec();
    cJSON *job;
    const cJSON *c;

    s.stream = true;
    s.ready_file = "busy"; /* relative: in the working directory, nothing mounted */
    s.res = (struct kube_job_resources){.cpu_request = "500m", .memory_limit = "1Gi"};
    s.labels = labels;
    s.nlabels = 3;
    s.active_deadline_s = 7200;
    s.predecessor = "images-2";
    s.timeout_ms = 0;
    s.redis_secret = "redis-creds";
    job = build(&s);
    c = at(job, "spec.template.spec.containers.0");
    expect_str(c, "env.3.value", "0ms");
    expect_json(c, "env.6", "{\"name\":\"KWQ_STREAM\",\"value\":\"true\"}");
    expect_json(c, "env.7", "{\"name\":\"KWQ_READY_FILE\",\"value\":\"busy\"}");
    expect_str(c, "env.8.valueFrom.secretKeyRef.name", "redis-creds");
    expect_json(c, "readinessProbe.exec.command", "[\"test\",\"-e\",\"busy\"]");
    /* only /tmp: a relative ready file is in the working directory */
    expect_json(c, "volumeMounts", "[{\"name\":\"kwq-tmp\",\"mountPath\":\"/tmp\"}]");
    expect_json(job, "spec.template.spec.volumes", "[{\"name\":\"kwq-tmp\",\"emptyDir\":{}}]");
    expect_json(c, "resources",
                "{\"requests\":{\"cpu\":\"500m\"},\"limits\":{\"memory\":\"1Gi\"}}");
    expect_num(job, "spec.activeDeadlineSeconds", 7200);
    expect_json(job, "metadata.labels",
                "{\"app.kubernetes.io/name\":\"kwq-worker\",\"app.kubernetes.io/managed-by\":"
                "\"kwq\",\"example.com/cost-centre\":\"42\",\"team\":\"ml\"}");
    expect_json(job, "spec.template.metadata.labels",
                "{\"app.kubernetes.io/name\":\"kwq-worker\",\"app.kubernetes.io/managed-by\":"
                "\"kwq\",\"example.com/cost-centre\":\"42\",\"team\":\"ml\"}");
    expect_json(job, "metadata.annotations",
                "{\"kwq.dev/queue\":\"images\",\"kwq.dev/predecessor\":\"images-2\"}");
    cJSON_Delete(job);
}

Test(kube_job, grace_period_covers_grace_and_kill_grace)
{
    struct kube_job_spec s = base_spec();
    cJSON *job;

    cr_assert_eq(kube_job_grace_period_s(20000, 5000), 35);
    cr_assert_eq(kube_job_grace_period_s(0, 0), KUBE_JOB_GRACE_MARGIN_S);
    cr_assert_eq(kube_job_grace_period_s(1, 0), 11);       /* a started second counts */
    cr_assert_eq(kube_job_grace_period_s(59500, 600), 71); /* 60.1 s -> 61 + 10 */
    cr_assert_eq(kube_job_grace_period_s(3600000, 600000), 4210);
    s.grace_ms = 90000;
    s.kill_grace_ms = 250;
    job = build(&s);
    expect_num(job, "spec.template.spec.terminationGracePeriodSeconds", 101);
    expect_str(job, "spec.template.spec.containers.0.env.4.value", "90s");
    expect_str(job, "spec.template.spec.containers.0.env.5.value", "250ms");
    cJSON_Delete(job);
}

Test(kube_job, the_cronjob_form_wraps_the_same_job)
{
    struct kube_job_spec s = base_spec();
    struct kwq_error err = {0};
    cJSON *job = build(&s), *cron;
    char *text = NULL;

    cr_assert_eq(kube_job_render(&s, KUBE_JOB_AS_CRONJOB, KUBE_JOB_JSON, &text, &err), 0, "%s",
                 err.msg);
    cron = cJSON_Parse(text);
    free(text);
    expect_str(cron, "apiVersion", "batch/v1");
    expect_str(cron, "kind", "CronJob");
    cr_assert(cJSON_Compare(at(cron, "metadata"), at(job, "metadata"), true));
    expect_json(cron, "spec.schedule", "\"0 0 1 1 *\"");
    cr_assert(cJSON_IsTrue(at(cron, "spec.suspend")));
    expect_str(cron, "spec.concurrencyPolicy", "Forbid");
    /* what kubectl create job --from=cronjob copies: the template's labels, annotations, spec */
    cr_assert(cJSON_Compare(at(cron, "spec.jobTemplate.metadata.labels"),
                            at(job, "metadata.labels"), true));
    cr_assert(cJSON_Compare(at(cron, "spec.jobTemplate.metadata.annotations"),
                            at(job, "metadata.annotations"), true));
    expect_absent(at(cron, "spec.jobTemplate.metadata"), "name");
    cr_assert(cJSON_Compare(at(cron, "spec.jobTemplate.spec"), at(job, "spec"), true));
    cJSON_Delete(cron);
    cJSON_Delete(job);

    s.predecessor = "images-2";
    cr_assert_eq(kube_job_render(&s, KUBE_JOB_AS_CRONJOB, KUBE_JOB_YAML, &text, &err), KWQ_EINVAL);
    cr_assert_null(text);
    cr_assert_str_eq(err.msg, "a CronJob template has no predecessor: leave out --after");
}

/* A YAML reader would take these strings for numbers, bools or nulls: they must stay strings. */
Test(kube_job, yaml_quotes_what_would_not_read_back_as_a_string)
{
    static const char *const h[] = {"/app/run", "--", "-e", "1",  "0755", "yes",        "off",
                                    "null",     "~",  "",   ".5", "true", "plain-word", "a: b"};
    struct kube_job_spec s = base_spec();
    struct kwq_error err = {0};
    char *y = NULL;

    s.handler = h;
    s.nhandler = sizeof(h) / sizeof(h[0]);
    cr_assert_eq(kube_job_render(&s, KUBE_JOB_AS_JOB, KUBE_JOB_YAML, &y, &err), 0, "%s", err.msg);
    cr_assert_not_null(strstr(y, "        args:\n"
                                 "        - \"--\"\n"
                                 "        - /app/run\n"
                                 "        - \"--\"\n"
                                 "        - \"-e\"\n"
                                 "        - \"1\"\n"
                                 "        - \"0755\"\n"
                                 "        - \"yes\"\n"
                                 "        - \"off\"\n"
                                 "        - \"null\"\n"
                                 "        - \"~\"\n"
                                 "        - \"\"\n"
                                 "        - \".5\"\n"
                                 "        - \"true\"\n"
                                 "        - plain-word\n"
                                 "        - 'a: b'\n"),
                       "%s", y);
    cr_assert_not_null(strstr(y, "        - name: KWQ_CONCURRENCY\n          value: \"2\"\n"), "%s",
                       y);
    cr_assert_not_null(strstr(y, "  parallelism: 8\n"), "%s", y);
    cr_assert_not_null(strstr(y, "              optional: true\n"), "%s", y);
    cr_assert_eq(strncmp(y, "apiVersion: batch/v1\nkind: Job\n", 31), 0, "%s", y);
    cr_assert_eq(y[strlen(y) - 1], '\n');
    free(y);
}

Test(kube_job, pretty_and_compact_are_the_same_job)
{
    struct kube_job_spec s = base_spec();
    struct kwq_error err = {0};
    char *a, *b;
    cJSON *ja, *jb;

    cr_assert_eq(kube_job_build(&s, true, &a, &err), 0);
    cr_assert_eq(kube_job_build(&s, false, &b, &err), 0);
    cr_assert_not_null(strchr(a, '\n'));
    cr_assert_null(strchr(b, '\n'));
    ja = cJSON_Parse(a);
    jb = cJSON_Parse(b);
    cr_assert(cJSON_Compare(ja, jb, true));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(a);
    free(b);
}

/* ---- What is refused, and how it is said ------------------------------------------------------ */

Test(kube_job, bad_names_get_one_line)
{
    struct kwq_error err = {0};
    char long_name[80];

    cr_assert_eq(kube_job_check_name("a", &err), 0);
    cr_assert_eq(kube_job_check_name("resize-images-2", &err), 0);
    memset(long_name, 'a', 63);
    long_name[63] = '\0';
    cr_assert_eq(kube_job_check_name(long_name, &err), 0);
    long_name[63] = 'b';
    long_name[64] = '\0';
    cr_assert_eq(kube_job_check_name(long_name, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg,
                     "Job name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab' "
                     "has 64 characters: at most 63 are allowed (it becomes the "
                     "job-name label of its pods)");
    cr_assert_eq(kube_job_check_name("Resize", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "Job name 'Resize' is not a DNS label: use lower-case letters, "
                              "digits and '-', starting and ending with a letter or digit");
    cr_assert_eq(kube_job_check_name("-x", &err), KWQ_EINVAL);
    cr_assert_eq(kube_job_check_name("x-", &err), KWQ_EINVAL);
    cr_assert_eq(kube_job_check_name("a.b", &err), KWQ_EINVAL);
    cr_assert_eq(kube_job_check_name("a_b", &err), KWQ_EINVAL);
    cr_assert_eq(kube_job_check_name("", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "the Job name is empty: give one, e.g. resize");
}

Test(kube_job, bad_labels_get_one_line)
{
    struct kwq_error err = {0};

    cr_assert_eq(kube_job_check_label("team=vision", &err), 0);
    cr_assert_eq(kube_job_check_label("team=", &err), 0);
    cr_assert_eq(kube_job_check_label("example.com/a_b.c-d=X.y_z-1", &err), 0);
    cr_assert_eq(kube_job_check_label("team", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "label 'team' is not KEY=VALUE, e.g. team=vision");
    cr_assert_eq(kube_job_check_label("=x", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "label '=x' is not KEY=VALUE, e.g. team=vision");
    cr_assert_eq(kube_job_check_label("Example.com/x=1", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "label 'Example.com/x=1': the key's prefix before '/' must be a "
                              "DNS subdomain (lower-case, e.g. example.com)");
    cr_assert_eq(kube_job_check_label("te am=1", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "label 'te am=1': the key's name must be 1 to 63 characters of "
                              "A-Z a-z 0-9 . _ -, starting and ending with a letter or digit");
    cr_assert_eq(kube_job_check_label("example.com/=1", &err), KWQ_EINVAL);
    cr_assert_eq(kube_job_check_label("team=a b", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "label 'team=a b': the value must be at most 63 characters of A-Z "
                              "a-z 0-9 . _ -, starting and ending with a letter or digit");
    cr_assert_eq(kube_job_check_label("team=-x", &err), KWQ_EINVAL);
    cr_assert_eq(kube_job_check_label("app.kubernetes.io/managed-by=me", &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "label 'app.kubernetes.io/managed-by=me': kwq sets "
                              "app.kubernetes.io/managed-by itself; drop it");
    cr_assert_eq(kube_job_check_label("app.kubernetes.io/name=x", &err), KWQ_EINVAL);
}

Test(kube_job, bad_specs_get_one_line_and_no_json)
{
    static const char *const bad_label[] = {"ok=1", "no value"};
    static const char *const empty[] = {""};
    struct kube_job_spec s = base_spec();

    s.name = "Images";
    cr_assert_str_eq(refused(&s), "Job name 'Images' is not a DNS label: use lower-case "
                                  "letters, digits and '-', starting and ending with a letter "
                                  "or digit");
    s = base_spec();
    s.queue = "a b";
    cr_assert_str_eq(refused(&s), "queue name has a character outside A-Z a-z 0-9 . _ : - at "
                                  "byte 2 (0x20)");
    s = base_spec();
    s.image = "";
    cr_assert_str_eq(refused(&s), "no worker image: give --image, e.g. "
                                  "registry.example.com/kwq-worker:1.0");
    s = base_spec();
    s.handler = empty;
    s.nhandler = 1;
    cr_assert_str_eq(refused(&s), "no handler: give its command after '--', e.g. -- "
                                  "/app/resize --width 800");
    s = base_spec();
    s.concurrency = 0;
    cr_assert_str_eq(refused(&s), "--concurrency must be at least 1");
    s = base_spec();
    s.redis_secret = "Redis_Secret";
    cr_assert_str_eq(refused(&s), "--redis-secret 'Redis_Secret' is not a Secret name: "
                                  "lower-case letters, digits and '-', e.g. kwq-redis");
    s = base_spec();
    s.ready_file = "/busy";
    cr_assert_str_eq(refused(&s), "--ready-file '/busy' is at the root: kwq mounts an emptyDir "
                                  "on its directory; use e.g. /var/run/kwq/busy");
    s.ready_file = "/var/run/kwq/";
    cr_assert_str_eq(refused(&s), "--ready-file '/var/run/kwq/' names a directory: give a "
                                  "file's path, e.g. /var/run/kwq/busy");
    s = base_spec();
    s.res.memory_request = "1GB";
    cr_assert_str_eq(refused(&s), "--memory '1GB' is not a Kubernetes quantity: write e.g. 500m "
                                  "or 2 (CPU), 256Mi or 1G (memory)");
    s = base_spec();
    s.labels = bad_label;
    s.nlabels = 2;
    cr_assert_str_eq(refused(&s), "label 'no value' is not KEY=VALUE, e.g. team=vision");
}

Test(kube_job, quantities_as_kubernetes_writes_them)
{
    static const char *const good[] = {"1",   "500m", "0.5", "2.25", "256Mi", "1G",
                                       "1Gi", "1e3",  "+3",  "100k", "3Ei",   ".5"};
    static const char *const bad[] = {"", "m", "1GB", "1 Gi", "-1", "1.2.3", "1e", "Mi", "1mi"};
    struct kube_job_spec s = base_spec();
    struct kwq_error err = {0};
    char *text;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        s.res.cpu_limit = good[i];
        cr_assert_eq(kube_job_build(&s, false, &text, &err), 0, "%s: %s", good[i], err.msg);
        free(text);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s.res.cpu_limit = bad[i];
        cr_assert_eq(kube_job_build(&s, false, &text, &err), KWQ_EINVAL, "%s", bad[i]);
        cr_assert(strncmp(err.msg, "--cpu-limit '", 13) == 0, "%s", err.msg);
    }
}

Test(kube_job, successor_names_of_a_chain)
{
    struct kwq_error err = {0};
    char buf[KUBE_JOB_NAME_MAX + 1], name[KUBE_JOB_NAME_MAX + 1];

    cr_assert_eq(kube_job_successor_name("images", buf, sizeof(buf), &err), 0);
    cr_assert_str_eq(buf, "images-2");
    cr_assert_eq(kube_job_successor_name("images-2", buf, sizeof(buf), &err), 0);
    cr_assert_str_eq(buf, "images-3");
    cr_assert_eq(kube_job_successor_name("images-99", buf, sizeof(buf), &err), 0);
    cr_assert_str_eq(buf, "images-100");
    cr_assert_eq(kube_job_successor_name("images-1", buf, sizeof(buf), &err), 0);
    cr_assert_str_eq(buf, "images-1-2");
    cr_assert_eq(kube_job_successor_name("images-02", buf, sizeof(buf), &err), 0);
    cr_assert_str_eq(buf, "images-02-2");
    cr_assert_eq(kube_job_successor_name("v2", buf, sizeof(buf), &err), 0);
    cr_assert_str_eq(buf, "v2-2");
    memset(name, 'a', 63);
    name[63] = '\0';
    cr_assert_eq(kube_job_successor_name(name, buf, sizeof(buf), &err), 0);
    cr_assert_eq(strlen(buf), 63);
    cr_assert_str_eq(buf + 61, "-2");
    cr_assert_eq(kube_job_check_name(buf, &err), 0);
    memset(name, 'a', 63);
    name[59] = '-'; /* a cut right after a '-' must not leave "--" */
    cr_assert_eq(kube_job_successor_name(name, buf, sizeof(buf), &err), 0);
    cr_assert_eq(kube_job_check_name(buf, &err), 0, "%s: %s", buf, err.msg);
    cr_assert_eq(kube_job_successor_name("Bad", buf, sizeof(buf), &err), KWQ_EINVAL);
    /* In place: the name after one that is taken (kube_scale.c tries NAME-2, NAME-3, ...). */
    (void)snprintf(name, sizeof(name), "images-2");
    cr_assert_eq(kube_job_successor_name(name, name, sizeof(name), &err), 0);
    cr_assert_str_eq(name, "images-3");
}

/* ---- Reading recorded answers ------------------------------------------------------------------ */

/* The response body of a recorded exchange in tests/data/k8s/. */
static cJSON *recorded(const char *file)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;
    cJSON *all, *body;

    (void)snprintf(path, sizeof(path), "%s/k8s/%s", KWQ_TEST_DATA_DIR, file);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    (void)fclose(f);
    all = cJSON_Parse(buf);
    free(buf);
    cr_assert_not_null(all, "%s", path);
    body = cJSON_DetachItemViaPointer(all, (cJSON *)at(all, "response.body"));
    cJSON_Delete(all);
    return body;
}

static struct kube_job_status read_job(const char *file)
{
    struct kube_job_status st;
    struct kwq_error err = {0};
    cJSON *body = recorded(file);

    cr_assert_eq(kube_job_status_parse(body, &st, &err), 0, "%s", err.msg);
    cJSON_Delete(body);
    return st;
}

Test(kube_job_read, a_running_job)
{
    struct kube_job_status st = read_job("02b-get-job-2-pods-running.json");

    cr_assert_str_eq(st.name, "wq-main");
    cr_assert_str_eq(st.uid, "d4041351-ecba-49eb-bd75-8eb436039d0c");
    cr_assert_str_eq(st.resource_version, "306");
    cr_assert_str_eq(st.created, "2026-11-25T06:32:57Z");
    cr_assert_null(st.completed);
    cr_assert_str_eq(st.selector, "controller-uid=d4041351-ecba-49eb-bd75-8eb436039d0c");
    cr_assert_eq(st.parallelism, 2);
    cr_assert_eq(st.active, 2);
    cr_assert_eq(st.ready, 2);
    cr_assert_eq(st.succeeded, 0);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.terminating, -1); /* 1.26 has no status.terminating */
    cr_assert_eq(st.uncounted_succeeded + st.uncounted_failed, 0);
    cr_assert_eq(st.nconds, 0);
    cr_assert_null(st.queue);
    cr_assert(!kube_job_finished(&st));
    cr_assert(kube_job_scalable(&st));
    kube_job_status_done(&st);
    cr_assert_null(st.name);
}

Test(kube_job_read, a_patch_answer_carries_the_new_parallelism)
{
    struct kube_job_status st = read_job("02c-patch-merge-parallelism-4.json");

    cr_assert_eq(st.parallelism, 4);
    cr_assert_eq(st.active, 2); /* the controller has not acted yet */
    cr_assert_str_eq(st.resource_version, "307");
    kube_job_status_done(&st);
}

Test(kube_job_read, a_complete_job)
{
    struct kube_job_status st = read_job("02i-get-job-complete.json");

    cr_assert_eq(st.parallelism, 6);
    cr_assert_eq(st.active, 0);
    cr_assert_eq(st.ready, 0);
    cr_assert_eq(st.succeeded, 6);
    cr_assert_eq(st.failed, 0);
    cr_assert_str_eq(st.completed, "2026-11-25T06:33:02Z");
    cr_assert_eq(st.nconds, 1);
    cr_assert_str_eq(st.conds[0].type, "Complete");
    cr_assert_str_eq(st.conds[0].status, "True");
    cr_assert_null(st.conds[0].reason); /* 1.26 gives Complete no reason */
    cr_assert_null(st.conds[0].message);
    cr_assert(st.complete);
    cr_assert(!st.failed_job);
    cr_assert(kube_job_finished(&st));
    cr_assert(!kube_job_scalable(&st));
    kube_job_status_done(&st);
}

Test(kube_job_read, a_job_failed_by_the_failure_policy)
{
    struct kube_job_status st = read_job("05b-get-job-failed-podfailurepolicy.json");
    static const char msg[] = "Container worker for pod kwq-rec/wq-failjob-6jv85 failed with "
                              "exit code 78 matching FailJob rule at index 2";

    cr_assert_str_eq(st.name, "wq-failjob");
    cr_assert_eq(st.failed, 2);
    cr_assert_eq(st.succeeded, 0);
    cr_assert_eq(st.active, 0);
    cr_assert_null(st.completed);
    cr_assert_eq(st.nconds, 2);
    cr_assert_str_eq(st.conds[0].type, "FailureTarget");
    cr_assert_str_eq(st.conds[1].type, "Failed");
    cr_assert_str_eq(st.conds[1].reason, "PodFailurePolicy");
    cr_assert_str_eq(st.conds[1].message, msg);
    cr_assert(st.failure_target);
    cr_assert(st.failed_job);
    cr_assert(!st.complete);
    cr_assert(kube_job_finished(&st));
    cr_assert(!kube_job_scalable(&st));
    kube_job_status_done(&st);
}

/* Event i of a recorded watch (.jsonl), its object. */
static cJSON *watched(const char *file, int i)
{
    char path[512], line[65536];
    FILE *f;
    cJSON *ev = NULL, *o;

    (void)snprintf(path, sizeof(path), "%s/k8s/%s", KWQ_TEST_DATA_DIR, file);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    for (int n = 0; n <= i; n++)
        cr_assert_not_null(fgets(line, sizeof(line), f));
    (void)fclose(f);
    ev = cJSON_Parse(line);
    cr_assert_not_null(ev);
    o = cJSON_DetachItemFromObjectCaseSensitive(ev, "object");
    cJSON_Delete(ev);
    return o;
}

Test(kube_job_read, pods_succeeded_but_not_yet_counted_stop_the_scaling)
{
    struct kube_job_status st;
    struct kwq_error err = {0};
    cJSON *job = watched("07c-watch-job-created-to-complete.jsonl", 3);

    cr_assert_eq(kube_job_status_parse(job, &st, &err), 0);
    cr_assert_eq(st.succeeded, 0);
    cr_assert_eq(st.active, 0);
    cr_assert_eq(st.uncounted_succeeded, 2);
    cr_assert_eq(st.uncounted_failed, 0);
    cr_assert(!kube_job_finished(&st));
    cr_assert(!kube_job_scalable(&st));
    kube_job_status_done(&st);
    cJSON_Delete(job);
    job = watched("07c-watch-job-created-to-complete.jsonl", 0); /* just created: status {} */
    cr_assert_eq(kube_job_status_parse(job, &st, &err), 0);
    cr_assert_eq(st.ready, -1);
    cr_assert_eq(st.active, 0);
    cr_assert(kube_job_scalable(&st));
    kube_job_status_done(&st);
    cJSON_Delete(job);
}

Test(kube_job_read, the_newer_fields_and_our_annotations)
{
    /* The shape of a 1.31+ answer: terminating counted, SuccessCriteriaMet before Complete. */
    static const char text[] =
        "{\"metadata\":{\"name\":\"images-2\",\"annotations\":{\"kwq.dev/queue\":\"images\","
        "\"kwq.dev/predecessor\":\"images\"}},"
        "\"spec\":{\"parallelism\":3,\"selector\":{\"matchLabels\":"
        "{\"batch.kubernetes.io/controller-uid\":\"u-1\"}}},"
        "\"status\":{\"active\":1,\"succeeded\":1,\"terminating\":2,\"ready\":0,"
        "\"conditions\":[{\"type\":\"SuccessCriteriaMet\",\"status\":\"True\","
        "\"reason\":\"CompletionsReached\",\"message\":\"Reached expected number of succeeded "
        "pods\"}]}}";
    struct kube_job_status st;
    struct kwq_error err = {0};
    cJSON *job = cJSON_Parse(text);

    cr_assert_eq(kube_job_status_parse(job, &st, &err), 0);
    cr_assert_str_eq(st.queue, "images");
    cr_assert_str_eq(st.predecessor, "images");
    cr_assert_str_eq(st.selector, "batch.kubernetes.io/controller-uid=u-1");
    cr_assert_eq(st.terminating, 2);
    cr_assert(st.success_criteria_met);
    cr_assert_str_eq(st.conds[0].reason, "CompletionsReached");
    cr_assert(!kube_job_finished(&st));
    cr_assert(!kube_job_scalable(&st));
    kube_job_status_done(&st);
    cJSON_Delete(job);
}

Test(kube_job_read, not_a_job)
{
    struct kube_job_status st;
    struct kwq_error err = {0};
    cJSON *status = recorded("02b-get-job-2-pods-running.json");
    cJSON *meta = cJSON_DetachItemFromObjectCaseSensitive(status, "metadata");

    cr_assert_eq(kube_job_status_parse(status, &st, &err), KWQ_EPROTO);
    cr_assert_str_eq(err.msg, "the API server's answer is not a Job (no metadata.name)");
    cr_assert_null(st.name);
    cr_assert_eq(kube_job_status_parse(NULL, &st, &err), KWQ_EPROTO);
    cJSON_Delete(meta);
    cJSON_Delete(status);
}

static struct kube_pod_list read_pods(const char *file)
{
    struct kube_pod_list l;
    struct kwq_error err = {0};
    cJSON *body = recorded(file);

    cr_assert_eq(kube_pod_list_parse(body, &l, &err), 0, "%s", err.msg);
    cJSON_Delete(body);
    return l;
}

Test(kube_job_read, pods_failed_with_exit_78)
{
    struct kube_pod_list l = read_pods("05d-list-pods-failed-job.json");

    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.pods[0].name, "wq-failjob-6jv85");
    cr_assert_str_eq(l.pods[1].name, "wq-failjob-gp6dn");
    for (size_t i = 0; i < l.n; i++) {
        cr_assert_str_eq(l.pods[i].phase, "Failed");
        cr_assert(l.pods[i].terminated);
        cr_assert_eq(l.pods[i].exit_code, 78);
        cr_assert_str_eq(l.pods[i].reason, "Error");
        cr_assert(!l.pods[i].ready);
        cr_assert(!l.pods[i].deleting);
        cr_assert_str_eq(l.pods[i].node, "rig-node");
    }
    kube_pod_list_done(&l);
    cr_assert_eq(l.n, 0);
}

Test(kube_job_read, pods_being_deleted_by_a_scale_down)
{
    struct kube_pod_list l = read_pods("06e-list-pods-right-after-scale-down.json");

    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.pods[0].name, "wq-scale-ctr86");
    cr_assert(l.pods[0].deleting);
    cr_assert_str_eq(l.pods[1].name, "wq-scale-ctr96");
    cr_assert(l.pods[1].deleting);
    cr_assert_str_eq(l.pods[2].name, "wq-scale-tq8vl");
    cr_assert(!l.pods[2].deleting);
    for (size_t i = 0; i < l.n; i++) {
        cr_assert_str_eq(l.pods[i].phase, "Running");
        cr_assert(l.pods[i].ready);
        cr_assert(!l.pods[i].terminated);
        cr_assert_null(l.pods[i].reason);
    }
    kube_pod_list_done(&l);
}

Test(kube_job_read, pods_that_succeeded)
{
    struct kube_pod_list l = read_pods("03c-list-pods-by-job-name-complete.json");

    cr_assert_eq(l.n, 6);
    cr_assert_str_eq(l.pods[0].name, "wq-main-66vbr");
    cr_assert_str_eq(l.pods[5].name, "wq-main-vpz89");
    for (size_t i = 0; i < l.n; i++) {
        cr_assert_str_eq(l.pods[i].phase, "Succeeded");
        cr_assert(l.pods[i].terminated);
        cr_assert_eq(l.pods[i].exit_code, 0);
        cr_assert_str_eq(l.pods[i].reason, "Completed");
    }
    kube_pod_list_done(&l);
}

Test(kube_job_read, an_empty_list_and_not_a_list)
{
    struct kube_pod_list l;
    struct kwq_error err = {0};
    cJSON *empty = cJSON_Parse("{\"kind\":\"PodList\",\"items\":[]}");
    cJSON *other = cJSON_Parse("{\"kind\":\"Status\"}");

    cr_assert_eq(kube_pod_list_parse(empty, &l, &err), 0);
    cr_assert_eq(l.n, 0);
    cr_assert_null(l.pods);
    cr_assert_eq(kube_pod_list_parse(other, &l, &err), KWQ_EPROTO);
    cr_assert_str_eq(err.msg, "the API server's answer is not a pod list (no items)");
    cJSON_Delete(empty);
    cJSON_Delete(other);
}
