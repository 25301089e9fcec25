/*
 * test_proc.h - what the tests that run kwq programs share beside the
 * fixture's redis-server: start a program with its stdio on given fds,
 * wait for its exit under a safety limit (it bounds a broken test, it
 * measures nothing), name files in the test's private dir, and connect a
 * client to the fixture's Redis.
 */
#ifndef KWQ_TEST_PROC_H
#define KWQ_TEST_PROC_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "kwq/client.h"

/*
 * Path of name inside the fixture's private dir. The string lives in one of
 * 8 static buffers used in turn: copy it to keep it longer.
 */
const char *test_path(const char *name);

/* A client connected to the fixture's Redis (asserts); free with kwq_client_free. */
struct kwq_client *test_client(void);

/*
 * Fork and exec argv[0] (a path; NULL-terminated argv) with its stdin,
 * stdout and stderr duplicated from fds[0], fds[1], fds[2] (-1 keeps the
 * test's). The child is killed if the test dies (PR_SET_PDEATHSIG) and
 * exits 127 when exec fails. Asserts the fork; the caller still owns fds.
 */
pid_t test_proc_start(const char *const *argv, const int fds[3]);

/* True when pid has exited, with *ret_code its exit code, or 128 + the signal that ended it. */
bool test_proc_exited(pid_t pid, int *ret_code);

/*
 * Wait for pid's exit (polling) until time(NULL) passes deadline. Returns
 * the exit code as test_proc_exited, or -1 after killing (SIGKILL) and
 * reaping a process that ran past the deadline: the caller fails the test.
 */
int test_proc_wait(pid_t pid, time_t deadline);

#endif /* KWQ_TEST_PROC_H */
