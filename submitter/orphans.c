/*
 * orphans.c - adopt, reap and end what handlers left running (see
 * orphans.h). Children are found in /proc: an adopted orphan is known to
 * no one else.
 */
#include "orphans.h"

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kwq/util.h"

#include "cli.h"

#define REAP_WAIT_MS 5000

/*
 * kwq's children when it began to adopt: ones inherited across exec
 * (`sleep 99 & exec kwq run ...`) and the private redis-server. They are no
 * orphans of a handler, so they are not kwq's to kill.
 */
static pid_t *before;
static size_t nbefore;
static bool adopting; /* orphans_adopt() was called: `before` is known */

static bool was_before(pid_t pid)
{
    for (size_t i = 0; i < nbefore; i++)
        if (before[i] == pid)
            return true;
    return false;
}

/* The state and parent of process `pid` (a /proc entry's name); false when gone or not a pid. */
static bool proc_stat(const char *pid, char *ret_state, int *ret_ppid)
{
    char path[300], buf[512], *close_paren;
    bool ok;
    FILE *f;

    if (pid[0] < '1' || pid[0] > '9')
        return false;
    (void)snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    /* "pid (comm) state ppid ...": comm may hold spaces and ')', so parse after the last ')' */
    ok = fgets(buf, sizeof(buf), f) && (close_paren = strrchr(buf, ')')) != NULL &&
         sscanf(close_paren + 1, " %c %d", ret_state, ret_ppid) == 2;
    (void)fclose(f);
    return ok;
}

/* A SIGKILL is on its way to pid (a handler whose worker died gets one: PR_SET_PDEATHSIG). */
static bool being_killed(pid_t pid)
{
    char path[64], line[256];
    unsigned long long sig;
    bool dying = false;
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    while (!dying && fgets(line, sizeof(line), f))
        dying =
            (sscanf(line, "SigPnd: %llx", &sig) == 1 || sscanf(line, "ShdPnd: %llx", &sig) == 1) &&
            (sig & (1ULL << (SIGKILL - 1)));
    (void)fclose(f);
    return dying;
}

/*
 * Children of this process not in `before`, into *ret (malloc'd, NULL when
 * none or out of memory). With ret_live, *ret_live counts those running:
 * neither zombies nor already being killed (those were not left running).
 */
static size_t children(pid_t **ret, size_t *ret_live)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t self = getpid();
    size_t n = 0, cap = 0;

    *ret = NULL;
    if (ret_live)
        *ret_live = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        int ppid = 0;
        char state = 0;

        if (!proc_stat(e->d_name, &state, &ppid) || ppid != self || was_before(pid))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            pid_t *nr = realloc(*ret, ncap * sizeof(*nr));
            if (!nr)
                break; /* those found are killed; the next round finds the rest */
            *ret = nr;
            cap = ncap;
        }
        (*ret)[n++] = pid;
        if (ret_live)
            *ret_live += state != 'Z' && !being_killed(pid);
    }
    (void)closedir(d);
    return n;
}

void orphans_adopt(void)
{
    nbefore = children(&before, NULL);
    adopting = true;
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
}

void orphans_reap(const pid_t *keep, size_t nkeep)
{
    pid_t *kids = NULL;
    size_t n = adopting ? children(&kids, NULL) : 0;

    for (size_t i = 0; i < n; i++) {
        bool kept = false;
        for (size_t k = 0; k < nkeep && !kept; k++)
            kept = keep[k] == kids[i];
        if (!kept)
            (void)waitpid(kids[i], NULL, WNOHANG); /* reaps it only if it has ended */
    }
    free(kids);
}

size_t orphans_kill(void)
{
    /* One bound for all rounds: a process stuck in the kernel (D state) must not hang kwq. */
    uint64_t until = kwq_monotonic_ms() + REAP_WAIT_MS;
    size_t total = 0;
    bool late = !adopting; /* nothing adopted: every child is one kwq keeps */

    while (!late) {
        pid_t *kids;
        size_t live, n = children(&kids, &live);

        if (n == 0)
            break;
        total += live;
        for (size_t i = 0; i < n; i++)
            (void)kill(kids[i], SIGKILL);
        /* All reaped before the next round, which finds those the killed ones left in turn. */
        for (size_t i = 0; i < n && !late; i++) {
            while (waitpid(kids[i], NULL, WNOHANG) == 0 && !(late = kwq_monotonic_ms() > until))
                cli_sleep_ms(10);
        }
        free(kids);
    }
    free(before);
    before = NULL;
    nbefore = 0;
    adopting = false;
    return total;
}
