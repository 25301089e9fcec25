/*
 * test_redis_tls_render.c - the redis-tls component renders with kubectl
 * kustomize on a base of the documented shape (tests/data/redis-tls), and
 * the real 1.26 API server of the rig takes every object it renders under
 * server-side dry run with strict field validation; a native sidecar
 * (Kubernetes 1.29) is refused there, which is why the component has none.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "k8s_rig.h"
#include "test_proc.h"

#define SAFETY_S   60
#define KUSTOMIZED KWQ_TEST_SOURCE_DIR "/tests/data/redis-tls"
#define COMPONENT  KWQ_TEST_SOURCE_DIR "/manifests/components/redis-tls"

static char dir[256];

static void make_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    (void)snprintf(dir, sizeof(dir), "%s/kwq-tls-render-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void remove_dir(void)
{
    char cmd[300];

    if (!dir[0])
        return;
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        (void)fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(redis_tls_render, .init = make_dir, .fini = remove_dir, .timeout = 60);

/* Contents of path (malloc; free it), NULL-terminated; asserts it can be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    cr_assert(f, "cannot read %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    (void)fclose(f);
    return buf;
}

/* Run kubectl with args (NULL-terminated); stdout to dir/out, stderr to dir/err. Exit code. */
static int kubectl(const char *out, const char *err, const char *const *args)
{
    const char *argv[24] = {KWQ_TEST_KUBECTL};
    char out_path[400], err_path[400];
    size_t n = 1;
    int fds[3];
    int code;

    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    (void)snprintf(out_path, sizeof(out_path), "%s/%s", dir, out);
    (void)snprintf(err_path, sizeof(err_path), "%s/%s", dir, err);
    fds[0] = -1;
    fds[1] = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    fds[2] = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(fds[1] >= 0 && fds[2] >= 0);
    code = test_proc_wait(test_proc_start(argv, fds), time(NULL) + SAFETY_S);
    (void)close(fds[1]);
    (void)close(fds[2]);
    return code;
}

static char *dir_file(const char *name)
{
    char path[400];

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    return slurp(path);
}

/* Skip unless kubectl >= 1.25 is here (kustomize with components, --validate=strict). */
static void require_kubectl(void)
{
    cJSON *v, *minor;
    char *out;
    long m;

    if (!KWQ_TEST_KUBECTL[0])
        cr_skip_test(
            "kubectl is not installed (needs >= 1.25): the component's render test skipped");
    cr_assert_eq(kubectl("version.json", "version.err",
                         (const char *[]){"version", "--client", "-o", "json", NULL}),
                 0);
    out = dir_file("version.json");
    v = cJSON_Parse(out);
    free(out);
    minor = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "clientVersion"), "minor");
    cr_assert(cJSON_GetStringValue(minor), "kubectl version printed no clientVersion.minor");
    m = strtol(cJSON_GetStringValue(minor), NULL, 10); /* "32", or "32+" on some builds */
    cJSON_Delete(v);
    if (m < 25)
        cr_skip_test("kubectl 1.%ld is older than 1.25: the component's render test skipped", m);
}

/* The member at path (NULL-terminated names) below obj, or NULL. */
static cJSON *at(cJSON *obj, const char *const *path)
{
    for (size_t i = 0; path[i] && obj; i++)
        obj = cJSON_GetObjectItem(obj, path[i]);
    return obj;
}

/* The string at path, or "(absent)": a failed comparison then names what was missing. */
static const char *str_at(cJSON *obj, const char *const *path)
{
    const char *s = cJSON_GetStringValue(at(obj, path));

    return s ? s : "(absent)";
}

static cJSON *item_of_kind(cJSON *items, const char *kind)
{
    cJSON *it, *found = NULL;

    cJSON_ArrayForEach(it, items)
    {
        if (strcmp(str_at(it, (const char *[]){"kind", NULL}), kind) == 0) {
            cr_assert_null(found, "two objects of kind %s", kind);
            found = it;
        }
    }
    cr_assert(found, "no %s rendered", kind);
    return found;
}

/* The pod spec's container names, comma-separated, into buf. */
static void container_names(cJSON *pod, char *buf, size_t len)
{
    cJSON *c;

    buf[0] = '\0';
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(pod, "containers"))
    {
        size_t used = strlen(buf);
        (void)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
                       cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")));
    }
}

/* The hardened ambassador of docs/redis-tls.md, with KWQ_TLS_WATCH=watch. */
static void expect_ambassador(cJSON *pod, const char *watch)
{
    cJSON *amb = cJSON_GetArrayItem(cJSON_GetObjectItem(pod, "containers"), 1);
    cJSON *sc = cJSON_GetObjectItem(amb, "securityContext");
    cJSON *env = cJSON_GetArrayItem(cJSON_GetObjectItem(amb, "env"), 0);
    cJSON *drop = cJSON_GetObjectItem(cJSON_GetObjectItem(sc, "capabilities"), "drop");

    cr_expect_str_eq(str_at(amb, (const char *[]){"image", NULL}), "kwq-tls-ambassador");
    cr_expect_str_eq(str_at(env, (const char *[]){"name", NULL}), "KWQ_TLS_WATCH");
    cr_expect_str_eq(str_at(env, (const char *[]){"value", NULL}), watch);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(sc, "runAsUser")), 65532);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(sc, "runAsNonRoot")));
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(sc, "readOnlyRootFilesystem")));
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(sc, "allowPrivilegeEscalation")));
    cr_expect_eq(cJSON_GetArraySize(drop), 1);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(drop, 0)), "ALL");
    cr_expect_str_eq(str_at(sc, (const char *[]){"seccompProfile", "type", NULL}),
                     "RuntimeDefault");
}

/* The pod's volumes of the component: the generated ConfigMap (its name carries the hash). */
static void expect_volumes(cJSON *pod, const char *config_map)
{
    cJSON *v;
    int found = 0;

    cJSON_ArrayForEach(v, cJSON_GetObjectItem(pod, "volumes"))
    {
        found += strcmp(str_at(v, (const char *[]){"configMap", "name", NULL}), config_map) == 0;
        found += strcmp(str_at(v, (const char *[]){"secret", "secretName", NULL}),
                        "kwq-redis-tls-ca") == 0;
    }
    cr_expect_eq(found, 2, "the pod lacks the ConfigMap %s or the Secret kwq-redis-tls-ca",
                 config_map);
}

/* The objects of the server-side dry run (kubectl's List), checked one by one. */
static void expect_objects(cJSON *list, const char *ns)
{
    cJSON *items = cJSON_GetObjectItem(list, "items");
    cJSON *cm, *cron, *deploy, *it, *pod;
    char names[128], *conf;
    const char *cm_name;

    cr_assert_eq(cJSON_GetArraySize(items), 3, "the server took %d objects, not 3",
                 cJSON_GetArraySize(items));
    cJSON_ArrayForEach(it, items)
        cr_expect_str_eq(str_at(it, (const char *[]){"metadata", "namespace", NULL}), ns);
    cm = item_of_kind(items, "ConfigMap");
    cron = item_of_kind(items, "CronJob");
    deploy = item_of_kind(items, "Deployment");

    cm_name = str_at(cm, (const char *[]){"metadata", "name", NULL});
    cr_expect_eq(strncmp(cm_name, "kwq-redis-tls-", 14), 0, "%s", cm_name);
    conf = slurp(COMPONENT "/stunnel.conf");
    cr_expect_str_eq(str_at(cm, (const char *[]){"data", "stunnel.conf", NULL}), conf);
    free(conf);

    pod = at(cron, (const char *[]){"spec", "jobTemplate", "spec", "template", "spec", NULL});
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(pod, "shareProcessNamespace")));
    container_names(pod, names, sizeof(names));
    cr_expect_str_eq(names, "worker,tls-ambassador");
    expect_ambassador(pod, "kwq-worker");
    expect_volumes(pod, cm_name);

    pod = at(deploy, (const char *[]){"spec", "template", "spec", NULL});
    cr_expect_null(cJSON_GetObjectItem(pod, "shareProcessNamespace"));
    container_names(pod, names, sizeof(names));
    cr_expect_str_eq(names, "broker,tls-ambassador");
    expect_ambassador(pod, "none");
    expect_volumes(pod, cm_name);
}

Test(redis_tls_render, the_component_passes_a_1_26_api_server_strict_validation)
{
    struct k8s_rig rig;
    char ns[64], path[256], rendered[400], *out, *err;
    cJSON *list;
    int code;

    k8s_rig_get(&rig);
    require_kubectl();
    cr_assert_eq(
        kubectl("rendered.yaml", "kustomize.err", (const char *[]){"kustomize", KUSTOMIZED, NULL}),
        0);
    k8s_rig_namespace(&rig, "tls", ns, sizeof(ns));
    (void)snprintf(rendered, sizeof(rendered), "%s/rendered.yaml", dir);
    code = kubectl("applied.json", "apply.err",
                   (const char *[]){"--kubeconfig", rig.kubeconfig, "apply", "--server-side",
                                    "--dry-run=server", "--validate=strict", "-n", ns, "-f",
                                    rendered, "-o", "json", NULL});
    err = dir_file("apply.err");
    cr_assert_eq(code, 0, "kubectl apply: %s", err);
    cr_expect_str_empty(err);
    free(err);
    out = dir_file("applied.json");
    list = cJSON_Parse(out);
    cr_assert(list, "not JSON: %s", out);
    free(out);
    expect_objects(list, ns);
    cJSON_Delete(list);

    /* A dry run: nothing was stored. */
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/cronjobs", ns);
    out = k8s_rig_must(&rig, "GET", path, NULL);
    cr_expect(strstr(out, "\"items\": []") || strstr(out, "\"items\":[]"), "%s", out);
    free(out);
}

Test(redis_tls_render, a_native_sidecar_is_refused_by_kubernetes_1_26)
{
    struct k8s_rig rig;
    char ns[64], pod_path[400], *err;
    FILE *f;

    k8s_rig_get(&rig);
    require_kubectl();
    k8s_rig_namespace(&rig, "tls", ns, sizeof(ns));
    (void)snprintf(pod_path, sizeof(pod_path), "%s/native-sidecar.yaml", dir);
    f = fopen(pod_path, "w");
    cr_assert(f);
    (void)fputs("apiVersion: v1\nkind: Pod\nmetadata:\n  name: native-sidecar\nspec:\n"
                "  restartPolicy: Never\n  initContainers:\n  - name: tls-ambassador\n"
                "    image: kwq-tls-ambassador\n    restartPolicy: Always\n"
                "  containers:\n  - name: worker\n    image: kwq-worker\n",
                f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(kubectl("native.out", "native.err",
                         (const char *[]){"--kubeconfig", rig.kubeconfig, "apply", "--server-side",
                                          "--dry-run=server", "--validate=strict", "-n", ns, "-f",
                                          pod_path, NULL}),
                 1);
    err = dir_file("native.err");
    cr_expect(strstr(err, ".spec.initContainers[name=\"tls-ambassador\"].restartPolicy: field not "
                          "declared in schema\n"),
              "%s", err);
    free(err);
}
