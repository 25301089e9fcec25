/* helper_ignore_term [PIDFILE] - ignore SIGTERM and hang until SIGKILL. */
#include <signal.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    (void)signal(SIGTERM, SIG_IGN);
    if (argc > 1)
        helper_write_pid(argv[1], getpid());
    for (;;)
        pause();
}
