/*
 * kube_scale.c - the scaler's Kubernetes backend and a Job's successors:
 * see kube_scale.h.
 */
#include "kube_scale.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <ev.h>

#include "kwq/error.h"
#include "kwq/util.h"

#include "kube/http.h"

#define SUCCESSOR_TRIES 50 /* names tried before giving up on a chain */

/* What a call of the backend's is in the middle of. */
enum step {
    STEP_NONE,
    STEP_OBSERVE,    /* GET the Job */
    STEP_APPLY,      /* PATCH its parallelism */
    STEP_SUCC_POST,  /* POST a successor */
    STEP_SUCC_CHECK, /* GET a successor's name that was taken */
};

struct kube_scale {
    struct ev_loop *loop;
    struct kube_client *k;
    char name[KUBE_JOB_NAME_MAX + 1]; /* the Job scaled now */
    struct kube_job_status job;       /* as last read */
    cJSON *raw;                       /* the same, as the API gave it (for a successor) */
    bool have_job;                    /* job and raw hold a read */
    uint64_t read_ms;                 /* when they were read (monotonic) */
    uint32_t successors;              /* successors made */
    enum step step;                   /* the call in flight */
    /* The caller of the call in flight. */
    scaler_observe_done *observe_done;
    scaler_apply_done *apply_done;
    void (*succ_done)(void *arg, const struct kwq_error *err);
    void *arg;
    uint32_t want;                    /* the parallelism asked for */
    char next[KUBE_JOB_NAME_MAX + 1]; /* the successor name being tried */
    char pred[KUBE_JOB_NAME_MAX + 1]; /* its predecessor: the last Job of the chain found */
    int tries;                        /* successor names tried */
    bool sync_done;                   /* kube_scale_successor_now: the call ended */
    struct kwq_error sync_err;        /* ... with this */
};

struct kube_scale *kube_scale_new(struct ev_loop *loop, struct kube_client *k, const char *name)
{
    struct kube_scale *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->loop = loop;
    b->k = k;
    (void)snprintf(b->name, sizeof(b->name), "%s", name);
    return b;
}

void kube_scale_free(struct kube_scale *b)
{
    if (!b)
        return;
    kube_job_status_done(&b->job);
    cJSON_Delete(b->raw);
    free(b);
}

const char *kube_scale_name(const struct kube_scale *b)
{
    return b->name;
}

const struct kube_job_status *kube_scale_job(const struct kube_scale *b)
{
    return b->have_job ? &b->job : NULL;
}

uint32_t kube_scale_successors(const struct kube_scale *b)
{
    return b->successors;
}

/* Keep a Job answer as the latest read (it takes resp->json). Returns 0 or a parse error. */
static int keep_job(struct kube_scale *b, struct kube_response *resp, struct kwq_error *err)
{
    struct kube_job_status st;
    int rc = kube_job_status_parse(resp->json, &st, err);

    if (rc < 0)
        return rc;
    kube_job_status_done(&b->job);
    cJSON_Delete(b->raw);
    b->job = st;
    b->raw = resp->json;
    resp->json = NULL;
    b->have_job = true;
    b->read_ms = kwq_monotonic_ms();
    return 0;
}

static void job_path(const struct kube_scale *b, const char *name, char *buf, size_t len)
{
    (void)snprintf(buf, len, "/apis/batch/v1/namespaces/%s/jobs%s%s", kube_client_namespace(b->k),
                   name ? "/" : "", name ? name : "");
}

/* ---- Observe and apply ------------------------------------------------------------------- */

static void workers_of(const struct kube_job_status *j, struct scaler_workers *w)
{
    w->running = j->active > 0 ? (uint32_t)j->active : 0;
    w->busy = j->ready > 0 ? (uint32_t)j->ready : 0;
    w->setpoint = j->parallelism > 0 ? (uint32_t)j->parallelism : 0;
    w->frozen = !kube_job_scalable(j);
}

static void observed(void *arg, struct kube_response *resp, const struct kwq_error *e)
{
    struct kube_scale *b = arg;
    struct kwq_error err = *e;
    struct scaler_workers w;
    scaler_observe_done *done = b->observe_done;

    b->step = STEP_NONE;
    if (err.code == 0)
        (void)keep_job(b, resp, &err);
    else if (err.code == KWQ_ENOTFOUND)
        (void)kwq_error_set(&err, KWQ_ENOTFOUND,
                            "Job %s is gone (deleted, or removed by its ttlSecondsAfterFinished)",
                            b->name);
    if (err.code != 0) {
        done(b->arg, NULL, &err);
        return;
    }
    workers_of(&b->job, &w);
    done(b->arg, &w, &err);
}

static void observe(void *ctx, scaler_observe_done *done, void *arg)
{
    struct kube_scale *b = ctx;
    struct kwq_error err = {0};
    char path[256];
    int rc;

    /*
     * A fresh read answers at once (the scaler may step several times a
     * second), and so does the last one while a successor is being made: as
     * frozen, so that nothing is applied to a Job that is being replaced.
     */
    if (b->have_job &&
        (b->step != STEP_NONE || kwq_monotonic_ms() - b->read_ms < KUBE_SCALE_OBSERVE_MS)) {
        struct scaler_workers w;

        workers_of(&b->job, &w);
        w.frozen = w.frozen || b->step != STEP_NONE;
        done(arg, &w, &err);
        return;
    }
    b->step = STEP_OBSERVE;
    b->observe_done = done;
    b->arg = arg;
    job_path(b, b->name, path, sizeof(path));
    rc = kube_request(b->k, "GET", path, NULL, NULL, observed, b);
    if (rc < 0) {
        b->step = STEP_NONE;
        (void)kwq_error_set(&err, rc, "cannot send a request: %s", kwq_strerror(rc));
        done(arg, NULL, &err);
    }
}

static void applied(void *arg, struct kube_response *resp, const struct kwq_error *e)
{
    struct kube_scale *b = arg;
    struct kwq_error err = *e;

    b->step = STEP_NONE;
    if (err.code == 0 && keep_job(b, resp, &err) == 0 && b->job.parallelism != (int64_t)b->want)
        (void)kwq_error_set(&err, KWQ_EPROTO,
                            "the API server stored parallelism %lld for Job %s, not %u",
                            (long long)b->job.parallelism, b->name, b->want);
    if (err.code == KWQ_ENOTFOUND)
        (void)kwq_error_set(&err, KWQ_ENOTFOUND, "Job %s is gone: it was deleted", b->name);
    b->apply_done(b->arg, &err);
}

static void apply(void *ctx, uint32_t setpoint, scaler_apply_done *done, void *arg)
{
    struct kube_scale *b = ctx;
    struct kwq_error err = {0};
    char path[256], body[64];
    int rc;

    b->step = STEP_APPLY;
    b->apply_done = done;
    b->arg = arg;
    b->want = setpoint;
    job_path(b, b->name, path, sizeof(path));
    (void)snprintf(body, sizeof(body), "{\"spec\":{\"parallelism\":%u}}", setpoint);
    rc = kube_request(b->k, "PATCH", path, "application/merge-patch+json", body, applied, b);
    if (rc < 0) {
        b->step = STEP_NONE;
        (void)kwq_error_set(&err, rc, "cannot send a request: %s", kwq_strerror(rc));
        done(arg, &err);
    }
}

struct scaler_backend kube_scale_backend(struct kube_scale *b)
{
    struct scaler_backend be = {.ctx = b, .observe = observe, .apply = apply};

    be.name = b->name;
    return be;
}

/* ---- Successors -------------------------------------------------------------------------- */

/* Labels the Job controller puts on a Job's pods: a successor must get its own. */
static bool controller_label(const char *k)
{
    static const char *const own[] = {"controller-uid", "job-name",
                                      "batch.kubernetes.io/controller-uid",
                                      "batch.kubernetes.io/job-name"};

    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(k, own[i]) == 0)
            return true;
    return false;
}

static void drop_controller_labels(cJSON *labels)
{
    cJSON *l = labels ? labels->child : NULL;

    while (l) {
        cJSON *next = l->next;

        if (controller_label(l->string))
            cJSON_Delete(cJSON_DetachItemViaPointer(labels, l));
        l = next;
    }
}

/* The successor of the Job in raw: its spec with parallelism p, under name, after pred. */
static char *successor_json(const cJSON *raw, const char *name, const char *pred, uint32_t p)
{
    cJSON *j = cJSON_CreateObject(), *meta, *old_meta = cJSON_GetObjectItem(raw, "metadata");
    cJSON *spec = cJSON_Duplicate(cJSON_GetObjectItem(raw, "spec"), 1), *ann, *tmeta;
    char *out = NULL;

    if (!j || !spec)
        goto done;
    (void)cJSON_AddStringToObject(j, "apiVersion", "batch/v1");
    (void)cJSON_AddStringToObject(j, "kind", "Job");
    meta = cJSON_AddObjectToObject(j, "metadata");
    (void)cJSON_AddStringToObject(meta, "name", name);
    if (cJSON_GetObjectItem(old_meta, "labels")) {
        cJSON *labels = cJSON_Duplicate(cJSON_GetObjectItem(old_meta, "labels"), 1);

        drop_controller_labels(labels);
        cJSON_AddItemToObject(meta, "labels", labels);
    }
    ann = cJSON_Duplicate(cJSON_GetObjectItem(old_meta, "annotations"), 1);
    if (!ann)
        ann = cJSON_CreateObject();
    cJSON_DeleteItemFromObject(ann, KUBE_JOB_ANN_PREDECESSOR);
    (void)cJSON_AddStringToObject(ann, KUBE_JOB_ANN_PREDECESSOR, pred);
    cJSON_AddItemToObject(meta, "annotations", ann);
    /* The controller makes a new selector and pod labels for the new uid. */
    cJSON_DeleteItemFromObject(spec, "selector");
    cJSON_DeleteItemFromObject(spec, "manualSelector");
    tmeta = cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "template"), "metadata");
    drop_controller_labels(cJSON_GetObjectItem(tmeta, "labels"));
    cJSON_DeleteItemFromObject(spec, "parallelism");
    (void)cJSON_AddNumberToObject(spec, "parallelism", p);
    cJSON_AddItemToObject(j, "spec", spec);
    spec = NULL;
    out = cJSON_PrintUnformatted(j);
done:
    cJSON_Delete(spec);
    cJSON_Delete(j);
    return out;
}

static void succ_finish(struct kube_scale *b, const struct kwq_error *err)
{
    b->step = STEP_NONE;
    b->succ_done(b->arg, err);
}

static void succ_post(struct kube_scale *b);

static void succ_checked(void *arg, struct kube_response *resp, const struct kwq_error *e)
{
    struct kube_scale *b = arg;
    struct kwq_error err = *e;
    struct kube_job_status st;
    bool ours;

    if (err.code != 0 || kube_job_status_parse(resp->json, &st, &err) < 0) {
        succ_finish(b, &err);
        return;
    }
    /* A successor made earlier (by another kwq) that can still run the work: follow it. */
    ours = st.predecessor && strcmp(st.predecessor, b->pred) == 0 && kube_job_scalable(&st);
    /* One that has finished continues the chain: the next one follows it. */
    if (!ours && st.predecessor && strcmp(st.predecessor, b->pred) == 0)
        (void)snprintf(b->pred, sizeof(b->pred), "%s", b->next);
    kube_job_status_done(&st);
    if (ours) {
        (void)snprintf(b->name, sizeof(b->name), "%s", b->next);
        (void)keep_job(b, resp, &err);
        succ_finish(b, &err);
        return;
    }
    if (kube_job_successor_name(b->next, b->next, sizeof(b->next), &err) < 0 ||
        ++b->tries >= SUCCESSOR_TRIES) {
        if (err.code == 0)
            (void)kwq_error_set(&err, KWQ_ESTATE,
                                "no free name for a successor of Job %s after %d tries; delete "
                                "the finished Jobs of the chain",
                                b->name, SUCCESSOR_TRIES);
        succ_finish(b, &err);
        return;
    }
    succ_post(b);
}

static void succ_posted(void *arg, struct kube_response *resp, const struct kwq_error *e)
{
    struct kube_scale *b = arg;
    struct kwq_error err = *e;
    char path[256];

    if (err.code == KWQ_ESTATE && resp->reason && strcmp(resp->reason, "AlreadyExists") == 0) {
        b->step = STEP_SUCC_CHECK;
        job_path(b, b->next, path, sizeof(path));
        if (kube_request(b->k, "GET", path, NULL, NULL, succ_checked, b) == 0)
            return;
        (void)kwq_error_set(&err, KWQ_ENOMEM, "out of memory");
    }
    if (err.code == 0) {
        (void)snprintf(b->name, sizeof(b->name), "%s", b->next);
        (void)keep_job(b, resp, &err);
        b->successors++;
    }
    succ_finish(b, &err);
}

static void succ_post(struct kube_scale *b)
{
    struct kwq_error err = {0};
    char path[256], *body = successor_json(b->raw, b->next, b->pred, b->want);
    int rc = KWQ_ENOMEM;

    b->step = STEP_SUCC_POST;
    job_path(b, NULL, path, sizeof(path));
    if (body)
        rc = kube_request(b->k, "POST", path, NULL, body, succ_posted, b);
    free(body);
    if (rc < 0) {
        (void)kwq_error_set(&err, rc, "cannot make a successor of Job %s: %s", b->name,
                            kwq_strerror(rc));
        succ_finish(b, &err);
    }
}

int kube_scale_successor(struct kube_scale *b, uint32_t p,
                         void (*done)(void *arg, const struct kwq_error *err), void *arg)
{
    struct kwq_error err = {0};
    int rc;

    if (b->step != STEP_NONE || !b->have_job)
        return KWQ_ESTATE;
    rc = kube_job_successor_name(b->name, b->next, sizeof(b->next), &err);
    if (rc < 0)
        return rc;
    b->succ_done = done;
    b->arg = arg;
    b->want = p;
    b->tries = 0;
    (void)snprintf(b->pred, sizeof(b->pred), "%s", b->name);
    succ_post(b);
    return 0;
}

static void observe_now_done(void *arg, const struct scaler_workers *w, const struct kwq_error *err)
{
    struct kube_scale *b = arg;

    (void)w;
    b->sync_done = true;
    b->sync_err = *err;
}

int kube_scale_observe_now(struct kube_scale *b, struct kwq_error *err)
{
    b->sync_done = false;
    b->read_ms = 0;
    b->have_job = false; /* a fresh read, whatever the last one */
    observe(b, observe_now_done, b);
    while (!b->sync_done)
        (void)ev_run(b->loop, EVRUN_ONCE);
    *err = b->sync_err;
    return err->code;
}

static void succ_now_done(void *arg, const struct kwq_error *err)
{
    struct kube_scale *b = arg;

    b->sync_done = true;
    b->sync_err = *err;
}

int kube_scale_successor_now(struct kube_scale *b, uint32_t p, struct kwq_error *err)
{
    int rc;

    b->sync_done = false;
    rc = kube_scale_successor(b, p, succ_now_done, b);
    if (rc < 0)
        return kwq_error_set(err, rc, "cannot make a successor of Job %s now", b->name);
    while (!b->sync_done)
        (void)ev_run(b->loop, EVRUN_ONCE);
    *err = b->sync_err;
    return err->code;
}
