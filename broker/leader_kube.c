/*
 * leader_kube.c - the Kubernetes backend of the election: a Lease object
 * (coordination.k8s.io/v1) through libkwqkube on the broker's loop, with the
 * rules of client-go's leader election:
 *   - GET the Lease; absent: create it holding it (leaseTransitions 1);
 *   - held by us: renew (renewTime) with its resourceVersion;
 *   - free (no holderIdentity): take it, leaseTransitions + 1;
 *   - held by another: take it only when WE have seen it unchanged (same
 *     resourceVersion) for its leaseDurationSeconds, by our own monotonic
 *     clock; its renewTime is never compared with our clock;
 *   - every write carries the resourceVersion read, so that of two brokers
 *     taking it at once one gets 409 Conflict: it lost the race.
 * The term is leaseTransitions. A release writes holderIdentity "" and
 * leaseDurationSeconds 1, so that the next broker takes it at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"

#include "kube/http.h"
#include "leader_int.h"

struct kube_lease {
    struct kube_client *k;
    char path[512];       /* the Lease */
    char collection[400]; /* the namespace's leases */
    cJSON *obj;           /* the Lease as last read or written */
    char seen_rv[64];     /* resourceVersion of another's record, as last seen */
    double seen_at;       /* monotonic time seen_rv was first seen */
};

/* ---- The Lease object ------------------------------------------------------------------ */

static const cJSON *spec_item(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "spec"), key);
}

static const char *spec_holder(const cJSON *obj)
{
    const cJSON *h = spec_item(obj, "holderIdentity");

    return cJSON_IsString(h) ? h->valuestring : "";
}

static uint64_t spec_u64(const cJSON *obj, const char *key)
{
    const cJSON *v = spec_item(obj, key);

    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

static const char *resource_version(const cJSON *obj)
{
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");

    return cJSON_IsString(rv) ? rv->valuestring : "";
}

/* Now as a Kubernetes MicroTime: RFC 3339, microseconds, UTC. */
static void micro_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char sec[24];

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)gmtime_r(&ts.tv_sec, &tm);
    (void)strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(buf, len, "%.19s.%06uZ", sec, (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

/* Replace (or add) spec.key; false on OOM. */
static bool spec_set(cJSON *obj, const char *key, cJSON *v)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");

    if (!v)
        return false;
    if (!spec) {
        spec = cJSON_AddObjectToObject(obj, "spec");
        if (!spec) {
            cJSON_Delete(v);
            return false;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(spec, key);
    return cJSON_AddItemToObject(spec, key, v);
}

/* Lease seconds: the lease rounded up, so others never wait less than we lead. */
static double duration_s(const struct leader *l)
{
    return (double)((l->lease_ms + 999) / 1000);
}

/* Make obj say that we hold it from now (taking it when take). False on OOM. */
static bool hold_spec(struct leader *l, cJSON *obj, bool take)
{
    char now[40];
    bool ok;

    micro_time(now, sizeof(now));
    ok = spec_set(obj, "holderIdentity", cJSON_CreateString(l->identity)) &&
         spec_set(obj, "leaseDurationSeconds", cJSON_CreateNumber(duration_s(l))) &&
         spec_set(obj, "renewTime", cJSON_CreateString(now));
    if (ok && take)
        ok = spec_set(obj, "acquireTime", cJSON_CreateString(now)) &&
             spec_set(obj, "leaseTransitions",
                      cJSON_CreateNumber((double)spec_u64(obj, "leaseTransitions") + 1));
    return ok;
}

/* ---- Requests -------------------------------------------------------------------------- */

static void on_written(void *arg, struct kube_response *resp, const struct kwq_error *err);

/* Send obj (printed) to the API: PUT to the Lease, or POST to create it. */
static int write_lease(struct leader *l, struct leader_call *c, const cJSON *obj, bool create,
                       kube_done_fn *done)
{
    struct kube_lease *kl = l->be_data;
    char *body = cJSON_PrintUnformatted(obj);
    int rc;

    if (!body)
        return KWQ_ENOMEM;
    rc = kube_request(kl->k, create ? "POST" : "PUT", create ? kl->collection : kl->path, NULL,
                      body, done, c);
    free(body);
    return rc;
}

static int create_lease(struct leader *l, struct leader_call *c)
{
    cJSON *obj = cJSON_CreateObject(), *meta;
    int rc = KWQ_ENOMEM;

    if (obj && cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1") &&
        cJSON_AddStringToObject(obj, "kind", "Lease") &&
        (meta = cJSON_AddObjectToObject(obj, "metadata")) &&
        cJSON_AddStringToObject(meta, "name", l->name) && hold_spec(l, obj, true))
        rc = write_lease(l, c, obj, true, on_written);
    cJSON_Delete(obj);
    return rc;
}

/* What a read Lease lets us do: renew or take it (a write follows), or nothing. */
static int decide(struct leader *l, struct leader_call *c, cJSON *obj, struct leader_seen *seen)
{
    struct kube_lease *kl = l->be_data;
    const char *holder = spec_holder(obj), *rv = resource_version(obj);
    double now = leader__now(), lease_s = (double)spec_u64(obj, "leaseDurationSeconds");
    bool take;

    if (strcmp(rv, kl->seen_rv) != 0) {
        (void)snprintf(kl->seen_rv, sizeof(kl->seen_rv), "%s", rv);
        kl->seen_at = now;
    }
    if (lease_s <= 0)
        lease_s = duration_s(l); /* a Lease written without one: wait as long as we would lead */
    take = holder[0] == '\0' || (strcmp(holder, l->identity) != 0 && now - kl->seen_at >= lease_s);
    if (strcmp(holder, l->identity) != 0 && !take) {
        seen->holder = holder;
        seen->term = spec_u64(obj, "leaseTransitions");
        return 1; /* held by another, still valid */
    }
    if (!hold_spec(l, obj, take))
        return KWQ_ENOMEM;
    return write_lease(l, c, obj, false, on_written);
}

static void on_read(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct leader_call *c = arg;
    struct leader *l = leader__call_peek(c);
    struct leader_seen seen = {0};
    int rc;

    if (!l)
        return;
    if (err->code == KWQ_ENOTFOUND)
        rc = create_lease(l, c);
    else if (err->code)
        rc = err->code;
    else if (!resp->json)
        rc = KWQ_EPROTO;
    else
        rc = decide(l, c, resp->json, &seen);
    if (rc == 0)
        return; /* the write answers */
    leader__call_finish(c);
    if (rc == 1)
        leader__attempt_done(l, 0, NULL, &seen);
    else
        leader__attempt_done(l, rc, err->code ? err->msg : kwq_strerror(rc), NULL);
}

/* A write's answer: the Lease as written is ours; 409 is a race lost to another broker. */
static void on_written(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct leader_call *c = arg;
    struct leader *l = leader__call_peek(c);
    struct kube_lease *kl;
    struct leader_seen seen = {0};

    if (!l)
        return;
    leader__call_finish(c);
    kl = l->be_data;
    if (err->code == KWQ_ESTATE) {
        leader__attempt_done(l, 0, NULL, &seen); /* not held; the next read tells by whom */
        return;
    }
    if (err->code || !resp->json) {
        leader__attempt_done(l, err->code ? err->code : KWQ_EPROTO, err->msg, NULL);
        return;
    }
    cJSON_Delete(kl->obj);
    kl->obj = resp->json;
    resp->json = NULL;
    seen.held = true;
    seen.term = spec_u64(kl->obj, "leaseTransitions");
    seen.holder = l->identity;
    leader__attempt_done(l, 0, NULL, &seen);
}

static int kube_attempt(struct leader *l, const char **why)
{
    struct kube_lease *kl = l->be_data;
    struct leader_call *c = leader__call_begin(l);
    int rc;

    if (!c)
        return KWQ_ENOMEM;
    rc = kube_request(kl->k, "GET", kl->path, NULL, NULL, on_read, c);
    if (rc) {
        leader__call_finish(c);
        *why = "cannot start a request to the API server";
    }
    return rc;
}

/* ---- Release --------------------------------------------------------------------------- */

static void on_released(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct leader_call *c = arg;
    struct leader *l = leader__call_peek(c);

    (void)resp;
    if (!l)
        return;
    leader__call_finish(c);
    leader__released(l, err->code, err->msg);
}

static int kube_release(struct leader *l, const char **why)
{
    struct kube_lease *kl = l->be_data;
    struct leader_call *c;
    char now[40];
    int rc;

    *why = "no Lease written by this broker";
    if (!kl->obj)
        return KWQ_ESTATE;
    micro_time(now, sizeof(now));
    if (!spec_set(kl->obj, "holderIdentity", cJSON_CreateString("")) ||
        !spec_set(kl->obj, "leaseDurationSeconds", cJSON_CreateNumber(1)) ||
        !spec_set(kl->obj, "renewTime", cJSON_CreateString(now)))
        return KWQ_ENOMEM;
    c = leader__call_begin(l);
    if (!c)
        return KWQ_ENOMEM;
    rc = write_lease(l, c, kl->obj, false, on_released);
    if (rc) {
        leader__call_finish(c);
        *why = "cannot start a request to the API server";
    }
    return rc;
}

static void kube_free(struct leader *l)
{
    struct kube_lease *kl = l->be_data;

    if (kl) {
        cJSON_Delete(kl->obj);
        free(kl);
    }
}

static const struct leader_backend kube_backend = {
    .name = "kubernetes",
    .attempt = kube_attempt,
    .release = kube_release,
    .free = kube_free,
};

struct leader *leader_new_kube(struct ev_loop *loop, struct kube_client *k, const char *ns,
                               const struct leader_opts *o, leader_change_cb *cb, void *data)
{
    struct leader *l = leader__new(loop, &kube_backend, o, cb, data);
    struct kube_lease *kl;

    if (!l)
        return NULL;
    kl = calloc(1, sizeof(*kl));
    if (!kl) {
        leader_free(l);
        return NULL;
    }
    l->be_data = kl;
    kl->k = k;
    (void)snprintf(kl->collection, sizeof(kl->collection),
                   "/apis/coordination.k8s.io/v1/namespaces/%s/leases", ns);
    (void)snprintf(kl->path, sizeof(kl->path), "%s/%s", kl->collection, l->name);
    return l;
}
