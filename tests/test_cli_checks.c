/*
 * test_cli_checks.c - the kwq binary against input it must refuse or warn
 * about, found by issue 8: unknown KWQ_* variables (a typo) get a warning
 * naming the closest known one, and no variable the programs document is
 * taken for one.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"
#include "kwq/opts.h"

#include "redis_fixture.h"
#include "test_cli_exec.h"

TestSuite(cli_checks, .init = cli_setup, .fini = cli_teardown, .timeout = 120);

/* ---- Unknown KWQ_* variables ------------------------------------------------------------- */

Test(cli_checks, unknown_variable_is_a_warning_naming_the_closest)
{
    struct cli_out r;

    cr_assert_eq(setenv("KWQ_CONCURENCY", "4", 1), 0);
    cr_assert_eq(setenv("KWQ_XYZZY_PLUGH", "1", 1), 0);
    kwq(&r, NULL, "enqueue", "a");
    expect(&r, 0, "queue 'default': 1 added, 0 duplicates\n", NULL);
    cr_assert_not_null(strstr(r.err, "kwq: warning: KWQ_CONCURENCY is not a kwq variable (did "
                                     "you mean KWQ_CONCURRENCY?); ignored\n"),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: warning: KWQ_XYZZY_PLUGH is not a kwq variable; "
                                     "ignored\n"),
                       "%s", r.err);
    cr_assert_eq(cli_count_line(r.err, ""), 0);
    cli_out_free(&r);
}

/* Every KWQ_ name in s (help text) must be one a kwq program reads. */
static void assert_all_known(const char *s, const char *what)
{
    size_t seen = 0;

    for (const char *p = strstr(s, "KWQ_"); p; p = strstr(p + 1, "KWQ_")) {
        char name[80];
        size_t n = 0;

        while ((isupper((unsigned char)p[n]) || p[n] == '_') && n < sizeof(name) - 1) {
            name[n] = p[n];
            n++;
        }
        name[n] = '\0';
        cr_assert(kwq_opt_env_known(NULL, 0, name), "%s names %s, which kwq would warn about", what,
                  name);
        seen++;
    }
    cr_assert(seen > 0, "%s names no KWQ_ variable", what);
}

Test(cli_checks, every_documented_variable_is_known_to_both_programs)
{
    static const char *const cmds[] = {"enqueue", "seal",  "unseal", "status",
                                       "wait",    "dlq",   "task",   "results",
                                       "cancel",  "purge", "run",    "local-redis"};
    struct cli_out r;

    cli_exec_prog(&r, NULL, 0, (const char *const[]){KWQ_TEST_WORKER_BIN, "--help", NULL});
    expect(&r, 0, NULL, "");
    assert_all_known(r.out, "kwq-worker --help");
    cli_out_free(&r);
    kwq(&r, NULL, "--help");
    assert_all_known(r.out, "kwq --help");
    cli_out_free(&r);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        kwq(&r, NULL, cmds[i], "--help");
        expect(&r, 0, NULL, "");
        assert_all_known(r.out, cmds[i]);
        cli_out_free(&r);
    }
    cr_assert(!kwq_opt_env_known(NULL, 0, "KWQ_CONCURENCY"));
}

/* ---- Input -------------------------------------------------------------------------------- */

/* cJSON would end the string at the NUL: "a" stored, "1 added" said. */
Test(cli_checks, json_nul_escape_is_refused_and_adds_nothing)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    struct kwq_task_info info;

    kwq(&r, NULL, "enqueue", "--json", "{\"payload\":\"a\\u0000b\"}");
    expect(&r, KWQ_EXIT_DATAERR, "",
           "kwq: argument 1 holds \\u0000 (a NUL character), which JSON input cannot carry (give "
           "items with NUL bytes as lines, without --json)\n");
    cli_out_free(&r);
    kwq(&r, "{\"payload\":\"ok\"}\n{\"payload\":{\"k\":\"x\\\\\\u0000\"}}\n", "enqueue", "--json");
    expect(&r, KWQ_EXIT_DATAERR, "",
           "kwq: line 2 of stdin holds \\u0000 (a NUL character), which JSON input cannot carry "
           "(give items with NUL bytes as lines, without --json)\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").enqueued, 0);
    /* An escaped backslash before u0000 is text, not the escape. */
    kwq(&r, NULL, "enqueue", "--json", "{\"payload\":\"a\\\\u0000b\"}");
    expect(&r, 0, "queue 'default': 1 added, 0 duplicates\n", "");
    cli_out_free(&r);
    memset(&info, 0, sizeof(info));
    cr_assert_eq(kwq_task_get(c, "default", "1", &info), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(info.task.payload_len, 8);
    cr_assert(memcmp(info.task.payload, "a\\u0000b", 8) == 0);
    kwq_task_info_done(&info);
    kwq_client_free(c);
}

/* ---- kwq results --after, kwq wait on a queue never used ------------------------------------ */

Test(cli_checks, results_after_garbage_is_a_usage_error)
{
    static const char *const bad[] = {"garbage", "1-", "-1",  "12-3-4",
                                      "1 2",     "",   "1-x", "123456789012345678901-0"};
    struct cli_out r;
    char want[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kwq(&r, NULL, "results", "--after", bad[i]);
        (void)snprintf(want, sizeof(want),
                       "kwq: --after '%s' is not a results cursor: give the \"cursor\" of a result "
                       "in --json output, such as 1733312345678-0, or 0 for the oldest kept; see "
                       "'kwq results --help'\n",
                       bad[i]);
        expect(&r, KWQ_EXIT_USAGE, "", want);
        cli_out_free(&r);
    }
    kwq(&r, NULL, "results", "--after", "1733312345678-0");
    expect(&r, 0, "", "");
    cli_out_free(&r);
    kwq(&r, NULL, "results", "--after", "1733312345678");
    expect(&r, 0, "", "");
    cli_out_free(&r);
}

Test(cli_checks, wait_on_a_queue_never_used_says_so_and_waits)
{
    static const char note[] = "kwq: queue 'nevr' has never been used (nothing enqueued, not "
                               "sealed): waiting for it; check the queue name (--queue, "
                               "KWQ_QUEUE)\n";
    struct cli_out r;

    kwq(&r, NULL, "--queue", "nevr", "wait", "--timeout", "300ms", "--interval", "1h");
    cr_assert_eq(r.status, KWQ_EXIT_TIMEOUT, "%s", r.err);
    cr_assert_not_null(strstr(r.err, note), "%s", r.err);
    cr_assert_null(strstr(r.err, "is not sealed"), "%s", r.err);
    cli_out_free(&r);
    /* Used but unsealed: the usual note, not this one. */
    kwq(&r, NULL, "--queue", "used", "enqueue", "x");
    cli_out_free(&r);
    kwq(&r, NULL, "--queue", "used", "wait", "--timeout", "300ms", "--interval", "1h");
    cr_assert_eq(r.status, KWQ_EXIT_TIMEOUT, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: queue 'used' is not sealed: it drains only once "
                                     "sealed ('kwq seal')\n"),
                       "%s", r.err);
    cr_assert_null(strstr(r.err, "never been used"), "%s", r.err);
    cli_out_free(&r);
}

/* ---- kwq run --local on its private Redis ------------------------------------------------------ */

/* Fails on items ending in 7, with two lines of stderr; prints the others. */
#define FAILS_ON_7                                                                                 \
    "read -r x || true; case \"$x\" in *7) echo \"first of $x\" >&2; echo \"no luck with $x\" "    \
    ">&2; exit 2;; esac; printf '%s\\n' \"$x\""

Test(cli_checks, private_redis_run_prints_the_dead_letters_reasons)
{
    struct cli_out r;
    char in[256] = "", want[256];
    size_t shown = 0;

    for (int i = 1; i <= 40; i++)
        (void)snprintf(in + strlen(in), sizeof(in) - strlen(in), "%d\n", i);
    (void)unsetenv("KWQ_REDIS_URL");
    cli_exec(&r, in, strlen(in),
             (const char *const[]){"run", "--local", "-P", "1", "--max-attempts", "2", "--input",
                                   "-", "--", "/bin/sh", "-c", FAILS_ON_7, NULL});
    cr_assert_eq(r.status, KWQ_EXIT_DEAD, "exit %d: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "kwq: dead-lettered (the private Redis goes with this "
                                     "run):\n"),
                       "%s", r.err);
    /* 7, 17, 27, 37: four, all shown, each with its code and the end of its stderr. */
    for (int i = 7; i <= 37; i += 10) {
        (void)snprintf(want, sizeof(want),
                       "attempts, handler exited with code 2\nkwq:     first of %d\nkwq:     no "
                       "luck with %d\n",
                       i, i);
        cr_assert_not_null(strstr(r.err, want), "%s", r.err);
        shown++;
    }
    cr_assert_eq(shown, 4);
    cr_assert_not_null(strstr(r.err, "kwq:   task "), "%s", r.err);
    cr_assert_null(strstr(r.err, "more\n"), "%s", r.err);
    cr_assert_null(strstr(r.err, "kwq dlq list"), "the private Redis is gone: %s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: 4 tasks were dead-lettered (reasons above); fix the "
                                     "handler and run again ('kwq local-redis start' first keeps "
                                     "dead letters for 'kwq dlq')\n"),
                       "%s", r.err);
    cli_out_free(&r);
}

Test(cli_checks, private_redis_run_bounds_the_dead_letters_shown)
{
    struct cli_out r;
    const char *p;
    size_t tasks = 0;

    (void)unsetenv("KWQ_REDIS_URL");
    kwq(&r, "a\nb\nc\nd\ne\nf\ng\nh\n", "run", "--local", "--max-attempts", "1", "--input", "-",
        "--", "/bin/false");
    cr_assert_eq(r.status, KWQ_EXIT_DEAD, "exit %d: %s", r.status, r.err);
    for (p = strstr(r.err, "kwq:   task "); p; p = strstr(p + 1, "kwq:   task "))
        tasks++;
    cr_assert_eq(tasks, 5, "%s", r.err);
    cr_assert_not_null(strstr(r.err, ": 1 attempt, handler exited with code 1\nkwq:   task "), "%s",
                       r.err);
    cr_assert_not_null(strstr(r.err, "kwq:   and 3 more\n"), "%s", r.err);
    cli_out_free(&r);
}

/* redis-server refuses its arguments: its own words are in the message, not in a removed log. */
Test(cli_checks, private_redis_start_failure_quotes_the_server)
{
    const char *wrapper = test_path("bad-redis-server");
    FILE *f = fopen(wrapper, "w");
    struct cli_out r;

    cr_assert_not_null(f);
    (void)fprintf(f, "#!/bin/sh\nexec %s \"$@\" --no-such-directive 1\n", KWQ_TEST_REDIS_SERVER);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(wrapper, 0755), 0);
    cr_assert_eq(setenv("KWQ_REDIS_SERVER", wrapper, 1), 0);
    (void)unsetenv("KWQ_REDIS_URL");
    kwq(&r, "a\n", "run", "--local", "--input", "-", "--", "/bin/cat");
    expect(&r, KWQ_EXIT_UNAVAILABLE, "", NULL);
    cr_assert_not_null(strstr(r.err, "kwq: redis-server exited during start-up (status 1): "), "%s",
                       r.err);
    cr_assert_not_null(strstr(r.err, ">>> 'no-such-directive \"1\"' / Bad directive or wrong "
                                     "number of arguments\n"),
                       "%s", r.err);
    cr_assert_null(strstr(r.err, "redis.log"), "%s", r.err);
    cli_out_free(&r);
}
