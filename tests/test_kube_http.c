/*
 * test_kube_http.c - the Kubernetes HTTP client (kube/http.h) against the
 * fake API server, for what the real one cannot do on demand: 429 with
 * Retry-After (the retry comes no earlier, by the fake's clock), 500s
 * retried to success with an exact count, 500s past retry_ms, a slow answer
 * timing out while another request on the same loop completes, a token
 * file read again after a 401, callbacks never run inside kube_request,
 * cancelling on free. The Status lines (403, 404, 409, 422) are checked
 * here from recorded answers and again against the real API server
 * (test_kube_api).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ev.h>

#include "kwq/error.h"
#include "kwq/log.h"

#include "fake_kube.h"
#include "kube/http.h"

#define MAX_DONE 8

/* What one callback got. */
struct done {
    int tag;
    int code;
    long status;
    char msg[KWQ_ERRSTR_LEN];
    char reason[64];
};

static struct done dones[MAX_DONE];
static size_t ndone;
static struct fake_kube fake;
static struct ev_loop *loop;

static void setup(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert(loop != NULL);
    ndone = 0;
}

static void teardown(void)
{
    fake_kube_stop(&fake);
    ev_loop_destroy(loop);
}

TestSuite(kube_http, .init = setup, .fini = teardown, .timeout = 60);

static void on_done(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    struct done *d;

    cr_assert(lt(sz, ndone, (size_t)MAX_DONE));
    d = &dones[ndone++];
    memset(d, 0, sizeof(*d));
    d->tag = (int)(intptr_t)arg;
    d->code = err->code;
    d->status = resp->status;
    (void)snprintf(d->msg, sizeof(d->msg), "%s", err->msg);
    (void)snprintf(d->reason, sizeof(d->reason), "%s", resp->reason ? resp->reason : "");
}

static struct kube_client *client(uint64_t timeout_ms, uint64_t retry_ms)
{
    struct kube_client_opts o = {.timeout_ms = timeout_ms, .retry_ms = retry_ms, .quiet = true};
    struct kube_client *k = NULL;
    struct kwq_error err = {0};
    int rc = kube_client_new(loop, &fake.cfg, &o, &k, &err);

    cr_assert(eq(int, rc, 0), "kube_client_new: %s", err.msg);
    return k;
}

/* Arrival times (the fake's clock) of the requests to path. */
static size_t arrivals(const char *path, double *t, size_t max)
{
    cJSON *log = fake_kube_log(&fake), *r;
    size_t n = 0;

    cJSON_ArrayForEach(r, log)
    {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(r, "path"));

        if (p && strcmp(p, path) == 0 && n < max)
            t[n++] = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "t"));
    }
    cJSON_Delete(log);
    return n;
}

static void call_ok(struct kube_client *k, const char *path)
{
    struct kube_response resp;
    struct kwq_error err;
    int rc = kube_call(k, "GET", path, NULL, NULL, &resp, &err);

    cr_assert(eq(int, rc, 0), "GET %s: %s", path, err.msg);
    cr_assert(eq(long, resp.status, 200));
    cr_assert(resp.json != NULL && cJSON_IsString(cJSON_GetObjectItem(resp.json, "path")));
    kube_response_done(&resp);
}

/*
 * GET /r, which must fail with code and HTTP status (0: none) after
 * exactly n requests (0: any number); the error line is left in err.
 */
static void call_fails(struct kube_client *k, int code, long status, size_t n,
                       struct kwq_error *err)
{
    struct kube_response resp;

    cr_assert(eq(int, kube_call(k, "GET", "/r", NULL, NULL, &resp, err), code), "%s", err->msg);
    cr_assert(eq(int, err->code, code));
    cr_assert(eq(long, resp.status, status));
    if (n)
        cr_assert(eq(sz, fake_kube_count(&fake, "/r"), n));
    kube_response_done(&resp);
    kube_client_free(k);
}

/*
 * The fake answers /r once as script says, asking for a wait of 1 s, then
 * 200: the second request comes 1 s or more after the first (the backoff
 * alone would have come back within 100 ms), by the fake's clock.
 */
static void retried_after_one_second(const char *script)
{
    struct kube_client *k;
    double t[4];

    fake_kube_start(&fake, script);
    k = client(5000, 20000);
    call_ok(k, "/r");
    cr_assert(eq(sz, arrivals("/r", t, 4), 2));
    cr_assert(ge(dbl, t[1] - t[0], 1.0), "retried %.3f s after the first answer", t[1] - t[0]);
    kube_client_free(k);
}

Test(kube_http, retry_after_429_is_honoured)
{
    retried_after_one_second("{\"/r\": [{\"status\": 429, \"retry_after\": 1, \"count\": 1}, {}]}");
}

Test(kube_http, retry_after_seconds_of_the_status_is_honoured)
{
    retried_after_one_second(
        "{\"/r\": [{\"status\": 503, \"retry_after_details\": 1, \"count\": 1}, {}]}");
}

Test(kube_http, three_500s_then_200_is_four_requests)
{
    struct kube_client *k;

    fake_kube_start(&fake, "{\"/r\": [{\"status\": 500, \"count\": 3}, {}]}");
    k = client(5000, 30000);
    call_ok(k, "/r");
    cr_assert(eq(sz, fake_kube_count(&fake, "/r"), 4));
    kube_client_free(k);
}

Test(kube_http, 500s_past_retry_ms_are_econn)
{
    struct kwq_error err;

    fake_kube_start(&fake, "{\"/r\": [{\"status\": 500}]}");
    call_fails(client(5000, 600), KWQ_ECONN, 500, 0, &err);
    cr_assert(strstr(err.msg, "fake: 500 on /r") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "attempts") != NULL, "%s", err.msg);
    cr_assert(ge(sz, fake_kube_count(&fake, "/r"), 2));
}

Test(kube_http, no_retry_without_retry_ms)
{
    struct kwq_error err;

    fake_kube_start(&fake, "{\"/r\": [{\"status\": 503}]}");
    call_fails(client(5000, 0), KWQ_ECONN, 503, 1, &err);
    cr_assert_str_eq(err.msg, "fake: 503 on /r");
}

Test(kube_http, slow_answer_times_out_while_another_completes)
{
    struct kube_client *k;

    fake_kube_start(&fake, "{\"/slow\": [{\"delay_ms\": 8000}], \"/fast\": [{}]}");
    k = client(3000, 0);
    cr_assert(eq(int, kube_request(k, "GET", "/slow", NULL, NULL, on_done, (void *)1), 0));
    cr_assert(eq(int, kube_request(k, "GET", "/fast", NULL, NULL, on_done, (void *)2), 0));
    while (ndone < 2)
        (void)ev_run(loop, EVRUN_ONCE);
    cr_assert(eq(int, dones[0].tag, 2), "the fast request waited for the slow one");
    cr_assert(eq(int, dones[0].code, 0), "%s", dones[0].msg);
    cr_assert(eq(int, dones[1].tag, 1));
    cr_assert(eq(int, dones[1].code, KWQ_ETIMEOUT), "%s", dones[1].msg);
    cr_assert_str_eq(dones[1].msg, "GET /slow: no answer within 3000 ms");
    cr_assert(eq(sz, fake_kube_count(&fake, "/slow"), 1));
    kube_client_free(k);
}

/* The Authorization headers the fake saw, in order, joined by ','. */
static void auths(char *buf, size_t len)
{
    cJSON *log = fake_kube_log(&fake), *r;
    size_t n = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(r, log)
    {
        const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(r, "auth"));

        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", a ? a : "-");
        cr_assert(lt(sz, n, len));
    }
    cJSON_Delete(log);
}

Test(kube_http, token_file_is_read_again_after_a_401)
{
    struct kube_client *k;
    char seen[512];
    char *accepted, *mine;

    fake_kube_start(&fake, "{\"/r\": [{\"token_file\": \"@DIR@/accepted\"}]}");
    accepted = fake_kube_file(&fake, "accepted", "old-token\n");
    mine = fake_kube_file(&fake, "token", "old-token\n");
    fake.cfg.token_file = mine;
    k = client(5000, 0);
    call_ok(k, "/r");
    /* The token rotates: the server takes only the new one from now on. */
    fake_kube_write(accepted, "new-token\n");
    fake_kube_write(mine, "new-token\n");
    call_ok(k, "/r");
    call_ok(k, "/r");
    auths(seen, sizeof(seen));
    cr_assert_str_eq(seen, "Bearer old-token,Bearer old-token,Bearer new-token,Bearer new-token");
    kube_client_free(k);
}

Test(kube_http, a_second_401_is_eauth_without_the_token)
{
    struct kwq_error err;
    char want[512];

    fake_kube_start(&fake, "{\"/r\": [{\"token_file\": \"@DIR@/accepted\"}]}");
    (void)fake_kube_file(&fake, "accepted", "the-right-one\n");
    fake.cfg.token_file = fake_kube_file(&fake, "token", "secret-wrong-one\n");
    call_fails(client(5000, 10000), KWQ_EAUTH, 401, 2, &err);
    (void)snprintf(want, sizeof(want),
                   "the API server refused the credentials from the configuration (token file "
                   "%s, read again after the first refusal): Unauthorized",
                   fake.cfg.token_file);
    cr_assert_str_eq(err.msg, want);
    cr_assert(strstr(err.msg, "secret-wrong-one") == NULL);
}

Test(kube_http, an_inline_token_refused_is_eauth_at_once)
{
    struct kwq_error err;
    char token[] = "inline-secret";
    char source[] = "kubeconfig /x (context c)";

    fake_kube_start(&fake, "{\"/r\": [{\"token_file\": \"@DIR@/accepted\"}]}");
    (void)fake_kube_file(&fake, "accepted", "the-right-one\n");
    fake.cfg.token = token;
    fake.cfg.source = source;
    call_fails(client(5000, 10000), KWQ_EAUTH, 401, 1, &err);
    cr_assert_str_eq(err.msg,
                     "the API server refused the credentials from kubeconfig /x (context c) (its "
                     "token): Unauthorized");
}

Test(kube_http, callbacks_never_run_inside_kube_request)
{
    struct kube_client *k;

    fake_kube_start(&fake, "{}");
    k = client(5000, 0);
    /* Refused at once (no such path): still called back from the loop. */
    cr_assert(eq(int, kube_request(k, "GET", "/nothing", NULL, NULL, on_done, (void *)1), 0));
    cr_assert(eq(sz, ndone, 0));
    while (ndone < 1)
        (void)ev_run(loop, EVRUN_ONCE);
    cr_assert(eq(int, dones[0].code, KWQ_ENOTFOUND));
    cr_assert_str_eq(dones[0].reason, "NotFound");
    cr_assert(eq(int, kube_request(k, "BREW", "/x", NULL, NULL, on_done, NULL), KWQ_EINVAL));
    cr_assert(eq(int, kube_request(k, "GET", "x", NULL, NULL, on_done, NULL), KWQ_EINVAL));
    kube_client_free(k);
    cr_assert(eq(sz, ndone, 1));
}

Test(kube_http, free_cancels_every_request_once)
{
    struct kube_client *k;

    fake_kube_start(&fake, "{\"/slow\": [{\"delay_ms\": 8000}]}");
    k = client(20000, 0);
    cr_assert(eq(int, kube_request(k, "GET", "/slow", NULL, NULL, on_done, (void *)1), 0));
    /* Wait until the first is on the wire; the second has not started yet. */
    while (fake_kube_count(&fake, "/slow") < 1)
        (void)ev_run(loop, EVRUN_NOWAIT);
    cr_assert(eq(int, kube_request(k, "GET", "/slow", NULL, NULL, on_done, (void *)2), 0));
    kube_client_free(k);
    cr_assert(eq(sz, ndone, 2));
    for (size_t i = 0; i < 2; i++) {
        cr_assert(eq(int, dones[i].code, KWQ_ECONN));
        cr_assert_str_eq(dones[i].msg, "cancelled: the Kubernetes client was freed");
    }
    /* Nothing of the client is left on the loop. */
    cr_assert(eq(int, ev_run(loop, EVRUN_NOWAIT), 0));
}

static struct kube_client *freed_in_callback;

static void free_in_callback(void *arg, struct kube_response *resp, const struct kwq_error *err)
{
    on_done(arg, resp, err);
    kube_client_free(freed_in_callback);
}

Test(kube_http, a_callback_may_free_the_client)
{
    fake_kube_start(&fake, "{\"/fast\": [{}], \"/slow\": [{\"delay_ms\": 8000}]}");
    freed_in_callback = client(20000, 0);
    cr_assert(eq(
        int, kube_request(freed_in_callback, "GET", "/slow", NULL, NULL, on_done, (void *)1), 0));
    cr_assert(
        eq(int,
           kube_request(freed_in_callback, "GET", "/fast", NULL, NULL, free_in_callback, (void *)2),
           0));
    while (ndone < 2)
        (void)ev_run(loop, EVRUN_ONCE);
    cr_assert(eq(int, dones[0].tag, 2));
    cr_assert(eq(int, dones[0].code, 0));
    cr_assert(eq(int, dones[1].tag, 1));
    cr_assert(eq(int, dones[1].code, KWQ_ECONN));
    cr_assert(eq(int, ev_run(loop, EVRUN_NOWAIT), 0));
}

/* A recorded answer of the real API server, served by the fake. */
static void status_case(int status, const char *body, int code, const char *msg, const char *reason)
{
    struct kube_client *k;
    struct kube_response resp;
    struct kwq_error err;
    char script[4096];

    (void)snprintf(script, sizeof(script), "{\"/r\": [{\"status\": %d, \"body\": %s}]}", status,
                   body);
    fake_kube_start(&fake, script);
    k = client(5000, 10000);
    cr_assert(eq(
        int, kube_call(k, "PATCH", "/r", "application/merge-patch+json", "{}", &resp, &err), code));
    cr_assert_str_eq(err.msg, msg);
    cr_assert_str_eq(resp.reason ? resp.reason : "", reason);
    cr_assert(eq(sz, fake_kube_count(&fake, "/r"), 1), "a %d was retried", status);
    kube_response_done(&resp);
    kube_client_free(k);
}

Test(kube_http, status_403_keeps_the_api_message_whole)
{
    status_case(403,
                "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"jobs.batch \\\"wq\\\" "
                "is forbidden: User \\\"system:serviceaccount:ns:limited\\\" cannot patch "
                "resource \\\"jobs\\\" in API group \\\"batch\\\" in the namespace "
                "\\\"ns\\\"\",\"reason\":\"Forbidden\",\"code\":403}",
                KWQ_ENOPERM,
                "jobs.batch \"wq\" is forbidden: User \"system:serviceaccount:ns:limited\" cannot "
                "patch resource \"jobs\" in API group \"batch\" in the namespace \"ns\"",
                "Forbidden");
}

Test(kube_http, status_422_lists_the_causes)
{
    status_case(422,
                "{\"kind\":\"Status\",\"message\":\"Job.batch \\\"wq\\\" is invalid: "
                "[...]\",\"reason\":\"Invalid\",\"details\":{\"name\":\"wq\",\"kind\":\"Job\","
                "\"causes\":[{\"message\":\"Invalid value: 5: field is "
                "immutable\",\"field\":\"spec.completions\"},{\"message\":\"Required "
                "value\",\"field\":\"spec.template\"}]},\"code\":422}",
                KWQ_EINVAL,
                "Job \"wq\" is invalid: spec.completions: Invalid value: 5: field is immutable; "
                "spec.template: Required value",
                "Invalid");
}

Test(kube_http, status_409_keeps_the_reason)
{
    status_case(409,
                "{\"kind\":\"Status\",\"message\":\"jobs.batch \\\"wq\\\" already "
                "exists\",\"reason\":\"AlreadyExists\",\"code\":409}",
                KWQ_ESTATE, "jobs.batch \"wq\" already exists", "AlreadyExists");
}

Test(kube_http, an_answer_without_a_status_names_the_request)
{
    status_case(418, "\"teapot\"", KWQ_EPROTO, "PATCH /r: the API server answered HTTP 418", "");
}

Test(kube_http, bad_configurations_are_refused_at_creation)
{
    struct kube_client *k = NULL;
    struct kwq_error err = {0};
    struct kube_config cfg = {0};
    char ftp[] = "ftp://x", url[] = "https://127.0.0.1:1", nofile[] = "/nonexistent/token";

    cfg.server = ftp;
    cr_assert(eq(int, kube_client_new(loop, &cfg, NULL, &k, &err), KWQ_EINVAL));
    cr_assert_str_eq(err.msg,
                     "the API server URL 'ftp://x' (from the configuration) must start with "
                     "https:// or http://");
    cfg.server = url;
    cfg.token_file = nofile;
    cr_assert(eq(int, kube_client_new(loop, &cfg, NULL, &k, &err), KWQ_EINVAL));
    cr_assert_str_eq(err.msg,
                     "cannot read the token file /nonexistent/token: No such file or directory");
    cfg.token_file = NULL;
    cfg.ca_file = nofile;
    cr_assert(eq(int, kube_client_new(loop, &cfg, NULL, &k, &err), KWQ_EINVAL));
    cr_assert_str_eq(err.msg,
                     "cannot read the CA file /nonexistent/token (from the configuration): No such "
                     "file or directory");
    cr_assert(k == NULL);
}

Test(kube_http, an_unreachable_server_is_econn_after_retries)
{
    struct kwq_error err;
    char url[64];

    /* The fake's port, once it is gone: nobody listens there. */
    fake_kube_start(&fake, "{}");
    (void)snprintf(url, sizeof(url), "%s", fake.url);
    fake_kube_stop(&fake);
    memset(&fake, 0, sizeof(fake));
    fake.cfg.server = url;
    call_fails(client(2000, 500), KWQ_ECONN, 0, 0, &err);
    cr_assert(strstr(err.msg, "cannot reach the API server") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "attempts in") != NULL, "%s", err.msg);
}

/* GET /r must fail with KWQ_EPROTO and the line of an answer over the bound. */
static void refused_as_too_big(const char *script)
{
    struct kwq_error err;

    fake_kube_start(&fake, script);
    call_fails(client(30000, 0), KWQ_EPROTO, 200, 1, &err);
    cr_assert_str_eq(err.msg, "GET /r: the answer is over 64 MiB; refused");
}

Test(kube_http, an_answer_over_64_mib_is_refused_by_its_length)
{
    refused_as_too_big("{\"/r\": [{\"raw_bytes\": 67108865}]}");
}

Test(kube_http, an_answer_over_64_mib_is_refused_as_it_comes)
{
    refused_as_too_big("{\"/r\": [{\"raw_bytes\": 100000000, \"no_length\": true}]}");
}

/* Run fn with fd 2 going to a pipe; returns what was written there (malloc). */
static char *stderr_of(void (*fn)(void))
{
    int p[2], saved = dup(STDERR_FILENO);
    char *buf = calloc(1, 65536);
    size_t n = 0;
    ssize_t r = 1;

    cr_assert(buf != NULL && saved >= 0 && pipe(p) == 0);
    cr_assert(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
    (void)close(p[1]);
    fn();
    (void)fflush(stderr);
    cr_assert(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
    (void)close(saved);
    while (r > 0 && n < 65535) {
        r = read(p[0], buf + n, 65535 - n);
        n += r > 0 ? (size_t)r : 0;
    }
    (void)close(p[0]);
    return buf;
}

/* An insecure client, not quiet, whose one request is retried once. */
static void insecure_and_retried(void)
{
    struct kube_client_opts o = {.timeout_ms = 5000, .retry_ms = 10000};
    struct kube_client *k = NULL;
    struct kwq_error err = {0};

    fake.cfg.insecure = true;
    fake.cfg.token_file = fake_kube_file(&fake, "token", "sekrit-token\n");
    cr_assert(eq(int, kube_client_new(loop, &fake.cfg, &o, &k, &err), 0), "%s", err.msg);
    call_ok(k, "/r");
    kube_client_free(k);
}

/* The same, quiet. */
static void quiet_insecure_and_retried(void)
{
    struct kube_client *k;

    fake.cfg.insecure = true;
    k = client(5000, 10000);
    call_ok(k, "/r");
    kube_client_free(k);
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;

    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

Test(kube_http, warnings_are_logged_unless_quiet_and_never_the_token)
{
    char *out;

    kwq_log_init("kwq", KWQ_LOG_JSON, KWQ_LOG_INFO);
    fake_kube_start(&fake, "{\"/r\": [{\"status\": 503, \"count\": 1}, {}]}");
    out = stderr_of(insecure_and_retried);
    cr_assert(eq(sz, count_of(out, "\n"), 2), "%s", out);
    cr_assert(eq(sz, count_of(out, "TLS verification of the Kubernetes API server is off"), 1),
              "%s", out);
    cr_assert(eq(sz, count_of(out, "Kubernetes API request failed; retrying"), 1), "%s", out);
    cr_assert(eq(sz, count_of(out, "sekrit"), 0), "%s", out);
    free(out);
    fake_kube_stop(&fake);

    fake_kube_start(&fake, "{\"/r\": [{\"status\": 503, \"count\": 1}, {}]}");
    out = stderr_of(quiet_insecure_and_retried);
    cr_assert_str_eq(out, "");
    free(out);
}
