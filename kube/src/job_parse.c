/*
 * job_parse.c - a Job and a PodList as the API server answers them, read
 * into struct kube_job_status and struct kube_pod_list. Fields absent from
 * older servers stay at their documented "absent" values: status.terminating
 * (1.28+), status.ready before it is first set, conditions with no reason
 * (Complete has none on 1.26).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"

#include "kube/job.h"

#define SELECTOR_MAX 1024 /* bytes of a Job's pod selector, "k=v,k=v" */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A copy of o[key] when it is a string; NULL otherwise. Sets *oom on a failed copy. */
static char *dup_str(const cJSON *o, const char *key, bool *oom)
{
    const char *s = cJSON_GetStringValue(get(o, key));
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    *oom |= !d;
    return d;
}

/* o[key] when it is a string, else "". */
static const char *text(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(get(o, key));

    return s ? s : "";
}

static int64_t int_or(const cJSON *o, const char *key, int64_t absent)
{
    const cJSON *v = get(o, key);

    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : absent;
}

static size_t array_len(const cJSON *a)
{
    return cJSON_IsArray(a) ? (size_t)cJSON_GetArraySize(a) : 0;
}

/* ---- Job ---------------------------------------------------------------------------------- */

static void read_conditions(const cJSON *status, struct kube_job_status *st, bool *oom)
{
    const cJSON *conds = get(status, "conditions"), *c;
    size_t n = array_len(conds);

    if (n == 0)
        return;
    st->conds = calloc(n, sizeof(*st->conds));
    if (!st->conds) {
        *oom = true;
        return;
    }
    cJSON_ArrayForEach(c, conds)
    {
        struct kube_job_condition *k = &st->conds[st->nconds++];
        bool yes = strcmp(text(c, "status"), "True") == 0;
        const char *type = text(c, "type");

        k->type = dup_str(c, "type", oom);
        k->status = dup_str(c, "status", oom);
        k->reason = dup_str(c, "reason", oom);
        k->message = dup_str(c, "message", oom);
        st->complete |= yes && strcmp(type, "Complete") == 0;
        st->failed_job |= yes && strcmp(type, "Failed") == 0;
        st->success_criteria_met |= yes && strcmp(type, "SuccessCriteriaMet") == 0;
        st->failure_target |= yes && strcmp(type, "FailureTarget") == 0;
    }
}

/* spec.selector.matchLabels as "k=v,k=v" (NULL when there is none). */
static char *read_selector(const cJSON *spec, bool *oom)
{
    const cJSON *ml = get(get(spec, "selector"), "matchLabels"), *l;
    char buf[SELECTOR_MAX];
    size_t used = 0;
    char *s;

    cJSON_ArrayForEach(l, ml)
    {
        const char *v = cJSON_GetStringValue(l);
        int w;

        if (!v || !l->string)
            continue;
        w = snprintf(buf + used, sizeof(buf) - used, "%s%s=%s", used ? "," : "", l->string, v);
        if (w < 0 || (size_t)w >= sizeof(buf) - used)
            return NULL; /* a selector this long is not one the Job controller made */
        used += (size_t)w;
    }
    if (used == 0)
        return NULL;
    s = strdup(buf);
    *oom |= !s;
    return s;
}

int kube_job_status_parse(const cJSON *job, struct kube_job_status *st, struct kwq_error *err)
{
    const cJSON *meta = get(job, "metadata"), *spec = get(job, "spec");
    const cJSON *status = get(job, "status"), *ann = get(meta, "annotations");
    const cJSON *unc = get(status, "uncountedTerminatedPods");
    bool oom = false;

    memset(st, 0, sizeof(*st));
    if (!cJSON_IsString(get(meta, "name")))
        return kwq_error_set(err, KWQ_EPROTO,
                             "the API server's answer is not a Job (no "
                             "metadata.name)");
    st->name = dup_str(meta, "name", &oom);
    st->uid = dup_str(meta, "uid", &oom);
    st->resource_version = dup_str(meta, "resourceVersion", &oom);
    st->created = dup_str(meta, "creationTimestamp", &oom);
    st->completed = dup_str(status, "completionTime", &oom);
    st->queue = dup_str(ann, KUBE_JOB_ANN_QUEUE, &oom);
    st->predecessor = dup_str(ann, KUBE_JOB_ANN_PREDECESSOR, &oom);
    st->selector = read_selector(spec, &oom);
    st->parallelism = int_or(spec, "parallelism", -1);
    st->active = int_or(status, "active", 0);
    st->ready = int_or(status, "ready", -1);
    st->succeeded = int_or(status, "succeeded", 0);
    st->failed = int_or(status, "failed", 0);
    st->terminating = int_or(status, "terminating", -1);
    st->uncounted_succeeded = array_len(get(unc, "succeeded"));
    st->uncounted_failed = array_len(get(unc, "failed"));
    read_conditions(status, st, &oom);
    if (oom) {
        kube_job_status_done(st);
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading a Job");
    }
    return 0;
}

void kube_job_status_done(struct kube_job_status *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nconds; i++) {
        free(st->conds[i].type);
        free(st->conds[i].status);
        free(st->conds[i].reason);
        free(st->conds[i].message);
    }
    free(st->conds);
    free(st->name);
    free(st->uid);
    free(st->resource_version);
    free(st->created);
    free(st->completed);
    free(st->queue);
    free(st->predecessor);
    free(st->selector);
    memset(st, 0, sizeof(*st));
}

bool kube_job_finished(const struct kube_job_status *st)
{
    return st->complete || st->failed_job;
}

bool kube_job_scalable(const struct kube_job_status *st)
{
    return st->succeeded == 0 && st->uncounted_succeeded == 0 && !st->complete && !st->failed_job &&
           !st->success_criteria_met && !st->failure_target;
}

/* ---- Pods --------------------------------------------------------------------------------- */

static bool condition_true(const cJSON *conds, const char *type)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, conds)
    {
        if (strcmp(text(c, "type"), type) == 0)
            return strcmp(text(c, "status"), "True") == 0;
    }
    return false;
}

/* The status of the worker container, else of the first one. */
static const cJSON *worker_status(const cJSON *status)
{
    const cJSON *all = get(status, "containerStatuses"), *c;

    cJSON_ArrayForEach(c, all)
    {
        if (strcmp(text(c, "name"), KUBE_JOB_CONTAINER) == 0)
            return c;
    }
    return cJSON_GetArrayItem(all, 0);
}

static void read_pod(const cJSON *item, struct kube_pod *p, bool *oom)
{
    const cJSON *meta = get(item, "metadata"), *status = get(item, "status");
    const cJSON *term = get(get(worker_status(status), "state"), "terminated");

    p->name = dup_str(meta, "name", oom);
    p->phase = dup_str(status, "phase", oom);
    p->node = dup_str(get(item, "spec"), "nodeName", oom);
    p->ready = condition_true(get(status, "conditions"), "Ready");
    p->deleting = get(meta, "deletionTimestamp") && !cJSON_IsNull(get(meta, "deletionTimestamp"));
    p->terminated = cJSON_IsObject(term);
    p->exit_code = (int)int_or(term, "exitCode", 0);
    p->reason = dup_str(term, "reason", oom);
}

int kube_pod_list_parse(const cJSON *podlist, struct kube_pod_list *list, struct kwq_error *err)
{
    const cJSON *items = get(podlist, "items"), *item;
    size_t n = array_len(items);
    bool oom = false;

    memset(list, 0, sizeof(*list));
    if (!cJSON_IsArray(items))
        return kwq_error_set(err, KWQ_EPROTO,
                             "the API server's answer is not a pod list (no "
                             "items)");
    if (n == 0)
        return 0;
    list->pods = calloc(n, sizeof(*list->pods));
    if (!list->pods)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading pods");
    cJSON_ArrayForEach(item, items)
    {
        read_pod(item, &list->pods[list->n++], &oom);
    }
    if (oom) {
        kube_pod_list_done(list);
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading pods");
    }
    return 0;
}

void kube_pod_list_done(struct kube_pod_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++) {
        free(list->pods[i].name);
        free(list->pods[i].phase);
        free(list->pods[i].node);
        free(list->pods[i].reason);
    }
    free(list->pods);
    memset(list, 0, sizeof(*list));
}
