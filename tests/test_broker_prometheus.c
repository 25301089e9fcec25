/*
 * test_broker_prometheus.c - a real Prometheus server (Debian package
 * prometheus) started on loopback scrapes a live kwq-broker, and a PromQL
 * query answers a queue's pending count.
 */
#include <arpa/inet.h>
#include <fcntl.h>
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

#include "broker_proc.h"
#include "test_cli_exec.h"

#define PROMETHEUS "/usr/bin/prometheus"

TestSuite(prometheus, .init = cli_setup, .fini = cli_teardown, .timeout = 180);

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* The value of the first result of an instant query, or NULL (malloc'd). */
static char *query(const struct broker_proc *prom, const char *q)
{
    struct http_answer a;
    char path[512];
    cJSON *o, *res, *first, *val;
    char *ret = NULL;

    (void)snprintf(path, sizeof(path), "/api/v1/query?query=%s", q);
    broker_http(prom, "GET", path, NULL, NULL, &a);
    if (a.status == 200 && (o = cJSON_Parse(a.body)) != NULL) {
        res =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "data"), "result");
        first = cJSON_GetArrayItem(res, 0);
        val = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(first, "value"), 1);
        if (cJSON_IsString(val))
            ret = strdup(val->valuestring);
        cJSON_Delete(o);
    }
    http_answer_free(&a);
    return ret;
}

Test(prometheus, scrapes_the_broker_and_answers_promql)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--queues", "images", NULL};
    struct broker_proc b, prom = {0};
    char cfg_path[300], data_dir[300], listen[64], flag_cfg[400], flag_data[400], flag_listen[100];
    time_t deadline;
    char *v = NULL;
    FILE *f;

    if (access(PROMETHEUS, X_OK) != 0)
        cr_skip_test("prometheus is not installed (Debian package prometheus): ./dev.sh deps");
    for (int i = 0; i < 5; i++) {
        struct kwq_new_task t = {.payload = "x", .payload_len = 1};
        struct kwq_enqueued e;
        size_t n;

        cr_assert_eq(kwq_enqueue(c, "images", &t, 1, &e, &n), 0);
    }
    broker_start(&b, "broker.log", args);
    (void)snprintf(cfg_path, sizeof(cfg_path), "%s", test_path("prometheus.yml"));
    (void)snprintf(data_dir, sizeof(data_dir), "%s", test_path("prometheus-data"));
    f = fopen(cfg_path, "w");
    cr_assert(f);
    (void)fprintf(f,
                  "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                  "scrape_configs:\n  - job_name: kwq-broker\n    static_configs:\n"
                  "      - targets: ['%s']\n",
                  b.addr);
    (void)fclose(f);
    (void)snprintf(listen, sizeof(listen), "127.0.0.1:%d", free_port());
    (void)snprintf(flag_cfg, sizeof(flag_cfg), "--config.file=%s", cfg_path);
    (void)snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s", data_dir);
    (void)snprintf(flag_listen, sizeof(flag_listen), "--web.listen-address=%s", listen);
    const char *argv[] = {PROMETHEUS, flag_cfg, flag_data, flag_listen, NULL};
    int fds[3] = {open("/dev/null", O_RDONLY), -1, -1};

    fds[1] = fds[2] = open(test_path("prometheus.log"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fds[0] >= 0 && fds[1] >= 0);
    prom.pid = test_proc_start(argv, fds);
    close(fds[0]);
    close(fds[1]);
    (void)snprintf(prom.base, sizeof(prom.base), "http://%s", listen);
    (void)snprintf(prom.log, sizeof(prom.log), "%s", test_path("prometheus.log"));

    deadline = time(NULL) + 120;
    for (;;) {
        int code;

        cr_assert(!test_proc_exited(prom.pid, &code), "prometheus exited %d: %s", code,
                  cli_read_file(prom.log));
        if (broker_try_status(&prom, "/-/ready") == 200 &&
            (v = query(&prom, "kwq_queue_pending_tasks%7Bqueue%3D%22images%22%7D")) != NULL)
            break;
        cr_assert(time(NULL) < deadline, "Prometheus never had the broker's metric");
        (void)usleep(250000);
    }
    cr_assert_str_eq(v, "5");
    free(v);
    v = query(&prom, "up%7Bjob%3D%22kwq-broker%22%7D");
    cr_assert_str_eq(v, "1");
    free(v);
    (void)broker_stop(&prom, SIGTERM);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}
