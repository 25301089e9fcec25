/*
 * helper_fds - read stdin, then print "fds:" and " N" for every open file
 * descriptor above 2 (except the one listing them): a handler must inherit
 * none, so its result is exactly "fds:".
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "helper_common.h"

int main(void)
{
    DIR *d;
    struct dirent *e;

    helper_drain_stdin();
    (void)printf("fds:");
    d = opendir("/proc/self/fd");
    if (!d)
        return 71;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);

        if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d))
            (void)printf(" %d", fd);
    }
    (void)closedir(d);
    return 0;
}
