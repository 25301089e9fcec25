/*
 * kube_jobs.c - the broker's Kubernetes side: the client opened from
 * --kube and the options of kube/cli_opts.h, and the Jobs working on a
 * queue for the dashboard (/api/queues/{q}/jobs): the kwq Jobs of the
 * namespace (label app.kubernetes.io/managed-by=kwq) whose kwq.dev/queue
 * annotation names the queue. One list request per call, non-blocking on
 * the broker's loop; a failure answers 502 with the API's own line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"

#include "broker.h"
#include "http.h"
#include "kube/config.h"
#include "kube/http.h"
#include "kube/job.h"

#define JSON "application/json"

int kube_jobs_open(struct broker *b)
{
    const struct broker_config *cfg = b->cfg;
    struct kube_client_opts copts = {.retry_ms = cfg->kube_opts.retry_ms};
    struct kube_config kc;
    struct kwq_error err = {0};
    int r;

    if (!cfg->kube)
        return -1;
    r = kube_config_load(&cfg->kube_opts.cfg, &kc, &err);
    if (r < 0) {
        (void)fprintf(stderr, "kwq-broker: %s\n", err.msg);
        return r == KWQ_ENOMEM ? KWQ_EXIT_SOFTWARE : KWQ_EXIT_CONFIG;
    }
    r = kube_client_new(b->loop, &kc, &copts, &b->kube, &err);
    kube_config_free(&kc);
    if (r < 0) {
        (void)fprintf(stderr, "kwq-broker: %s\n", err.msg);
        return r == KWQ_ENOMEM ? KWQ_EXIT_SOFTWARE : KWQ_EXIT_CONFIG;
    }
    kwq_log(KWQ_LOG_INFO, "Kubernetes API configured",
            KWQ_LS("namespace", kube_client_namespace(b->kube)));
    return -1;
}

struct jobs_call {
    struct broker *b;
    struct http_exchange *x;
    struct queue *q;
};

static cJSON *job_json(const struct kube_job_status *st)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    (void)cJSON_AddStringToObject(o, "name", st->name);
    (void)cJSON_AddNumberToObject(o, "parallelism", (double)st->parallelism);
    (void)cJSON_AddNumberToObject(o, "active", (double)st->active);
    (void)cJSON_AddNumberToObject(o, "ready", (double)(st->ready < 0 ? 0 : st->ready));
    (void)cJSON_AddNumberToObject(o, "succeeded", (double)st->succeeded);
    (void)cJSON_AddNumberToObject(o, "failed", (double)st->failed);
    (void)cJSON_AddBoolToObject(o, "complete", st->complete);
    (void)cJSON_AddBoolToObject(o, "failed_condition", st->failed_job);
    if (st->created)
        (void)cJSON_AddStringToObject(o, "created", st->created);
    return o;
}

static void on_list(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct jobs_call *c = arg;
    cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, "jobs") : NULL;
    const cJSON *items;
    char *text;

    if (!arr) {
        http_reply(c->x, 500, JSON, "{\"error\":\"out of memory\"}", 25, NULL);
        goto out;
    }
    if (err->code != 0) {
        char msg[KWQ_ERRSTR_LEN + 40];

        kwq_log(KWQ_LOG_WARN, "cannot list Jobs", KWQ_LS("err", err->msg));
        (void)snprintf(msg, sizeof(msg), "Kubernetes: %s", err->msg[0] ? err->msg : "failed");
        cJSON_Delete(o);
        o = cJSON_CreateObject();
        if (o)
            (void)cJSON_AddStringToObject(o, "error", msg);
        text = o ? cJSON_PrintUnformatted(o) : NULL;
        http_reply(c->x, 502, JSON, text ? text : "{}", text ? strlen(text) : 2, NULL);
        free(text);
        goto out;
    }
    (void)cJSON_AddBoolToObject(o, "enabled", true);
    items = resp->json ? cJSON_GetObjectItemCaseSensitive(resp->json, "items") : NULL;
    for (const cJSON *it = items ? items->child : NULL; it; it = it->next) {
        struct kube_job_status st;
        struct kwq_error perr = {0};

        if (kube_job_status_parse(it, &st, &perr) < 0)
            continue;
        if (st.queue && strcmp(st.queue, c->q->name) == 0)
            cJSON_AddItemToArray(arr, job_json(&st));
        kube_job_status_done(&st);
    }
    text = cJSON_PrintUnformatted(o);
    if (text)
        http_reply(c->x, 200, JSON, text, strlen(text), NULL);
    else
        http_reply(c->x, 500, JSON, "{\"error\":\"out of memory\"}", 25, NULL);
    free(text);
out:
    cJSON_Delete(o);
    c->q->busy--;
    queue_release(c->b, c->q);
    free(c);
}

void kube_jobs_serve(struct broker *b, struct http_exchange *x, struct queue *q)
{
    char path[512];
    struct jobs_call *c;

    if (!b->kube) {
        http_reply(x, 200, JSON, "{\"enabled\":false}", 17, NULL);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        http_reply(x, 500, JSON, "{\"error\":\"out of memory\"}", 25, NULL);
        return;
    }
    c->b = b;
    c->x = x;
    c->q = q;
    q->busy++;
    (void)snprintf(path, sizeof(path),
                   "/apis/batch/v1/namespaces/%s/jobs?labelSelector=" KUBE_JOB_LABEL_MANAGED
                   "%%3Dkwq",
                   kube_client_namespace(b->kube));
    if (kube_request(b->kube, "GET", path, NULL, NULL, on_list, c) < 0) {
        q->busy--;
        free(c);
        http_reply(x, 500, JSON, "{\"error\":\"out of memory\"}", 25, NULL);
    }
}
