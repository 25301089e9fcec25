/*
 * k8s_rig.c - the suite's Kubernetes control plane for C tests: see
 * k8s_rig.h. Requests go through libcurl's easy interface on purpose: the
 * tests check kwq's own client (kube/) against something else.
 */
#include "k8s_rig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>

#ifndef KWQ_TEST_K8S_RIG_DIR
#error "KWQ_TEST_K8S_RIG_DIR must be defined by the build"
#endif

static void read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");

    buf[0] = '\0';
    if (!f)
        return;
    if (!fgets(buf, (int)len, f))
        buf[0] = '\0';
    (void)fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
}

static void env_value(const char *env, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    const char *p = env;

    buf[0] = '\0';
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);

        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            (void)snprintf(buf, len, "%.*s", (int)(n - klen - 1), p + klen + 1);
            return;
        }
        p = eol ? eol + 1 : NULL;
    }
}

void k8s_rig_get(struct k8s_rig *rig)
{
    char path[600], env[4096], absent[512];
    FILE *f;
    size_t n;

    memset(rig, 0, sizeof(*rig));
    (void)snprintf(rig->dir, sizeof(rig->dir), "%s", KWQ_TEST_K8S_RIG_DIR);
    (void)snprintf(path, sizeof(path), "%s/absent", rig->dir);
    read_line(path, absent, sizeof(absent));
    if (absent[0])
        cr_skip_test("%s", absent);
    (void)snprintf(path, sizeof(path), "%s/env", rig->dir);
    f = fopen(path, "r");
    cr_assert(f,
              "no %s: the ctest fixture k8s_rig_up did not run; run the test through ctest "
              "or start it with 'bash tests/k8s/rig.sh up BUILD_DIR'",
              path);
    n = fread(env, 1, sizeof(env) - 1, f);
    env[n] = '\0';
    (void)fclose(f);
    env_value(env, "server", rig->server, sizeof(rig->server));
    env_value(env, "ca_file", rig->ca_file, sizeof(rig->ca_file));
    env_value(env, "token_file", rig->token_file, sizeof(rig->token_file));
    env_value(env, "kubeconfig", rig->kubeconfig, sizeof(rig->kubeconfig));
    read_line(rig->token_file, rig->token, sizeof(rig->token));
    cr_assert(rig->server[0] && rig->token[0], "%s is incomplete", path);
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t add = size * nmemb;
    char *p = realloc(b->p, b->n + add + 1);

    if (!p)
        return 0;
    memcpy(p + b->n, data, add);
    b->p = p;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

long k8s_rig_request_as(const struct k8s_rig *rig, const char *token, const char *method,
                        const char *path, const char *content_type, const char *body, char **out)
{
    char url[1024], auth[2200], ctype[128];
    struct curl_slist *h = NULL;
    struct buf b = {NULL, 0};
    CURL *e = curl_easy_init();
    long status = 0;
    CURLcode rc;

    cr_assert(e);
    (void)snprintf(url, sizeof(url), "%s%s", rig->server, path);
    (void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    (void)snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                   content_type ? content_type : "application/json");
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, ctype);
    h = curl_slist_append(h, "Accept: application/json");
    (void)curl_easy_setopt(e, CURLOPT_URL, url);
    (void)curl_easy_setopt(e, CURLOPT_CAINFO, rig->ca_file);
    (void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    (void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
    (void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (body)
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(e);
    cr_assert(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (out)
        *out = b.p;
    else
        free(b.p);
    return status;
}

long k8s_rig_request(const struct k8s_rig *rig, const char *method, const char *path,
                     const char *content_type, const char *body, char **out)
{
    return k8s_rig_request_as(rig, rig->token, method, path, content_type, body, out);
}

char *k8s_rig_must(const struct k8s_rig *rig, const char *method, const char *path,
                   const char *body)
{
    char *out = NULL;
    long st = k8s_rig_request(rig, method, path, NULL, body, &out);

    cr_assert(st >= 200 && st < 300, "%s %s: HTTP %ld: %s", method, path, st,
              out ? out : "(no body)");
    return out;
}

void k8s_rig_namespace(const struct k8s_rig *rig, const char *prefix, char *ns, size_t len)
{
    char body[256], path[256];
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)snprintf(ns, len, "kwq-%s-%lx%04lx", prefix, (unsigned long)getpid() & 0xfffff,
                   (unsigned long)(ts.tv_nsec / 1000) & 0xffff);
    (void)snprintf(body, sizeof(body),
                   "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
                   ns);
    free(k8s_rig_must(rig, "POST", "/api/v1/namespaces", body));
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/default", ns);
    for (int i = 0;; i++) {
        long st = k8s_rig_request(rig, "GET", path, NULL, NULL, NULL);

        if (st == 200)
            break;
        cr_assert(i < 300, "namespace %s: no default ServiceAccount after 30s (HTTP %ld)", ns, st);
        (void)usleep(100 * 1000);
    }
}

void k8s_rig_token(const struct k8s_rig *rig, const char *ns, const char *name, char *token,
                   size_t len)
{
    char path[512], *out;
    cJSON *j, *t;

    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, name);
    out = k8s_rig_must(rig, "POST", path,
                       "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                       "\"spec\":{\"expirationSeconds\":3600}}");
    j = cJSON_Parse(out);
    t = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "status"), "token");
    cr_assert(cJSON_IsString(t), "TokenRequest answered without a token: %s", out);
    (void)snprintf(token, len, "%s", t->valuestring);
    cJSON_Delete(j);
    free(out);
}

void k8s_rig_service_account(const struct k8s_rig *rig, const char *ns, const char *name,
                             const char *rules_json, char *token, size_t len)
{
    char path[512], *body;
    size_t blen = strlen(rules_json) + 1024;

    body = malloc(blen);
    cr_assert(body);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", ns);
    (void)snprintf(body, blen, "{\"metadata\":{\"name\":\"%s\"}}", name);
    free(k8s_rig_must(rig, "POST", path, body));
    (void)snprintf(path, sizeof(path), "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles",
                   ns);
    (void)snprintf(body, blen, "{\"metadata\":{\"name\":\"%s\"},\"rules\":%s}", name, rules_json);
    free(k8s_rig_must(rig, "POST", path, body));
    (void)snprintf(path, sizeof(path),
                   "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings", ns);
    (void)snprintf(
        body, blen,
        "{\"metadata\":{\"name\":\"%s\"},"
        "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"%s\",\"namespace\":\"%s\"}],"
        "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","
        "\"name\":\"%s\"}}",
        name, name, ns, name);
    free(k8s_rig_must(rig, "POST", path, body));
    k8s_rig_token(rig, ns, name, token, len);
    free(body);
}

void k8s_rig_write_kubeconfig(const struct k8s_rig *rig, const char *path, const char *token,
                              const char *token_file, const char *ns)
{
    FILE *f = fopen(path, "w");

    cr_assert(f, "cannot write %s", path);
    (void)fprintf(f,
                  "apiVersion: v1\nkind: Config\n"
                  "clusters:\n- name: rig\n  cluster:\n    server: %s\n"
                  "    certificate-authority: %s\n"
                  "users:\n- name: u\n  user:\n",
                  rig->server, rig->ca_file);
    if (token)
        (void)fprintf(f, "    token: %s\n", token);
    else
        (void)fprintf(f, "    tokenFile: %s\n", token_file);
    (void)fprintf(f, "contexts:\n- name: rig\n  context:\n    cluster: rig\n    user: u\n");
    if (ns)
        (void)fprintf(f, "    namespace: %s\n", ns);
    (void)fprintf(f, "current-context: rig\n");
    cr_assert(fclose(f) == 0);
}

void k8s_rig_secret(const struct k8s_rig *rig, const char *ns, const char *name, ...)
{
    cJSON *s = cJSON_CreateObject(), *meta, *data;
    char path[512], *body;
    const char *k;
    va_list ap;

    meta = cJSON_AddObjectToObject(s, "metadata");
    (void)cJSON_AddStringToObject(meta, "name", name);
    data = cJSON_AddObjectToObject(s, "stringData");
    va_start(ap, name);
    while ((k = va_arg(ap, const char *)) != NULL)
        (void)cJSON_AddStringToObject(data, k, va_arg(ap, const char *));
    va_end(ap);
    body = cJSON_PrintUnformatted(s);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", ns);
    free(k8s_rig_must(rig, "POST", path, body));
    free(body);
    cJSON_Delete(s);
}

char *k8s_rig_lease_holder(const struct k8s_rig *rig, const char *ns, const char *name)
{
    char path[512], *out = NULL, *ret;
    const cJSON *h;
    cJSON *o;

    (void)snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns,
                   name);
    cr_assert_eq(k8s_rig_request(rig, "GET", path, NULL, NULL, &out), 200, "%s", out);
    o = cJSON_Parse(out);
    h = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "spec"),
                                         "holderIdentity");
    ret = strdup(cJSON_IsString(h) ? h->valuestring : "");
    cJSON_Delete(o);
    free(out);
    return ret;
}
