/*
 * test_broker_dashboard.c - the dashboard in a real browser (headless
 * Chromium, tests/helpers/browser.py) against a live kwq-broker on a
 * private Redis with a dead letter: the queue list's counts, the dead
 * letter's reason and stderr tail, and a click on requeue that moves it back
 * to pending (checked in Redis afterwards). The screenshot is kept in
 * <build>/tests/artifacts/dashboard.png.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/client.h"

#include "broker_proc.h"
#include "browser_run.h"
#include "test_cli_exec.h"

TestSuite(dashboard, .init = cli_setup, .fini = cli_teardown, .timeout = 300);

static void enqueue(struct kwq_client *c, const char *payload, uint32_t max_attempts)
{
    struct kwq_new_task t = {
        .payload = payload, .payload_len = strlen(payload), .max_attempts = max_attempts};
    struct kwq_enqueued e;
    size_t n = 0;

    cr_assert_eq(kwq_enqueue(c, "photos", &t, 1, &e, &n), 0, "%s", kwq_client_errstr(c));
}

Test(dashboard, shows_a_dead_letter_and_requeues_it)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--dashboard-write", "--sample-interval", "200ms", NULL};
    struct kwq_lease_result r = {0};
    struct kwq_failure f;
    struct kwq_stats st;
    struct broker_proc b;
    char steps[4096], shot[600], line[600], url[200], id[32];
    int rc;

    enqueue(c, "resize me", 1);
    for (int i = 0; i < 3; i++)
        enqueue(c, "later", 0);
    cr_assert_geq(kwq_lease(c, "photos", 1, 600000, 0, &r), 0);
    cr_assert_eq(r.n, 1);
    (void)snprintf(id, sizeof(id), "%s", r.tasks[0].id);
    f = (struct kwq_failure){.id = id,
                             .token = r.tasks[0].token,
                             .error = "exit status 2; stderr: convert: no such file",
                             .code = 2};
    cr_assert_eq(kwq_fail(c, "photos", &f, 1, NULL), 0, "%s", kwq_client_errstr(c));
    kwq_lease_result_done(&r);

    broker_start(&b, "broker.log", args);
    (void)snprintf(url, sizeof(url), "%s/", b.base);
    (void)snprintf(
        steps, sizeof(steps),
        "["
        "{\"wait\": \"body[data-ready=\\\"true\\\"]\"},"
        "{\"expect-text\": \"tr[data-queue=\\\"photos\\\"] [data-field=\\\"pending\\\"]\", "
        "\"equals\": \"3\"},"
        "{\"expect-text\": \"tr[data-queue=\\\"photos\\\"] [data-field=\\\"dead\\\"]\", "
        "\"equals\": \"1\"},"
        "{\"click\": \"tr[data-queue=\\\"photos\\\"] th a\"},"
        "{\"expect-text\": \"tr[data-dead-id=\\\"%s\\\"] [data-field=\\\"reason\\\"]\", "
        "\"equals\": \"exit status 2\"},"
        "{\"expect-text\": \"tr[data-dead-id=\\\"%s\\\"] [data-field=\\\"stderr\\\"]\", "
        "\"equals\": \"convert: no such file\"},"
        "{\"expect-text\": \"tr[data-dead-id=\\\"%s\\\"] [data-field=\\\"last_code\\\"]\", "
        "\"equals\": \"2\"},"
        "{\"screenshot\": \"%s/dashboard-dead-letter.png\"},"
        "{\"click\": \"button[data-action=\\\"requeue\\\"][data-dead-id=\\\"%s\\\"]\"},"
        "{\"wait-gone\": \"tr[data-dead-id=\\\"%s\\\"]\"},"
        "{\"expect-text\": \"#status\", \"equals\": \"Requeued 1 dead letter of photos.\"},"
        "{\"console-clean\": true}"
        "]",
        id, id, id, browser_artifacts_dir(), id, id);
    (void)snprintf(shot, sizeof(shot), "%s/dashboard.png", browser_artifacts_dir());
    rc = browser_run(url, steps, shot, line, sizeof(line));
    if (rc == BROWSER_ABSENT)
        cr_skip_test("%s", line);
    cr_assert_eq(rc, BROWSER_OK, "browser: %s (see %s and %s)", line, shot, b.log);
    /* the click did it in Redis, not only on the page */
    cr_assert_eq(kwq_stats_read(c, "photos", &st), 0);
    cr_assert_eq(st.dead, 0);
    cr_assert_eq(st.pending, 4);
    cr_assert_eq(broker_stop(&b, SIGTERM), 0);
    kwq_client_free(c);
}
