/*
 * test_worker_spawn.c - starting handler processes: a handler inherits no
 * fd of the worker (not its Redis connection), in exec and stream mode; a
 * handler that cannot be executed stops the worker with 78, a worker out
 * of file descriptors with 71 (a shortage, not a broken Job spec); either
 * way the task goes back uncharged.
 */
#include <fcntl.h>
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

TestSuite(worker_spawn, .init = redis_setup, .fini = redis_teardown, .timeout = 120);

static void assert_result(struct kwq_client *c, const char *id, const char *want)
{
    char *res = NULL;
    size_t len = 0;

    cr_assert(kwq_result_get(c, TEST_QUEUE, id, &res, &len) == 0, "%s", kwq_client_errstr(c));
    cr_assert_str_eq(res, want);
    free(res);
}

/* The worker holds its Redis connection (and whatever the test process left open) meanwhile. */
Test(worker_spawn, exec_handler_inherits_no_fd_of_the_worker)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *args[] = {"--", helper_path("helper_fds"), NULL};
    pid_t w;

    enqueue_n(c, 1, "t", &id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    assert_result(c, id.id, "fds:");
    kwq_client_free(c);
}

Test(worker_spawn, stream_handler_inherits_no_fd_of_the_worker)
{
    struct kwq_client *c = test_client();
    struct kwq_enqueued id;
    const char *args[] = {"--stream", "--", helper_path("helper_stream_odd"), "fds", NULL};
    pid_t w;

    enqueue_n(c, 1, "t", &id);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OK);
    assert_result(c, id.id, "fds:");
    kwq_client_free(c);
}

/* Executable by its mode, but neither a binary nor a script with a #! line: exec fails. */
Test(worker_spawn, handler_that_cannot_be_executed_exits_78_and_releases_the_task)
{
    struct kwq_client *c = test_client();
    const char *bad = test_path("not-a-program");
    /* A long lease: nothing but the failure itself may move the worker along. */
    const char *args[] = {"--lease", "1h", "--", bad, NULL};
    pid_t w;

    write_file(bad, "just text, no #! line\n");
    cr_assert(chmod(bad, 0755) == 0);
    enqueue_n(c, 1, "t", NULL);
    w = worker_start("w.log", args);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_CONFIG);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.pending, 1, "the task is back in the queue");
    cr_assert_eq(st.released, 1);
    cr_assert_eq(st.failed, 0, "no attempt was charged");
    cr_assert(file_contains(test_path("w.log"), "cannot start the handler"));
    kwq_client_free(c);
}

/*
 * helper_nofile closes the test's fds and leaves the worker 7: its stdio,
 * the event loop's two and the Redis connection fit, a handler's pipes do
 * not.
 */
Test(worker_spawn, worker_out_of_fds_exits_71_and_releases_the_task)
{
    struct kwq_client *c = test_client();
    /* A long lease: nothing but the failure itself may move the worker along. */
    const char *args[] = {
        "--redis", test_redis.url, "--queue", TEST_QUEUE, "--log-format",
        "json",    "--lease",      "1h",      "--",       helper_path("helper_echo"),
        NULL};
    const char *argv[16] = {helper_path("helper_nofile"), "7", KWQ_TEST_WORKER_BIN};
    int fd, fds[3];
    pid_t w;

    for (size_t i = 0; args[i]; i++)
        argv[3 + i] = args[i];
    enqueue_n(c, 1, "t", NULL);
    fd = open(test_path("w.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    fds[0] = -1;
    fds[1] = fds[2] = fd;
    w = test_proc_start(argv, fds);
    (void)close(fd);
    cr_assert_eq(worker_wait(w, "w.log"), KWQ_EXIT_OSERR);

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.pending, 1, "the task is back in the queue");
    cr_assert_eq(st.released, 1);
    cr_assert_eq(st.failed, 0, "no attempt was charged");
    cr_assert(file_contains(test_path("w.log"), "Too many open files"));
    kwq_client_free(c);
}
