/*
 * helper_orphan PIDFILE - start a grandchild that ignores SIGTERM and would
 * be orphaned, write its pid to PIDFILE, then hang. The worker must kill
 * the whole process group on timeout: the test checks the grandchild is gone.
 */
#include <signal.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    pid_t pid;

    if (argc < 2)
        return 64;
    helper_drain_stdin();
    pid = fork();
    if (pid < 0)
        return 71;
    if (pid == 0) {
        (void)signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    helper_write_pid(argv[1], pid);
    for (;;)
        pause();
}
