/*
 * test_proc.c - starting, waiting for and naming the files of the programs
 * a test runs (see test_proc.h).
 */
#include "test_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "redis_fixture.h"

#define PATH_SLOTS 8

const char *test_path(const char *name)
{
    static char bufs[PATH_SLOTS][512];
    static unsigned next;
    char *b = bufs[next++ % PATH_SLOTS];

    (void)snprintf(b, sizeof(bufs[0]), "%s/%s", test_redis.dir, name);
    return b;
}

struct kwq_client *test_client(void)
{
    struct kwq_client_opts o;
    struct kwq_client *c;

    kwq_client_opts_init(&o);
    o.url = test_redis.url;
    c = kwq_client_new(&o);
    cr_assert(c != NULL);
    cr_assert(kwq_client_connect(c) == 0, "connect: %s", kwq_client_errstr(c));
    return c;
}

pid_t test_proc_start(const char *const *argv, const int fds[3])
{
    pid_t pid = fork();

    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0 && dup2(fds[i], i) < 0)
                _exit(127);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

bool test_proc_exited(pid_t pid, int *ret_code)
{
    int st;

    if (waitpid(pid, &st, WNOHANG) != pid)
        return false;
    *ret_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
}

int test_proc_wait(pid_t pid, time_t deadline)
{
    int code;

    while (!test_proc_exited(pid, &code)) {
        struct timespec nap = {.tv_sec = 0, .tv_nsec = 5L * 1000 * 1000};

        if (time(NULL) > deadline) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, NULL, 0);
            return -1;
        }
        (void)nanosleep(&nap, NULL);
    }
    return code;
}
