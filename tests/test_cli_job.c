/*
 * test_cli_job.c - `kwq job` through the kwq binary without a cluster:
 * `create --dry-run` prints the Job built from the command line (the one in
 * docs/kwq-worker.md included, byte for byte), and every bad command line
 * gets its one line and exit code 2 before anything is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "kwq/exit.h"

#include "test_cli_exec.h"

static void clean_env(void)
{
    static const char *const vars[] = {"KWQ_QUEUE", "KWQ_QUIET", "KWQ_KUBE_API", "KWQ_NAMESPACE",
                                       "KUBECONFIG"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        (void)unsetenv(vars[i]);
}

TestSuite(cli_job, .init = clean_env, .timeout = 60);

/* The doc's example, exactly as docs/kwq-worker.md gives it. */
#define DOC_ARGS                                                                                   \
    "job", "create", "images-worker", "--queue", "images", "--image",                              \
        "registry.example.com/images-worker:1.4.2", "--parallelism", "8", "--concurrency", "2",    \
        "--active-deadline", "1d", "--cpu", "1", "--memory", "256Mi", "--dry-run", "--",           \
        "/app/resize", "--width", "800"

/* The ```json block after `after` in a doc, malloc'd. */
static char *doc_block(const char *doc, const char *after)
{
    char *text = cli_read_file(doc);
    const char *at = strstr(text, after), *start, *end;
    char *block;

    cr_assert_not_null(at, "'%s' is not in %s", after, doc);
    start = strstr(at, "```json\n");
    cr_assert_not_null(start);
    start += strlen("```json\n");
    end = strstr(start, "```\n");
    cr_assert_not_null(end);
    block = strndup(start, (size_t)(end - start));
    free(text);
    return block;
}

Test(cli_job, dry_run_prints_the_job_of_the_worker_page)
{
    struct cli_out r;
    char *block = doc_block(KWQ_TEST_SOURCE_DIR "/docs/kwq-worker.md", "### As a Kubernetes Job");

    kwq(&r, NULL, DOC_ARGS);
    expect(&r, 0, block, "");
    free(block);
    cli_out_free(&r);
}

static cJSON *dry_run(struct cli_out *r)
{
    cJSON *job;

    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->err, "");
    job = cJSON_Parse(r->out);
    cr_assert_not_null(job, "%s", r->out);
    return job;
}

/* The string at path, or the compact JSON of what is there (valid until the next call). */
static const char *str_at(const cJSON *o, const char *const *path)
{
    static char buf[4096];
    char *text;

    for (; *path && o; path++) {
        if (cJSON_IsArray(o))
            o = cJSON_GetArrayItem(o, atoi(*path));
        else
            o = cJSON_GetObjectItemCaseSensitive(o, *path);
    }
    cr_assert_not_null(o);
    if (cJSON_IsString(o))
        return o->valuestring;
    text = cJSON_PrintUnformatted(o);
    (void)snprintf(buf, sizeof(buf), "%s", text);
    cJSON_free(text);
    return buf;
}

#define AT(o, ...) str_at((o), (const char *const[]){__VA_ARGS__, NULL})

Test(cli_job, options_reach_the_job)
{
    struct cli_out r;
    cJSON *job;

    cr_assert_eq(setenv("KWQ_QUEUE", "from-env", 1), 0);
    kwq(&r, NULL, "job", "create", "thumbs", "--image", "kwq-worker", "-P", "3", "--grace", "1m",
        "--kill-grace", "2s", "--stream", "--ready-file", "busy", "--redis-secret", "redis",
        "--label", "team=vision,tier=batch", "--backoff-limit", "0", "--ttl", "10m", "--cpu-limit",
        "2", "--memory-limit", "1Gi", "--after", "thumbs-1", "--lease", "90s", "--timeout", "0",
        "--dry-run", "--", "python3", "/app/h.py");
    job = dry_run(&r);
    cr_assert_str_eq(AT(job, "metadata", "annotations"),
                     "{\"kwq.dev/queue\":\"from-env\",\"kwq.dev/predecessor\":\"thumbs-1\"}");
    cr_assert_str_eq(AT(job, "metadata", "labels"),
                     "{\"app.kubernetes.io/name\":\"kwq-worker\",\"app.kubernetes.io/managed-by\":"
                     "\"kwq\",\"team\":\"vision\",\"tier\":\"batch\"}");
    cr_assert_str_eq(AT(job, "spec", "parallelism"), "3");
    cr_assert_str_eq(AT(job, "spec", "backoffLimit"), "0");
    cr_assert_str_eq(AT(job, "spec", "ttlSecondsAfterFinished"), "600");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(job, "spec"),
                                                    "activeDeadlineSeconds"));
    cr_assert_str_eq(AT(job, "spec", "template", "spec", "terminationGracePeriodSeconds"), "72");
    cr_assert_str_eq(AT(job, "spec", "template", "spec", "containers", "0", "args"),
                     "[\"--\",\"python3\",\"/app/h.py\"]");
    cr_assert_str_eq(AT(job, "spec", "template", "spec", "containers", "0", "env"),
                     "[{\"name\":\"KWQ_QUEUE\",\"value\":\"from-env\"},"
                     "{\"name\":\"KWQ_CONCURRENCY\",\"value\":\"1\"},"
                     "{\"name\":\"KWQ_LEASE\",\"value\":\"90s\"},"
                     "{\"name\":\"KWQ_TIMEOUT\",\"value\":\"0ms\"},"
                     "{\"name\":\"KWQ_GRACE\",\"value\":\"1m\"},"
                     "{\"name\":\"KWQ_KILL_GRACE\",\"value\":\"2s\"},"
                     "{\"name\":\"KWQ_STREAM\",\"value\":\"true\"},"
                     "{\"name\":\"KWQ_READY_FILE\",\"value\":\"busy\"},"
                     "{\"name\":\"KWQ_REDIS_URL\",\"valueFrom\":{\"secretKeyRef\":{\"name\":"
                     "\"redis\",\"key\":\"url\"}}},"
                     "{\"name\":\"KWQ_REDIS_PASSWORD\",\"valueFrom\":{\"secretKeyRef\":{\"name\":"
                     "\"redis\",\"key\":\"password\",\"optional\":true}}}]");
    cr_assert_str_eq(AT(job, "spec", "template", "spec", "containers", "0", "resources"),
                     "{\"limits\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}}");
    /* a relative ready file needs no volume: /tmp's is the only one */
    cr_assert_str_eq(AT(job, "spec", "template", "spec", "volumes"),
                     "[{\"name\":\"kwq-tmp\",\"emptyDir\":{}}]");
    cJSON_Delete(job);
    cli_out_free(&r);
}

/* The shipped CronJob is this very output (manifests/generate.sh; the manifests_generated test). */
Test(cli_job, cronjob_as_yaml_is_the_manifest)
{
    struct cli_out r;
    char *file = cli_read_file(KWQ_TEST_SOURCE_DIR "/manifests/base/worker/cronjob.yaml");
    const char *body = strstr(file, "\napiVersion: ");

    kwq(&r, NULL, "job", "create", "kwq-worker", "--cronjob", "--dry-run", "-o", "yaml", "--image",
        "kwq-worker:" KWQ_VERSION, "-l", "app.kubernetes.io/part-of=kwq", "--cpu", "250m",
        "--memory", "256Mi", "--", "/usr/local/bin/kwq-handler");
    cr_assert_not_null(body);
    expect(&r, 0, body + 1, "");
    cr_assert_not_null(strstr(r.out, "\nspec:\n  schedule: \"0 0 1 1 *\"\n  suspend: true\n"), "%s",
                       r.out);
    cli_out_free(&r);
    free(file);
}

/* Each bad command line: exit 2, exactly this one line, nothing on stdout. */
static void refused(const char *want, const char *const *args)
{
    struct cli_out r;

    cli_exec(&r, NULL, 0, args);
    expect(&r, KWQ_EXIT_USAGE, "", want);
    cli_out_free(&r);
}

#define REFUSED(want, ...) refused((want), (const char *const[]){"job", __VA_ARGS__, NULL})

Test(cli_job, bad_command_lines_get_one_line)
{
    refused("kwq: give a job command: create, status or delete; see 'kwq job --help'\n",
            (const char *const[]){"job", NULL});
    REFUSED("kwq: unknown job command 'start' (create, status or delete); see 'kwq job --help'\n",
            "start");
    REFUSED("kwq: give the Job's name first: kwq job create NAME [options] -- HANDLER...; see "
            "'kwq job create --help'\n",
            "create", "--image", "x", "--", "h");
    REFUSED("kwq: Job name 'Images' is not a DNS label: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit; see 'kwq job create --help'\n",
            "create", "Images", "--image", "x", "--", "h");
    REFUSED("kwq: give the handler command after '--', e.g. kwq job create a --image IMAGE -- "
            "/app/handler; see 'kwq job create --help'\n",
            "create", "a", "--image", "x", "--dry-run");
    REFUSED("kwq: no worker image: give --image, e.g. registry.example.com/kwq-worker:1.0; see "
            "'kwq job create --help'\n",
            "create", "a", "--dry-run", "--", "h");
    REFUSED("kwq: label 'tier' is not KEY=VALUE, e.g. team=vision; see 'kwq job create --help'\n",
            "create", "a", "--image", "x", "--label", "team=a,tier", "--dry-run", "--", "h");
    REFUSED("kwq: --cpu 'lots' is not a Kubernetes quantity: write e.g. 500m or 2 (CPU), 256Mi or "
            "1G (memory); see 'kwq job create --help'\n",
            "create", "a", "--image", "x", "--cpu", "lots", "--dry-run", "--", "h");
    REFUSED("kwq: --concurrency must be a whole number from 1 to 10000, got '0'; see 'kwq "
            "job create --help'\n",
            "create", "a", "--image", "x", "-c", "0", "--dry-run", "--", "h");
    REFUSED("kwq: --output must be json or yaml, not 'xml'; see 'kwq job create --help'\n",
            "create", "a", "--image", "x", "-o", "xml", "--dry-run", "--", "h");
    REFUSED("kwq: a CronJob template has no predecessor: leave out --after; see 'kwq job create "
            "--help'\n",
            "create", "a", "--image", "x", "--cronjob", "--after", "b", "--dry-run", "--", "h");
    REFUSED("kwq: give the name of the Job; see 'kwq job status --help'\n", "status");
    REFUSED("kwq: unexpected argument 'b'; see 'kwq job delete --help'\n", "delete", "a", "b");
    REFUSED("kwq: Job name 'a_b' is not a DNS label: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit; see 'kwq job delete --help'\n",
            "delete", "a_b");
}

Test(cli_job, help_names_the_subcommands)
{
    struct cli_out r;

    kwq(&r, NULL, "job", "--help");
    expect(&r, 0, NULL, "");
    cr_assert(strncmp(r.out, "Usage: kwq job create|status|delete NAME [options]\n", 51) == 0, "%s",
              r.out);
    cli_out_free(&r);
    kwq(&r, NULL, "job", "create", "--help");
    expect(&r, 0, NULL, "");
    cr_assert_not_null(strstr(r.out, "Usage: kwq job create NAME [options] -- HANDLER [ARG...]\n"));
    cr_assert_not_null(strstr(r.out, "--dry-run"));
    cr_assert_not_null(strstr(r.out, "--namespace NS"));
    cli_out_free(&r);
    kwq(&r, NULL, "--help");
    cr_assert_not_null(strstr(r.out, "  job          the Kubernetes Job of kwq-worker pods: "
                                     "create, status, delete\n"),
                       "%s", r.out);
    cli_out_free(&r);
}
