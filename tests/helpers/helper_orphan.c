/*
 * helper_orphan PIDFILE - start a grandchild that ignores SIGTERM and would
 * be orphaned, write its pid to PIDFILE.<KWQ_ATTEMPT>, then hang. The worker
 * must kill the whole process group on timeout: the test checks that every
 * grandchild written is gone.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    const char *attempt = getenv("KWQ_ATTEMPT");
    char path[4000]; /* room for helper_write_pid's ".tmp" */
    pid_t pid;

    if (argc < 2 || !attempt)
        return 64;
    (void)snprintf(path, sizeof(path), "%s.%s", argv[1], attempt);
    helper_drain_stdin();
    pid = fork();
    if (pid < 0)
        return 71;
    if (pid == 0) {
        (void)signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    helper_write_pid(path, pid);
    for (;;)
        pause();
}
