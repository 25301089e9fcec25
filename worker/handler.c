/*
 * handler.c - resolve and spawn handler processes.
 *
 * The child side between clone and exec only makes system calls: the
 * environment array is built by the caller beforehand, and the program path
 * is resolved once at start-up (handler_resolve), so there is no PATH search
 * and no allocation in the child.
 */
#include "handler.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/*
 * Signals the child must set back to SIG_DFL before it unblocks signals: those
 * the worker handles or ignores (a handled one would otherwise run the
 * worker's handler in the child; an ignored one would stay ignored across
 * exec). Found once, in the parent, so the child makes a handful of
 * sigaction calls instead of one per signal number. The worker installs its
 * handlers before it starts any handler process; the usual ones are listed
 * anyway, so that a handler installed later is still covered.
 */
static int reset_sigs[NSIG];
static int n_reset_sigs = -1;
static const struct sigaction sig_default; /* all zero: SIG_DFL, no flags, empty mask */
static sigset_t sig_none;                  /* empty, made in find_reset_sigs */

static void find_reset_sigs(void)
{
    static const int always[] = {SIGCHLD, SIGTERM, SIGINT,  SIGPIPE, SIGHUP,
                                 SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
    sigset_t set;
    int n = 0;

    if (n_reset_sigs >= 0)
        return;
    (void)sigemptyset(&sig_none);
    (void)sigemptyset(&set);
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        (void)sigaddset(&set, always[i]);
    for (int s = 1; s < NSIG; s++) {
        struct sigaction old;

        if (sigaction(s, NULL, &old) == 0 && old.sa_handler != SIG_DFL)
            (void)sigaddset(&set, s);
        if (sigismember(&set, s) == 1)
            reset_sigs[n++] = s;
    }
    n_reset_sigs = n;
}

/*
 * What the child needs, in memory it shares with the parent (CLONE_VM): the
 * parent is suspended until the child has exec'd or exited, so the child
 * reports an exec failure by storing its errno in err.
 */
struct spawn_args {
    const char *path;
    char *const *argv;
    char *const *envp;
    int fds[3];       /* become the child's 0, 1, 2 */
    pid_t parent;     /* the worker, for the PDEATHSIG race check */
    int fd_limit;     /* highest fd number + 1, for kernels without close_range */
    volatile int err; /* errno of the failed step, 0 when exec succeeded */
};

/*
 * The child's stack. One is enough: the worker has one thread, and the parent
 * stays suspended while the child uses it. Only the pages the child touches
 * become resident.
 */
#define SPAWN_STACK_SIZE (64 * 1024)
static unsigned char spawn_stack[SPAWN_STACK_SIZE] __attribute__((aligned(64)));

/*
 * In the child: close every fd above 2. The worker's own fds are O_CLOEXEC
 * where the worker creates them, but not all are (hiredis opens its sockets
 * without it), and fds the worker itself inherited would pass on too: a
 * handler must not get the worker's authenticated Redis connection.
 */
__attribute__((no_sanitize("address"))) static void close_from_3(int limit)
{
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
    for (int fd = 3; fd < limit; fd++)
        (void)close(fd);
}

/*
 * In the child, on spawn_stack, sharing the parent's memory: only system
 * calls until exec, no allocation and no write to anything but a->err and,
 * when a call fails, errno (the parent thread's: the parent reads errno only
 * when clone itself fails, before any child ran). Not instrumented by
 * AddressSanitizer, which knows neither this stack nor this process. Never
 * returns.
 */
__attribute__((no_sanitize("address"), noinline)) static int child_main(void *arg)
{
    struct spawn_args *a = arg;

    (void)setpgid(0, 0);
    for (int i = 0; i < n_reset_sigs; i++)
        (void)sigaction(reset_sigs[i], &sig_default, NULL);
    /* A worker killed with SIGKILL must not leave its handler running. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent)
        _exit(127);
    /* The pipe ends are all above 2 (pipe_high), so no dup2 here clobbers another. */
    for (int i = 0; i < 3; i++) {
        if (dup2(a->fds[i], i) < 0) {
            a->err = errno;
            _exit(127);
        }
    }
    close_from_3(a->fd_limit);
    (void)sigprocmask(SIG_SETMASK, &sig_none, NULL);
    execve(a->path, a->argv, a->envp);
    a->err = errno ? errno : ENOEXEC;
    _exit(127);
}

/* Bound of the fd numbers in use, for close_from_3's fallback (found in the parent). */
static int fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536)
        return 65536;
    return (int)rl.rlim_cur;
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

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_pipes(int p[3][2])
{
    int rc = 0;

    for (int i = 0; i < 3; i++)
        p[i][0] = p[i][1] = -1;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = pipe_high(p[i]);
    return rc;
}

/*
 * Into the stdin pipe before the child exists: what fits now (the write end is
 * non-blocking, so a payload larger than the pipe is cut, not waited for).
 */
static int prefill(int fd, const char *in, size_t in_len, size_t *ret_written)
{
    ssize_t n;

    *ret_written = 0;
    set_nonblock(fd);
    if (in_len == 0)
        return 0;
    do {
        n = write(fd, in, in_len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : -errno;
    *ret_written = (size_t)n;
    return 0;
}

/*
 * The child is made with CLONE_VM | CLONE_VFORK, as posix_spawn does: the
 * worker's page tables are not copied and no page of it is copied on write
 * afterwards, which is most of what a fork of the worker would cost. The
 * child does what posix_spawn cannot (PR_SET_PDEATHSIG) before exec.
 */
int handler_spawn_input(const char *path, char *const argv[], char *const envp[], const char *in,
                        size_t in_len, struct handler_proc *ret, size_t *ret_written)
{
    int p[3][2]; /* stdin, stdout, stderr */
    struct spawn_args a = {.path = path, .argv = argv, .envp = envp, .err = 0};
    sigset_t all, old;
    pid_t pid;
    int rc = open_pipes(p);

    find_reset_sigs();
    if (rc == 0)
        rc = prefill(p[0][1], in, in_len, ret_written);
    if (rc < 0)
        goto out_close;
    a.parent = getpid();
    a.fd_limit = fd_limit();
    a.fds[0] = p[0][0];
    a.fds[1] = p[1][1];
    a.fds[2] = p[2][1];
    (void)sigfillset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, &old);
    pid =
        clone(child_main, spawn_stack + sizeof(spawn_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    rc = pid < 0 ? -errno : 0;
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        goto out_close;
    /* Here the child has exec'd (its process group made) or exited after setting a.err. */
    if (a.err) {
        rc = -a.err;
        (void)waitpid(pid, NULL, 0);
        goto out_close;
    }
    ret->pid = pid;
    ret->in_fd = p[0][1];
    ret->out_fd = p[1][0];
    ret->err_fd = p[2][0];
    p[0][1] = p[1][0] = p[2][0] = -1;
    set_nonblock(ret->out_fd);
    set_nonblock(ret->err_fd);
out_close:
    for (int i = 0; i < 3; i++)
        close_pair(p[i]);
    return rc;
}

int handler_spawn(const char *path, char *const argv[], char *const envp[],
                  struct handler_proc *ret)
{
    size_t written;

    return handler_spawn_input(path, argv, envp, NULL, 0, ret, &written);
}

bool handler_spawn_error_is_resource(int rc)
{
    return rc == -EAGAIN || rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE;
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
