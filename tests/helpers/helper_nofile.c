/*
 * helper_nofile N PROGRAM [ARG]... - close every fd above 2, set the soft and
 * hard limit of open files to N, and exec PROGRAM: a worker that runs out of
 * file descriptors, whatever the test process had open.
 */
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct rlimit rl;

    if (argc < 3)
        return 64;
    (void)syscall(SYS_close_range, 3U, ~0U, 0U);
    rl.rlim_cur = rl.rlim_max = (rlim_t)atol(argv[1]);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 71;
    execv(argv[2], argv + 2);
    return 127;
}
