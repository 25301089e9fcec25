/*
 * helper_once_hang MARKER PIDFILE - the first run (MARKER absent) creates
 * MARKER, writes PIDFILE, ignores SIGTERM and hangs until killed; every
 * later run prints "attempt $KWQ_ATTEMPT" and exits 0. A task whose first
 * worker dies or is stopped, and which then completes elsewhere.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    const char *attempt = getenv("KWQ_ATTEMPT");

    if (argc < 3)
        return 64;
    helper_drain_stdin();
    if (helper_create_once(argv[1])) {
        (void)signal(SIGTERM, SIG_IGN);
        helper_write_pid(argv[2], getpid());
        for (;;)
            pause();
    }
    (void)printf("attempt %s", attempt ? attempt : "?");
    return 0;
}
