/*
 * orphans.c - adopt and end what killed workers' handlers left running
 * (see orphans.h). Children are found in /proc: an adopted orphan is known
 * to no one else.
 */
#include "orphans.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS_MAX   100
#define KIDS_MAX     256
#define REAP_WAIT_MS 5000

void orphans_adopt(void)
{
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/* Children of this process but keep; *ret_live counts those not yet zombies. */
static size_t children(pid_t keep, pid_t *ret, size_t max, size_t *ret_live)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t self = getpid();
    size_t n = 0;

    *ret_live = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL && n < max) {
        char path[300], buf[512], *close_paren;
        int pid, ppid;
        char state;
        FILE *f;

        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        /* "pid (comm) state ppid ...": comm may hold spaces and ')', so parse after the last ')' */
        if (fgets(buf, sizeof(buf), f) && (close_paren = strrchr(buf, ')')) != NULL &&
            sscanf(buf, "%d", &pid) == 1 && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 &&
            ppid == self && pid != keep) {
            ret[n++] = (pid_t)pid;
            *ret_live += state != 'Z';
        }
        (void)fclose(f);
    }
    (void)closedir(d);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    (void)nanosleep(&ts, NULL);
}

size_t orphans_kill(pid_t keep)
{
    size_t total = 0;

    for (int round = 0; round < ROUNDS_MAX; round++) {
        pid_t kids[KIDS_MAX];
        size_t live, n = children(keep, kids, KIDS_MAX, &live);

        if (n == 0)
            break;
        total += live;
        for (size_t i = 0; i < n; i++)
            (void)kill(kids[i], SIGKILL);
        for (size_t i = 0; i < n; i++) {
            /* Bounded: a process stuck in the kernel (D state) must not hang kwq. */
            for (int waited = 0; waited < REAP_WAIT_MS; waited += 10) {
                if (waitpid(kids[i], NULL, WNOHANG) != 0)
                    break;
                sleep_ms(10);
            }
        }
    }
    return total;
}
