/*
 * helper_wait_go PIDFILE GOFILE - write PIDFILE, then wait (at most 60s)
 * until GOFILE exists, print "went", exit 0. Lets a test decide exactly
 * when a handler finishes, without timing.
 */
#include <stdio.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    if (argc < 3)
        return 64;
    helper_drain_stdin();
    helper_write_pid(argv[1], getpid());
    for (int i = 0; i < 6000 && !helper_exists(argv[2]); i++)
        helper_sleep_ms(10);
    (void)printf("went");
    return 0;
}
