/*
 * test_cli_run.c - `kwq run --local` end to end with real kwq-worker
 * processes: 10,000 items on 4 workers with every result gathered exactly
 * once; a handler failing on some items (dead letters, exit 3) and
 * `kwq dlq requeue` completing them with a fixed handler; a private
 * redis-server that is gone afterwards; and the README's demo job.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_cli_exec.h"

TestSuite(run, .init = cli_setup, .fini = cli_teardown, .timeout = 600);

/* Lines "item-<i>" for i in [0, n). */
static char *items(size_t n, size_t *ret_len)
{
    char *s = malloc(n * 16 + 1);
    size_t len = 0;

    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "item-%zu\n", i);
    *ret_len = len;
    return s;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(run, ten_thousand_items_on_four_workers)
{
    size_t n = 10000, len;
    char *in = items(n, &len);
    struct kwq_client *c = test_client();
    struct cli_out r;
    char line[32];

    write_file(test_path("items.txt"), in, len);
    kwq(&r, NULL, "run", "--local", "-P", "4", "--queue", "big", "--input", test_path("items.txt"),
        "--", "/bin/cat");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_eq(count_lines(r.out), n, "%zu result lines", count_lines(r.out));
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(line, sizeof(line), "item-%zu", i);
        cr_assert_eq(cli_count_line(r.out, line), 1, "%s gathered %zu times", line,
                     cli_count_line(r.out, line));
    }
    cr_assert_not_null(strstr(r.err, "kwq: queue 'big': 10000 added, 0 duplicates\n"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: finished: 10,000 done, 0 failed attempts, 0 "
                                     "dead-lettered in "),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "up to 4 workers)\n"), "%s", r.err);
    struct kwq_stats st = cli_stats(c, "big");
    cr_assert(st.drained);
    cr_assert_eq(st.done, n);
    cli_out_free(&r);
    free(in);
    kwq_client_free(c);
}

/* Fails (exit 1) on items ending in 7; prints the others. */
#define FLAKY                                                                                      \
    "read -r x || true; case \"$x\" in *7) echo \"no luck with $x\" >&2; exit 1;; esac; "          \
    "printf '%s\\n' \"$x\""

Test(run, dead_letters_exit_3_then_requeue_completes)
{
    size_t n = 100, len;
    char *in = items(n, &len);
    struct kwq_client *c = test_client();
    struct cli_out r;

    cli_exec(&r, in, len,
             (const char *const[]){"run", "--local", "-P", "2", "--max-attempts", "1", "--input",
                                   "-", "--", "/bin/sh", "-c", FLAKY, NULL});
    cr_assert_eq(r.status, KWQ_EXIT_DEAD, "exit %d: %s", r.status, r.err);
    cr_assert_eq(count_lines(r.out), 90, "%s", r.out);
    cr_assert_eq(cli_count_line(r.out, "item-7"), 0);
    cr_assert_eq(cli_count_line(r.out, "item-8"), 1);
    cr_assert_not_null(strstr(r.err, "kwq: finished: 90 done, 10 failed attempts, 10 "
                                     "dead-lettered in "),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: 10 tasks were dead-lettered; see 'kwq dlq list', fix "
                                     "the handler, then 'kwq dlq requeue' and run again\n"),
                       "%s", r.err);
    cr_assert_eq(cli_stats(c, "default").dead, 10);
    cli_out_free(&r);

    kwq(&r, NULL, "dlq", "requeue");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "requeued 10 dead tasks of queue 'default'\n");
    cli_out_free(&r);

    kwq(&r, NULL, "run", "--local", "-P", "2", "--", "/bin/cat"); /* the fixed handler */
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_eq(count_lines(r.out), 10, "%s", r.out);
    for (size_t i = 7; i < n; i += 10) {
        char line[32];
        (void)snprintf(line, sizeof(line), "item-%zu", i);
        cr_assert_eq(cli_count_line(r.out, line), 1, "%s", line);
    }
    cr_assert_not_null(strstr(r.err, "kwq: finished: 10 done, 0 failed attempts, 0 "
                                     "dead-lettered in "),
                       "%s", r.err);
    struct kwq_stats st = cli_stats(c, "default");
    cr_assert(st.drained);
    cr_assert_eq(st.dead, 0);
    cr_assert_eq(st.done, n);
    cli_out_free(&r);
    free(in);
    kwq_client_free(c);
}

Test(run, private_redis_is_started_and_removed)
{
    struct cli_out r;
    DIR *d;
    struct dirent *e;
    size_t left = 0;

    (void)unsetenv("KWQ_REDIS_URL");
    kwq(&r, "a\nb\nc\n", "run", "--local", "--results", "json", "--input", "-", "--", "/bin/cat");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_eq(count_lines(r.out), 3, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"result\":\"b\""), "%s", r.out);
    cli_out_free(&r);
    /* Its temp dir (socket, log) is gone with it: TMPDIR is this test's own. */
    d = opendir(test_path("tmp"));
    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL)
        left += e->d_name[0] != '.';
    (void)closedir(d);
    cr_assert_eq(left, 0, "the private Redis left files in TMPDIR");
}

Test(run, output_file_and_stream_free_errors)
{
    struct cli_out r;
    FILE *f;
    char buf[64] = "";

    kwq(&r, "x\n", "run", "--local", "--quiet", "-o", test_path("out.txt"), "--input", "-", "--",
        "/bin/cat");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_str_eq(r.out, "");
    cr_assert_str_eq(r.err, "");
    cli_out_free(&r);
    f = fopen(test_path("out.txt"), "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    (void)fclose(f);
    cr_assert_str_eq(buf, "x\n");

    kwq(&r, "x\n", "run", "--local", "--input", "-", "--", "no-such-handler-kwq");
    cr_assert_eq(r.status, KWQ_EXIT_CONFIG, "%s", r.err);
    cr_assert_str_eq(r.err, "kwq: handler 'no-such-handler-kwq' is not in PATH; give a path or "
                            "fix PATH\n");
    cli_out_free(&r);
    kwq(&r, "x\n", "run", "--local", "--input", "-", "--", "/nonexistent/handler");
    cr_assert_eq(r.status, KWQ_EXIT_CONFIG, "%s", r.err);
    cr_assert_str_eq(r.err, "kwq: handler '/nonexistent/handler' does not exist; give a path or "
                            "fix PATH\n");
    cli_out_free(&r);
    kwq(&r, "ok\n0123456789x\n", "run", "--local", "--max-item", "10", "--input", "-", "--",
        "/bin/cat");
    cr_assert_eq(r.status, KWQ_EXIT_DATAERR, "%s", r.err);
    cr_assert_str_eq(r.err, "kwq: line 2 of stdin is 11 bytes, over the 10-byte item limit; "
                            "split it or raise --max-item\n");
    cli_out_free(&r);
    struct kwq_client *c = test_client();
    cr_assert_eq(cli_stats(c, "default").enqueued, 1); /* only the first run's item */
    kwq_client_free(c);
}

Test(run, readme_demo_job)
{
    const char *args[] = {"/bin/sh", KWQ_TEST_DEMO, KWQ_TEST_BUILD_DIR, NULL};
    struct cli_out r;

    (void)unsetenv("KWQ_REDIS_URL");
    cli_exec_prog(&r, NULL, 0, args);
    cr_assert_eq(r.status, 0, "demo exit %d: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "kwq: finished: 2,000 done, 0 failed attempts, 0 "
                                     "dead-lettered in "),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "demo: OK: 2000 results, one per range; 5761455 primes "
                                     "below 100000000 (expected 5761455)\n"),
                       "%s", r.err);
    cli_out_free(&r);
}

Test(run, readme_demo_job_in_stream_mode)
{
    const char *args[] = {"/usr/bin/env", "STREAM=1",         "/bin/sh",
                          KWQ_TEST_DEMO,  KWQ_TEST_BUILD_DIR, NULL};
    struct cli_out r;

    (void)unsetenv("KWQ_REDIS_URL");
    cli_exec_prog(&r, NULL, 0, args);
    cr_assert_eq(r.status, 0, "demo exit %d: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "demo: OK: 2000 results, one per range; 5761455 primes "
                                     "below 100000000 (expected 5761455)\n"),
                       "%s", r.err);
    cli_out_free(&r);
}

/* Start `kwq run` in the background, output to files in the test dir. */
static pid_t start_run(const char *const *args)
{
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int out = open(test_path("run.out"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(test_path("run.err"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        (void)dup2(out, STDOUT_FILENO);
        (void)dup2(err, STDERR_FILENO);
        execv(KWQ_TEST_KWQ_BIN, (char *const *)args);
        _exit(127);
    }
    return pid;
}

static void nap(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

Test(run, sigint_stops_workers_and_loses_nothing)
{
    size_t n = 300, len;
    char *in = items(n, &len);
    struct kwq_client *c = test_client();
    time_t deadline = time(NULL) + CLI_SAFETY_S;
    struct kwq_stats st;
    int status;
    pid_t pid;

    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--input",
                                          test_path("items.txt"), "--", "/bin/sh", "-c",
                                          "sleep 0.05; cat", NULL});
    do { /* until some work is done, so that workers are surely running */
        cr_assert(time(NULL) < deadline, "no task was done");
        nap();
        cr_assert_eq(kwq_stats(c, "default", &st), 0);
    } while (st.done < 5);
    cr_assert_eq(kill(pid, SIGINT), 0);
    while (waitpid(pid, &status, WNOHANG) != pid) {
        cr_assert(time(NULL) < deadline, "kwq did not stop after SIGINT");
        nap();
    }
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), KWQ_EXIT_INTERRUPTED);
    st = cli_stats(c, "default");
    cr_assert_eq(st.leased, 0, "the workers released their tasks");
    cr_assert_lt(st.done, n);
    cr_assert_eq(st.done + st.pending, n, "nothing lost: %llu done, %llu pending",
                 (unsigned long long)st.done, (unsigned long long)st.pending);
    free(in);
    kwq_client_free(c);
}

/* ---- When things go wrong during a run ------------------------------------------------------ */

/* Wait until pid exits (asserting the safety limit); returns its exit code or 128 + signal. */
static int wait_exit(pid_t pid)
{
    int code = test_proc_wait(pid, time(NULL) + CLI_SAFETY_S);

    cr_assert_geq(code, 0, "kwq did not finish");
    return code;
}

/* Wait until kwq (pid) runs at least one kwq-worker; returns one's pid. */
static pid_t some_worker(pid_t pid)
{
    time_t deadline = time(NULL) + CLI_SAFETY_S;
    pid_t w[8];

    while (cli_children(pid, "kwq-worker", w, 8) == 0) {
        cr_assert(time(NULL) < deadline, "no kwq-worker started");
        nap();
    }
    return w[0];
}

static void assert_gone(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(kill(pids[i], 0) < 0, "process %d outlived kwq", (int)pids[i]);
}

static size_t tmpdir_entries(void)
{
    DIR *d = opendir(test_path("tmp"));
    struct dirent *e;
    size_t n = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    (void)closedir(d);
    return n;
}

/* A worker killed with SIGKILL: its task comes back when the lease expires, and the run completes. */
Test(run, worker_sigkill_loses_nothing)
{
    size_t n = 200, len;
    char *in = items(n, &len), *out, *err;
    struct kwq_client *c = test_client();
    struct kwq_stats st;
    pid_t pid, w;

    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--lease",
                                          "2s", "--input", test_path("items.txt"), "--", "/bin/sh",
                                          "-c", "sleep 0.02; cat", NULL});
    w = some_worker(pid);
    do { /* a task or two done: the worker surely holds one */
        nap();
        cr_assert_eq(kwq_stats(c, "default", &st), 0);
    } while (st.done < 2);
    cr_assert_eq(kill(w, SIGKILL), 0);
    cr_assert_eq(wait_exit(pid), 0, "%s", cli_read_file(test_path("run.err")));
    out = cli_read_file(test_path("run.out"));
    err = cli_read_file(test_path("run.err"));
    cr_assert_eq(count_lines(out), n, "%s", err);
    for (size_t i = 0; i < n; i++) {
        char line[32];
        (void)snprintf(line, sizeof(line), "item-%zu", i);
        cr_assert_eq(cli_count_line(out, line), 1, "%s", line);
    }
    {
        char want[160];
        (void)snprintf(want, sizeof(want),
                       "kwq: kwq-worker (pid %d) ended with status 137; its tasks return to the "
                       "queue when their leases expire\n",
                       (int)w);
        cr_assert_not_null(strstr(err, want), "%s", err);
    }
    cr_assert_not_null(strstr(err, "kwq: finished: 200 done, 0 failed attempts, 0 dead-lettered"),
                       "%s", err);
    free(out);
    free(err);
    free(in);
    kwq_client_free(c);
}

/*
 * The private redis-server ends mid-run by sig: one clear line starting with
 * want (its own last words when it exited), exit 69, no process or file left.
 */
static void private_redis_ends_mid_run(int sig, const char *want)
{
    size_t n = 500, len;
    char *in = items(n, &len), *err;
    pid_t pid, redis[2], workers[16];
    size_t nworkers;
    time_t deadline = time(NULL) + CLI_SAFETY_S;

    (void)unsetenv("KWQ_REDIS_URL");
    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--input",
                                          test_path("items.txt"), "--", "/bin/sh", "-c",
                                          "sleep 0.02; cat", NULL});
    (void)some_worker(pid);
    for (;;) { /* some results out: the run is in full swing */
        char *out = cli_read_file(test_path("run.out"));
        size_t lines = count_lines(out);
        free(out);
        if (lines >= 5)
            break;
        cr_assert(time(NULL) < deadline, "no results");
        nap();
    }
    nworkers = cli_children(pid, "kwq-worker", workers, 16);
    cr_assert_eq(cli_children(pid, "redis-server", redis, 2), 1);
    cr_assert_eq(kill(redis[0], sig), 0);
    cr_assert_eq(wait_exit(pid), KWQ_EXIT_UNAVAILABLE);
    err = cli_read_file(test_path("run.err"));
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, " results were written); run it again\n"), "%s", err);
    cr_assert_null(strstr(err, "ended with status"), "%s", err);
    assert_gone(workers, nworkers);
    assert_gone(redis, 1);
    cr_assert_eq(tmpdir_entries(), 0, "the private Redis left files in TMPDIR");
    free(err);
    free(in);
}

Test(run, private_redis_killed_mid_run)
{
    private_redis_ends_mid_run(SIGKILL, "\nkwq: the run's private redis-server was killed by "
                                        "signal 9; the run is lost (");
}

/* A server that exits (SIGTERM: a clean shutdown) is quoted: its log goes with its directory. */
Test(run, private_redis_exiting_mid_run_is_quoted)
{
    private_redis_ends_mid_run(SIGTERM, "\nkwq: the run's private redis-server exited with "
                                        "status 0 (it said: ");
    char *err = cli_read_file(test_path("run.err"));

    cr_assert_not_null(strstr(err, "Redis is now ready to exit, bye bye...); the run is lost ("),
                       "%s", err);
    free(err);
}

/* Wait until the file at path has at least n lines. */
static void wait_for_lines(const char *path, size_t n)
{
    for (time_t deadline = time(NULL) + CLI_SAFETY_S;; nap()) {
        char *s = cli_read_file(path);
        size_t lines = count_lines(s);

        free(s);
        if (lines >= n)
            return;
        cr_assert(time(NULL) < deadline, "%s never had %zu lines", path, n);
    }
}

/* A stream handler answering each task with its payload as the result. */
#define SED_ANSWER                                                                                 \
    "s/^{\"v\":1,\"id\":\"\\([0-9]*\\)\".*\"payload\":\"\\([^\"]*\\)\".*$/"                        \
    "{\"id\":\"\\1\",\"ok\":true,\"result\":\"\\2\"}/"

/*
 * More results than one turn of kwq's loop reads (20 batches of 1,000,
 * twice) wait for it when its last worker has gone: all are written before
 * it ends. kwq is stopped (SIGSTOP) while its workers drain the queue, so
 * that every result waits for it at the end.
 */
Test(run, many_results_left_at_the_end_are_all_written)
{
    size_t n = 45000, len, lines = 0;
    char *in = items(n, &len), *out, *p;
    bool *seen = calloc(n, sizeof(*seen));
    struct kwq_client *c = test_client();
    time_t deadline = time(NULL) + CLI_SAFETY_S;
    pid_t pid;
    int code;

    cr_assert_not_null(seen);
    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "-c", "64",
                                          "--stream", "--input", test_path("items.txt"), "--",
                                          "/bin/sed", "-u", SED_ANSWER, NULL});
    wait_for_lines(test_path("run.out"), 1);
    cr_assert_eq(kill(pid, SIGSTOP), 0);
    while (cli_stats(c, "default").done < n) {
        cr_assert(time(NULL) < deadline, "the workers did not drain the queue");
        nap();
    }
    cr_assert_eq(kill(pid, SIGCONT), 0);
    code = wait_exit(pid);
    out = cli_read_file(test_path("run.out"));
    cr_assert_eq(code, 0, "%s", cli_read_file(test_path("run.err")));
    for (p = out; *p; lines++) {
        size_t i;
        int used = 0;
        cr_assert_eq(sscanf(p, "item-%zu\n%n", &i, &used), 1, "line %zu: %.20s", lines + 1, p);
        cr_assert(used > 0 && i < n && !seen[i], "line %zu: %.20s", lines + 1, p);
        seen[i] = true;
        p += used;
    }
    cr_assert_eq(lines, n, "%zu results written", lines);
    free(out);
    free(seen);
    free(in);
    kwq_client_free(c);
}

/* ---- A shared Redis that restarts during a run ------------------------------------------- */

TestSuite(run_outage, .init = cli_setup_aof, .fini = cli_teardown, .timeout = 600);

/*
 * The shared Redis is killed mid-run and started again from its AOF: kwq
 * says so, reconnects, and the run completes with every result exactly once
 * (a --lease short enough that a lease granted in the outage's shadow comes
 * back soon, long enough that none expires while Redis is away).
 */
Test(run_outage, shared_redis_restart_mid_run_loses_nothing)
{
    size_t n = 200, len;
    char *in = items(n, &len), *out, *err;
    struct kwq_client *c = test_client();
    pid_t pid;
    int code;

    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--lease",
                                          "10s", "--input", test_path("items.txt"), "--", "/bin/sh",
                                          "-c", "sleep 0.02; cat", NULL});
    wait_for_lines(test_path("run.out"), 5);
    redis_fixture_kill(&test_redis);
    cli_wait_for_text(test_path("run.err"), "; retrying for up to 1m (--redis-retry)\n");
    redis_fixture_restart(&test_redis);
    code = wait_exit(pid);
    out = cli_read_file(test_path("run.out"));
    err = cli_read_file(test_path("run.err"));
    cr_assert_eq(code, 0, "%s", err);
    cr_assert_eq(count_lines(out), n, "%s", err);
    for (size_t i = 0; i < n; i++) {
        char line[32];
        (void)snprintf(line, sizeof(line), "item-%zu", i);
        cr_assert_eq(cli_count_line(out, line), 1, "%s", line);
    }
    cr_assert_not_null(strstr(err, "kwq: Redis at "), "%s", err);
    cr_assert_not_null(strstr(err, " answers again after "), "%s", err);
    cr_assert_not_null(strstr(err, "kwq: finished: 200 done, "), "%s", err);
    cr_assert_null(strstr(err, "ended with status"), "%s", err);
    cr_assert_eq(kwq_client_connect(c), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(cli_stats(c, "default").done, n);
    free(out);
    free(err);
    free(in);
    kwq_client_free(c);
}

/*
 * Redis gone for longer than --redis-retry: the run stops with 69 and says
 * why. Its workers got the same bound: those that give up first are not
 * taken for failing workers.
 */
Test(run_outage, redis_gone_past_redis_retry_exit_69)
{
    size_t n = 200, len;
    char *in = items(n, &len), *err;
    pid_t pid;
    int code;

    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2",
                                          "--redis-retry", "1s", "--input", test_path("items.txt"),
                                          "--", "/bin/sh", "-c", "sleep 0.02; cat", NULL});
    wait_for_lines(test_path("run.out"), 5);
    redis_fixture_kill(&test_redis);
    code = wait_exit(pid);
    err = cli_read_file(test_path("run.err"));
    cr_assert_eq(code, KWQ_EXIT_UNAVAILABLE, "%s", err);
    cr_assert_not_null(strstr(err, "; retrying for up to 1s (--redis-retry)\n"), "%s", err);
    cr_assert_not_null(strstr(err, "\nkwq: the run stopped: cannot connect to Redis at "), "%s",
                       err);
    cr_assert_null(strstr(err, "keeps failing"), "%s", err);
    cr_assert_null(strstr(err, "ended with status"), "%s", err);
    free(err);
    free(in);
}

/*
 * Redis restarts asking for a password nobody gave. The lost connection is
 * an outage to ride out; the refused reconnection is a configuration error
 * that ends the run with 78 at once, not after the 10 minutes of
 * --redis-retry. Whoever finds out first says so: kwq itself, or a worker
 * (which exits 78 for it, and kwq ends the run on that exit).
 */
Test(run_outage, redis_back_with_a_password_ends_the_run_78)
{
    char *err;
    pid_t pid;
    int code;

    write_file(test_path("items.txt"), "a\nb\nc\nd\n", 8);
    pid = start_run((const char *const[]){
        KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--lease", "60s", "--redis-retry", "10m",
        "--input", test_path("items.txt"), "--", "/bin/sh", "-c", "sleep 4; cat", NULL});
    wait_for_lines(test_path("run.out"), 1); /* the workers have just started their next task */
    redis_fixture_restart_loading(&test_redis,
                                  (const char *const[]){"--requirepass", "not-given", NULL});
    code = wait_exit(pid);
    err = cli_read_file(test_path("run.err"));
    cr_assert_eq(code, KWQ_EXIT_CONFIG, "%s", err);
    cr_assert(strstr(err, "\nkwq: the run stopped: Redis requires a password; set "
                          "KWQ_REDIS_PASSWORD or --redis-password-file\n") ||
                  (strstr(err, "\"err\":\"Redis requires a password; set KWQ_REDIS_PASSWORD or "
                               "--redis-password-file\"") &&
                   strstr(err, "stopped with a configuration error (exit 78)")),
              "%s", err);
    free(err);
}

/*
 * Ctrl-C twice: the second kills the workers at once and says so once; what
 * their handlers started (a sleep under sh) does not outlive kwq either.
 */
Test(run, sigint_twice_kills_the_workers)
{
    size_t n = 50, len;
    char *in = items(n, &len), *err;
    struct kwq_client *c = test_client();
    struct kwq_stats st;
    pid_t pid, workers[16], shells[16], sleeps[16];
    size_t nworkers, nsleeps;
    time_t deadline = time(NULL) + CLI_SAFETY_S;

    write_file(test_path("items.txt"), in, len);
    /* Handlers that take long: after the first Ctrl-C the workers would wait 20s for them. */
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--input",
                                          test_path("items.txt"), "--", "/bin/sh", "-c",
                                          "sleep 600 & wait", NULL});
    do { /* two workers, each with its handler (sh) and the sleep it started */
        cr_assert(time(NULL) < deadline, "no task was leased");
        nap();
        cr_assert_eq(kwq_stats(c, "default", &st), 0);
        nworkers = cli_children(pid, "kwq-worker", workers, 16);
        nsleeps = 0;
        for (size_t i = 0; i < nworkers; i++) {
            if (cli_children(workers[i], "sh", shells, 1) == 1)
                nsleeps += cli_children(shells[0], "sleep", sleeps + nsleeps, 1);
        }
    } while (st.leased < 2 || nworkers < 2 || nsleeps < 2);
    cr_assert_eq(kill(pid, SIGINT), 0);
    for (;;) { /* the first Ctrl-C seen, else both may land before kwq looks */
        char *sofar = cli_read_file(test_path("run.err"));
        bool seen = strstr(sofar, "Ctrl-C again to kill them\n") != NULL;
        free(sofar);
        if (seen)
            break;
        cr_assert(time(NULL) < deadline, "kwq did not see the first SIGINT");
        nap();
    }
    cr_assert_eq(kill(pid, SIGINT), 0);
    cr_assert_eq(wait_exit(pid), KWQ_EXIT_INTERRUPTED);
    err = cli_read_file(test_path("run.err"));
    cr_assert_not_null(strstr(err, "kwq: interrupted: stopping the workers (their tasks are "
                                   "released); Ctrl-C again to kill them\n"
                                   "kwq: interrupted again: killing the workers; the tasks they "
                                   "held return to the queue when their leases expire\n"),
                       "%s", err);
    cr_assert_null(strstr(err, "ended with status"), "%s", err);
    cr_assert_not_null(strstr(err, "kwq: killed 2 processes that the handlers of killed workers "
                                   "had left running\n"),
                       "%s", err);
    cr_assert_not_null(strstr(err, "kwq: the run was interrupted; unfinished tasks stay on queue "
                                   "'default' (see 'kwq status')\n"),
                       "%s", err);
    assert_gone(workers, nworkers);
    assert_gone(sleeps, nsleeps);
    st = cli_stats(c, "default");
    cr_assert_eq(st.pending + st.leased + st.done, n, "nothing lost");
    free(err);
    free(in);
    kwq_client_free(c);
}

/*
 * A child kwq inherited across exec (`sleep 600 & exec kwq run ...`) is not
 * a handler's orphan: the run ends without killing it.
 */
Test(run, inherited_child_is_not_killed_as_an_orphan)
{
    pid_t pid, sleeper = 0;
    char *err;
    int p[2], st;

    /* The sleeper comes back to this process when kwq exits, to be checked and reaped. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    write_file(test_path("items.txt"), "a\nb\n", 4);
    cr_assert_eq(pipe(p), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pid_t s = fork();
        if (s == 0)
            execl("/bin/sleep", "sleep", "600", (char *)NULL);
        (void)write(p[1], &s, sizeof(s));
        int out = open(test_path("run.out"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(test_path("run.err"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        (void)dup2(out, STDOUT_FILENO);
        (void)dup2(e, STDERR_FILENO);
        execl(KWQ_TEST_KWQ_BIN, KWQ_TEST_KWQ_BIN, "run", "--local", "--input",
              test_path("items.txt"), "--", "/bin/cat", (char *)NULL);
        _exit(127);
    }
    (void)close(p[1]);
    cr_assert_eq(read(p[0], &sleeper, sizeof(sleeper)), (ssize_t)sizeof(sleeper));
    (void)close(p[0]);
    cr_assert_gt(sleeper, 0);
    st = wait_exit(pid);
    err = cli_read_file(test_path("run.err"));
    cr_assert_eq(st, 0, "%s", err);
    cr_assert_eq(waitpid(sleeper, &st, WNOHANG), 0, "kwq killed a process it did not start: %s",
                 err);
    cr_assert_null(strstr(err, "kwq: killed "), "%s", err);
    cr_assert_eq(kill(sleeper, SIGKILL), 0);
    cr_assert_eq(waitpid(sleeper, &st, 0), sleeper);
    free(err);
}

/* Children of pid named comm, zombies included. */
static size_t children_any_state(pid_t pid, const char *comm)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512], name[64];
        int child, ppid;
        char state;
        FILE *f;

        (void)snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f) &&
            sscanf(buf, "%d (%63[^)]) %c %d", &child, name, &state, &ppid) == 4 && ppid == pid &&
            strcmp(name, comm) == 0)
            n++;
        (void)fclose(f);
    }
    (void)closedir(d);
    return n;
}

/*
 * A handler's `cmd &` outlives the handler, so kwq adopts it; once it ends
 * kwq reaps it during the run, not at the end: a long run of such handlers
 * must not pile up zombies until it runs out of pids.
 */
Test(run, ended_orphans_are_reaped_during_the_run)
{
    struct kwq_client *c = test_client();
    time_t deadline = time(NULL) + CLI_SAFETY_S;
    struct kwq_stats st;
    char go[4096], script[8192];
    pid_t pid;

    (void)snprintf(go, sizeof(go), "%s", test_path("go"));
    /*
     * Each handler leaves a short sleep behind; "hold" keeps the run going
     * until go exists (or the safety limit passes, should the test fail).
     */
    (void)snprintf(script, sizeof(script),
                   "x=$(cat); sleep 0.01 & i=0; if [ \"$x\" = hold ]; then while [ ! -e '%s' ] "
                   "&& [ $i -lt %d ]; do sleep 0.1; i=$((i+1)); done; fi; echo \"$x\"",
                   go, CLI_SAFETY_S * 10);
    write_file(test_path("items.txt"), "a\nb\nc\nd\ne\nhold\n", 15);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "1", "--input",
                                          test_path("items.txt"), "--", "/bin/sh", "-c", script,
                                          NULL});
    do { /* the five quick ones done: their sleeps are kwq's now, running or ended */
        cr_assert(time(NULL) < deadline, "the quick items were not done");
        nap();
        cr_assert_eq(kwq_stats(c, "default", &st), 0);
    } while (st.done < 5);
    while (children_any_state(pid, "sleep") > 0) { /* ended ones reaped, not left as zombies */
        cr_assert(time(NULL) < deadline, "kwq left its adopted orphans unreaped");
        nap();
    }
    write_file(go, "", 0);
    cr_assert_eq(wait_exit(pid), 0, "%s", cli_read_file(test_path("run.err")));
    st = cli_stats(c, "default");
    cr_assert_eq(st.done, 6, "%llu done", (unsigned long long)st.done);
    kwq_client_free(c);
}

/* SIGHUP (the terminal closed) stops the run as Ctrl-C does: tasks released, exit 75. */
Test(run, sighup_stops_like_ctrl_c)
{
    size_t n = 200, len;
    char *in = items(n, &len);
    struct kwq_client *c = test_client();
    struct kwq_stats st;
    pid_t pid;
    time_t deadline = time(NULL) + CLI_SAFETY_S;

    write_file(test_path("items.txt"), in, len);
    pid = start_run((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "-P", "2", "--input",
                                          test_path("items.txt"), "--", "/bin/sh", "-c",
                                          "sleep 0.05; cat", NULL});
    do {
        cr_assert(time(NULL) < deadline, "no task was done");
        nap();
        cr_assert_eq(kwq_stats(c, "default", &st), 0);
    } while (st.done < 3);
    cr_assert_eq(kill(pid, SIGHUP), 0);
    cr_assert_eq(wait_exit(pid), KWQ_EXIT_INTERRUPTED);
    st = cli_stats(c, "default");
    cr_assert_eq(st.leased, 0, "the workers released their tasks");
    cr_assert_eq(st.done + st.pending, n, "nothing lost");
    free(in);
    kwq_client_free(c);
}

/* stdout closed before the first result (kwq run ... | head -0): the workers release their tasks. */
Test(run, stdout_closed_stops_the_run_cleanly)
{
    size_t n = 100, len;
    char *in = items(n, &len);
    struct kwq_client *c = test_client();
    struct kwq_stats st;
    struct cli_out r;
    int p[2];

    write_file(test_path("items.txt"), in, len);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    (void)close(p[0]);
    cli_exec_out_fd(&r, p[1],
                    (const char *const[]){"run", "--local", "-P", "2", "--input",
                                          test_path("items.txt"), "--", "/bin/cat", NULL});
    (void)close(p[1]);
    cr_assert_eq(r.status, KWQ_EXIT_FAILURE, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: stdout was closed after 0 results (broken pipe); "
                                     "stopped the workers; the unfinished tasks stay on the "
                                     "queue\n"),
                       "%s", r.err);
    cli_out_free(&r);
    st = cli_stats(c, "default");
    cr_assert_eq(st.leased, 0, "the workers released their tasks");
    cr_assert_eq(st.pending + st.done, n, "nothing lost");
    free(in);
    kwq_client_free(c);
}

/* -o on a full disk: one line naming the file and the reason. */
Test(run, output_on_a_full_disk)
{
    struct cli_out r;

    kwq(&r, "a\nb\n", "run", "--local", "-o", "/dev/full", "--input", "-", "--", "/bin/cat");
    cr_assert_eq(r.status, KWQ_EXIT_FAILURE, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kwq: cannot write the results to /dev/full: No space left on "
                                     "device; stopped the workers after 0 results were written; "
                                     "the unfinished tasks stay on the queue\n"),
                       "%s", r.err);
    cli_out_free(&r);
}

/* TMPDIR that cannot hold the private Redis's directory. */
Test(run, tmpdir_unusable)
{
    struct cli_out r;
    char want[1024];

    (void)unsetenv("KWQ_REDIS_URL");
    write_file(test_path("not-a-dir"), "x", 1);
    cr_assert_eq(setenv("TMPDIR", test_path("not-a-dir"), 1), 0);
    kwq(&r, "a\n", "run", "--local", "--input", "-", "--", "/bin/cat");
    (void)snprintf(want, sizeof(want),
                   "kwq: cannot create the private Redis's directory in %s: Not a directory; set "
                   "TMPDIR to a writable directory, or give --redis URL\n",
                   test_path("not-a-dir"));
    cr_assert_eq(r.status, KWQ_EXIT_UNAVAILABLE, "%s", r.err);
    cr_assert_str_eq(r.err, want);
    cr_assert_str_eq(r.out, "");
    cli_out_free(&r);
}

/* An unreachable --redis: one line, exit 69, before any worker starts or anything is enqueued. */
Test(run, unreachable_redis_exit_69)
{
    struct cli_out r;
    char url[600], want[1200];

    (void)snprintf(url, sizeof(url), "unix://%s", test_path("no-such.sock"));
    kwq(&r, "a\n", "run", "--local", "--redis", url, "--input", "-", "--", "/bin/cat");
    (void)snprintf(want, sizeof(want),
                   "kwq: cannot connect to Redis at %s: No such file or directory; check --redis "
                   "or KWQ_REDIS_URL ('kwq local-redis start' runs a local one)\n",
                   url);
    cr_assert_eq(r.status, KWQ_EXIT_UNAVAILABLE, "%s", r.err);
    cr_assert_str_eq(r.err, want);
    cr_assert_str_eq(r.out, "");
    cli_out_free(&r);
}

/* ---- The examples of docs/kwq.md run as printed ------------------------------------------- */

/* The first ```sh block after the line heading in docs/kwq.md (malloc'd). */
static char *doc_block(const char *heading)
{
    FILE *f = fopen(KWQ_TEST_SOURCE_DIR "/docs/kwq.md", "r");
    char line[1024], *out = calloc(1, 65536);
    int state = 0; /* 0 before the heading, 1 before the block, 2 inside */

    cr_assert(f && out);
    while (state < 3 && fgets(line, sizeof(line), f)) {
        if (state == 0 && strncmp(line, heading, strlen(heading)) == 0)
            state = 1;
        else if (state == 1 && strcmp(line, "```sh\n") == 0)
            state = 2;
        else if (state == 2 && strcmp(line, "```\n") == 0)
            state = 3;
        else if (state == 2)
            (void)strncat(out, line, 65535 - strlen(out));
    }
    (void)fclose(f);
    cr_assert_eq(state, 3, "no sh block after '%s' in docs/kwq.md", heading);
    return out;
}

/* Run a docs example with sh -e, kwq in PATH, no KWQ_REDIS_URL. */
static void run_doc(struct cli_out *r, const char *script)
{
    char path[4096];
    const char *args[] = {"/bin/sh", "-e", test_path("example.sh"), NULL};

    write_file(test_path("example.sh"), script, strlen(script));
    (void)snprintf(path, sizeof(path), "%s/submitter:%s", KWQ_TEST_BUILD_DIR, getenv("PATH"));
    cr_assert_eq(setenv("PATH", path, 1), 0);
    (void)unsetenv("KWQ_REDIS_URL");
    cli_exec_prog(r, NULL, 0, args);
}

Test(run, docs_local_redis_example)
{
    char *script = doc_block("### kwq local-redis");
    struct cli_out r;

    run_doc(&r, script);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, script, r.err);
    cr_assert_not_null(strstr(r.out, "queue 'default': 50 added, 0 duplicates, sealed\n"), "%s",
                       r.out);
    cr_assert_eq(cli_count_line(r.out, "51"), 1, "%s", r.out); /* the handler's n + 1 */
    cr_assert_not_null(strstr(r.out, "queue:     default (sealed, drained)\n"), "%s", r.out);
    cli_out_free(&r);
    free(script);
}

Test(run, docs_run_example)
{
    char *script = doc_block("### kwq run --local");
    char *nl = strchr(script, '\n');
    struct cli_out r;

    cr_assert_not_null(nl);
    nl[1] = '\0'; /* the first example: the others name files of the reader's own */
    run_doc(&r, script);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, script, r.err);
    cr_assert_eq(cli_count_line(r.out, "1000000"), 1, "%s", r.out); /* 1000 squared */
    cr_assert_eq(cli_count_line(r.out, "4"), 1, "%s", r.out);
    cli_out_free(&r);
    free(script);
}

Test(run, docs_enqueue_examples)
{
    char *script = doc_block("### kwq enqueue"), *full = malloc(strlen(script) + 8192);
    struct kwq_client *c = test_client();
    struct cli_out r;

    cr_assert_not_null(full);
    /* The reader's own: a data directory with two CSV files, and a Redis. */
    (void)snprintf(full, strlen(script) + 8192,
                   "cd '%s'\nmkdir -p data\ntouch data/a.csv data/b.csv\n"
                   "KWQ_REDIS_URL='%s'; export KWQ_REDIS_URL\n%s",
                   test_path("."), test_redis.url, script);
    run_doc(&r, full);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, full, r.err);
    cr_assert_str_eq(r.out, "queue 'default': 3 added, 0 duplicates\n"
                            "queue 'numbers': 100000 added, 0 duplicates, sealed\n"
                            "queue 'csv': 2 added, 0 duplicates\n"
                            "queue 'default': 1 added, 0 duplicates\n");
    cr_assert_eq(cli_stats(c, "default").pending, 4);
    cli_out_free(&r);
    free(full);
    free(script);
    kwq_client_free(c);
}

/* --input - with stdin a terminal: kwq says how to end the items, reads to Ctrl-D, and runs them. */
Test(run, input_from_a_terminal)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave, code;
    char *out, *err, drain[256];
    pid_t pid;

    cr_assert_geq(master, 0);
    cr_assert(grantpt(master) == 0 && unlockpt(master) == 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    cr_assert_geq(slave, 0);
    {
        int o = open(test_path("run.out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int e = open(test_path("run.err"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        cr_assert(o >= 0 && e >= 0);
        pid = test_proc_start((const char *const[]){KWQ_TEST_KWQ_BIN, "run", "--local", "--input",
                                                    "-", "--", "/bin/cat", NULL},
                              (const int[3]){slave, o, e});
        (void)close(o);
        (void)close(e);
    }
    /* Typed lines, then Ctrl-D (VEOF) at the start of a line. */
    cr_assert_eq(write(master, "a\nb\n\x04", 5), 5);
    (void)fcntl(master, F_SETFL, O_NONBLOCK);
    for (time_t deadline = time(NULL) + CLI_SAFETY_S; !test_proc_exited(pid, &code); nap()) {
        cr_assert(time(NULL) < deadline, "kwq did not finish");
        (void)read(master, drain, sizeof(drain)); /* the echo */
    }
    (void)close(slave);
    (void)close(master);
    out = cli_read_file(test_path("run.out"));
    err = cli_read_file(test_path("run.err"));
    cr_assert_eq(code, 0, "%s", err);
    {
        static const char want[] =
            "kwq: reading items from the terminal, one per line; end with Ctrl-D\n"
            "kwq: queue 'default': 2 added, 0 duplicates\n";
        cr_assert(strncmp(err, want, sizeof(want) - 1) == 0, "%s", err);
    }
    cr_assert_eq(cli_count_line(out, "a"), 1, "%s", out);
    cr_assert_eq(cli_count_line(out, "b"), 1, "%s", out);
    free(out);
    free(err);
}
