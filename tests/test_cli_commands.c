/*
 * test_cli_commands.c - every queue command of the kwq binary, and every
 * error with its exact message and exit code, against a private
 * redis-server (one per test).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_cli_exec.h"

TestSuite(cli, .init = cli_setup, .fini = cli_teardown, .timeout = 120);

static const char *none = NULL;

/* A dead task in queue q: enqueue payload, lease it, fail it with no retry. */
static void make_dead(struct kwq_client *c, const char *q, const char *payload, int code)
{
    struct kwq_new_task t = {.payload = payload, .payload_len = strlen(payload)};
    struct kwq_lease_result lr = {0};
    struct kwq_fail_outcome out;

    cr_assert_eq(kwq_enqueue(c, q, &t, 1, NULL, NULL), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(kwq_lease(c, q, 1, 30000, 0, &lr), 1, "%s", kwq_client_errstr(c));
    struct kwq_failure f = {.id = lr.tasks[0].id,
                            .token = lr.tasks[0].token,
                            .error = "boom\nsecond line",
                            .code = code,
                            .no_retry = true};
    cr_assert_eq(kwq_fail(c, q, &f, 1, &out), 0, "%s", kwq_client_errstr(c));
    cr_assert(out.dead);
    kwq_lease_result_done(&lr);
}

/* Lease every pending task of q and ack it with its payload + suffix as the result. */
static void ack_all(struct kwq_client *c, const char *q, const char *suffix)
{
    struct kwq_lease_result lr = {0};
    int n = kwq_lease(c, q, 100, 30000, 0, &lr);

    cr_assert_geq(n, 0, "%s", kwq_client_errstr(c));
    for (int i = 0; i < n; i++) {
        char res[128];
        int st;
        (void)snprintf(res, sizeof(res), "%s%s", lr.tasks[i].payload, suffix);
        struct kwq_ack a = {.id = lr.tasks[i].id,
                            .token = lr.tasks[i].token,
                            .result = res,
                            .result_len = strlen(res)};
        cr_assert_eq(kwq_ack(c, q, &a, 1, &st), 0);
        cr_assert_eq(st, 0);
    }
    kwq_lease_result_done(&lr);
}

/* ---- Help, version, usage errors ------------------------------------------------------- */

Test(cli, help_and_version)
{
    struct cli_out r;

    kwq(&r, NULL, "--version");
    expect(&r, 0, "kwq 0.1.0 (protocol 2)\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "--help");
    expect(&r, 0, none, "");
    cr_assert(strncmp(r.out, "Usage: kwq [global options] COMMAND", 35) == 0);
    cli_out_free(&r);
    static const char *const cmds[] = {
        "enqueue", "seal",  "unseal", "status",      "wait", "dlq",   "task",      "results",
        "cancel",  "purge", "run",    "local-redis", "job",  "scale", "autoscale", "queues"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char want[64];
        kwq(&r, NULL, cmds[i], "--help");
        expect(&r, 0, none, "");
        (void)snprintf(want, sizeof(want), "Usage: kwq %s ", cmds[i]);
        cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
        cr_assert_not_null(strstr(r.out, "--queue NAME"));
        cli_out_free(&r);
    }
    cr_assert_eq(setenv("KWQ_REDIS_URL", "redis://:s3cret@example:6379/0", 1), 0);
    kwq(&r, NULL, "--print-config", "wait", "--queue", "x");
    expect(&r, 0, none, "");
    cr_assert_not_null(strstr(r.out, "redis                  = redis://:***@example:6379/0    "
                                     "(env KWQ_REDIS_URL)\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "queue                  = x"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "timeout                = 0ms"), "%s", r.out);
    cr_assert_null(strstr(r.out, "s3cret"));
    cli_out_free(&r);
    kwq(&r, NULL, "help", "wait");
    expect(&r, 0, none, "");
    cr_assert(strncmp(r.out, "Usage: kwq wait ", 16) == 0);
    cli_out_free(&r);
}

struct usage_case {
    const char *args[10]; /* kwq arguments */
    const char *err;      /* exact stderr */
};

Test(cli, usage_errors_exit_2)
{
    static const struct usage_case cases[] = {
        {{NULL}, "kwq: no command given; see 'kwq --help'\n"},
        {{"frob"}, "kwq: unknown command 'frob'; see 'kwq --help'\n"},
        {{"help", "frob"}, "kwq: unknown command 'frob'; see 'kwq --help'\n"},
        {{"--frob"}, "kwq: unknown option '--frob'; see 'kwq --help'\n"},
        {{"enqueue", "--frob=1", "x"}, "kwq: unknown option '--frob'; see 'kwq enqueue --help'\n"},
        {{"enqueue", "--fil", "x"}, "kwq: unknown option '--fil'; see 'kwq enqueue --help'\n"},
        {{"enqueue", "--file"}, "kwq: option '--file' needs a value; see 'kwq enqueue --help'\n"},
        {{"status", "--redis-password", "hunter2"},
         "kwq: passwords are never taken on the command line (other users can read it); set "
         "KWQ_REDIS_PASSWORD or use --redis-password-file; see 'kwq status --help'\n"},
        {{"--log-format", "xml", "status"},
         "kwq: --log-format must be auto, text or json, got 'xml'; see 'kwq --help'\n"},
        {{"enqueue", "--null", "--json"},
         "kwq: --null and --json cannot be combined; see 'kwq enqueue --help'\n"},
        {{"enqueue", "--file", "f", "x"},
         "kwq: give items as arguments or with --file, not both; see 'kwq enqueue --help'\n"},
        {{"enqueue", "--null", "x"},
         "kwq: --null applies to --file and stdin, not to arguments; see 'kwq enqueue --help'\n"},
        {{"enqueue", "--max-attempts", "0", "x"},
         "kwq: --max-attempts must be a whole number from 1 to 1000, got '0'; see 'kwq enqueue "
         "--help'\n"},
        {{"wait", "--timeout", "soon"},
         "kwq: --timeout must be a duration between 0ms and 3650d (e.g. 250ms, 30s, 5m, 2h), got "
         "'soon'; see 'kwq wait --help'\n"},
        {{"seal", "extra"}, "kwq: unexpected argument 'extra'; see 'kwq seal --help'\n"},
        {{"task"}, "kwq: give a task ID; see 'kwq task --help'\n"},
        {{"task", "abc"},
         "kwq: 'abc' is not a task ID (IDs are numbers, e.g. 42); see 'kwq task --help'\n"},
        {{"cancel"}, "kwq: give the ID of the task to cancel; see 'kwq cancel --help'\n"},
        {{"dlq"}, "kwq: give a dlq command: list, requeue or purge; see 'kwq dlq --help'\n"},
        {{"dlq", "drop"},
         "kwq: unknown dlq command 'drop' (list, requeue or purge); see 'kwq dlq --help'\n"},
        {{"dlq", "purge"},
         "kwq: give the IDs of the dead tasks to purge, or --all; see 'kwq dlq --help'\n"},
        {{"queues", "frob"},
         "kwq: unknown queues command 'frob' (forget, or none to list); see 'kwq queues "
         "--help'\n"},
        {{"queues", "forget"},
         "kwq: give the name of the queue to forget; see 'kwq queues --help'\n"},
        {{"queues", "forget", "ok", "bad name"},
         "kwq: 'bad name': queue name has a character outside A-Z a-z 0-9 . _ : - at byte 4 "
         "(0x20); see 'kwq queues --help'\n"},
        {{"purge"},
         "kwq: purge deletes every task of queue 'default' and stdin is not a terminal to ask; "
         "confirm with --yes; see 'kwq purge --help'\n"},
        {{"local-redis"},
         "kwq: give a local-redis command: start, stop or status; see 'kwq local-redis --help'\n"},
        {{"run", "--", "/bin/cat"},
         "kwq: 'run' needs either --local (worker processes here) or --kube (the pods of a "
         "Kubernetes Job); see 'kwq run --help'\n"},
        {{"run", "--local", "--kube", "--", "/bin/cat"},
         "kwq: 'run' needs either --local (worker processes here) or --kube (the pods of a "
         "Kubernetes Job); see 'kwq run --help'\n"},
        {{"run", "--kube", "--", "/bin/cat"},
         "kwq: --kube needs --image IMAGE: the worker image that holds the handler; see 'kwq "
         "run --help'\n"},
        {{"run", "--local", "--job", "x", "--", "/bin/cat"},
         "kwq: --job and --keep-job are for --kube; see 'kwq run --help'\n"},
        {{"run", "--kube", "--image", "w", "--job", "Bad_Name", "--", "/bin/cat"},
         "kwq: Job name 'Bad_Name' is not a DNS label: use lower-case letters, digits and '-', "
         "starting and ending with a letter or digit; see 'kwq run --help'\n"},
        {{"scale"}, "kwq: give the Job to scale: --job NAME; see 'kwq scale --help'\n"},
        {{"autoscale", "--job", "j", "--min", "3", "--max", "2"},
         "kwq: --min (3) must not exceed --max (2); see 'kwq autoscale --help'\n"},
        {{"run", "--local"},
         "kwq: give the handler command after '--', e.g. kwq run --local --input items.txt -- "
         "./handler; see 'kwq run --help'\n"},
        {{"run", "--local", "--min", "5", "-P", "2", "--", "/bin/cat"},
         "kwq: --min (5) must not exceed --max (2); see 'kwq run --help'\n"},
        {{"run", "--local", "--results", "xml", "--", "/bin/cat"},
         "kwq: --results must be raw, json or none, got 'xml'; see 'kwq run --help'\n"},
    };
    struct cli_out r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[12] = {KWQ_TEST_KWQ_BIN};
        for (size_t k = 0; k < 10 && cases[i].args[k]; k++)
            args[k + 1] = cases[i].args[k];
        cli_exec_prog(&r, NULL, 0, args);
        cr_assert_eq(r.status, KWQ_EXIT_USAGE, "case %zu: exit %d: %s", i, r.status, r.err);
        cr_assert_str_eq(r.err, cases[i].err, "case %zu", i);
        cr_assert_str_eq(r.out, "");
        cli_out_free(&r);
    }
}

Test(cli, bad_queue_name)
{
    struct cli_out r;

    kwq(&r, NULL, "--queue", "a b", "status");
    cr_assert_eq(r.status, KWQ_EXIT_USAGE, "%s", r.err);
    cr_assert(strncmp(r.err, "kwq: ", 5) == 0 && strstr(r.err, "see 'kwq --help'\n"), "%s", r.err);
    cli_out_free(&r);
}

Test(cli, unreachable_redis_exit_69)
{
    struct cli_out r;
    char url[600];

    (void)snprintf(url, sizeof(url), "unix://%s", test_path("no-such.sock"));
    kwq(&r, NULL, "--redis", url, "status");
    expect(&r, KWQ_EXIT_UNAVAILABLE, "", none);
    cr_assert(strncmp(r.err, "kwq: ", 5) == 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "no-such.sock"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "\n") == r.err + r.err_len - 1 ? r.err : NULL, "one line: %s",
                       r.err);
    cli_out_free(&r);
}

/* ---- enqueue ---------------------------------------------------------------------------- */

Test(cli, enqueue_arguments_stdin_file)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    FILE *f = fopen(test_path("items.txt"), "w");

    kwq(&r, NULL, "enqueue", "a", "b", "c");
    expect(&r, 0, "queue 'default': 3 added, 0 duplicates\n", "");
    cli_out_free(&r);
    kwq(&r, "d\n\ne\r\nf", "enqueue", "--queue", "other");
    expect(&r, 0, "queue 'other': 3 added, 0 duplicates\n", "");
    cli_out_free(&r);
    cr_assert_not_null(f);
    (void)fputs("g\nh\n", f);
    (void)fclose(f);
    kwq(&r, NULL, "enqueue", "-f", test_path("items.txt"), "--ids");
    expect(&r, 0, "4\n5\n", "queue 'default': 2 added, 0 duplicates\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").pending, 5);
    cr_assert_eq(cli_stats(c, "other").pending, 3);
    kwq_client_free(c);
}

Test(cli, enqueue_null_and_env_queue)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    cr_assert_eq(setenv("KWQ_QUEUE", "fromenv", 1), 0);
    cli_exec(&r, "one\0two\nlines\0", 15, (const char *const[]){"enqueue", "--null", NULL});
    expect(&r, 0, "queue 'fromenv': 2 added, 0 duplicates\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "--queue", "flagwins", "x"); /* the flag beats KWQ_QUEUE */
    expect(&r, 0, "queue 'flagwins': 1 added, 0 duplicates\n", "");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "fromenv").pending, 2);
    kwq_client_free(c);
}

Test(cli, enqueue_json_duplicates_and_seal)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    struct kwq_stats st;

    kwq(&r,
        "{\"payload\":\"a\",\"idempotency_key\":\"k1\"}\n"
        "{\"payload\":\"a\",\"idempotency_key\":\"k1\"}\n" /* the same item again */
        "{\"payload\":{\"n\":2},\"delay\":\"1h\",\"max_attempts\":7}\n",
        "enqueue", "--json", "--seal");
    expect(&r, 0, "queue 'default': 2 added, 1 duplicate, sealed\n", "");
    cli_out_free(&r);
    st = cli_stats(c, "default");
    cr_assert_eq(st.pending, 1);
    cr_assert_eq(st.delayed, 1);
    cr_assert(st.sealed);
    kwq_client_free(c);
}

struct input_error {
    const char *input; /* stdin */
    const char *flag;  /* one extra flag or NULL */
    int code;          /* exit code */
    const char *err;   /* exact stderr */
};

Test(cli, enqueue_bad_input_changes_nothing)
{
    static const struct input_error cases[] = {
        {"", NULL, KWQ_EXIT_NOINPUT,
         "kwq: no items in stdin; give items as arguments, with --file, or on stdin\n"},
        {"\n\n", NULL, KWQ_EXIT_NOINPUT,
         "kwq: no items in stdin; give items as arguments, with --file, or on stdin\n"},
        {"ok\n12345678901\n", "--max-item=10", KWQ_EXIT_DATAERR,
         "kwq: line 2 of stdin is 11 bytes, over the 10-byte item limit; split it or raise "
         "--max-item\n"},
        {"{\"payload\":\"a\"}\n{\"payload\"", "--json", KWQ_EXIT_DATAERR,
         "kwq: line 2 of stdin is not valid JSON (near byte 11); give one JSON object per line\n"},
        {"{\"payload\":\"a\",\"dealy\":\"1s\"}\n", "--json", KWQ_EXIT_DATAERR,
         "kwq: line 1 of stdin: unknown field \"dealy\"; known: payload, delay, timeout, "
         "max_attempts, idempotency_key, idempotency_ttl (and *_ms forms)\n"},
    };
    struct kwq_client *c = test_client();
    struct cli_out r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].flag)
            kwq(&r, cases[i].input, "enqueue", cases[i].flag);
        else
            kwq(&r, cases[i].input, "enqueue");
        cr_assert_eq(r.status, cases[i].code, "case %zu: exit %d: %s", i, r.status, r.err);
        cr_assert_str_eq(r.err, cases[i].err, "case %zu", i);
        cr_assert_str_eq(r.out, "");
        cli_out_free(&r);
    }
    kwq(&r, NULL, "enqueue", "--file", "/nonexistent/items.txt");
    expect(&r, KWQ_EXIT_NOINPUT, "",
           "kwq: cannot open /nonexistent/items.txt: No such file or directory; check the path\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").pending, 0);
    cr_assert_eq(cli_stats(c, "default").enqueued, 0);
    kwq_client_free(c);
}

/* Bad input beyond issue 4's list: each one line, its exit code, nothing enqueued. */
Test(cli, enqueue_more_bad_input_changes_nothing)
{
    static const struct input_error cases[] = {
        {"{\"payload\":\"ok\"}\n{\"payload\":\"caf\xe9\"}\n", "--json", KWQ_EXIT_DATAERR,
         "kwq: line 2 of stdin is not valid UTF-8; NDJSON must be UTF-8 text (give binary items "
         "as lines or --null records, without --json)\n"},
        {"\xff\xfe{}\n", "--json", KWQ_EXIT_DATAERR,
         "kwq: line 1 of stdin is not valid UTF-8; NDJSON must be UTF-8 text (give binary items "
         "as lines or --null records, without --json)\n"},
        {"[\"payload\", \"x\"]\n", "--json", KWQ_EXIT_DATAERR,
         "kwq: line 1 of stdin is not a JSON object; give one object per line, e.g. "
         "{\"payload\":\"x\"}\n"},
        {"{\"payload\":\"a\"}\n\"just a string\"\n", "--json", KWQ_EXIT_DATAERR,
         "kwq: line 2 of stdin is not a JSON object; give one object per line, e.g. "
         "{\"payload\":\"x\"}\n"},
        {"{\"payload\":\"a\",\"idempotency_key\":\"k\"}\n"
         "{\"payload\":\"b\",\"idempotency_key\":\"j\"}\n"
         "\n"
         "{\"payload\":\"c\",\"idempotency_key\":\"j\"}\n"
         "{\"payload\":\"a\",\"idempotency_key\":\"k\"}\n",
         "--json", KWQ_EXIT_DATAERR,
         "kwq: line 4 of stdin reuses the idempotency key \"j\" of line 2 for a different item, "
         "which would be dropped; give each item its own key\n"},
    };
    struct kwq_client *c = test_client();
    struct cli_out r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kwq(&r, cases[i].input, "enqueue", cases[i].flag);
        cr_assert_eq(r.status, cases[i].code, "case %zu: exit %d: %s", i, r.status, r.err);
        cr_assert_str_eq(r.err, cases[i].err, "case %zu", i);
        cr_assert_str_eq(r.out, "");
        cli_out_free(&r);
    }
    kwq(&r, NULL, "enqueue", "--json", "{\"payload\":1,\"idempotency_key\":\"same\"}",
        "{\"payload\":2,\"idempotency_key\":\"same\"}");
    expect(&r, KWQ_EXIT_DATAERR, "",
           "kwq: argument 2 reuses the idempotency key \"same\" of argument 1 for a different "
           "item, which would be dropped; give each item its own key\n");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "--file", test_path("."));
    cr_assert_eq(r.status, KWQ_EXIT_NOINPUT, "%s", r.err);
    cr_assert(strstr(r.err, " is a directory; give a file of items (or '-' for stdin)\n") &&
                  strncmp(r.err, "kwq: ", 5) == 0 && strchr(r.err, '\n') == r.err + r.err_len - 1,
              "%s", r.err);
    cli_out_free(&r);
    /* A file that opens but cannot be read. */
    kwq(&r, NULL, "enqueue", "--file", "/proc/self/mem");
    expect(&r, KWQ_EXIT_NOINPUT, "",
           "kwq: cannot read /proc/self/mem: Input/output error; check the file or device\n");
    cli_out_free(&r);
    if (geteuid() != 0) { /* root reads any file */
        FILE *f = fopen(test_path("secret.txt"), "w");
        char want[1024];
        cr_assert(f && fputs("x\n", f) >= 0 && fclose(f) == 0);
        cr_assert_eq(chmod(test_path("secret.txt"), 0), 0);
        kwq(&r, NULL, "enqueue", "--file", test_path("secret.txt"));
        (void)snprintf(want, sizeof(want),
                       "kwq: cannot open %s: Permission denied; check the path\n",
                       test_path("secret.txt"));
        expect(&r, KWQ_EXIT_NOINPUT, "", want);
        cli_out_free(&r);
    }
    /* An NDJSON line too long, and an input over --max-input. */
    {
        char *line = malloc(5002);
        cr_assert_not_null(line);
        memset(line, 'x', 5000);
        line[5000] = '\n';
        line[5001] = '\0';
        kwq(&r, line, "enqueue", "--json", "--max-item", "10");
        expect(&r, KWQ_EXIT_DATAERR, "",
               "kwq: line 1 of stdin is 5000 bytes, over the 4156-byte limit for an NDJSON line; "
               "split it or raise --max-item\n");
        cli_out_free(&r);
        kwq(&r, line, "enqueue", "--max-input", "1k");
        expect(&r, KWQ_EXIT_DATAERR, "",
               "kwq: stdin is larger than the --max-input limit of 1024 bytes; split it or raise "
               "--max-input\n");
        cli_out_free(&r);
        free(line);
    }
    kwq(&r, "ab\ncd\n", "enqueue", "--queue", "limit", "--max-input", "6"); /* just fits */
    expect(&r, 0, "queue 'limit': 2 added, 0 duplicates\n", "");
    cli_out_free(&r);
    kwq(&r, "ab\ncd\n", "enqueue", "--queue", "limit", "--max-input", "5");
    expect(&r, KWQ_EXIT_DATAERR, "",
           "kwq: stdin is larger than the --max-input limit of 5 bytes; split it or raise "
           "--max-input\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "limit").enqueued, 2);
    cr_assert_eq(cli_stats(c, "default").enqueued, 0);
    /* Across inputs a key is what makes a retried enqueue safe. */
    kwq(&r, "{\"payload\":\"a\",\"idempotency_key\":\"k\"}\n", "enqueue", "--json");
    expect(&r, 0, "queue 'default': 1 added, 0 duplicates\n", "");
    cli_out_free(&r);
    kwq(&r, "{\"payload\":\"a\",\"idempotency_key\":\"k\"}\n", "enqueue", "--json");
    expect(&r, 0, "queue 'default': 0 added, 1 duplicate\n", "");
    cli_out_free(&r);
    kwq_client_free(c);
}

/* stdout closed early (| head) or full (-o on a full disk). */
Test(cli, stdout_closed_early_or_full)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    int p[2], full = open("/dev/full", O_WRONLY | O_CLOEXEC);

    cr_assert_geq(full, 0);
    kwq(&r, NULL, "enqueue", "--seal", "a", "b", "c");
    cli_out_free(&r);
    ack_all(c, "default", "!");

    /* A reader that stops early (kwq results | head -1) is no error. */
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    (void)close(p[0]);
    cli_exec_out_fd(&r, p[1], (const char *const[]){"results", NULL});
    expect(&r, 0, none, "");
    cli_out_free(&r);
    cli_exec_out_fd(&r, p[1], (const char *const[]){"results", "--follow", "--json", NULL});
    expect(&r, 0, none, "");
    cli_out_free(&r);
    cli_exec_out_fd(&r, p[1], (const char *const[]){"status", "--sample", "0", NULL});
    expect(&r, 0, none, "");
    cli_out_free(&r);
    (void)close(p[1]);

    /* A full disk is: one line, exit 1. */
    cli_exec_out_fd(&r, full, (const char *const[]){"results", NULL});
    expect(&r, KWQ_EXIT_FAILURE, none,
           "kwq: cannot write the results to stdout after 0 results: No space left on device; "
           "check the disk or the pipe\n");
    cli_out_free(&r);
    /* By ID: the count is of results written, not of IDs looked at. */
    cli_exec_out_fd(&r, full, (const char *const[]){"results", "99", "1", NULL});
    expect(&r, KWQ_EXIT_FAILURE, none,
           "kwq: no result kept for task 99 in queue 'default' (not done yet, done without "
           "output, or expired); see 'kwq task 99'\n"
           "kwq: cannot write the results to stdout after 0 results: No space left on device; "
           "check the disk or the pipe\n");
    cli_out_free(&r);
    cli_exec_out_fd(&r, full, (const char *const[]){"status", "--sample", "0", NULL});
    expect(&r, KWQ_EXIT_FAILURE, none,
           "kwq: cannot write to stdout: No space left on device; check the disk or the pipe\n");
    cli_out_free(&r);
    cli_exec_out_fd(&r, full, (const char *const[]){"--help", NULL});
    expect(&r, KWQ_EXIT_FAILURE, none,
           "kwq: cannot write to stdout: No space left on device; check the disk or the pipe\n");
    cli_out_free(&r);
    cli_exec_out_fd(&r, full, (const char *const[]){"--print-config", NULL});
    expect(&r, KWQ_EXIT_FAILURE, none,
           "kwq: cannot write to stdout: No space left on device; check the disk or the pipe\n");
    cli_out_free(&r);
    cli_exec_out_fd(&r, full,
                    (const char *const[]){"enqueue", "--queue", "ids", "--ids", "x", "y", NULL});
    expect(&r, KWQ_EXIT_FAILURE, none,
           "kwq: every item is in (2 added, 0 duplicates), but their IDs could not be written "
           "to stdout: No space left on device; 'kwq status' shows the queue\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "ids").pending, 2);
    (void)close(full);
    kwq_client_free(c);
}

Test(cli, help_command)
{
    struct cli_out r;

    kwq(&r, NULL, "help");
    expect(&r, 0, none, "");
    cr_assert(strncmp(r.out, "Usage: kwq [global options] COMMAND", 35) == 0, "%s", r.out);
    cli_out_free(&r);
    kwq(&r, NULL, "help", "run");
    expect(&r, 0, none, "");
    cr_assert(strncmp(r.out, "Usage: kwq run --local|--kube ", 30) == 0, "%s", r.out);
    cli_out_free(&r);
}

Test(cli, enqueue_sealed_queue_exit_6)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    kwq(&r, NULL, "seal");
    expect(&r, 0, "queue 'default' sealed\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "x");
    expect(&r, KWQ_EXIT_SEALED, "", none);
    cr_assert(strncmp(r.err, "kwq: nothing was enqueued: ", 27) == 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "sealed"), "%s", r.err);
    cli_out_free(&r);
    kwq(&r, NULL, "unseal");
    expect(&r, 0, "queue 'default' unsealed\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "--quiet", "x");
    expect(&r, 0, "", "");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").pending, 1);
    kwq_client_free(c);
}

Test(cli, enqueue_partial_says_how_many_went_in)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    size_t n = 15000, len = 0;
    char *input = malloc(n * 8);

    cr_assert_not_null(input);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(input + len, "i%zu\n", i);
    cr_assert_eq(kwq_queue_set(c, "default", "max_tasks", 12000), 0);
    cli_exec(&r, input, len, (const char *const[]){"enqueue", NULL});
    cr_assert_eq(r.status, KWQ_EXIT_FAILURE, "%s", r.err);
    cr_assert(strncmp(r.err,
                      "kwq: enqueue stopped after 12000 of 15000 items (12000 added, 0 "
                      "duplicates): ",
                      76) == 0,
              "%s", r.err);
    cr_assert_eq(cli_stats(c, "default").pending, 12000);
    cli_out_free(&r);
    free(input);
    kwq_client_free(c);
}

Test(cli, enqueue_a_hundred_thousand_lines)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    size_t n = 100000, len = 0;
    char *input = malloc(n * 12);

    cr_assert_not_null(input);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(input + len, "item-%zu\n", i);
    cli_exec(&r, input, len, (const char *const[]){"enqueue", "--seal", NULL});
    expect(&r, 0, "queue 'default': 100000 added, 0 duplicates, sealed\n", "");
    cr_assert_eq(cli_stats(c, "default").pending, n);
    cli_out_free(&r);
    free(input);
    kwq_client_free(c);
}

/* ---- status, wait -------------------------------------------------------------------------- */

Test(cli, status_text_and_json)
{
    struct cli_out r;
    cJSON *j;

    kwq(&r, NULL, "enqueue", "--seal", "a", "b");
    cli_out_free(&r);
    kwq(&r, NULL, "status", "--json", "--sample", "0");
    expect(&r, 0, none, "");
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "queue")->valuestring, "default");
    cr_assert_eq(cJSON_GetObjectItem(j, "pending")->valuedouble, 2);
    cr_assert_eq(cJSON_GetObjectItem(j, "enqueued")->valuedouble, 2);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "sealed")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "drained")));
    cr_assert_null(cJSON_GetObjectItem(j, "rates"));
    cr_assert_geq(cJSON_GetObjectItem(j, "oldest_pending_ms")->valuedouble, 0);
    cJSON_Delete(j);
    cli_out_free(&r);
    kwq(&r, NULL, "status", "--sample", "100ms");
    expect(&r, 0, none, "");
    cr_assert(strncmp(r.out, "queue:     default (sealed)\n", 28) == 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\npending:   2 (oldest "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\nrates:     0.0/s done, 0.0/s enqueued (over "), "%s",
                       r.out);
    cli_out_free(&r);
}

Test(cli, wait_drained_timeout_and_dead)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    kwq(&r, NULL, "seal");
    cli_out_free(&r);
    kwq(&r, NULL, "wait");
    expect(&r, 0, none, none);
    cr_assert(strncmp(r.out, "queue 'default' drained: 0 done, 0 dead-lettered in ", 52) == 0, "%s",
              r.out);
    cli_out_free(&r);

    kwq(&r, NULL, "--queue", "slow", "enqueue", "--seal", "x");
    cli_out_free(&r);
    kwq(&r, NULL, "--queue", "slow", "wait", "--timeout", "300ms", "--interval", "100ms");
    cr_assert_eq(r.status, KWQ_EXIT_TIMEOUT, "%s", r.err);
    cr_assert_str_eq(r.out, "");
    cr_assert_not_null(strstr(r.err, "kwq: 0/1 done   0%"), "%s", r.err); /* plain lines */
    cr_assert_not_null(strstr(r.err, "kwq: queue 'slow' did not drain within the --timeout (1 "
                                     "pending, 0 leased, 0 delayed); wait longer or see 'kwq "
                                     "status'\n"),
                       "%s", r.err);
    cli_out_free(&r);

    make_dead(c, "bad", "p", 65);
    kwq(&r, NULL, "--queue", "bad", "seal");
    cli_out_free(&r);
    kwq(&r, NULL, "--queue", "bad", "wait", "--quiet");
    expect(&r, KWQ_EXIT_DEAD, "",
           "kwq: queue 'bad' drained with 1 dead-lettered task; see 'kwq dlq list', then 'kwq "
           "dlq requeue' once fixed\n");
    cli_out_free(&r);
    kwq_client_free(c);
}

/* The --json fields of `kwq status`, in the order docs/kwq.md documents them. */
Test(cli, status_json_fields_as_documented)
{
    static const char *const fields[] = {
        "queue",          "redis",    "sealed",  "drained",  "pending",
        "leased",         "delayed",  "dead",    "done",     "enqueued",
        "duplicates",     "failed",   "retries", "expired",  "released",
        "cancelled",      "requeued", "results", "restarts", "oldest_pending_ms",
        "server_time_ms", "rates"};
    static const char *const rates[] = {"done_per_s", "enqueued_per_s", "window_ms"};
    struct cli_out r;
    const cJSON *f;
    cJSON *j;
    size_t i = 0;

    kwq(&r, NULL, "status", "--json", "--sample", "100ms");
    expect(&r, 0, none, "");
    cr_assert_eq(strchr(r.out, '\n'), r.out + r.out_len - 1, "one line: %s", r.out);
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cJSON_ArrayForEach(f, j)
    {
        cr_assert_lt(i, sizeof(fields) / sizeof(fields[0]), "extra field %s", f->string);
        cr_assert_str_eq(f->string, fields[i]);
        if (i < 2)
            cr_assert(cJSON_IsString(f), "%s", f->string);
        else if (i < 4)
            cr_assert(cJSON_IsBool(f), "%s", f->string);
        else if (i < 21)
            cr_assert(cJSON_IsNumber(f), "%s", f->string);
        i++;
    }
    cr_assert_eq(i, sizeof(fields) / sizeof(fields[0]));
    cr_assert_eq(cJSON_GetObjectItem(j, "oldest_pending_ms")->valuedouble, -1);
    i = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(j, "rates"))
    {
        cr_assert_lt(i, 3);
        cr_assert_str_eq(f->string, rates[i]);
        cr_assert(cJSON_IsNumber(f));
        i++;
    }
    cr_assert_eq(i, 3);
    cJSON_Delete(j);
    cli_out_free(&r);
}

/* Off a terminal: plain lines only, and no rate or ETA before anything finished. */
Test(cli, wait_plain_lines)
{
    struct cli_out r;
    const char *line;
    size_t lines = 0;

    kwq(&r, NULL, "enqueue", "--seal", "x");
    cli_out_free(&r);
    kwq(&r, NULL, "wait", "--timeout", "1s", "--interval", "100ms");
    cr_assert_eq(r.status, KWQ_EXIT_TIMEOUT, "%s", r.err);
    cr_assert_null(strchr(r.err, '\r'), "%s", r.err);
    cr_assert_null(strchr(r.err, '\033'), "%s", r.err);
    for (line = r.err; *line; line = strchr(line, '\n') + 1) {
        cr_assert_not_null(strchr(line, '\n'), "unterminated line: %s", line);
        static const char timeout[] = "kwq: queue 'default' did not drain";
        static const char progress[] = "kwq: 0/1 done   0%  0/s  ETA -\n";
        if (strncmp(line, timeout, sizeof(timeout) - 1) == 0)
            continue;
        cr_assert(strncmp(line, progress, sizeof(progress) - 1) == 0, "%s", r.err);
        lines++;
    }
    cr_assert_geq(lines, 1, "%s", r.err);
    cli_out_free(&r);
}

Test(cli, wait_sees_work_finish)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    kwq(&r, NULL, "enqueue", "--seal", "a", "b", "c");
    cli_out_free(&r);
    ack_all(c, "default", "");
    kwq(&r, NULL, "wait", "--quiet");
    expect(&r, 0, "", "");
    cli_out_free(&r);
    kwq_client_free(c);
}

/* ---- dlq, task, results, cancel, purge ------------------------------------------------------ */

Test(cli, dlq_list_requeue_purge)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    cJSON *j;

    kwq(&r, NULL, "dlq", "list");
    expect(&r, 0, "", "kwq: no dead tasks in queue 'default'\n");
    cli_out_free(&r);
    make_dead(c, "default", "p1", 65); /* id 1 */
    make_dead(c, "default", "p2", 3);  /* id 2 */
    kwq(&r, NULL, "dlq", "list");
    expect(&r, 0, none, "");
    cr_assert(
        strncmp(r.out, "ID         DIED                     ATTEMPTS  CODE  LAST ERROR\n", 63) == 0,
        "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\n1          "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "       1    65  boom\n"), "%s", r.out);
    cli_out_free(&r);
    kwq(&r, NULL, "dlq", "list", "--json", "--limit", "1");
    expect(&r, 0, none, "");
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "id")->valuestring, "1");
    cr_assert_eq(cJSON_GetObjectItem(j, "last_code")->valueint, 65);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "last_error")->valuestring, "boom\nsecond line");
    cJSON_Delete(j);
    cli_out_free(&r);

    kwq(&r, NULL, "dlq", "requeue", "1", "99");
    expect(&r, KWQ_EXIT_NOTFOUND, "requeued 1 dead task of queue 'default'\n",
           "kwq: 1 of the 2 given IDs were not dead tasks of queue 'default' (skipped); see "
           "'kwq dlq list'\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").pending, 1);
    kwq(&r, NULL, "dlq", "purge", "--all");
    expect(&r, 0, "purged 1 dead task of queue 'default'\n", "");
    cli_out_free(&r);
    make_dead(c, "default", "p3", 1);
    make_dead(c, "default", "p4", 1);
    kwq(&r, NULL, "dlq", "requeue");
    expect(&r, 0, "requeued 2 dead tasks of queue 'default'\n", "");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").dead, 0);
    kwq_client_free(c);
}

Test(cli, task_states_and_not_found)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    cJSON *j;

    make_dead(c, "default", "payload-1", 65);
    kwq(&r, NULL, "task", "1");
    expect(&r, 0, none, "");
    cr_assert(strncmp(r.out, "id:        1\nqueue:     default\nstate:     dead\nattempts:  1 of ",
                      63) == 0,
              "%s", r.out);
    cr_assert_not_null(strstr(r.out, "history:\n  attempt 1   failed    "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  exit 65  boom\n"), "%s", r.out);
    cr_assert_null(strstr(r.out, "payload-1"));
    cli_out_free(&r);
    kwq(&r, NULL, "task", "1", "--json", "--payload");
    expect(&r, 0, none, "");
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "state")->valuestring, "dead");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "payload")->valuestring, "payload-1");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "history")), 1);
    cJSON_Delete(j);
    cli_out_free(&r);
    kwq(&r, NULL, "task", "999");
    expect(&r, KWQ_EXIT_NOTFOUND, "",
           "kwq: no task 999 in queue 'default' (never enqueued, or done without a kept "
           "result); check the ID and --queue\n");
    cli_out_free(&r);
    kwq_client_free(c);
}

Test(cli, results_in_completion_order)
{
    struct kwq_client *c = test_client();
    struct cli_out r;
    cJSON *j;

    kwq(&r, NULL, "enqueue", "--seal", "a", "b");
    cli_out_free(&r);
    ack_all(c, "default", "-done");
    kwq(&r, NULL, "results");
    expect(&r, 0, "a-done\nb-done\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "results", "--json", "--limit", "1");
    expect(&r, 0, none, "");
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "id")->valuestring, "1");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "result")->valuestring, "a-done");
    char cursor[64];
    (void)snprintf(cursor, sizeof(cursor), "%s", cJSON_GetObjectItem(j, "cursor")->valuestring);
    cJSON_Delete(j);
    cli_out_free(&r);
    kwq(&r, NULL, "results", "--after", cursor);
    expect(&r, 0, "b-done\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "results", "2", "1");
    expect(&r, 0, "b-done\na-done\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "results", "99");
    expect(&r, KWQ_EXIT_NOTFOUND, "",
           "kwq: no result kept for task 99 in queue 'default' (not done yet, done without "
           "output, or expired); see 'kwq task 99'\n");
    cli_out_free(&r);
    /* drained: --follow prints what is there and stops */
    kwq(&r, NULL, "results", "--follow");
    expect(&r, 0, "a-done\nb-done\n", "");
    cli_out_free(&r);
    kwq_client_free(c);
}

Test(cli, cancel)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    kwq(&r, NULL, "enqueue", "a", "b");
    cli_out_free(&r);
    kwq(&r, NULL, "cancel", "1");
    expect(&r, 0, "task 1 cancelled\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "cancel", "1");
    expect(&r, KWQ_EXIT_NOTFOUND, "",
           "kwq: no task 1 in queue 'default' (never enqueued, done, or cancelled already); "
           "check the ID and --queue\n");
    cli_out_free(&r);
    make_dead(c, "dq", "d", 1); /* id 1 of queue dq */
    kwq(&r, NULL, "--queue", "dq", "cancel", "1");
    expect(&r, KWQ_EXIT_FAILURE, "",
           "kwq: cannot cancel task 1: it is dead-lettered; use 'kwq dlq purge 1'\n");
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").pending, 1);
    kwq_client_free(c);
}

Test(cli, purge_needs_yes)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    kwq(&r, NULL, "enqueue", "--seal", "a", "b");
    cli_out_free(&r);
    kwq(&r, NULL, "purge", "--yes");
    expect(&r, 0, "queue 'default' purged\n", "");
    cli_out_free(&r);
    struct kwq_stats st = cli_stats(c, "default");
    cr_assert_eq(st.pending, 0);
    cr_assert(!st.sealed);
    kwq(&r, NULL, "enqueue", "--ids", "c"); /* IDs are never reused */
    expect(&r, 0, "3\n", "queue 'default': 1 added, 0 duplicates\n");
    cli_out_free(&r);
    kwq_client_free(c);
}

/* The registry: names sorted, their counts as `kwq status` reads them, forget. */
Test(cli, queues_list_json_and_forget)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    kwq(&r, NULL, "queues");
    expect(&r, 0, "", "kwq: no queues in the registry (an enqueue registers its queue)\n");
    cli_out_free(&r);
    kwq(&r, NULL, "queues", "--json", "--quiet");
    expect(&r, 0, "[]\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "-q", "b", "x", "y", "z");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "-q", "a", "--delay", "1h", "x");
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "-q", "Z.1", "x");
    cli_out_free(&r);
    make_dead(c, "b", "w", 2); /* x is leased and dead-lettered, w joins y and z */
    {
        struct kwq_lease_result lr = {0};

        cr_assert_eq(kwq_lease(c, "b", 1, 60000, 0, &lr), 1, "%s", kwq_client_errstr(c));
        kwq_lease_result_done(&lr);
    }
    kwq(&r, NULL, "queues");
    expect(&r, 0, "Z.1\na\nb\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "queues", "--json");
    expect(&r, 0,
           "[{\"name\":\"Z.1\",\"pending\":1,\"leased\":0,\"delayed\":0,\"dead\":0},"
           "{\"name\":\"a\",\"pending\":0,\"leased\":0,\"delayed\":1,\"dead\":0},"
           "{\"name\":\"b\",\"pending\":2,\"leased\":1,\"delayed\":0,\"dead\":1}]\n",
           "");
    cli_out_free(&r);
    kwq(&r, NULL, "queues", "forget", "a", "nope", "Z.1");
    expect(&r, KWQ_EXIT_NOTFOUND,
           "queue 'a' removed from the registry\nqueue 'Z.1' removed from the registry\n",
           "kwq: queue 'nope' is not in the registry; see 'kwq queues'\n");
    cli_out_free(&r);
    kwq(&r, NULL, "queues");
    expect(&r, 0, "b\n", "");
    cli_out_free(&r);
    /* Forgetting touches no task. */
    cr_assert_eq(cli_stats(c, "a").delayed, 1);
    kwq(&r, NULL, "queues", "forget", "--quiet", "b");
    expect(&r, 0, "", "");
    cli_out_free(&r);
    kwq_client_free(c);
}

/* ---- local-redis --------------------------------------------------------------------------- */

Test(cli, local_redis_start_use_stop)
{
    struct cli_out r;
    char want[700];

    (void)unsetenv("KWQ_REDIS_URL");
    kwq(&r, NULL, "local-redis", "status");
    expect(&r, KWQ_EXIT_FAILURE, "",
           "kwq: no local Redis is running; 'kwq local-redis start' starts one\n");
    cli_out_free(&r);
    kwq(&r, NULL, "local-redis", "start");
    (void)snprintf(want, sizeof(want), "unix://%s/redis.sock\n", test_path("state"));
    expect(&r, 0, want, none);
    cr_assert(strncmp(r.err, "kwq: local Redis started (pid ", 30) == 0, "%s", r.err);
    cli_out_free(&r);
    kwq(&r, NULL, "local-redis", "start");
    expect(&r, 0, want, none);
    cr_assert(strncmp(r.err, "kwq: local Redis already running (pid ", 38) == 0, "%s", r.err);
    cli_out_free(&r);
    kwq(&r, NULL, "enqueue", "x", "y"); /* no --redis: the local one */
    expect(&r, 0, "queue 'default': 2 added, 0 duplicates\n", "");
    cli_out_free(&r);
    kwq(&r, NULL, "status", "--json", "--sample", "0");
    expect(&r, 0, none, "");
    cr_assert_not_null(strstr(r.out, "\"pending\":2,"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, test_path("state")), "%s", r.out);
    cli_out_free(&r);
    kwq(&r, NULL, "local-redis", "stop");
    expect(&r, 0, "", "kwq: local Redis stopped\n");
    cli_out_free(&r);
    kwq(&r, NULL, "local-redis", "stop");
    expect(&r, 0, "", "kwq: no local Redis was running\n");
    cli_out_free(&r);
    /* The data survives a restart (append-only file in the state dir). */
    kwq(&r, NULL, "local-redis", "start");
    expect(&r, 0, want, none);
    cli_out_free(&r);
    kwq(&r, NULL, "status", "--json", "--sample", "0");
    cr_assert_not_null(strstr(r.out, "\"pending\":2,"), "%s", r.out);
    cli_out_free(&r);
}

/*
 * `local-redis start` that cannot start one: a redis-server that exits at
 * once is a passing state (69), a state directory that is not a directory is
 * the operator's to fix (1); one line each, nothing on stdout.
 */
Test(cli, local_redis_start_failures)
{
    struct cli_out r;
    char want[900];

    (void)unsetenv("KWQ_REDIS_URL");
    cr_assert_eq(setenv("KWQ_REDIS_SERVER", "/bin/false", 1), 0);
    kwq(&r, NULL, "local-redis", "start");
    (void)snprintf(want, sizeof(want),
                   "kwq: redis-server exited during start-up (status 1): it said nothing; see %s\n",
                   test_path("state"));
    expect(&r, KWQ_EXIT_UNAVAILABLE, "", want);
    cli_out_free(&r);
    cr_assert_eq(unsetenv("KWQ_REDIS_SERVER"), 0);
    cr_assert_eq(setenv("KWQ_STATE_DIR", "/dev/null", 1), 0);
    kwq(&r, NULL, "local-redis", "start");
    expect(&r, KWQ_EXIT_FAILURE, "",
           "kwq: state directory /dev/null must be a directory owned by you and writable only by "
           "you; remove it or set KWQ_STATE_DIR\n");
    cli_out_free(&r);
}

/* ---- A Redis with a password ----------------------------------------------------------------- */

#define PASSWORD "s3cret-pw"

/* The fixture's server, then a password set on it (the fixture's readiness PING has none). */
static void auth_setup(void)
{
    redisContext *rc;
    redisReply *rep;

    cli_setup();
    rc = redisConnectUnix(test_redis.sock);
    cr_assert(rc && !rc->err);
    rep = redisCommand(rc, "CONFIG SET requirepass %s", PASSWORD);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(rc);
}

TestSuite(auth, .init = auth_setup, .fini = cli_teardown, .timeout = 120);

Test(auth, password_from_env_or_file_never_argv)
{
    struct cli_out r;
    FILE *f;

    /* A missing or refused password is a configuration error: 78, one line saying what to fix. */
    kwq(&r, NULL, "status", "--sample", "0");
    expect(&r, KWQ_EXIT_CONFIG, "",
           "kwq: Redis requires a password; set KWQ_REDIS_PASSWORD or --redis-password-file\n");
    cli_out_free(&r);

    cr_assert_eq(setenv("KWQ_REDIS_PASSWORD", "wrong-pw", 1), 0);
    kwq(&r, NULL, "status", "--sample", "0");
    expect(&r, KWQ_EXIT_CONFIG, "",
           "kwq: Redis refused the password (WRONGPASS); check KWQ_REDIS_PASSWORD / "
           "--redis-password-file\n");
    cr_assert_null(strstr(r.err, "wrong-pw"), "the password must not be printed: %s", r.err);
    cli_out_free(&r);

    /* The newline `echo` or a Secret made from a file leaves is dropped. */
    cr_assert_eq(setenv("KWQ_REDIS_PASSWORD", PASSWORD "\n", 1), 0);
    kwq(&r, NULL, "enqueue", "a");
    expect(&r, 0, "queue 'default': 1 added, 0 duplicates\n", "");
    cli_out_free(&r);
    (void)unsetenv("KWQ_REDIS_PASSWORD");

    f = fopen(test_path("pw"), "w");
    cr_assert_not_null(f);
    (void)fputs(PASSWORD "\n", f);
    (void)fclose(f);
    kwq(&r, NULL, "--redis-password-file", test_path("pw"), "enqueue", "b");
    expect(&r, 0, "queue 'default': 1 added, 0 duplicates\n", "");
    cli_out_free(&r);
    /* The workers of a run get the password file through their environment. */
    kwq(&r, NULL, "--redis-password-file", test_path("pw"), "run", "--local", "--", "/bin/cat");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_str_eq(r.out, "a\nb\n");
    cli_out_free(&r);
}

/* A user without the permissions kwq needs: 78, naming the ACL rules to grant. */
Test(auth, missing_permission_exit_78)
{
    redisContext *rc = redisConnectUnix(test_redis.sock);
    redisReply *rep;
    struct cli_out r;
    char url[600];

    cr_assert(rc && !rc->err);
    rep = redisCommand(rc, "AUTH %s", PASSWORD);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rep = redisCommand(rc, "ACL SETUSER nolua reset on >pw2 ~kwq:* +@connection +info +select");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", rep ? rep->str : "?");
    freeReplyObject(rep);
    redisFree(rc);
    (void)snprintf(url, sizeof(url), "unix://nolua:@%s", test_redis.sock);
    cr_assert_eq(setenv("KWQ_REDIS_URL", url, 1), 0);
    cr_assert_eq(setenv("KWQ_REDIS_PASSWORD", "pw2", 1), 0);
    kwq(&r, NULL, "status");
    expect(&r, KWQ_EXIT_CONFIG, "", none);
    cr_assert(strncmp(r.err, "kwq: the Redis user may not do what kwq needs (NOPERM ", 54) == 0,
              "%s", r.err);
    cr_assert_not_null(strstr(r.err, "); grant it the ACL rules in docs/PROTOCOL.md \"Client "
                                     "rules\"\n"),
                       "%s", r.err);
    cli_out_free(&r);
}

/* ---- Errors: transient (69, after riding out an outage) or configuration (78) --------------- */

TestSuite(errors, .init = cli_setup, .fini = cli_teardown, .timeout = 120);

/* A db the server does not have is the URL's fault: 2, not "cannot reach Redis". */
Test(errors, db_out_of_range_exit_2)
{
    struct cli_out r;
    char url[600], want[900];

    (void)snprintf(url, sizeof(url), "%s?db=99", test_redis.url);
    kwq(&r, NULL, "--redis", url, "status");
    (void)snprintf(want, sizeof(want),
                   "kwq: Redis at %s has fewer databases than the URL's db (DB index is out of "
                   "range); use a db below its 'databases' setting (16 by default); see 'kwq "
                   "--help'\n",
                   url);
    expect(&r, KWQ_EXIT_USAGE, "", want);
    cli_out_free(&r);
}

/* At maxmemory an enqueue is refused as a passing state (69): nothing was added. */
Test(errors, enqueue_at_maxmemory_exit_69)
{
    redisContext *rc = redisConnectUnix(test_redis.sock);
    struct kwq_client *c = test_client();
    redisReply *rep;
    struct cli_out r;

    cr_assert(rc && !rc->err);
    rep = redisCommand(rc, "CONFIG SET maxmemory 1");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    kwq(&r, NULL, "enqueue", "a");
    expect(&r, KWQ_EXIT_UNAVAILABLE, "", none);
    cr_assert_not_null(strstr(r.err, "is at its maxmemory limit and refused the write (OOM); let "
                                     "workers drain queues or raise maxmemory\n"),
                       "%s", r.err);
    cli_out_free(&r);
    rep = redisCommand(rc, "CONFIG SET maxmemory 0");
    freeReplyObject(rep);
    redisFree(rc);
    cr_assert_eq(cli_stats(c, "default").enqueued, 0);
    kwq_client_free(c);
}

/* Start kwq with args in the background, stdout and stderr to files out and err. */
static pid_t kwq_bg(const char *const *args, const char *out, const char *err)
{
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_t pid;

    cr_assert(o >= 0 && e >= 0);
    pid = test_proc_start(args, (const int[3]){-1, o, e});
    (void)close(o);
    (void)close(e);
    return pid;
}

/* Once the bound of --redis-retry has passed, `kwq wait` gives up: 69, with what it tried. */
Test(errors, wait_gives_up_after_redis_retry)
{
    char out[600], err[600];
    char *text;
    pid_t pid;
    int code;

    (void)snprintf(out, sizeof(out), "%s", test_path("wait.out"));
    (void)snprintf(err, sizeof(err), "%s", test_path("wait.err"));
    pid = kwq_bg((const char *const[]){KWQ_TEST_KWQ_BIN, "wait", "--redis-retry", "1s", NULL}, out,
                 err);
    cli_wait_for_text(err, "has never been used");
    redis_fixture_kill(&test_redis);
    code = test_proc_wait(pid, time(NULL) + CLI_SAFETY_S);
    text = cli_read_file(err);
    cr_assert_eq(code, KWQ_EXIT_UNAVAILABLE, "%s", text);
    cr_assert_not_null(strstr(text, "; retrying for up to 1s (--redis-retry)\n"), "%s", text);
    cr_assert_not_null(strstr(text, "kwq: cannot connect to Redis at "), "%s", text);
    free(text);
}

/* AOF on, so that a restarted Redis has the queue back. */
TestSuite(outage, .init = cli_setup_aof, .fini = cli_teardown, .timeout = 120);

/* Ack task id with result res. */
static void ack_with(struct kwq_client *c, const char *res)
{
    struct kwq_lease_result lr = {0};
    int st = -1;

    cr_assert_eq(kwq_lease(c, "default", 1, 60000, 0, &lr), 1, "%s", kwq_client_errstr(c));
    struct kwq_ack a = {
        .id = lr.tasks[0].id, .token = lr.tasks[0].token, .result = res, .result_len = strlen(res)};
    cr_assert_eq(kwq_ack(c, "default", &a, 1, &st), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(st, 0);
    kwq_lease_result_done(&lr);
}

/*
 * `kwq results --follow` rides out a Redis restart: it reconnects, goes on
 * from its cursor (nothing skipped, nothing twice) and ends 0 on the drained
 * queue.
 */
Test(outage, results_follow_rides_out_a_restart)
{
    struct kwq_client *c = test_client();
    char out[600], err[600];
    char *o, *e;
    pid_t pid;
    int code;

    (void)snprintf(out, sizeof(out), "%s", test_path("results.out"));
    (void)snprintf(err, sizeof(err), "%s", test_path("results.err"));
    cr_assert_eq(kwq_enqueue(c, "default",
                             (struct kwq_new_task[]){{.payload = "a", .payload_len = 1},
                                                     {.payload = "b", .payload_len = 1}},
                             2, NULL, NULL),
                 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(kwq_seal(c, "default"), 0);
    ack_with(c, "r1");
    pid = kwq_bg((const char *const[]){KWQ_TEST_KWQ_BIN, "results", "--follow", NULL}, out, err);
    cli_wait_for_text(out, "r1\n");
    redis_fixture_kill(&test_redis);
    cli_wait_for_text(err, "; retrying for up to 1m (--redis-retry)\n");
    redis_fixture_restart(&test_redis);
    cr_assert_eq(kwq_client_connect(c), 0, "%s", kwq_client_errstr(c));
    ack_with(c, "r2");
    code = test_proc_wait(pid, time(NULL) + CLI_SAFETY_S);
    o = cli_read_file(out);
    e = cli_read_file(err);
    cr_assert_eq(code, 0, "%s", e);
    cr_assert_str_eq(o, "r1\nr2\n");
    cr_assert_not_null(strstr(e, "kwq: Redis at "), "%s", e);
    cr_assert_not_null(strstr(e, " answers again after "), "%s", e);
    free(o);
    free(e);
    kwq_client_free(c);
}

/*
 * A restart the queue noticed is shown, and on an open queue kwq status says
 * that a seal may have been lost with it.
 */
Test(outage, status_shows_a_restart_and_notes_a_seal_may_be_lost)
{
    struct kwq_client *c = test_client();
    struct cli_out r;

    cr_assert_eq(kwq_enqueue(c, "default", &(struct kwq_new_task){.payload = "a", .payload_len = 1},
                             1, NULL, NULL),
                 0, "%s", kwq_client_errstr(c));
    redis_fixture_restart(&test_redis);
    cr_assert_eq(kwq_client_connect(c), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(kwq_enqueue(c, "default", &(struct kwq_new_task){.payload = "b", .payload_len = 1},
                             1, NULL, NULL),
                 0, "%s", kwq_client_errstr(c));
    kwq(&r, NULL, "status", "--sample", "0");
    expect(&r, 0, none,
           "kwq: Redis restarted while this queue was in use: a seal written just before a "
           "restart can be lost; if all its work is in, run 'kwq seal' again\n");
    cr_assert_not_null(strstr(r.out, "\nrestarts:  1 seen by this queue (Redis restarted or "
                                     "failed over)\n"),
                       "%s", r.out);
    cli_out_free(&r);
    cr_assert_eq(kwq_seal(c, "default"), 0);
    kwq(&r, NULL, "status", "--sample", "0");
    expect(&r, 0, none, "");
    cli_out_free(&r);
    kwq_client_free(c);
}

/* ---- A replica ------------------------------------------------------------------------------ */

static char master_port[16];

/* The fixture's server listens on loopback too, so that a replica can follow it. */
static void repl_cli_setup(void)
{
    static const char *const args[] = {"--port", master_port, "--bind", "127.0.0.1", NULL};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port the kernel just handed out, never a fixed one. */
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    (void)snprintf(master_port, sizeof(master_port), "%u", (unsigned)ntohs(sa.sin_port));
    (void)close(fd);
    redis_fixture_start(&test_redis, args);
    cli_setup_env();
}

TestSuite(replica, .init = repl_cli_setup, .fini = cli_teardown, .timeout = 120);

/* A URL that points at a replica: 78, saying to use the master; nothing is written. */
Test(replica, replica_url_exit_78)
{
    static const char *const args[] = {"--replicaof", "127.0.0.1", master_port, NULL};
    struct redis_fixture replica = {.pid = 0};
    struct kwq_client *c = test_client();
    struct cli_out r;
    char want[900];

    redis_fixture_start(&replica, args);
    kwq(&r, NULL, "--redis", replica.url, "enqueue", "a");
    (void)snprintf(want, sizeof(want),
                   "kwq: Redis at %s is a read-only replica of 127.0.0.1:%s; point the Redis URL "
                   "at the master\n",
                   replica.url, master_port);
    expect(&r, KWQ_EXIT_CONFIG, "", want);
    cli_out_free(&r);
    cr_assert_eq(cli_stats(c, "default").enqueued, 0);
    redis_fixture_stop(&replica);
    kwq_client_free(c);
}
