/*
 * test_worker_config.c - configuration errors: a missing or non-executable
 * handler exits 78 with a clear message before anything is leased (no
 * attempt charged); bad options exit 78 too; --help exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_config, .init = redis_setup, .fini = redis_teardown, .timeout = 60);

/* The queue holds one task that nobody has touched. */
static void assert_untouched(struct kwq_client *c, const char *id)
{
    struct kwq_task_info info;
    struct kwq_stats st = stats_of(c);

    cr_assert_eq(st.pending, 1);
    cr_assert_eq(st.leased, 0);
    memset(&info, 0, sizeof(info));
    cr_assert(kwq_task_get(c, TEST_QUEUE, id, &info) == 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(info.state, KWQ_STATE_PENDING);
    cr_assert_eq(info.task.attempt, 0, "no attempt may be charged");
    kwq_task_info_done(&info);
}

static void expect_config_error(const char *const *args, const char *text)
{
    pid_t w = worker_start("w.log", args);

    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_CONFIG);
    cr_assert(file_contains(test_path("w.log"), text), "'%s' not in %s", text, test_path("w.log"));
}

Test(worker_config, missing_handler_exits_78_without_charging_an_attempt)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *args[] = {"--", test_path("no-such-handler"), NULL};

    enqueue_n(c, 1, "t", &id);
    expect_config_error(args, "does not exist");
    assert_untouched(c, id.id);
    kwq_client_free(c);
}

Test(worker_config, handler_not_in_path_exits_78)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *args[] = {"--", "kwq-no-such-handler-anywhere", NULL};

    enqueue_n(c, 1, "t", &id);
    expect_config_error(args, "not found in PATH");
    assert_untouched(c, id.id);
    kwq_client_free(c);
}

Test(worker_config, non_executable_handler_exits_78_without_charging_an_attempt)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *path = test_path("not-executable");
    const char *args[] = {"--", path, NULL};

    write_file(path, "#!/bin/sh\nexit 0\n");
    cr_assert(chmod(path, 0644) == 0);
    enqueue_n(c, 1, "t", &id);
    expect_config_error(args, "is not executable");
    assert_untouched(c, id.id);
    kwq_client_free(c);
}

Test(worker_config, bad_options_exit_78_with_the_reason)
{
    const char *lease[] = {"--lease", "0s", "--", "/bin/true", NULL};
    const char *unknown[] = {"--no-such-option", "--", "/bin/true", NULL};
    const char *secret[] = {"--redis-password", "hunter2", "--", "/bin/true", NULL};
    const char *nohandler[] = {NULL};

    expect_config_error(lease, "--lease must be a duration between 1s and 1h");
    expect_config_error(unknown, "unknown option '--no-such-option'");
    expect_config_error(secret, "--redis-password is not accepted");
    cr_assert(!file_contains(test_path("w.log"), "hunter2"), "a secret reached the log");
    expect_config_error(nohandler, "no handler given");
}

Test(worker_config, help_exits_0)
{
    const char *args[] = {"--help", NULL};
    pid_t w = worker_start("help.log", args);

    cr_assert_eq(worker_wait(w, "help.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("help.log"), "KWQ_CONCURRENCY"));
    cr_assert(file_contains(test_path("help.log"), "--ready-file"));
}

Test(worker_config, ready_file_in_a_missing_directory_exits_78_before_leasing)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    char path[4096];
    const char *args[] = {"--ready-file", path, "--", "/bin/true", NULL};

    (void)snprintf(path, sizeof(path), "%s", test_path("no-such-dir/busy"));
    enqueue_n(c, 1, "t", &id);
    expect_config_error(args, "/no-such-dir does not exist: create it or choose another path");
    assert_untouched(c, id.id);
    kwq_client_free(c);
}

Test(worker_config, result_ttl_and_no_result_are_settings)
{
    const char *flags[] = {"--result-ttl", "2h",        "--no-result", "--print-config",
                           "--",           "/bin/true", NULL};
    const char *defaults[] = {"--print-config", "--", "/bin/true", NULL};
    const char *bad[] = {"--result-ttl", "soon", "--", "/bin/true", NULL};
    pid_t w;

    w = worker_start("flags.log", flags);
    cr_assert_eq(worker_wait(w, "flags.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("flags.log"), "result-ttl             2h  (flag)"));
    cr_assert(file_contains(test_path("flags.log"), "no-result              true  (flag)"));
    cr_assert(setenv("KWQ_RESULT_TTL", "3d", 1) == 0);
    cr_assert(setenv("KWQ_NO_RESULT", "false", 1) == 0);
    w = worker_start("env.log", defaults);
    cr_assert_eq(worker_wait(w, "env.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("env.log"), "result-ttl             3d  (env)"));
    cr_assert(file_contains(test_path("env.log"), "no-result              false  (env)"));
    expect_config_error(bad, "--result-ttl must be a duration");
}

Test(worker_config, unknown_kwq_variable_is_a_warning_naming_the_closest)
{
    struct kwq_client *c = test_client();
    const char *args[] = {"--", "/bin/true", NULL};
    pid_t w;

    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    cr_assert(setenv("KWQ_CONCURENCY", "4", 1) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    cr_assert(file_contains(test_path("w.log"), "\"msg\":\"unknown KWQ_ variable: ignored\","
                                                "\"name\":\"KWQ_CONCURENCY\","
                                                "\"did_you_mean\":\"KWQ_CONCURRENCY\""));
    kwq_client_free(c);
}
