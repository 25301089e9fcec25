/*
 * test_manifests.c - manifests/ as the API server sees it: `kubectl
 * kustomize` of the base and of the example overlay, every object applied
 * with a server-side dry run and strict field validation (an unknown or
 * misplaced field fails), and the base's files one by one through the API,
 * which also runs where kubectl is absent. The pods of every workload keep
 * the hardening manifests/README.md promises.
 */
#include "test_manifests.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

TestSuite(manifests, .init = cli_setup, .fini = cli_teardown, .timeout = 120);

#define DRY_RUN " serverside-applied (server dry run)"

/* What the base renders to, in kubectl's order of applying (kinds first that others use). */
static const char *const base_objects[] = {
    "serviceaccount/kwq-broker",
    "serviceaccount/kwq-submitter",
    "role.rbac.authorization.k8s.io/kwq-broker",
    "role.rbac.authorization.k8s.io/kwq-submitter",
    "rolebinding.rbac.authorization.k8s.io/kwq-broker",
    "rolebinding.rbac.authorization.k8s.io/kwq-submitter",
    "configmap/kwq-redis-config",
    "service/kwq-broker",
    "service/kwq-redis",
    "service/kwq-redis-headless",
    "deployment.apps/kwq-broker",
    "statefulset.apps/kwq-redis",
    "cronjob.batch/kwq-worker",
    "poddisruptionbudget.policy/kwq-broker",
    "networkpolicy.networking.k8s.io/kwq-redis",
};
#define BASE_N (sizeof(base_objects) / sizeof(base_objects[0]))

/* kubectl's output lines: each object applied, in order; "-HASH" is a generated name's suffix. */
static void expect_applied(const char *out, const char *const *want, size_t n)
{
    char *copy = strdup(out), *save = NULL;
    size_t i = 0;

    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save), i++) {
        const char *w = i < n ? want[i] : "(nothing)";
        const char *hash = strstr(w, "-HASH");
        size_t cmp = hash ? (size_t)(hash - w) + 1 : strlen(w);

        cr_assert(strncmp(l, w, cmp) == 0 && strcmp(l + strcspn(l, " "), DRY_RUN) == 0 &&
                      (hash || l[cmp] == ' '),
                  "line %zu: '%s', want '%s%s'", i + 1, l, w, DRY_RUN);
    }
    cr_assert_eq(i, n, "%zu objects applied, want %zu:\n%s", i, n, out);
    free(copy);
}

/* `kubectl kustomize dir`, then `kubectl apply --server-side --dry-run=server` of it in ns. */
static char *kustomize_and_apply(const char *kubectl, const struct k8s_rig *rig, const char *ns,
                                 const char *dir, char **rendered)
{
    struct cli_out r;
    char *out;

    manifests_kubectl_run(&r, kubectl, NULL, (const char *const[]){"kustomize", dir, NULL});
    expect(&r, 0, NULL, "");
    *rendered = strdup(r.out);
    cli_out_free(&r);
    manifests_kubectl_run(
        &r, kubectl, *rendered,
        (const char *const[]){"--kubeconfig", rig->kubeconfig, "--namespace", ns, "apply",
                              "--server-side", "--dry-run=server", "--validate=strict",
                              "--field-manager=" MANIFESTS_FIELDS, "-f", "-", NULL});
    expect(&r, 0, NULL, "");
    out = strdup(r.out);
    cli_out_free(&r);
    return out;
}

/*
 * A kustomization in the test's dir that takes the example overlay and sets
 * namespace ns: kustomize wants a relative path to another kustomization.
 */
static void overlay_in(const char *ns, char *dir, size_t len)
{
    char here[PATH_MAX], there[PATH_MAX], file[PATH_MAX + 32];
    FILE *f;

    (void)snprintf(dir, len, "%s", test_path("overlay"));
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_not_null(realpath(dir, here));
    cr_assert_not_null(realpath(MANIFESTS_DIR "/examples/overlay", there));
    (void)snprintf(file, sizeof(file), "%s/kustomization.yaml", dir);
    f = fopen(file, "w");
    cr_assert_not_null(f);
    (void)fputs("resources:\n  - ", f);
    for (const char *p = here; *p; p++) {
        if (*p == '/')
            (void)fputs("../", f);
    }
    (void)fprintf(f, "%s\nnamespace: %s\n", there + 1, ns);
    cr_assert_eq(fclose(f), 0);
}

Test(manifests, kustomize_renders_base_and_overlay_and_the_api_server_accepts_every_object)
{
    static const char *const overlay_objects[] = {
        "serviceaccount/kwq-broker",
        "serviceaccount/kwq-submitter",
        "role.rbac.authorization.k8s.io/kwq-broker",
        "role.rbac.authorization.k8s.io/kwq-submitter",
        "rolebinding.rbac.authorization.k8s.io/kwq-broker",
        "rolebinding.rbac.authorization.k8s.io/kwq-submitter",
        "configmap/kwq-redis-config",
        "configmap/kwq-submit-items-HASH",
        "service/kwq-broker",
        "service/kwq-redis",
        "service/kwq-redis-headless",
        "deployment.apps/kwq-broker",
        "statefulset.apps/kwq-redis",
        "cronjob.batch/kwq-submit",
        "cronjob.batch/kwq-worker",
        "poddisruptionbudget.policy/kwq-broker",
        "networkpolicy.networking.k8s.io/kwq-redis",
    };
    struct k8s_rig rig;
    const char *why, *kubectl;
    char ns[64], dir[512], *out, *rendered;

    k8s_rig_get(&rig);
    kubectl = manifests_kubectl(&why);
    if (!kubectl)
        cr_skip_test("%s: kubectl kustomize is not checked (test_manifests' API test still runs)",
                     why);
    k8s_rig_namespace(&rig, "kustomize", ns, sizeof(ns));

    out = kustomize_and_apply(kubectl, &rig, ns, MANIFESTS_DIR "/base", &rendered);
    expect_applied(out, base_objects, BASE_N);
    free(out);
    free(rendered);

    overlay_in(ns, dir, sizeof(dir));
    out = kustomize_and_apply(kubectl, &rig, ns, dir, &rendered);
    expect_applied(out, overlay_objects, sizeof(overlay_objects) / sizeof(overlay_objects[0]));
    /* kwq run --kube in kwq-submit is told the worker image that `images:` gave the CronJob. */
    cr_assert_not_null(strstr(rendered, "- name: KWQ_IMAGE\n"
                                        "              value: registry.example.com/kwq-demo/"
                                        "worker:1.0.0\n"),
                       "%s", rendered);
    cr_assert_not_null(strstr(rendered, "image: registry.example.com/kwq-demo/worker:1.0.0\n"));
    cr_assert_null(strstr(rendered, "image: kwq"), "an image the overlay did not rename");
    free(out);
    free(rendered);
}

/* ---- Every file of the base through the API, and the pods' hardening ------------------------ */

/* The pod spec of a workload (StatefulSet, Deployment, CronJob), or NULL for other kinds. */
static const cJSON *pod_spec_of(const cJSON *obj)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(obj, "kind"));
    const cJSON *spec = cJSON_GetObjectItem(obj, "spec");

    if (strcmp(kind, "CronJob") == 0)
        spec = cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "jobTemplate"), "spec");
    else if (strcmp(kind, "StatefulSet") != 0 && strcmp(kind, "Deployment") != 0)
        return NULL;
    return cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "template"), "spec");
}

static bool is_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(o, key));
}

/* A container as README.md says: no escalation, read-only root, no capabilities, RuntimeDefault. */
static void expect_hardened(const char *what, const cJSON *pod, const cJSON *c)
{
    const cJSON *sc = cJSON_GetObjectItem(c, "securityContext");
    const cJSON *drop = cJSON_GetObjectItem(cJSON_GetObjectItem(sc, "capabilities"), "drop");
    const cJSON *psc = cJSON_GetObjectItem(pod, "securityContext");
    const cJSON *seccomp = cJSON_GetObjectItem(sc, "seccompProfile");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));

    if (!seccomp)
        seccomp = cJSON_GetObjectItem(psc, "seccompProfile");
    cr_assert(is_true(psc, "runAsNonRoot"), "%s: pod without runAsNonRoot", what);
    /* Without runAsUser the image's numeric USER is used, which runAsNonRoot checks. */
    cr_assert(!cJSON_GetObjectItem(psc, "runAsUser") ||
                  cJSON_GetObjectItem(psc, "runAsUser")->valueint > 0,
              "%s: pod running as root", what);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(sc, "allowPrivilegeEscalation")),
              "%s/%s: privilege escalation allowed", what, name);
    cr_assert(is_true(sc, "readOnlyRootFilesystem"), "%s/%s: root filesystem writable", what, name);
    cr_assert(cJSON_GetArraySize(drop) == 1 &&
                  strcmp(cJSON_GetArrayItem(drop, 0)->valuestring, "ALL") == 0,
              "%s/%s: capabilities not all dropped", what, name);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(seccomp, "type")), "RuntimeDefault",
                     "%s/%s: no RuntimeDefault seccomp profile", what, name);
}

static void expect_pods_hardened(const char *file, const cJSON *obj)
{
    const cJSON *pod = pod_spec_of(obj), *c;
    const char *name =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));
    bool token;

    if (!pod)
        return;
    /* Only the broker talks to the API server (the submitter's CronJob is the overlay's). */
    token = !cJSON_IsFalse(cJSON_GetObjectItem(pod, "automountServiceAccountToken"));
    cr_assert_eq(token, strcmp(name, "kwq-broker") == 0, "%s: automountServiceAccountToken %s",
                 file, token ? "on" : "off");
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(pod, "initContainers")) expect_hardened(file, pod, c);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(pod, "containers")) expect_hardened(file, pod, c);
}

Test(manifests, every_file_of_the_base_passes_strict_server_side_dry_run_through_the_api)
{
    struct k8s_rig rig;
    char ns[64], *files[64], path[1024], *out;
    size_t n, accepted = 0, workloads = 0;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "apply", ns, sizeof(ns));
    n = manifests_resources(MANIFESTS_DIR "/base/kustomization.yaml", files, 64);
    cr_assert_eq(n, BASE_N, "the base lists %zu files", n);
    for (size_t i = 0; i < n; i++) {
        long st;
        cJSON *obj;

        (void)snprintf(path, sizeof(path), "%s/base/%s", MANIFESTS_DIR, files[i]);
        st = manifests_apply_file(&rig, ns, path, true, &out);
        cr_assert(st == 200 || st == 201, "%s: HTTP %ld: %s", files[i], st, out);
        accepted++;
        obj = cJSON_Parse(out);
        cr_assert_not_null(obj, "%s", out);
        workloads += pod_spec_of(obj) != NULL;
        expect_pods_hardened(files[i], obj);
        cJSON_Delete(obj);
        free(out);
        free(files[i]);
    }
    cr_assert_eq(accepted, BASE_N);
    cr_assert_eq(workloads, 3); /* Redis, the brokers, the worker CronJob */
}

/* The checked-in hardening check can fail: a file with an unknown field is refused. */
Test(manifests, a_misspelt_field_is_refused_by_strict_validation)
{
    struct k8s_rig rig;
    char ns[64], *out = NULL, *yaml, path[600];
    FILE *f;
    long st;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "strict", ns, sizeof(ns));
    yaml = cli_read_file(MANIFESTS_DIR "/base/broker/pdb.yaml");
    (void)snprintf(path, sizeof(path), "%s", test_path("pdb.yaml"));
    f = fopen(path, "w");
    cr_assert_not_null(f);
    (void)fprintf(f, "%s  maxUnavaliable: 1\n", yaml);
    cr_assert_eq(fclose(f), 0);
    st = manifests_apply_file(&rig, ns, path, true, &out);
    /* The 1.26 server answers it with 500 (a typed-patch error), not 400: either is a refusal. */
    cr_assert(st == 400 || st == 500, "HTTP %ld: %s", st, out);
    cr_assert_not_null(strstr(out, ".spec.maxUnavaliable: field not declared in schema"), "%s",
                       out);
    free(out);
    free(yaml);
}
