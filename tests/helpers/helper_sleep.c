/*
 * helper_sleep MS [PIDFILE] - write PIDFILE, read stdin, sleep MS
 * milliseconds (-1: until killed), print "slept", exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    long ms = argc > 1 ? atol(argv[1]) : 0;

    if (argc > 2)
        helper_write_pid(argv[2], getpid());
    helper_drain_stdin();
    if (ms < 0) {
        for (;;)
            pause();
    }
    helper_sleep_ms(ms);
    (void)printf("slept");
    return 0;
}
