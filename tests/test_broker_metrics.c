/*
 * test_broker_metrics.c - the Prometheus text of kwq-broker from fixed
 * values (broker/metrics_text.c): exact sample lines, one HELP/TYPE per
 * family, a queue that could not be read left out and counted, and the
 * page accepted by the real promtool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "metrics_text.h"
#include "test_cli_exec.h"

static const struct metrics_broker broker = {
    .version = "9.8.7",
    .identity = "host-\"1\"",
    .leader_backend = "redis",
    .leading = true,
    .term = 3000000002ULL,
    .master_up = true,
    .queues = 2,
    .rounds = 41,
    .last_round_s = 0.0125,
    .since_round_s = 0.25,
    .requeued = 7,
    .dead_lettered = 1,
    .promoted = 2,
    .http_connections = 1,
    .uptime_s = 12.5,
};

static char *render(size_t nq, bool second_ok)
{
    static struct kwq_stats a, b;
    struct metrics_queue q[2] = {{"images", &a}, {"q:2", second_ok ? &b : NULL}};
    size_t len = 0;
    char *text;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.pending = 12;
    a.leased = 3;
    a.dead = 1;
    a.done = 9007199254740991ULL; /* 2^53 - 1: still a plain integer */
    a.oldest_pending_ms = 1500;
    a.reap_lag_ms = 250;
    a.sealed = true;
    b.oldest_pending_ms = -1;
    text = metrics_render(&broker, q, nq, &len);
    cr_assert(text);
    cr_assert_eq(strlen(text), len);
    return text;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(metrics_text, exact_samples)
{
    char *t = render(2, true);

    cr_assert(strstr(t, "\nkwq_queue_pending_tasks{queue=\"images\"} 12\n"));
    cr_assert(strstr(t, "\nkwq_queue_pending_tasks{queue=\"q:2\"} 0\n"));
    cr_assert(strstr(t, "\nkwq_queue_done_total{queue=\"images\"} 9007199254740991\n"));
    cr_assert(strstr(t, "\nkwq_queue_oldest_pending_seconds{queue=\"images\"} 1.5\n"));
    cr_assert(strstr(t, "\nkwq_queue_oldest_pending_seconds{queue=\"q:2\"} 0\n"));
    cr_assert(strstr(t, "\nkwq_queue_reap_lag_seconds{queue=\"images\"} 0.25\n"));
    cr_assert(strstr(t, "\nkwq_queue_sealed{queue=\"images\"} 1\n"));
    cr_assert(strstr(t, "\nkwq_broker_info{version=\"9.8.7\",identity=\"host-\\\"1\\\"\","
                        "leader_backend=\"redis\"} 1\n"));
    cr_assert(strstr(t, "\nkwq_broker_leader 1\n"));
    cr_assert(strstr(t, "\nkwq_broker_leader_term 3000000002\n"));
    cr_assert(strstr(t, "\nkwq_broker_redis_up{role=\"master\"} 1\n"));
    cr_assert_null(strstr(t, "role=\"replica\""));
    cr_assert(strstr(t, "\nkwq_broker_reaped_total{outcome=\"requeued\"} 7\n"));
    cr_assert(strstr(t, "\nkwq_broker_scrape_errors 0\n"));
    cr_assert(strstr(t, "\nkwq_broker_housekeeping_round_seconds 0.0125\n"));
    /* one HELP and one TYPE per family, before its samples */
    cr_assert_eq(count(t, "# TYPE kwq_queue_pending_tasks gauge\n"), 1);
    cr_assert_eq(count(t, "# HELP kwq_queue_pending_tasks "), 1);
    cr_assert(strstr(t, "# TYPE kwq_queue_pending_tasks gauge\n") <
              strstr(t, "kwq_queue_pending_tasks{"));
    cr_assert_eq(count(t, "# TYPE "), count(t, "# HELP "));
    cr_assert_eq(t[strlen(t) - 1], '\n');
    free(t);
}

Test(metrics_text, unread_queue_is_left_out_and_counted)
{
    char *t = render(2, false);

    cr_assert_eq(count(t, "queue=\"q:2\""), 0);
    cr_assert_eq(count(t, "queue=\"images\""), 21);
    cr_assert(strstr(t, "\nkwq_broker_scrape_errors 1\n"));
    free(t);
}

Test(metrics_text, promtool_accepts_it)
{
    const char *promtool[] = {"/usr/bin/promtool", "check", "metrics", NULL};
    struct cli_out r;
    char *t;

    if (access(promtool[0], X_OK) != 0)
        cr_skip_test("promtool is not installed (Debian package prometheus): ./dev.sh deps");
    t = render(2, true);
    cli_exec_prog(&r, t, strlen(t), promtool);
    cr_assert_eq(r.status, 0, "promtool: %s%s", r.out, r.err);
    cr_assert_str_empty(r.out, "%s", r.out);
    cli_out_free(&r);
    free(t);
}
