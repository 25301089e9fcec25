/*
 * test_manifests_support.c - the manifests' files, kubectl, and server-side
 * apply through the API: see test_manifests.h. The YAML of manifests/ is
 * read only as far as a path needs (apiVersion, kind, metadata.name, the
 * resources of a kustomization): the API server parses the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "test_manifests.h"

/* ---- kubectl -------------------------------------------------------------------------------- */

const char *manifests_kubectl(const char **why)
{
    static char line[128];
    const char *argv[] = {KWQ_TEST_KUBECTL, "version", "--client", "-o", "json", NULL};
    struct cli_out r;
    cJSON *v, *cv;
    long minor = 0;

    if (KWQ_TEST_KUBECTL[0] == '\0') {
        *why = "no kubectl in PATH when the build was configured";
        return NULL;
    }
    cli_exec_prog(&r, NULL, 0, argv);
    v = cJSON_Parse(r.out);
    cv = cJSON_GetObjectItem(v, "clientVersion");
    if (cJSON_IsString(cJSON_GetObjectItem(cv, "minor")))
        minor = strtol(cJSON_GetObjectItem(cv, "minor")->valuestring, NULL, 10);
    cJSON_Delete(v);
    cli_out_free(&r);
    if (minor >= 25)
        return KWQ_TEST_KUBECTL;
    (void)snprintf(line, sizeof(line), "%s is older than 1.25 (minor %ld)", KWQ_TEST_KUBECTL,
                   minor);
    *why = line;
    return NULL;
}

void manifests_kubectl_run(struct cli_out *r, const char *kubectl, const char *input,
                           const char *const *args)
{
    const char *argv[32];
    size_t n = 0;

    argv[n++] = kubectl;
    for (; *args; args++) {
        cr_assert(n < 31);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    cli_exec_prog(r, input, cli_len(input), argv);
}

/* ---- Reading manifest files ----------------------------------------------------------------- */

/* The value after "key: " on a line that starts with prefix, unquoted, into buf. */
static bool value_of(const char *line, const char *prefix, char *buf, size_t len)
{
    size_t n = strlen(prefix);
    const char *v;
    size_t vlen;

    if (strncmp(line, prefix, n) != 0)
        return false;
    v = line + n;
    vlen = strcspn(v, "\n#");
    while (vlen > 0 && v[vlen - 1] == ' ')
        vlen--;
    if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
        v++;
        vlen -= 2;
    }
    (void)snprintf(buf, len, "%.*s", (int)vlen, v);
    return true;
}

size_t manifests_resources(const char *kustomization, char **ret, size_t max)
{
    char *text = cli_read_file(kustomization), *save = NULL, item[512];
    bool in = false;
    size_t n = 0;

    cr_assert_neq(text[0], '\0', "cannot read %s", kustomization);
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] != ' ' && l[0] != '-' && l[0] != '#') {
            in = strncmp(l, "resources:", 10) == 0;
            continue;
        }
        if (in && value_of(l, "  - ", item, sizeof(item))) {
            cr_assert(n < max);
            ret[n++] = strdup(item);
        }
    }
    free(text);
    return n;
}

struct object_id {
    char api_version[64];
    char kind[64];
    char name[256];
};

static void object_id(const char *path, struct object_id *id)
{
    char *text = cli_read_file(path), *save = NULL;
    bool in_meta = false;

    memset(id, 0, sizeof(*id));
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] != ' ' && l[0] != '#')
            in_meta = strncmp(l, "metadata:", 9) == 0;
        (void)value_of(l, "apiVersion: ", id->api_version, sizeof(id->api_version));
        (void)value_of(l, "kind: ", id->kind, sizeof(id->kind));
        if (in_meta && !id->name[0])
            (void)value_of(l, "  name: ", id->name, sizeof(id->name));
    }
    free(text);
    cr_assert(id->api_version[0] && id->kind[0] && id->name[0],
              "%s: no apiVersion, kind or metadata.name at the top level", path);
}

/* The resource (plural) of each kind manifests/ holds. */
static const char *resource_of(const char *kind)
{
    static const char *const map[][2] = {
        {"ConfigMap", "configmaps"},
        {"Service", "services"},
        {"ServiceAccount", "serviceaccounts"},
        {"StatefulSet", "statefulsets"},
        {"Deployment", "deployments"},
        {"NetworkPolicy", "networkpolicies"},
        {"PodDisruptionBudget", "poddisruptionbudgets"},
        {"Role", "roles"},
        {"RoleBinding", "rolebindings"},
        {"CronJob", "cronjobs"},
        {"Job", "jobs"},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i][0], kind) == 0)
            return map[i][1];
    }
    cr_assert_fail("kind %s: add its resource to resource_of()", kind);
    return NULL;
}

/* ---- Applying ------------------------------------------------------------------------------- */

long manifests_apply_file(const struct k8s_rig *rig, const char *ns, const char *path, bool dry_run,
                          char **out)
{
    struct object_id id;
    char url[1024], *yaml;
    long st;

    object_id(path, &id);
    (void)snprintf(url, sizeof(url),
                   "/%s/%s/namespaces/%s/%s/%s?fieldManager=" MANIFESTS_FIELDS
                   "&fieldValidation=Strict%s",
                   strchr(id.api_version, '/') ? "apis" : "api", id.api_version, ns,
                   resource_of(id.kind), id.name, dry_run ? "&dryRun=All" : "");
    yaml = cli_read_file(path);
    st = k8s_rig_request(rig, "PATCH", url, "application/apply-patch+yaml", yaml, out);
    free(yaml);
    return st;
}

void manifests_apply(const struct k8s_rig *rig, const char *ns, const char *path)
{
    char *out = NULL;
    long st = manifests_apply_file(rig, ns, path, false, &out);

    cr_assert(st == 200 || st == 201, "applying %s: HTTP %ld: %s", path, st, out);
    free(out);
}

/* ---- CronJobs and their Jobs ---------------------------------------------------------------- */

cJSON *manifests_get(const struct k8s_rig *rig, const char *ns, const char *resource,
                     const char *name)
{
    char path[512], *out;
    cJSON *j;

    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/%s/%s", ns, resource, name);
    out = k8s_rig_must(rig, "GET", path, NULL);
    j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    free(out);
    return j;
}

void manifests_patch_cronjob(const struct k8s_rig *rig, const char *ns, const char *name,
                             const char *patch)
{
    char path[512], *out = NULL;
    long st;

    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/cronjobs/%s", ns, name);
    st = k8s_rig_request(rig, "PATCH", path, "application/strategic-merge-patch+json", patch, &out);
    cr_assert_eq(st, 200, "patching CronJob %s: HTTP %ld: %s", name, st, out);
    free(out);
}

/* The owner reference kubectl gives: controller, without blockOwnerDeletion. */
static cJSON *owner_of(const char *cronjob, const cJSON *cj)
{
    cJSON *owner = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(owner, "apiVersion", "batch/v1");
    (void)cJSON_AddStringToObject(owner, "kind", "CronJob");
    (void)cJSON_AddStringToObject(owner, "name", cronjob);
    (void)cJSON_AddStringToObject(
        owner, "uid",
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cj, "metadata"), "uid")));
    (void)cJSON_AddTrueToObject(owner, "controller");
    return owner;
}

void manifests_job_from_cronjob_api(const struct k8s_rig *rig, const char *ns, const char *cronjob,
                                    const char *name)
{
    cJSON *cj = manifests_get(rig, ns, "cronjobs", cronjob), *job = cJSON_CreateObject(), *meta;
    const cJSON *tmpl = cJSON_GetObjectItem(cJSON_GetObjectItem(cj, "spec"), "jobTemplate");
    const cJSON *tmeta = cJSON_GetObjectItem(tmpl, "metadata"), *a;
    cJSON *ann;
    char path[256], *body;

    (void)cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
    (void)cJSON_AddStringToObject(job, "kind", "Job");
    meta = cJSON_AddObjectToObject(job, "metadata");
    (void)cJSON_AddStringToObject(meta, "name", name);
    ann = cJSON_AddObjectToObject(meta, "annotations");
    (void)cJSON_AddStringToObject(ann, "cronjob.kubernetes.io/instantiate", "manual");
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(tmeta, "annotations"))(void)
        cJSON_AddStringToObject(ann, a->string, a->valuestring);
    if (cJSON_GetObjectItem(tmeta, "labels"))
        cJSON_AddItemToObject(meta, "labels",
                              cJSON_Duplicate(cJSON_GetObjectItem(tmeta, "labels"), 1));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), owner_of(cronjob, cj));
    cJSON_AddItemToObject(job, "spec", cJSON_Duplicate(cJSON_GetObjectItem(tmpl, "spec"), 1));
    body = cJSON_PrintUnformatted(job);
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", ns);
    free(k8s_rig_must(rig, "POST", path, body));
    free(body);
    cJSON_Delete(job);
    cJSON_Delete(cj);
}

void manifests_job_from_cronjob_kubectl(const char *kubectl, const struct k8s_rig *rig,
                                        const char *ns, const char *cronjob, const char *name)
{
    char from[300], want[300];
    struct cli_out r;

    (void)snprintf(from, sizeof(from), "--from=cronjob/%s", cronjob);
    manifests_kubectl_run(&r, kubectl, NULL,
                          (const char *const[]){"--kubeconfig", rig->kubeconfig, "--namespace", ns,
                                                "create", "job", name, from, NULL});
    (void)snprintf(want, sizeof(want), "job.batch/%s created\n", name);
    expect(&r, 0, want, "");
    cli_out_free(&r);
}

void manifests_job_from_cronjob(const struct k8s_rig *rig, const char *ns, const char *cronjob,
                                const char *name)
{
    const char *why, *kubectl = manifests_kubectl(&why);

    if (kubectl)
        manifests_job_from_cronjob_kubectl(kubectl, rig, ns, cronjob, name);
    else
        manifests_job_from_cronjob_api(rig, ns, cronjob, name);
}
