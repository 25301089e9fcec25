/*
 * api.c - the dashboard's JSON API (docs/broker-api.md). Reads of a queue's
 * dead letters and tasks go to the master (what the operator acts on must
 * be current); the overview and history come from the samples (sample.c).
 * Writes (requeue, purge) need --dashboard-write, the process's CSRF token
 * in X-CSRF-Token, and a JSON body: a form cannot send that header or type,
 * so another site's page cannot make a logged-in browser do it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "broker.h"
#include "http.h"
#include "leader.h"

#define JSON               "application/json"
#define DEAD_COUNT_MAX     200
#define DEAD_COUNT_DEFAULT 50
#define WRITE_IDS_MAX      1000
#define PAYLOAD_SHOWN_MAX  4096

static void reply_json(struct http_exchange *x, int status, cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;

    if (text)
        http_reply(x, status, JSON, text, strlen(text), NULL);
    else
        http_reply(x, 500, JSON, "{\"error\":\"out of memory\"}", 25, NULL);
    free(text);
    cJSON_Delete(o);
}

static void reply_error(struct http_exchange *x, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    if (o)
        (void)cJSON_AddStringToObject(o, "error", msg);
    reply_json(x, status, o);
}

/* A Redis call's failure: 503 when Redis is away, else the library's message. */
static void reply_redis_error(struct broker *b, struct http_exchange *x, int rc)
{
    char msg[KWQ_ERRSTR_LEN + 32];

    if (link_failed(&b->master, rc) || rc == KWQ_ECONN) {
        (void)snprintf(msg, sizeof(msg), "Redis is unavailable: %s", b->master.reason);
        reply_error(x, 503, msg);
        return;
    }
    if (rc == KWQ_ENOTFOUND) {
        reply_error(x, 404, "no such task (never existed, or done with no result kept)");
        return;
    }
    (void)snprintf(msg, sizeof(msg), "%s", kwq_async_errstr(b->master.a));
    reply_error(x, rc == KWQ_EINVAL ? 400 : 500, msg);
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    (void)cJSON_AddNumberToObject(o, k, (double)v);
}

static cJSON *queue_json(const struct queue *q)
{
    const struct kwq_stats *st = &q->stats;
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    (void)cJSON_AddStringToObject(o, "name", q->name);
    if (!q->have_stats) {
        (void)cJSON_AddBoolToObject(o, "sampled", false);
        return o;
    }
    (void)cJSON_AddBoolToObject(o, "sampled", true);
    add_u64(o, "pending", st->pending);
    add_u64(o, "leased", st->leased);
    add_u64(o, "delayed", st->delayed);
    add_u64(o, "dead", st->dead);
    add_u64(o, "results", st->results);
    add_u64(o, "done", st->done);
    add_u64(o, "enqueued", st->enqueued);
    add_u64(o, "failed", st->failed);
    add_u64(o, "retries", st->retries);
    add_u64(o, "expired", st->expired);
    add_u64(o, "released", st->released);
    add_u64(o, "cancelled", st->cancelled);
    add_u64(o, "requeued", st->requeued);
    add_u64(o, "restarts", st->restarts);
    (void)cJSON_AddNumberToObject(o, "oldest_pending_ms", (double)st->oldest_pending_ms);
    (void)cJSON_AddBoolToObject(o, "sealed", st->sealed);
    (void)cJSON_AddBoolToObject(o, "drained", st->drained);
    (void)cJSON_AddNumberToObject(o, "done_per_s", q->done_per_s);
    (void)cJSON_AddNumberToObject(o, "enqueued_per_s", q->enqueued_per_s);
    return o;
}

static void overview(struct broker *b, struct http_exchange *x)
{
    cJSON *o = cJSON_CreateObject(), *br, *qs;
    int64_t t = 0;

    br = o ? cJSON_AddObjectToObject(o, "broker") : NULL;
    qs = o ? cJSON_AddArrayToObject(o, "queues") : NULL;
    if (!br || !qs) {
        reply_json(x, 500, NULL);
        cJSON_Delete(o);
        return;
    }
    (void)cJSON_AddStringToObject(br, "version", KWQ_VERSION);
    (void)cJSON_AddStringToObject(br, "identity", b->cfg->identity);
    (void)cJSON_AddBoolToObject(br, "leader", b->leading);
    (void)cJSON_AddNumberToObject(br, "term", b->leader ? (double)leader_term(b->leader) : 0.0);
    (void)cJSON_AddStringToObject(br, "leader_backend",
                                  b->leader ? leader_backend_name(b->leader) : "off");
    (void)cJSON_AddBoolToObject(br, "redis_up", b->master.up);
    (void)cJSON_AddBoolToObject(br, "write", b->cfg->dashboard_write);
    if (b->cfg->dashboard_write)
        (void)cJSON_AddStringToObject(br, "csrf", b->csrf);
    (void)cJSON_AddBoolToObject(br, "kube", b->kube != NULL);
    for (size_t i = 0; i < b->queues.n; i++) {
        const struct queue *q = b->queues.q[i];

        cJSON_AddItemToArray(qs, queue_json(q));
        if (q->have_stats && q->stats.server_time_ms > t)
            t = q->stats.server_time_ms;
    }
    (void)cJSON_AddNumberToObject(br, "server_time_ms", (double)t);
    reply_json(x, 200, o);
}

static void history(struct broker *b, struct http_exchange *x, const struct queue *q)
{
    cJSON *o = cJSON_CreateObject(), *arr;

    arr = o ? cJSON_AddArrayToObject(o, "samples") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        reply_json(x, 500, NULL);
        return;
    }
    (void)cJSON_AddNumberToObject(o, "interval_ms", (double)b->cfg->sample_interval_ms);
    for (size_t i = 0; i < q->hist_n; i++) {
        const struct sample *s = &q->history[(q->hist_start + i) % HISTORY_MAX];
        cJSON *e = cJSON_CreateObject();

        if (!e)
            break;
        (void)cJSON_AddNumberToObject(e, "t", (double)s->t_ms);
        add_u64(e, "pending", s->pending);
        add_u64(e, "leased", s->leased);
        add_u64(e, "dead", s->dead);
        add_u64(e, "done", s->done);
        add_u64(e, "enqueued", s->enqueued);
        cJSON_AddItemToArray(arr, e);
    }
    reply_json(x, 200, o);
}

/* ---- Deferred answers: the exchange waits for Redis ---------------------- */

struct pending_call {
    struct broker *b;
    struct http_exchange *x;
    struct queue *q;
    size_t offset;
    const char *verb; /* "requeued" / "purged" */
};

static struct pending_call *call_new(struct broker *b, struct http_exchange *x, struct queue *q)
{
    struct pending_call *c = calloc(1, sizeof(*c));

    if (!c) {
        reply_error(x, 500, "out of memory");
        return NULL;
    }
    c->b = b;
    c->x = x;
    c->q = q;
    q->busy++;
    return c;
}

static void call_done(struct pending_call *c)
{
    c->q->busy--;
    queue_release(c->b, c->q);
    free(c);
}

/* The value of key in a query string such as "offset=10&count=5", as a number. */
static bool query_uint(const char *query, const char *key, uint64_t max, uint64_t *ret)
{
    size_t klen = strlen(key);

    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char num[24];
            size_t n = strcspn(p + klen + 1, "&");

            if (n == 0 || n >= sizeof(num))
                return false;
            memcpy(num, p + klen + 1, n);
            num[n] = '\0';
            return kwq_parse_uint(num, 0, max, key, ret, NULL) == 0;
        }
    }
    return true;
}

static void on_dead(struct kwq_async *a, int rc, const struct kwq_dead_task *list, size_t n,
                    void *data)
{
    struct pending_call *c = data;
    cJSON *o, *arr;

    (void)a;
    if (rc < 0) {
        reply_redis_error(c->b, c->x, rc);
        call_done(c);
        return;
    }
    o = cJSON_CreateObject();
    arr = o ? cJSON_AddArrayToObject(o, "dead") : NULL;
    if (arr) {
        /* the sample's count: the list call reads a page, not the total */
        add_u64(o, "total", c->q->have_stats ? c->q->stats.dead : n);
        add_u64(o, "offset", c->offset);
        for (size_t i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();

            if (!e)
                break;
            (void)cJSON_AddStringToObject(e, "id", list[i].id);
            (void)cJSON_AddNumberToObject(e, "died_ms", (double)list[i].died_ms);
            (void)cJSON_AddNumberToObject(e, "attempts", list[i].attempts);
            (void)cJSON_AddNumberToObject(e, "last_code", list[i].last_code);
            (void)cJSON_AddStringToObject(e, "last_error",
                                          list[i].last_error ? list[i].last_error : "");
            cJSON_AddItemToArray(arr, e);
        }
    }
    reply_json(c->x, 200, arr ? o : NULL);
    if (!arr)
        cJSON_Delete(o);
    call_done(c);
}

static void dead_list(struct broker *b, struct http_exchange *x, struct queue *q)
{
    const struct http_request *r = http_exchange_request(x);
    uint64_t offset = 0, count = DEAD_COUNT_DEFAULT;
    struct pending_call *c;

    if (!query_uint(r->query, "offset", UINT32_MAX, &offset) ||
        !query_uint(r->query, "count", DEAD_COUNT_MAX, &count) || count == 0) {
        reply_error(x, 400, "offset must be a whole number and count 1 to 200");
        return;
    }
    if ((c = call_new(b, x, q)) == NULL)
        return;
    c->offset = offset;
    if (kwq_async_dead_list(b->master.a, q->name, offset, count, on_dead, c) < 0) {
        reply_redis_error(b, x, KWQ_ECONN);
        call_done(c);
    }
}

static void on_count(struct kwq_async *a, int rc, void *data)
{
    struct pending_call *c = data;
    cJSON *o;

    (void)a;
    if (rc < 0) {
        reply_redis_error(c->b, c->x, rc);
    } else {
        kwq_log(KWQ_LOG_INFO, "dashboard changed dead letters", KWQ_LS("queue", c->q->name),
                KWQ_LS("action", c->verb), KWQ_LI("count", rc),
                KWQ_LS("peer", http_exchange_peer(c->x)));
        o = cJSON_CreateObject();
        if (o)
            (void)cJSON_AddNumberToObject(o, c->verb, rc);
        reply_json(c->x, 200, o);
    }
    call_done(c);
}

/* The IDs of a write's body, or all; 0, or the status already answered. */
static int write_body(struct http_exchange *x, cJSON **body, const char ***ids, size_t *n)
{
    const struct http_request *r = http_exchange_request(x);
    const char *ct = http_header(x, "Content-Type");
    cJSON *all, *arr;

    *ids = NULL;
    *n = 0;
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        reply_error(x, 415, "send the body as application/json");
        return 415;
    }
    *body = cJSON_ParseWithLength(r->body, r->body_len);
    if (!*body || !cJSON_IsObject(*body)) {
        reply_error(x, 400,
                    "the body must be a JSON object: {\"ids\": [\"12\"]} or {\"all\": "
                    "true}");
        return 400;
    }
    all = cJSON_GetObjectItemCaseSensitive(*body, "all");
    arr = cJSON_GetObjectItemCaseSensitive(*body, "ids");
    if (cJSON_IsTrue(all) && !arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
        cJSON_GetArraySize(arr) > WRITE_IDS_MAX) {
        reply_error(x, 400, "give \"ids\": an array of 1 to 1000 task IDs, or \"all\": true");
        return 400;
    }
    *ids = calloc((size_t)cJSON_GetArraySize(arr), sizeof(**ids));
    if (!*ids) {
        reply_error(x, 500, "out of memory");
        return 500;
    }
    for (cJSON *e = arr->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !*e->valuestring || strlen(e->valuestring) >= KWQ_ID_MAX ||
            strspn(e->valuestring, "0123456789") != strlen(e->valuestring)) {
            reply_error(x, 400, "task IDs are strings of digits, such as \"12\"");
            free(*ids);
            *ids = NULL;
            return 400;
        }
        (*ids)[(*n)++] = e->valuestring;
    }
    return 0;
}

static void dead_write(struct broker *b, struct http_exchange *x, struct queue *q, bool requeue)
{
    const char *token = http_header(x, "X-CSRF-Token");
    const char **ids = NULL;
    cJSON *body = NULL;
    struct pending_call *c;
    size_t n = 0;
    int rc;

    if (!b->cfg->dashboard_write) {
        reply_error(x, 403,
                    "the dashboard is read-only: start kwq-broker with "
                    "--dashboard-write");
        return;
    }
    if (!token || strcmp(token, b->csrf) != 0) {
        reply_error(x, 403, "missing or wrong X-CSRF-Token: reload the dashboard");
        return;
    }
    if (write_body(x, &body, &ids, &n) != 0) {
        cJSON_Delete(body);
        return;
    }
    c = call_new(b, x, q);
    if (c) {
        c->verb = requeue ? "requeued" : "purged";
        rc = requeue ? kwq_async_dead_requeue(b->master.a, q->name, ids, n, on_count, c)
                     : kwq_async_dead_purge(b->master.a, q->name, ids, n, on_count, c);
        if (rc < 0) {
            reply_redis_error(b, x, KWQ_ECONN);
            call_done(c);
        }
    }
    free(ids);
    cJSON_Delete(body);
}

static void on_task(struct kwq_async *a, int rc, const struct kwq_task_info *ti, void *data)
{
    struct pending_call *c = data;
    cJSON *o, *hist;

    (void)a;
    if (rc < 0) {
        reply_redis_error(c->b, c->x, rc);
        call_done(c);
        return;
    }
    o = cJSON_CreateObject();
    hist = cJSON_Parse(ti->history_json ? ti->history_json : "[]");
    if (o && hist) {
        (void)cJSON_AddStringToObject(o, "id", ti->task.id);
        (void)cJSON_AddStringToObject(o, "state", kwq_state_to_string(ti->state));
        (void)cJSON_AddNumberToObject(o, "attempts", ti->task.attempt);
        (void)cJSON_AddNumberToObject(o, "max_attempts", ti->task.max_attempts);
        (void)cJSON_AddNumberToObject(o, "enqueued_ms", (double)ti->task.enqueued_ms);
        (void)cJSON_AddNumberToObject(o, "due_ms", (double)ti->due_ms);
        (void)cJSON_AddNumberToObject(o, "payload_bytes", (double)ti->task.payload_len);
        if (ti->task.payload && ti->task.payload_len <= PAYLOAD_SHOWN_MAX &&
            kwq_utf8_valid(ti->task.payload, ti->task.payload_len) &&
            !memchr(ti->task.payload, '\0', ti->task.payload_len))
            (void)cJSON_AddStringToObject(o, "payload", ti->task.payload);
        else
            (void)cJSON_AddNullToObject(o, "payload");
        cJSON_AddItemToObject(o, "history", hist);
        hist = NULL;
        if (ti->result && ti->result_len <= PAYLOAD_SHOWN_MAX &&
            kwq_utf8_valid(ti->result, ti->result_len) && !memchr(ti->result, '\0', ti->result_len))
            (void)cJSON_AddStringToObject(o, "result", ti->result);
        else
            (void)cJSON_AddNullToObject(o, "result");
        reply_json(c->x, 200, o);
    } else {
        cJSON_Delete(o);
        reply_json(c->x, 500, NULL);
    }
    cJSON_Delete(hist);
    call_done(c);
}

static void task_get(struct broker *b, struct http_exchange *x, struct queue *q, const char *id)
{
    struct pending_call *c;

    if (!*id || strlen(id) >= KWQ_ID_MAX || strspn(id, "0123456789") != strlen(id)) {
        reply_error(x, 400, "task IDs are digits, such as 12");
        return;
    }
    if ((c = call_new(b, x, q)) == NULL)
        return;
    if (kwq_async_task_get(b->master.a, q->name, id, on_task, c) < 0) {
        reply_redis_error(b, x, KWQ_ECONN);
        call_done(c);
    }
}

/* ---- Dispatch --------------------------------------------------------------- */

static bool method_is(const struct http_exchange *x, const char *m)
{
    const char *have = http_exchange_request(x)->method;

    return strcmp(have, m) == 0 || (strcmp(m, "GET") == 0 && strcmp(have, "HEAD") == 0);
}

static bool want(struct http_exchange *x, const char *method)
{
    char allow[32];

    if (method_is(x, method))
        return true;
    (void)snprintf(allow, sizeof(allow), "Allow: %s\r\n",
                   strcmp(method, "GET") == 0 ? "GET, HEAD" : method);
    http_reply(x, 405, JSON, "{\"error\":\"method not allowed\"}", 30, allow);
    return false;
}

void api_handle(struct broker *b, struct http_exchange *x, const char *path)
{
    char name[KWQ_QUEUE_NAME_MAX + 2];
    const char *rest;
    struct queue *q;
    size_t len;

    if (strcmp(path, "/overview") == 0) {
        if (want(x, "GET"))
            overview(b, x);
        return;
    }
    if (strncmp(path, "/queues/", 8) != 0) {
        reply_error(x, 404, "no such API path: see docs/broker-api.md");
        return;
    }
    path += 8;
    len = strcspn(path, "/");
    rest = path + len;
    if (len == 0 || len >= sizeof(name) - 1) {
        reply_error(x, 404, "no such queue");
        return;
    }
    memcpy(name, path, len);
    name[len] = '\0';
    q = queues_find(b, name);
    if (!q) {
        reply_error(x, 404, "no such queue: not in --queues nor in the registry");
        return;
    }
    if (!*rest) {
        if (want(x, "GET"))
            reply_json(x, 200, queue_json(q));
    } else if (strcmp(rest, "/history") == 0) {
        if (want(x, "GET"))
            history(b, x, q);
    } else if (strcmp(rest, "/dead") == 0) {
        if (want(x, "GET"))
            dead_list(b, x, q);
    } else if (strcmp(rest, "/dead/requeue") == 0 || strcmp(rest, "/dead/purge") == 0) {
        if (want(x, "POST"))
            dead_write(b, x, q, rest[6] == 'r');
    } else if (strncmp(rest, "/tasks/", 7) == 0 && !strchr(rest + 7, '/')) {
        if (want(x, "GET"))
            task_get(b, x, q, rest + 7);
    } else if (strcmp(rest, "/jobs") == 0) {
        if (want(x, "GET"))
            kube_jobs_serve(b, x, q);
    } else {
        reply_error(x, 404, "no such API path: see docs/broker-api.md");
    }
}
