/*
 * test_broker_daemon.c - kwq-broker as a process against a private
 * redis-server: housekeeping with no worker running, /metrics equal to
 * `kwq status --json`, readiness, authentication, the dashboard's API, and
 * the exit codes and one-line errors of bad configurations. Every wait is a
 * bounded poll for a state (the safety limit fails a broken test); nothing
 * here measures speed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "broker_proc.h"
#include "redis_fixture.h"
#include "test_cli_exec.h"

#define POLL_SAFETY_S 30

TestSuite(broker, .init = cli_setup, .fini = cli_teardown, .timeout = 120);

static void enqueue(struct kwq_client *c, const char *q, const char *payload, uint32_t max_attempts)
{
    struct kwq_new_task t = {
        .payload = payload, .payload_len = strlen(payload), .max_attempts = max_attempts};
    struct kwq_enqueued e;
    size_t accepted = 0;

    cr_assert_eq(kwq_enqueue(c, q, &t, 1, &e, &accepted), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(accepted, 1);
}

static struct kwq_stats read_stats(struct kwq_client *c, const char *q)
{
    struct kwq_stats st;

    cr_assert_eq(kwq_stats_read(c, q, &st), 0, "%s", kwq_client_errstr(c));
    return st;
}

/* Leases held by a "worker" that then vanishes: nothing acks, nothing renews. */
static void lease_and_vanish(struct kwq_client *c, const char *q, size_t n, uint64_t lease_ms)
{
    struct kwq_lease_result r = {0};

    cr_assert_geq(kwq_lease(c, q, n, lease_ms, 0, &r), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(r.n, n);
    kwq_lease_result_done(&r);
}

Test(broker, requeues_expired_leases_with_no_worker_running)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--reap-interval", "100ms", NULL};
    struct broker_proc b;
    time_t deadline = time(NULL) + POLL_SAFETY_S;
    struct kwq_stats st;

    for (int i = 0; i < 3; i++)
        enqueue(c, "jobs", "x", 0);
    lease_and_vanish(c, "jobs", 3, 300);
    broker_start(&b, "broker.log", args);
    do {
        cr_assert(time(NULL) < deadline, "expired leases not requeued by the broker");
        (void)usleep(50000);
        st = read_stats(c, "jobs");
    } while (st.pending != 3);
    cr_assert_eq(st.leased, 0);
    cr_assert_eq(st.expired, 3);
    cr_assert_eq(st.overdue_leases, 0);
    /* the broker did it, not an inline reap: its own count says so */
    cr_assert_eq(broker_metric(&b, "kwq_broker_reaped_total{outcome=\"requeued\"}"), 3.0);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}

Test(broker, promotes_due_delayed_tasks)
{
    struct kwq_client *c = test_client();
    struct kwq_new_task t = {.payload = "later", .payload_len = 5, .delay_ms = 300};
    const char *args[] = {"--reap-interval", "100ms", NULL};
    struct kwq_enqueued e;
    size_t accepted;
    struct broker_proc b;
    time_t deadline = time(NULL) + POLL_SAFETY_S;

    cr_assert_eq(kwq_enqueue(c, "later", &t, 1, &e, &accepted), 0);
    broker_start(&b, "broker.log", args);
    while (read_stats(c, "later").pending != 1) {
        cr_assert(time(NULL) < deadline, "due delayed task not promoted");
        (void)usleep(50000);
    }
    cr_assert_eq(read_stats(c, "later").delayed, 0);
    cr_assert_eq(broker_metric(&b, "kwq_broker_reaped_total{outcome=\"promoted\"}"), 1.0);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}

/* A queue with some of everything: 3 pending, 1 leased, a retry waiting, a dead letter, done. */
static void busy_queue(struct kwq_client *c, const char *q)
{
    struct kwq_lease_result r = {0};
    struct kwq_failure f[2];
    struct kwq_ack ack = {0};
    int status[1];

    /* the retry stays delayed for the whole test */
    cr_assert_eq(kwq_queue_set(c, q, "backoff_base_ms", 600000), 0, "%s", kwq_client_errstr(c));
    enqueue(c, q, "will-die", 1);
    enqueue(c, q, "will-retry", 3);
    enqueue(c, q, "done", 0);
    for (int i = 0; i < 4; i++)
        enqueue(c, q, "waiting", 0);
    cr_assert_geq(kwq_lease(c, q, 4, 600000, 0, &r), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(r.n, 4);
    f[0] = (struct kwq_failure){.id = r.tasks[0].id,
                                .token = r.tasks[0].token,
                                .error = "exit status 2; stderr: boom",
                                .code = 2};
    f[1] = (struct kwq_failure){
        .id = r.tasks[1].id, .token = r.tasks[1].token, .error = "exit status 1", .code = 1};
    cr_assert_eq(kwq_fail(c, q, f, 2, NULL), 0, "%s", kwq_client_errstr(c));
    ack.id = r.tasks[2].id;
    ack.token = r.tasks[2].token;
    cr_assert_eq(kwq_ack(c, q, &ack, 1, status), 0, "%s", kwq_client_errstr(c));
    kwq_lease_result_done(&r); /* the fourth stays leased */
}

static uint64_t json_u64(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    cr_assert(cJSON_IsNumber(v), "no number %s", k);
    return (uint64_t)v->valuedouble;
}

Test(broker, metrics_equal_kwq_status_json)
{
    struct kwq_client *c = test_client();
    static const struct {
        const char *json, *metric;
    } pairs[] = {
        {"pending", "kwq_queue_pending_tasks"}, {"leased", "kwq_queue_leased_tasks"},
        {"delayed", "kwq_queue_delayed_tasks"}, {"dead", "kwq_queue_dead_tasks"},
        {"done", "kwq_queue_done_total"},       {"enqueued", "kwq_queue_enqueued_total"},
        {"failed", "kwq_queue_failed_total"},   {"retries", "kwq_queue_retries_total"},
        {"expired", "kwq_queue_expired_total"}, {"released", "kwq_queue_released_total"},
        {"results", "kwq_queue_results"},       {"restarts", "kwq_queue_restarts_total"},
    };
    const char *status_args[] = {"status", "--queue", "mix", "--json", NULL};
    const char *args[] = {"--queues", "mix", NULL};
    struct cli_out r;
    struct broker_proc b;
    struct http_answer a;
    cJSON *js;
    char series[128];

    busy_queue(c, "mix");
    broker_start(&b, "broker.log", args);
    cli_exec(&r, NULL, 0, status_args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    js = cJSON_Parse(r.out);
    cr_assert(js);
    broker_http(&b, "GET", "/metrics", NULL, NULL, &a);
    cr_assert_eq(a.status, 200);
    cr_assert(strstr(a.headers, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        (void)snprintf(series, sizeof(series), "%s{queue=\"mix\"}", pairs[i].metric);
        cr_expect_eq(metric_value(a.body, series), (double)json_u64(js, pairs[i].json),
                     "%s: metric %g, status %llu", pairs[i].json, metric_value(a.body, series),
                     (unsigned long long)json_u64(js, pairs[i].json));
    }
    /* the numbers themselves, not only their agreement */
    cr_assert_eq(metric_value(a.body, "kwq_queue_pending_tasks{queue=\"mix\"}"), 3.0);
    cr_assert_eq(metric_value(a.body, "kwq_queue_leased_tasks{queue=\"mix\"}"), 1.0);
    cr_assert_eq(metric_value(a.body, "kwq_queue_delayed_tasks{queue=\"mix\"}"), 1.0);
    cr_assert_eq(metric_value(a.body, "kwq_queue_dead_tasks{queue=\"mix\"}"), 1.0);
    cr_assert_eq(metric_value(a.body, "kwq_queue_done_total{queue=\"mix\"}"), 1.0);
    cr_assert_eq(metric_value(a.body, "kwq_broker_redis_up{role=\"master\"}"), 1.0);
    cr_assert_eq(metric_value(a.body, "kwq_broker_scrape_errors"), 0.0);
    cr_assert(strstr(a.body, "kwq_broker_info{version=\"" KWQ_VERSION "\""));
    http_answer_free(&a);
    cJSON_Delete(js);
    cli_out_free(&r);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}

Test(broker, promtool_accepts_the_metrics)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--queues", "mix,other", NULL};
    const char *promtool[] = {"/usr/bin/promtool", "check", "metrics", NULL};
    struct broker_proc b;
    struct http_answer a;
    struct cli_out r;

    if (access(promtool[0], X_OK) != 0)
        cr_skip_test("promtool is not installed (Debian package prometheus): ./dev.sh deps");
    busy_queue(c, "mix");
    broker_start(&b, "broker.log", args);
    broker_http(&b, "GET", "/metrics", NULL, NULL, &a);
    cr_assert_eq(a.status, 200);
    cli_exec_prog(&r, a.body, a.len, promtool);
    cr_assert_eq(r.status, 0, "promtool: %s%s", r.out, r.err);
    cr_assert_str_empty(r.out, "promtool: %s", r.out);
    http_answer_free(&a);
    cli_out_free(&r);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}

Test(broker, readyz_and_healthz_follow_redis)
{
    const char *args[] = {"--redis", "unix:///nonexistent/kwq-test.sock", NULL};
    struct broker_proc b;
    struct http_answer a;

    broker_start_listening(&b, "broker.log", args);
    cr_assert_eq(broker_status(&b, "/healthz"), 200);
    broker_http(&b, "GET", "/readyz", NULL, NULL, &a);
    cr_assert_eq(a.status, 503);
    cr_assert(strncmp(a.body, "not ready: Redis (master): ", 27) == 0, "%s", a.body);
    http_answer_free(&a);
    cr_assert_eq(broker_metric(&b, "kwq_broker_redis_up{role=\"master\"}"), 0.0);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);

    broker_start(&b, "broker2.log", NULL); /* waits for /readyz 200 */
    broker_http(&b, "GET", "/readyz", NULL, NULL, &a);
    cr_assert_str_eq(a.body, "ready\n");
    http_answer_free(&a);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
}

Test(broker, token_guards_everything_but_the_probes)
{
    const char *token_file = test_path("token");
    FILE *f = fopen(token_file, "w");
    const char *args[] = {"--auth-token-file", token_file, NULL};
    const char *good[] = {"Authorization: Bearer s3cret-token", NULL};
    const char *bad[] = {"Authorization: Bearer s3cret-tokeN", NULL};
    struct broker_proc b;
    struct http_answer a;

    cr_assert(f);
    (void)fputs("s3cret-token\n", f);
    (void)fclose(f);
    broker_start(&b, "broker.log", args);
    broker_http(&b, "GET", "/metrics", NULL, NULL, &a);
    cr_assert_eq(a.status, 401);
    cr_assert(strstr(a.headers, "WWW-Authenticate: Bearer realm=\"kwq-broker\""));
    http_answer_free(&a);
    broker_http(&b, "GET", "/metrics", bad, NULL, &a);
    cr_assert_eq(a.status, 401);
    http_answer_free(&a);
    broker_http(&b, "GET", "/api/overview", good, NULL, &a);
    cr_assert_eq(a.status, 200);
    http_answer_free(&a);
    cr_assert_eq(broker_status(&b, "/healthz"), 200);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    /* the token is in no log line */
    char *log = cli_read_file(b.log);
    cr_assert_null(strstr(log, "s3cret"));
    free(log);
}

Test(broker, wrong_method_and_unknown_path)
{
    struct broker_proc b;
    struct http_answer a;

    broker_start(&b, "broker.log", NULL);
    broker_http(&b, "POST", "/metrics", NULL, "x", &a);
    cr_assert_eq(a.status, 405);
    cr_assert(strstr(a.headers, "Allow: GET, HEAD"));
    http_answer_free(&a);
    cr_assert_eq(broker_status(&b, "/nope"), 404);
    broker_http(&b, "DELETE", "/api/overview", NULL, NULL, &a);
    cr_assert_eq(a.status, 405);
    http_answer_free(&a);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
}

/* ---- The dashboard's API ------------------------------------------------------ */

static char *overview_csrf(const struct broker_proc *b)
{
    struct http_answer a;
    cJSON *o, *br, *csrf;
    char *ret;

    broker_http(b, "GET", "/api/overview", NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    o = cJSON_Parse(a.body);
    br = cJSON_GetObjectItemCaseSensitive(o, "broker");
    csrf = cJSON_GetObjectItemCaseSensitive(br, "csrf");
    ret = cJSON_IsString(csrf) ? strdup(csrf->valuestring) : NULL;
    cJSON_Delete(o);
    http_answer_free(&a);
    return ret;
}

Test(broker, dashboard_api_lists_and_requeues_dead_letters)
{
    struct kwq_client *c = test_client();
    const char *ro_args[] = {"--queues", "mix", NULL};
    const char *rw_args[] = {"--queues", "mix", "--dashboard-write", NULL};
    const char *json_ct = "Content-Type: application/json";
    struct broker_proc b;
    struct http_answer a;
    cJSON *o, *dead, *first;
    char *csrf, hdr[128];
    char id[32];

    busy_queue(c, "mix");
    broker_start(&b, "broker.log", ro_args);
    broker_http(&b, "GET", "/api/queues/mix/dead", NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    o = cJSON_Parse(a.body);
    dead = cJSON_GetObjectItemCaseSensitive(o, "dead");
    cr_assert_eq(cJSON_GetArraySize(dead), 1);
    first = cJSON_GetArrayItem(dead, 0);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(first, "last_error")->valuestring,
                     "exit status 2; stderr: boom");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(first, "last_code")->valueint, 2);
    (void)snprintf(id, sizeof(id), "%s",
                   cJSON_GetObjectItemCaseSensitive(first, "id")->valuestring);
    cJSON_Delete(o);
    http_answer_free(&a);

    /* read-only by default */
    const char *h1[] = {json_ct, "X-CSRF-Token: whatever", NULL};
    broker_http(&b, "POST", "/api/queues/mix/dead/requeue", h1, "{\"all\":true}", &a);
    cr_assert_eq(a.status, 403);
    cr_assert_str_eq(a.body, "{\"error\":\"the dashboard is read-only: start kwq-broker with "
                             "--dashboard-write\"}");
    http_answer_free(&a);
    cr_assert_null(overview_csrf(&b));
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);

    broker_start(&b, "broker2.log", rw_args);
    csrf = overview_csrf(&b);
    cr_assert(csrf && strlen(csrf) == 32);
    /* no token, then a wrong one: refused, nothing moves */
    const char *h2[] = {json_ct, NULL};
    broker_http(&b, "POST", "/api/queues/mix/dead/requeue", h2, "{\"all\":true}", &a);
    cr_assert_eq(a.status, 403);
    http_answer_free(&a);
    const char *h3[] = {json_ct, "X-CSRF-Token: 00000000000000000000000000000000", NULL};
    broker_http(&b, "POST", "/api/queues/mix/dead/requeue", h3, "{\"all\":true}", &a);
    cr_assert_eq(a.status, 403);
    http_answer_free(&a);
    cr_assert_eq(read_stats(c, "mix").dead, 1);
    /* the right token */
    (void)snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    const char *h4[] = {json_ct, hdr, NULL};
    char body[80];
    (void)snprintf(body, sizeof(body), "{\"ids\":[\"%s\"]}", id);
    broker_http(&b, "POST", "/api/queues/mix/dead/requeue", h4, body, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    cr_assert_str_eq(a.body, "{\"requeued\":1}");
    http_answer_free(&a);
    cr_assert_eq(read_stats(c, "mix").dead, 0);
    cr_assert_eq(read_stats(c, "mix").pending, 4);
    /* the task's page */
    char path[80];
    (void)snprintf(path, sizeof(path), "/api/queues/mix/tasks/%s", id);
    broker_http(&b, "GET", path, NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    o = cJSON_Parse(a.body);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "state")->valuestring, "pending");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "payload")->valuestring, "will-die");
    cJSON_Delete(o);
    http_answer_free(&a);
    cr_assert_eq(broker_status(&b, "/api/queues/mix/tasks/999999"), 404);
    cr_assert_eq(broker_status(&b, "/api/queues/nosuch/dead"), 404);
    free(csrf);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}

/* ---- Bad configuration: one line, exit 78 (71 for a port in use) ----------- */

static void expect_config_error(const char *const *args, int code, const char *line)
{
    const char *argv[16] = {KWQ_TEST_BROKER_BIN};
    struct cli_out r;
    size_t n = 1;

    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    cli_exec_prog(&r, NULL, 0, argv);
    cr_assert_eq(r.status, code, "exit %d: %s", r.status, r.err);
    cr_assert_str_eq(r.err, line);
    cli_out_free(&r);
}

Test(broker, bad_configuration_is_one_line)
{
    const char *a1[] = {"--leader", "zookeeper", NULL};
    const char *a2[] = {"--queues", "a,,b", NULL};
    const char *a3[] = {"--redis", "redis://:pw@127.0.0.1:6379/0", NULL};
    const char *a4[] = {"stray", NULL};
    const char *a5[] = {"--reap-batch", "0", NULL};

    expect_config_error(a1, KWQ_EXIT_CONFIG,
                        "kwq-broker: --leader 'zookeeper' is not a mode: use redis, kubernetes, "
                        "off or auto; see 'kwq-broker --help'\n");
    expect_config_error(a2, KWQ_EXIT_CONFIG,
                        "kwq-broker: --queues: the queue name is empty: use 1 to 200 of A-Z a-z "
                        "0-9 . _ : -; see 'kwq-broker --help'\n");
    expect_config_error(a3, KWQ_EXIT_CONFIG,
                        "kwq-broker: --redis must not contain a password (the command line is "
                        "visible to every process); set KWQ_REDIS_PASSWORD or use "
                        "--redis-password-file; see 'kwq-broker --help'\n");
    expect_config_error(a4, KWQ_EXIT_CONFIG,
                        "kwq-broker: unexpected argument 'stray': kwq-broker takes only options; "
                        "see 'kwq-broker --help'\n");
    expect_config_error(a5, KWQ_EXIT_CONFIG,
                        "kwq-broker: --reap-batch must be a whole number from 1 to 1000, got '0'; "
                        "see 'kwq-broker --help'\n");
}

Test(broker, port_in_use_exits_71)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    char addr[64];
    struct cli_out r;

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    (void)snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    const char *argv[] = {KWQ_TEST_BROKER_BIN, "--listen", addr, NULL};
    cli_exec_prog(&r, NULL, 0, argv);
    cr_assert_eq(r.status, KWQ_EXIT_OSERR, "exit %d: %s", r.status, r.err);
    cr_assert(strncmp(r.err, "kwq-broker: --listen 127.0.0.1:", 31) == 0, "%s", r.err);
    cr_assert(strchr(r.err, '\n') == r.err + r.err_len - 1, "not one line: %s", r.err);
    cli_out_free(&r);
    close(fd);
}

Test(broker, sigterm_exits_0)
{
    struct broker_proc b;

    broker_start(&b, "broker.log", NULL);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    broker_start(&b, "broker2.log", NULL);
    cr_assert_eq(broker_stop(&b, SIGINT), 0);
}

Test(broker, basic_auth_guards_the_dashboard)
{
    const char *file = test_path("basic");
    FILE *f = fopen(file, "w");
    const char *args[] = {"--basic-auth-file", file, NULL};
    const char *good[] = {"Authorization: Basic b3BzOnBhNTU=", NULL}; /* ops:pa55 */
    const char *bad[] = {"Authorization: Basic b3BzOnBhNTY=", NULL};  /* ops:pa56 */
    struct broker_proc b;
    struct http_answer a;

    cr_assert(f);
    (void)fputs("ops:pa55\n", f);
    (void)fclose(f);
    broker_start(&b, "broker.log", args);
    broker_http(&b, "GET", "/", bad, NULL, &a);
    cr_assert_eq(a.status, 401);
    cr_assert(strstr(a.headers, "WWW-Authenticate: Basic realm=\"kwq-broker\""));
    http_answer_free(&a);
    broker_http(&b, "GET", "/", good, NULL, &a);
    cr_assert_eq(a.status, 200);
    cr_assert(strstr(a.headers, "Content-Security-Policy: default-src 'self'"));
    http_answer_free(&a);
    cr_assert_eq(broker_status(&b, "/readyz") == 401, 0);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
}
