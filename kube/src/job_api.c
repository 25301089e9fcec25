/*
 * job_api.c - the API calls on a worker Job and its pods, in the client's
 * namespace, each one kube_call (kube/http.h) plus reading its answer.
 * Names go into paths only after kube_job_check_name, so they never need
 * escaping; a pod selector is percent-encoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"

#include "kube/http.h"
#include "kube/job.h"

#define PATH_MAX_LEN 1536 /* a path with a namespace, a name and a selector */

/* "/apis/batch/v1/namespaces/NS/jobs[/NAME]" into buf; KWQ_EINVAL for a bad name. */
static int job_path(struct kube_client *k, const char *name, char *buf, size_t len,
                    struct kwq_error *err)
{
    int rc = name ? kube_job_check_name(name, err) : 0;

    if (rc < 0)
        return rc;
    (void)snprintf(buf, len, "/apis/batch/v1/namespaces/%s/jobs%s%s", kube_client_namespace(k),
                   name ? "/" : "", name ? name : "");
    return 0;
}

/* Read a Job answer into st when there is one. Returns rc, or the parse error. */
static int read_job(int rc, struct kube_response *resp, struct kube_job_status *st,
                    struct kwq_error *err)
{
    memset(st, 0, sizeof(*st));
    if (rc == 0)
        rc = kube_job_status_parse(resp->json, st, err);
    kube_response_done(resp);
    return rc;
}

int kube_job_create(struct kube_client *k, const char *json, struct kube_job_status *st,
                    struct kwq_error *err)
{
    struct kube_response resp = {0};
    char path[PATH_MAX_LEN];
    int rc = job_path(k, NULL, path, sizeof(path), err);

    if (rc == 0)
        rc = kube_call(k, "POST", path, NULL, json, &resp, err);
    return read_job(rc, &resp, st, err);
}

int kube_cronjob_create(struct kube_client *k, const char *json, struct kwq_error *err)
{
    struct kube_response resp = {0};
    char path[PATH_MAX_LEN];
    int rc;

    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/cronjobs",
                   kube_client_namespace(k));
    rc = kube_call(k, "POST", path, NULL, json, &resp, err);
    kube_response_done(&resp);
    return rc;
}

int kube_job_get(struct kube_client *k, const char *name, struct kube_job_status *st,
                 struct kwq_error *err)
{
    struct kube_response resp = {0};
    char path[PATH_MAX_LEN];
    int rc = job_path(k, name, path, sizeof(path), err);

    if (rc == 0)
        rc = kube_call(k, "GET", path, NULL, NULL, &resp, err);
    return read_job(rc, &resp, st, err);
}

int kube_job_set_parallelism(struct kube_client *k, const char *name, uint32_t parallelism,
                             struct kube_job_status *st, struct kwq_error *err)
{
    struct kube_response resp = {0};
    char path[PATH_MAX_LEN], body[64];
    int rc = job_path(k, name, path, sizeof(path), err);

    (void)snprintf(body, sizeof(body), "{\"spec\":{\"parallelism\":%u}}", parallelism);
    if (rc == 0)
        rc = kube_call(k, "PATCH", path, "application/merge-patch+json", body, &resp, err);
    return read_job(rc, &resp, st, err);
}

int kube_job_delete(struct kube_client *k, const char *name, struct kwq_error *err)
{
    static const char body[] =
        "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}";
    struct kube_response resp = {0};
    char path[PATH_MAX_LEN];
    int rc = job_path(k, name, path, sizeof(path), err);

    if (rc == 0)
        rc = kube_call(k, "DELETE", path, NULL, body, &resp, err);
    kube_response_done(&resp);
    return rc;
}

int kube_job_secret_check(struct kube_client *k, const char *name, struct kwq_error *err)
{
    struct kube_response resp = {0};
    char path[PATH_MAX_LEN];
    int rc = kube_job_check_name(name, err);

    if (rc < 0)
        return rc;
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", kube_client_namespace(k),
                   name);
    rc = kube_call(k, "GET", path, NULL, NULL, &resp, err);
    if (resp.body) /* the Secret's data: not left lying in freed memory */
        memset(resp.body, 0, resp.len);
    kube_response_done(&resp);
    if (rc == KWQ_ENOPERM) {
        memset(err, 0, sizeof(*err));
        return 0;
    }
    return rc;
}

/* Percent-encode s (a label selector) into buf; false when it does not fit. */
static bool encode(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';

        if (o + 4 > len)
            return false;
        if (plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return true;
}

int kube_job_pods(struct kube_client *k, const struct kube_job_status *job,
                  struct kube_pod_list *list, struct kwq_error *err)
{
    struct kube_response resp = {0};
    char sel[512], enc[1024], path[PATH_MAX_LEN];
    int rc;

    memset(list, 0, sizeof(*list));
    if (job->selector) /* the controller's own: controller-uid (1.26) or its prefixed form */
        (void)snprintf(sel, sizeof(sel), "%s", job->selector);
    else if (job->uid)
        (void)snprintf(sel, sizeof(sel), "controller-uid=%s", job->uid);
    else
        return kwq_error_set(err, KWQ_EINVAL, "Job %s has no uid yet: read it first",
                             job->name ? job->name : "?");
    if (!encode(sel, enc, sizeof(enc)))
        return kwq_error_set(err, KWQ_EINVAL, "the pod selector of Job %s is too long",
                             job->name ? job->name : "?");
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s",
                   kube_client_namespace(k), enc);
    rc = kube_call(k, "GET", path, NULL, NULL, &resp, err);
    if (rc == 0)
        rc = kube_pod_list_parse(resp.json, list, err);
    kube_response_done(&resp);
    return rc;
}

/* The links of the answer's items into *ret; KWQ_ENOMEM. */
static int read_links(const cJSON *list, struct kube_job_link **ret, size_t *n,
                      struct kwq_error *err)
{
    const cJSON *items = cJSON_GetObjectItem(list, "items"), *it;
    int count = cJSON_GetArraySize(items);
    struct kube_job_link *l = calloc(count > 0 ? (size_t)count : 1, sizeof(*l));

    if (!l)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    *ret = l;
    *n = 0;
    cJSON_ArrayForEach(it, items)
    {
        struct kube_job_status st;

        if (kube_job_status_parse(it, &st, err) < 0)
            continue; /* not a Job: nothing to link */
        l[*n].name = st.name;
        l[*n].predecessor = st.predecessor;
        st.name = st.predecessor = NULL;
        kube_job_status_done(&st);
        (*n)++;
    }
    memset(err, 0, sizeof(*err));
    return 0;
}

int kube_job_links(struct kube_client *k, struct kube_job_link **ret, size_t *n,
                   struct kwq_error *err)
{
    struct kube_response resp = {0};
    char sel[128], enc[256], path[PATH_MAX_LEN];
    int rc;

    *ret = NULL;
    *n = 0;
    (void)snprintf(sel, sizeof(sel), "%s=kwq", KUBE_JOB_LABEL_MANAGED);
    (void)encode(sel, enc, sizeof(enc));
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs?labelSelector=%s",
                   kube_client_namespace(k), enc);
    rc = kube_call(k, "GET", path, NULL, NULL, &resp, err);
    if (rc == 0)
        rc = read_links(resp.json, ret, n, err);
    kube_response_done(&resp);
    return rc;
}

void kube_job_links_free(struct kube_job_link *l, size_t n)
{
    for (size_t i = 0; l && i < n; i++) {
        free(l[i].name);
        free(l[i].predecessor);
    }
    free(l);
}
