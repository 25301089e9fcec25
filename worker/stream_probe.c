/*
 * stream_probe.c - finding an exec-style handler run in stream mode, from
 * /proc: see stream_probe.h. A stream handler working on a task runs, or
 * waits on something other than its stdin (a socket, a timer, a lock); one
 * that answered nothing and only waits for more input, with the input all
 * read, is waiting for an end-of-file.
 */
#include "stream_probe.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "worker.h"

/* ---- Reading /proc ---- */

/* What one thread is doing, from /proc/PID/task/TID/syscall. */
enum thread_wait {
    WAIT_OTHER, /* running, another call, or unknown */
    WAIT_PIPE,  /* read() of a pipe that is not the handler's stdin */
    WAIT_STDIN, /* read() of the handler's stdin pipe */
    WAIT_CHILD, /* wait4() or waitid() */
};

/* The process group and state of pid from /proc/PID/stat; false when unreadable. */
static bool proc_stat(pid_t pid, pid_t *ret_pgrp, char *ret_state)
{
    char path[64], buf[512];
    const char *p;
    int pgrp = 0;
    FILE *f;
    size_t n;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold anything, ')' included */
    if (!p || sscanf(p + 1, " %c %*d %d", ret_state, &pgrp) != 2)
        return false;
    *ret_pgrp = (pid_t)pgrp;
    return true;
}

/* The pipe inode fd of pid refers to, 0 when it is no pipe (or unreadable). */
static ino_t fd_pipe_ino(pid_t pid, unsigned long fd)
{
    char path[64], link[64];
    unsigned long long ino = 0;
    ssize_t n;

    (void)snprintf(path, sizeof(path), "/proc/%d/fd/%lu", (int)pid, fd);
    n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    if (sscanf(link, "pipe:[%llu]", &ino) != 1)
        return 0;
    return (ino_t)ino;
}

static enum thread_wait thread_wait(pid_t pid, const char *tid, ino_t stdin_ino)
{
    char path[320], buf[256];
    long nr = -1;
    unsigned long fd = 0;
    ino_t ino;
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", (int)pid, tid);
    f = fopen(path, "re");
    if (!f)
        return WAIT_OTHER;
    if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld %lx", &nr, &fd) < 1)
        nr = -1; /* "running", or nothing */
    (void)fclose(f);
    if (nr == SYS_wait4 || nr == SYS_waitid)
        return WAIT_CHILD;
    if (nr != SYS_read && nr != SYS_readv)
        return WAIT_OTHER;
    ino = fd_pipe_ino(pid, fd);
    if (ino == 0)
        return WAIT_OTHER;
    return ino == stdin_ino ? WAIT_STDIN : WAIT_PIPE;
}

/* Fold pid's threads into *ret_stdin; false as soon as one does something else. */
static bool threads_wait(pid_t pid, ino_t stdin_ino, bool *ret_stdin)
{
    char path[64];
    struct dirent *e;
    bool all = true, any = false;
    DIR *d;

    (void)snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (!d)
        return false;
    while (all && (e = readdir(d)) != NULL) {
        enum thread_wait tw;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        tw = thread_wait(pid, e->d_name, stdin_ino);
        any = true;
        all = tw != WAIT_OTHER;
        *ret_stdin = *ret_stdin || tw == WAIT_STDIN;
    }
    (void)closedir(d);
    return all && any;
}

bool stream_probe_waits_for_eof(pid_t pgid, ino_t stdin_ino)
{
    struct dirent *e;
    bool all = true, reads_stdin = false;
    size_t members = 0;
    DIR *d = opendir("/proc");

    if (!d)
        return false;
    while (all && (e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10), pgrp = 0;
        char state = '?';

        if (pid <= 0 || !proc_stat(pid, &pgrp, &state) || pgrp != pgid || state == 'Z')
            continue;
        members++;
        all = threads_wait(pid, stdin_ino, &reads_stdin);
    }
    (void)closedir(d);
    return all && members > 0 && reads_stdin;
}

/* ---- The probe ---- */

/* Bytes the handler has not read from its stdin yet; -1 when unknown. */
static int unread_input(int fd)
{
    int n = 0;

    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

static void give_up(struct stream_probe *p)
{
    struct worker *w = p->w;

    kwq_log(KWQ_LOG_ERROR,
            "the handler reads its stdin to the end without answering: run it without --stream",
            KWQ_LI("pid", p->pgid), KWQ_LI("in_flight", w->running));
    /* Never its tasks' fault: given back uncharged, for a worker that runs them right. */
    for (struct job *j = w->jobs; j; j = j->next) {
        if (j->state != JOB_RUNNING)
            continue;
        j->outcome = OUT_RELEASE;
        w->events->finished(j);
    }
    stream_probe_stop(p);
    w->events->fatal(w, KWQ_EXIT_CONFIG);
}

static void on_probe(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct stream_probe *p = t->data;
    struct worker *w = p->w;
    uint64_t now = kwq_monotonic_ms();

    (void)loop;
    (void)revents;
    if (w->stopping || w->running == 0 || *p->answered > 0 || unread_input(p->in_fd) != 0 ||
        !stream_probe_waits_for_eof(p->pgid, p->stdin_ino)) {
        p->idle_since_ms = 0;
        if (*p->answered > 0) /* it answers: a stream handler, nothing more to learn */
            stream_probe_stop(p);
        return;
    }
    if (p->idle_since_ms == 0)
        p->idle_since_ms = now;
    else if (now - p->idle_since_ms >= PROBE_QUIET_MS)
        give_up(p);
}

void stream_probe_start(struct stream_probe *p, struct worker *w, pid_t pgid, int in_fd,
                        const uint64_t *answered)
{
    struct stat st;

    stream_probe_stop(p);
    if (fstat(in_fd, &st) < 0)
        return;
    p->w = w;
    p->pgid = pgid;
    p->in_fd = in_fd;
    p->stdin_ino = st.st_ino;
    p->answered = answered;
    p->idle_since_ms = 0;
    ev_timer_init(&p->timer, on_probe, PROBE_INTERVAL_MS / 1000.0, PROBE_INTERVAL_MS / 1000.0);
    p->timer.data = p;
    ev_timer_start(w->loop, &p->timer);
}

void stream_probe_stop(struct stream_probe *p)
{
    if (!p->w)
        return;
    ev_timer_stop(p->w->loop, &p->timer);
    p->w = NULL;
}
