/*
 * test_kube_api.c - the Kubernetes HTTP client (kube/http.h) against the
 * REAL API server of the suite's control plane (tests/support/k8s_rig.h),
 * each test in a namespace of its own: a Job created, read, patched and
 * deleted; and every refusal the API makes, told apart by code, reason and
 * one exact line: 401 (a token it does not know), 403 (a ServiceAccount
 * whose Role lacks the verb), 404, 409 AlreadyExists and 409 Conflict, 422
 * (an immutable field), and a server certificate that does not verify
 * against a CA made for the test. The configuration is filled by hand:
 * kube_config_load has tests of its own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ev.h>

#include "kwq/error.h"

#include "k8s_rig.h"
#include "kube/config.h"
#include "kube/http.h"
#include "test_proc.h"

static struct k8s_rig rig;
static char ns[64];
static char jobs[256]; /* /apis/batch/v1/namespaces/<ns>/jobs */
static struct kube_config cfg;
static struct ev_loop *loop;
static struct kube_client *k;

static void setup(void)
{
    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "api", ns, sizeof(ns));
    (void)snprintf(jobs, sizeof(jobs), "/apis/batch/v1/namespaces/%s/jobs", ns);
    cfg = (struct kube_config){.server = rig.server,
                               .namespace = ns,
                               .ca_file = rig.ca_file,
                               .token_file = rig.token_file};
    loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert(loop != NULL);
}

static void teardown(void)
{
    kube_client_free(k);
    k = NULL;
    if (loop)
        ev_loop_destroy(loop);
}

TestSuite(kube_api, .init = setup, .fini = teardown, .timeout = 120);

/* k from cfg as it stands. */
static void connect_client(void)
{
    struct kube_client_opts o = {.timeout_ms = 20000, .retry_ms = 20000, .quiet = true};
    struct kwq_error err = {0};

    kube_client_free(k);
    k = NULL;
    cr_assert(eq(int, kube_client_new(loop, &cfg, &o, &k, &err), 0), "%s", err.msg);
}

/*
 * One request that must end with code (and HTTP status). Returns the
 * answer's JSON (cJSON_Delete it; NULL when none) and leaves the line in err.
 */
static cJSON *call(const char *method, const char *path, const char *ctype, const char *body,
                   int code, long status, struct kwq_error *err)
{
    struct kube_response resp;
    cJSON *json;
    int rc = kube_call(k, method, path, ctype, body, &resp, err);

    cr_assert(eq(int, rc, code), "%s %s: %s (%s)", method, path, err->msg, kwq_strerror(rc));
    cr_assert(eq(long, resp.status, status), "%s %s: %s", method, path, resp.body);
    json = resp.json;
    resp.json = NULL;
    kube_response_done(&resp);
    return json;
}

/* A suspended work-queue Job: nothing runs, every field the tests touch is there. */
static void job_json(const char *name, char *buf, size_t len)
{
    (void)snprintf(buf, len,
                   "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"%s\"},"
                   "\"spec\":{\"parallelism\":1,\"suspend\":true,\"template\":{\"spec\":{"
                   "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"worker\","
                   "\"image\":\"kwq-worker\"}]}}}}",
                   name);
}

static void create_job(const char *name)
{
    struct kwq_error err;
    char body[1024];

    job_json(name, body, sizeof(body));
    cJSON_Delete(call("POST", jobs, NULL, body, 0, 201, &err));
}

static const char *str_at(const cJSON *j, const char *a, const char *b)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, a), b));
}

static double num_at(const cJSON *j, const char *a, const char *b)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, a), b));
}

Test(kube_api, create_get_patch_delete_a_job)
{
    struct kwq_error err;
    char path[512], body[1024];
    cJSON *j;

    connect_client();
    job_json("wq", body, sizeof(body));
    j = call("POST", jobs, NULL, body, 0, 201, &err);
    cr_assert_str_eq(str_at(j, "metadata", "namespace"), ns);
    cJSON_Delete(j);
    (void)snprintf(path, sizeof(path), "%s/wq", jobs);
    j = call("GET", path, NULL, NULL, 0, 200, &err);
    cr_assert_str_eq(str_at(j, "metadata", "name"), "wq");
    cr_assert(eq(dbl, num_at(j, "spec", "parallelism"), 1));
    cJSON_Delete(j);
    j = call("PATCH", path, "application/merge-patch+json", "{\"spec\":{\"parallelism\":3}}", 0,
             200, &err);
    cr_assert(eq(dbl, num_at(j, "spec", "parallelism"), 3));
    cJSON_Delete(j);
    j = call("GET", path, NULL, NULL, 0, 200, &err);
    cr_assert(eq(dbl, num_at(j, "spec", "parallelism"), 3));
    cJSON_Delete(j);
    cJSON_Delete(
        call("DELETE", path, NULL, "{\"propagationPolicy\":\"Background\"}", 0, 200, &err));
    cJSON_Delete(call("GET", path, NULL, NULL, KWQ_ENOTFOUND, 404, &err));
}

Test(kube_api, not_found_is_enotfound_with_the_api_message)
{
    struct kube_response resp;
    struct kwq_error err;
    char path[512];

    connect_client();
    (void)snprintf(path, sizeof(path), "%s/nope", jobs);
    cr_assert(eq(int, kube_call(k, "GET", path, NULL, NULL, &resp, &err), KWQ_ENOTFOUND));
    cr_assert_str_eq(err.msg, "jobs.batch \"nope\" not found");
    cr_assert_str_eq(resp.reason, "NotFound");
    kube_response_done(&resp);
}

Test(kube_api, already_exists_and_conflict_are_told_apart_by_reason)
{
    struct kube_response resp;
    struct kwq_error err;
    char path[512], body[1024], *stale;
    cJSON *j;

    connect_client();
    create_job("wq");
    job_json("wq", body, sizeof(body));
    cr_assert(eq(int, kube_call(k, "POST", jobs, NULL, body, &resp, &err), KWQ_ESTATE));
    cr_assert_str_eq(resp.reason, "AlreadyExists");
    cr_assert_str_eq(err.msg, "jobs.batch \"wq\" already exists");
    kube_response_done(&resp);

    /* A PUT of what was read before a change: its resourceVersion is stale. */
    (void)snprintf(path, sizeof(path), "%s/wq", jobs);
    j = call("GET", path, NULL, NULL, 0, 200, &err);
    cJSON_Delete(call("PATCH", path, "application/merge-patch+json",
                      "{\"spec\":{\"parallelism\":2}}", 0, 200, &err));
    stale = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cr_assert(eq(int, kube_call(k, "PUT", path, NULL, stale, &resp, &err), KWQ_ESTATE));
    cJSON_free(stale);
    cr_assert_str_eq(resp.reason, "Conflict");
    cr_assert_str_eq(err.msg,
                     "Operation cannot be fulfilled on jobs.batch \"wq\": the object has been "
                     "modified; please apply your changes to the latest version and try again");
    kube_response_done(&resp);
}

Test(kube_api, an_immutable_field_is_einval_with_its_cause)
{
    struct kwq_error err;
    char path[512];

    connect_client();
    create_job("wq");
    (void)snprintf(path, sizeof(path), "%s/wq", jobs);
    cJSON_Delete(call("PATCH", path, "application/merge-patch+json",
                      "{\"spec\":{\"completions\":5}}", KWQ_EINVAL, 422, &err));
    cr_assert_str_eq(
        err.msg, "Job \"wq\" is invalid: spec.completions: Invalid value: 5: field is immutable");
}

Test(kube_api, an_unknown_token_is_eauth)
{
    struct kwq_error err;
    char token_file[] = "/tmp/kwq-api-token-XXXXXX";
    int fd = mkstemp(token_file);

    cr_assert(fd >= 0 && write(fd, "not-a-token\n", 12) == 12 && close(fd) == 0);
    cfg.token_file = token_file;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, KWQ_EAUTH, 401, &err));
    (void)unlink(token_file);
    cr_assert(strstr(err.msg, "the API server refused the credentials from the configuration "
                              "(token file /tmp/kwq-api-token-") == err.msg,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "not-a-token") == NULL, "%s", err.msg);
}

Test(kube_api, a_verb_the_role_lacks_is_enoperm_naming_it)
{
    struct kwq_error err;
    char token[2048], path[512], want[512];

    k8s_rig_service_account(&rig, ns, "limited",
                            "[{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\"],"
                            "\"verbs\":[\"get\"]}]",
                            token, sizeof(token));
    connect_client();
    create_job("wq");
    cfg.token_file = NULL;
    cfg.token = token;
    connect_client();
    (void)snprintf(path, sizeof(path), "%s/wq", jobs);
    cJSON_Delete(call("GET", path, NULL, NULL, 0, 200, &err));
    cJSON_Delete(call("PATCH", path, "application/merge-patch+json",
                      "{\"spec\":{\"parallelism\":2}}", KWQ_ENOPERM, 403, &err));
    (void)snprintf(want, sizeof(want),
                   "jobs.batch \"wq\" is forbidden: User \"system:serviceaccount:%s:limited\" "
                   "cannot patch resource \"jobs\" in API group \"batch\" in the namespace \"%s\"",
                   ns, ns);
    cr_assert_str_eq(err.msg, want);
}

/* Run openssl with the arguments in fmt, split at spaces (no argument holds one). */
__attribute__((format(printf, 1, 2))) static void openssl(const char *fmt, ...)
{
    char line[1024], *argv[32], *save = NULL;
    const int fds[3] = {-1, -1, -1};
    size_t n = 0;
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    argv[n++] = (char *)(uintptr_t)KWQ_TEST_OPENSSL;
    for (char *w = strtok_r(line, " ", &save); w && n < 31; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    cr_assert(eq(int,
                 test_proc_wait(test_proc_start((const char *const *)argv, fds), time(NULL) + 60),
                 0),
              "openssl %s failed", line);
}

/* A CA of our own, in dir: the API server's certificate was not issued by it. */
static void throwaway_ca(const char *dir, char *ca, size_t len)
{
    (void)snprintf(ca, len, "%s/ca.crt", dir);
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s/ca.key "
            "-out %s -subj /CN=kwq-throwaway-ca -days 1 -batch",
            dir, ca);
}

/* The content of path (malloc; the length in *len). */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = malloc(1 << 16);

    cr_assert(fp != NULL && buf != NULL, "%s: %s", path, strerror(errno));
    *len = fread(buf, 1, (1 << 16) - 1, fp);
    (void)fclose(fp);
    buf[*len] = '\0';
    return buf;
}

Test(kube_api, a_ca_that_did_not_issue_the_certificate_is_eauth)
{
    struct kwq_error err;
    char dir[] = "/tmp/kwq-api-ca-XXXXXX", ca[256], want[512], src[] = "kubeconfig /k (context c)";
    size_t len;

    cr_assert(mkdtemp(dir) != NULL);
    throwaway_ca(dir, ca, sizeof(ca));
    cfg.ca_file = ca;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, KWQ_EAUTH, 0, &err));
    (void)snprintf(want, sizeof(want),
                   "the API server's certificate does not verify against the CA file %s: ", ca);
    cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);

    /* The same CA as certificate-authority-data. */
    cfg.ca_file = NULL;
    cfg.ca_data = slurp(ca, &len);
    cfg.ca_len = len;
    cfg.source = src;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, KWQ_EAUTH, 0, &err));
    cr_assert(strncmp(err.msg,
                      "the API server's certificate does not verify against the "
                      "certificate-authority-data of kubeconfig /k (context c): ",
                      strlen("the API server's certificate does not verify against the "
                             "certificate-authority-data of kubeconfig /k (context c): ")) == 0,
              "%s", err.msg);
    free(cfg.ca_data);
    (void)unlink(ca);
    (void)rmdir(dir);
}

Test(kube_api, certificate_authority_data_and_tls_server_name)
{
    struct kwq_error err;
    size_t len;
    char good[] = "kubernetes.default", bad[] = "not-the-server.example";

    cfg.ca_file = NULL;
    cfg.ca_data = slurp(rig.ca_file, &len);
    cfg.ca_len = len;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, 0, 200, &err));
    /* A name in the certificate that does not resolve: the connection goes to the URL's address. */
    cfg.tls_server_name = good;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, 0, 200, &err));
    cfg.tls_server_name = bad;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, KWQ_EAUTH, 0, &err));
    cr_assert(strstr(err.msg, "does not verify against the certificate-authority-data") != NULL,
              "%s", err.msg);
    free(cfg.ca_data);
}

/*
 * A client certificate the API server's client CA (the rig's CA) issued,
 * for a user in system:masters: accepted with no token, from files and as
 * PEM data.
 */
Test(kube_api, a_client_certificate_from_files_or_data)
{
    struct kwq_error err;
    char dir[] = "/tmp/kwq-api-cert-XXXXXX", crt[256], key[256];
    size_t len;

    cr_assert(mkdtemp(dir) != NULL);
    (void)snprintf(crt, sizeof(crt), "%s/user.crt", dir);
    (void)snprintf(key, sizeof(key), "%s/user.key", dir);
    openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s -out "
            "%s/user.csr -subj /O=system:masters/CN=kwq-cert-user -batch",
            key, dir);
    openssl("x509 -req -in %s/user.csr -CA %s/pki/ca.crt -CAkey %s/pki/ca.key -set_serial 7 "
            "-days 1 -out %s",
            dir, rig.dir, rig.dir, crt);
    cfg.token_file = NULL;
    cfg.cert_file = crt;
    cfg.key_file = key;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, 0, 200, &err));
    cfg.cert_file = cfg.key_file = NULL;
    cfg.cert_data = slurp(crt, &len);
    cfg.cert_len = len;
    cfg.key_data = slurp(key, &len);
    cfg.key_len = len;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, 0, 200, &err));
    /* Without it, and without a token, the request is anonymous. */
    free(cfg.cert_data);
    free(cfg.key_data);
    cfg.cert_data = cfg.key_data = NULL;
    connect_client();
    cJSON_Delete(call("GET", jobs, NULL, NULL, KWQ_ENOPERM, 403, &err));
    cr_assert(strstr(err.msg, "User \"system:anonymous\" cannot list resource \"jobs\"") != NULL,
              "%s", err.msg);
    (void)unlink(crt);
    (void)unlink(key);
    (void)snprintf(crt, sizeof(crt), "%s/user.csr", dir);
    (void)unlink(crt);
    (void)rmdir(dir);
}

static int watch_code = 1;

static void on_watch_done(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    (void)arg;
    (void)resp;
    watch_code = err->code;
}

/* A watch the server holds open for 10 s: another request on the loop meanwhile is not held up. */
Test(kube_api, a_request_in_flight_does_not_hold_up_another)
{
    struct kwq_error err;
    char watch[512];

    connect_client();
    (void)snprintf(watch, sizeof(watch), "%s?watch=true&timeoutSeconds=10", jobs);
    cr_assert(eq(int, kube_request(k, "GET", watch, NULL, NULL, on_watch_done, NULL), 0));
    create_job("wq");
    cJSON_Delete(call("GET", jobs, NULL, NULL, 0, 200, &err));
    cr_assert(eq(int, watch_code, 1), "the watch ended first");
    while (watch_code == 1)
        (void)ev_run(loop, EVRUN_ONCE);
    cr_assert(eq(int, watch_code, 0));
}
