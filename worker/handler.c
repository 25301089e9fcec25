/*
 * handler.c - resolve and spawn handler processes.
 *
 * The child side between fork and exec only makes async-signal-safe calls:
 * the environment array is built by the caller beforehand, and the program
 * path is resolved once at start-up (handler_resolve), so there is no PATH
 * search and no allocation in the child.
 */
#include "handler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kwq/error.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- Resolution ---- */

/* 0 when path is an executable regular file; else -errno (EACCES when not executable). */
static int check_executable(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EISDIR;
    if (access(path, X_OK) < 0)
        return -errno;
    return 0;
}

static int resolve_path(const char *name, char **ret_path, struct kwq_error *err)
{
    int rc = check_executable(name);

    if (rc == -ENOENT || rc == -ENOTDIR)
        return kwq_error_set(err, KWQ_EINVAL, "handler '%s' does not exist", name);
    if (rc == -EISDIR)
        return kwq_error_set(err, KWQ_EINVAL, "handler '%s' is not a regular file", name);
    if (rc < 0)
        return kwq_error_set(err, KWQ_EINVAL,
                             "handler '%s' is not executable (%s): check its mode (chmod +x)", name,
                             strerror(-rc));
    *ret_path = strdup(name);
    return *ret_path ? 0 : kwq_error_set(err, KWQ_ENOMEM, "out of memory");
}

static int search_path(const char *name, char **ret_path, struct kwq_error *err)
{
    const char *path = getenv("PATH");
    const char *p;
    bool seen_noexec = false;

    if (!path || !*path)
        path = DEFAULT_PATH;
    for (p = path; p; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL) {
        size_t dlen = strchr(p, ':') ? (size_t)(strchr(p, ':') - p) : strlen(p);
        size_t len = (dlen ? dlen : 1) + 1 + strlen(name) + 1;
        char *cand = malloc(len);
        int rc;

        if (!cand)
            return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
        (void)snprintf(cand, len, "%.*s/%s", (int)(dlen ? dlen : 1), dlen ? p : ".", name);
        rc = check_executable(cand);
        if (rc == 0) {
            *ret_path = cand;
            return 0;
        }
        seen_noexec = seen_noexec || rc == -EACCES;
        free(cand);
    }
    if (seen_noexec)
        return kwq_error_set(err, KWQ_EINVAL,
                             "handler '%s' was found in PATH but is not executable: check its "
                             "mode (chmod +x)",
                             name);
    return kwq_error_set(err, KWQ_EINVAL,
                         "handler '%s' not found in PATH: give its full path or install it", name);
}

int handler_resolve(const char *name, char **ret_path, struct kwq_error *err)
{
    if (!name || !*name)
        return kwq_error_set(err, KWQ_EINVAL, "the handler name is empty");
    if (strchr(name, '/'))
        return resolve_path(name, ret_path, err);
    return search_path(name, ret_path, err);
}

/* ---- Spawning ---- */

/* Make fd the child's target (0, 1 or 2), without O_CLOEXEC. */
static int child_install(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

static void child_report(int fd, int e)
{
    ssize_t n;

    do {
        n = write(fd, &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

/* In the child: only async-signal-safe calls until exec. Never returns. */
static void child_exec(const char *path, char *const argv[], char *const envp[], const int fds[3],
                       int errfd, pid_t parent)
{
    struct sigaction sa;
    sigset_t none;

    (void)setpgid(0, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &sa, NULL);
    /* A worker killed with SIGKILL must not leave its handler running. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    /* Move the pipe ends out of 0..2 first so that dup2 below cannot clobber one. */
    for (int i = 0; i < 3; i++) {
        if (child_install(fds[i], i) < 0)
            child_report(errfd, errno);
    }
    (void)sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    child_report(errfd, errno);
}

/* Pipe ends are moved above 2 so the child's dup2 onto 0..2 never overlaps them. */
static int pipe_high(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] <= 2) {
            int nfd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (nfd < 0)
                return -errno;
            (void)close(fds[i]);
            fds[i] = nfd;
        }
    }
    return 0;
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            (void)close(fds[i]);
        fds[i] = -1;
    }
}

/* Wait for the exec result: EOF means exec succeeded (the pipe was O_CLOEXEC). */
static int read_exec_result(int fd)
{
    int e = 0;
    ssize_t n;

    do {
        n = read(fd, &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(e))
        return -e;
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_pipes(int p[4][2])
{
    int rc = 0;

    for (int i = 0; i < 4; i++)
        p[i][0] = p[i][1] = -1;
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = pipe_high(p[i]);
    return rc;
}

int handler_spawn(const char *path, char *const argv[], char *const envp[],
                  struct handler_proc *ret)
{
    int p[4][2]; /* stdin, stdout, stderr, exec error */
    sigset_t all, old;
    pid_t parent = getpid(), pid;
    int rc = open_pipes(p);

    if (rc < 0)
        goto out_close;
    (void)sigfillset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        const int fds[3] = {p[0][0], p[1][1], p[2][1]};
        child_exec(path, argv, envp, fds, p[3][1], parent);
    }
    rc = pid < 0 ? -errno : 0;
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        goto out_close;
    /* Also set the group here: whichever of parent and child runs first, it exists. */
    (void)setpgid(pid, pid);
    (void)close(p[3][1]);
    p[3][1] = -1;
    rc = read_exec_result(p[3][0]);
    if (rc < 0) {
        (void)waitpid(pid, NULL, 0);
        goto out_close;
    }
    ret->pid = pid;
    ret->in_fd = p[0][1];
    ret->out_fd = p[1][0];
    ret->err_fd = p[2][0];
    p[0][1] = p[1][0] = p[2][0] = -1;
    set_nonblock(ret->in_fd);
    set_nonblock(ret->out_fd);
    set_nonblock(ret->err_fd);
out_close:
    for (int i = 0; i < 4; i++)
        close_pair(p[i]);
    return rc;
}

void handler_signal_group(pid_t pgid, int sig)
{
    if (pgid > 0)
        (void)kill(-pgid, sig);
}

void handler_close_fds(struct handler_proc *p)
{
    int *fds[3] = {&p->in_fd, &p->out_fd, &p->err_fd};

    for (int i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            (void)close(*fds[i]);
        *fds[i] = -1;
    }
}

ssize_t handler_read(int fd, char *buf, size_t len)
{
    ssize_t n;

    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return -1;
    return n < 0 ? 0 : n;
}
