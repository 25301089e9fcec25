/*
 * test_worker_examples.c - the handler examples of docs/kwq-worker.md, taken
 * from the page and run by a real kwq-worker: the bash handler fails a task
 * whose download fails (pipefail) instead of acking the hash of nothing, and
 * the Python stream handler reads base64 payloads (enc) as bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/client.h"
#include "kwq/exit.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

TestSuite(worker_examples, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

static char *read_doc(void)
{
    FILE *f = fopen(KWQ_TEST_SOURCE_DIR "/docs/kwq-worker.md", "r");
    char *text = calloc(1, 1 << 20);
    size_t n;

    cr_assert_not_null(f);
    cr_assert_not_null(text);
    n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    (void)fclose(f);
    return text;
}

/* The first ```lang block after the text `after` in the page, written to path. */
static void extract_block(const char *after, const char *lang, const char *path)
{
    char *doc = read_doc(), fence[32];
    const char *at = strstr(doc, after), *start, *end;
    FILE *f;

    cr_assert_not_null(at, "'%s' is not in docs/kwq-worker.md", after);
    (void)snprintf(fence, sizeof(fence), "```%s\n", lang);
    start = strstr(at, fence);
    cr_assert_not_null(start, "no %s block after '%s'", lang, after);
    start += strlen(fence);
    end = strstr(start, "```\n");
    cr_assert_not_null(end);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(start, 1, (size_t)(end - start), f), (size_t)(end - start));
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, 0755), 0);
    free(doc);
}

/* Path of prog in PATH, or NULL. */
static const char *which(const char *prog)
{
    static char found[4096];
    const char *path = getenv("PATH");

    for (const char *p = path; p && *p;) {
        size_t n = strcspn(p, ":");

        (void)snprintf(found, sizeof(found), "%.*s/%s", (int)n, p, prog);
        if (access(found, X_OK) == 0)
            return found;
        p += n + (p[n] == ':');
    }
    return NULL;
}

static void enqueue_bytes(struct kwq_client *c, const char *p, size_t n, struct kwq_enqueued *ret)
{
    struct kwq_new_task t = {.payload = p, .payload_len = n, .max_attempts = 1};
    size_t accepted = 0;

    cr_assert_eq(kwq_enqueue(c, TEST_QUEUE, &t, 1, ret, &accepted), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(accepted, 1);
}

/* The last exit code of dead task id. */
static int dead_code(struct kwq_client *c, const char *id)
{
    struct kwq_dead_task *list = NULL;
    size_t n = 0;
    int code = -100;

    cr_assert_eq(kwq_dead_list(c, TEST_QUEUE, 0, 10, &list, &n), 0, "%s", kwq_client_errstr(c));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].id, id) == 0)
            code = list[i].last_code;
    }
    kwq_dead_list_free(list, n);
    cr_assert_neq(code, -100, "task %s is not dead", id);
    return code;
}

static void assert_result(struct kwq_client *c, const char *id, const char *want)
{
    char *res = NULL;
    size_t len = 0;

    cr_assert_eq(kwq_result_get(c, TEST_QUEUE, id, &res, &len), 0, "%s", kwq_client_errstr(c));
    cr_assert_eq(len, strlen(want), "%.*s", (int)len, res);
    cr_assert(memcmp(res, want, len) == 0, "%.*s", (int)len, res);
    free(res);
}

/* Port 1 refuses the connection: curl fails, and so must the task. */
Test(worker_examples, bash_handler_fails_a_failed_download)
{
    struct kwq_client *c = test_client();
    char path[4096];
    struct kwq_enqueued refused, not_url;
    const char *args[] = {"--", path, NULL};
    pid_t w;

    if (!which("curl") || !which("bash"))
        cr_skip_test("curl or bash is not installed");
    (void)snprintf(path, sizeof(path), "%s", test_path("fetch"));
    extract_block("A handler in bash", "bash", path);
    enqueue_bytes(c, "http://127.0.0.1:1/nothing", 26, &refused);
    enqueue_bytes(c, "ftp://x", 7, &not_url);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, 0, "a failed download was acked");
    cr_assert_eq(st.dead, 2);
    cr_assert_eq(dead_code(c, refused.id), 7, "curl's 'could not connect' is the exit code");
    cr_assert_eq(dead_code(c, not_url.id), 65);
    kwq_client_free(c);
}

Test(worker_examples, python_stream_handler_reads_base64_payloads)
{
    struct kwq_client *c = test_client();
    char path[4096];
    struct kwq_enqueued text, binary;
    const char *args[] = {"--stream", "--", "python3", path, NULL};
    pid_t w;

    if (!which("python3"))
        cr_skip_test("python3 is not installed");
    (void)snprintf(path, sizeof(path), "%s", test_path("stream_handler.py"));
    extract_block("A minimal stream handler in Python", "python", path);
    enqueue_bytes(c, "hi", 2, &text);
    enqueue_bytes(c, "a\0b\377", 4, &binary); /* not UTF-8, and a NUL: sent as base64 */
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    /* sha256sum of the bytes, computed beforehand */
    assert_result(c, text.id, "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4");
    assert_result(c, binary.id, "a37cc3026aae4d519e0b19c298fa913b4dccfdf0658cbccbb7deaa0226d5acdb");
    kwq_client_free(c);
}
