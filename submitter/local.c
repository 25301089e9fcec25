/*
 * local.c - kwq's own redis-server on this machine: a private one for one
 * `kwq run --local`, or a kept one for `kwq local-redis start|stop`.
 *
 * The server listens only on a unix socket (--port 0) in a directory of mode
 * 0700, so no other user and no network peer can reach it; its policy is
 * noeviction, as kwq requires. The binary is $KWQ_REDIS_SERVER or
 * redis-server from PATH.
 */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/util.h"

#include "cli.h"
#include "progpath.h"

#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  5000

/* ---- Low level ----------------------------------------------------------------- */

static void set_paths(struct local_redis *r)
{
    (void)snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    (void)snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
}

/* True when pid is alive and is a redis-server (a stale pid file may name another process). */
static bool is_redis(pid_t pid)
{
    char path[64], comm[64] = "";
    FILE *f;

    if (pid <= 0 || kill(pid, 0) < 0)
        return false;
    (void)snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = '\0';
    (void)fclose(f);
    return strncmp(comm, "redis-server", 12) == 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

/* The last (up to 4) lines of text[0..n) into buf, joined by " / ", for a one-line message. */
static void last_lines(const char *text, size_t n, char *buf, size_t len)
{
    const char *start[4];
    size_t lens[4], k = cli_last_lines(text, n, 4, start, lens), o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < k && o < len; i++) {
        int w = snprintf(buf + o, len - o, "%s%.*s", i ? " / " : "", (int)lens[i], start[i]);

        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* ---- State directory ---------------------------------------------------------------- */

int local_state_dir(char *buf, size_t len, bool create, struct kwq_error *err)
{
    const char *env = getenv("KWQ_STATE_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;

    if (env && *env)
        (void)snprintf(buf, len, "%s", env);
    else if (xdg && *xdg)
        (void)snprintf(buf, len, "%s/kwq", xdg);
    else
        (void)snprintf(buf, len, "/tmp/kwq-%u", (unsigned)getuid());
    if (create && mkdir(buf, 0700) < 0 && errno != EEXIST)
        return kwq_error_set(err, -errno, "cannot create the state directory %s: %s", buf,
                             strerror(errno));
    if (lstat(buf, &st) < 0)
        return kwq_error_set(err, -errno, "no state directory %s: %s", buf, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022))
        return kwq_error_set(err, KWQ_EINVAL,
                             "state directory %s must be a directory owned by you and writable "
                             "only by you; remove it or set KWQ_STATE_DIR",
                             buf);
    return 0;
}

/* ---- Starting and stopping ------------------------------------------------------------ */

void local_redis_said(const struct local_redis *r, char *buf, size_t len)
{
    static const char *const files[] = {"redis.out", "redis.log"};
    char path[PATH_MAX + 16], text[1024];

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !buf[0]; i++) {
        int fd;
        ssize_t n;
        off_t size;

        (void)snprintf(path, sizeof(path), "%s/%s", r->dir, files[i]);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        size = lseek(fd, 0, SEEK_END);
        n = pread(fd, text, sizeof(text) - 1,
                  size > (off_t)sizeof(text) - 1 ? size - (off_t)sizeof(text) + 1 : 0);
        (void)close(fd);
        if (n <= 0)
            continue;
        text[n] = '\0';
        last_lines(text, (size_t)n, buf, len);
    }
}

static void exec_server(const struct local_redis *r, const char *bin, bool kept, pid_t parent)
{
    char logfile[PATH_MAX + 16], outfile[PATH_MAX + 16];
    const char *argv[32];
    size_t n = 0;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC), out;

    (void)snprintf(logfile, sizeof(logfile), "%s/redis.log", r->dir);
    (void)snprintf(outfile, sizeof(outfile), "%s/redis.out", r->dir);
    out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (kept) {
        (void)setsid();
    } else {
        (void)setpgid(0, 0); /* a Ctrl-C at the terminal is kwq's to handle */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* kwq died before the line above: no signal would come */
            _exit(127);
    }
    if (null >= 0)
        (void)dup2(null, STDIN_FILENO);
    if (out >= 0 || null >= 0) {
        (void)dup2(out >= 0 ? out : null, STDOUT_FILENO);
        (void)dup2(out >= 0 ? out : null, STDERR_FILENO);
    }
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--logfile";
    argv[n++] = logfile;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--maxmemory-policy";
    argv[n++] = "noeviction";
    argv[n++] = "--appendonly";
    argv[n++] = kept ? "yes" : "no";
    argv[n] = NULL;
    execv(bin, (char *const *)argv);
    _exit(127);
}

/* Wait until the server at r answers through libkwq, or it exits, or time is up. */
static int wait_ready(struct local_redis *r, struct kwq_error *err)
{
    uint64_t until = kwq_monotonic_ms() + READY_TIMEOUT_MS;
    struct kwq_client_opts o;
    char said[600];

    kwq_client_opts_init(&o);
    o.url = r->url;
    o.connect_timeout_ms = 1000;
    for (;;) {
        struct kwq_client *c = kwq_client_new(&o);
        int st, rc;

        if (!c)
            return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
        rc = kwq_client_connect(c);
        kwq_client_free(c);
        if (rc == 0)
            return 0;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            r->pid = 0;
            local_redis_said(r, said, sizeof(said));
            return kwq_error_set(err, KWQ_ECONN,
                                 "redis-server exited during start-up (status %d): %s%s%s",
                                 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                                 said[0] ? said : "it said nothing", r->private_dir ? "" : "; see ",
                                 r->private_dir ? "" : r->dir);
        }
        if (kwq_monotonic_ms() > until) {
            local_redis_said(r, said, sizeof(said));
            return kwq_error_set(err, KWQ_ETIMEOUT,
                                 "redis-server did not answer within 10s: %s%s%s",
                                 said[0] ? said : "it said nothing", r->private_dir ? "" : "; see ",
                                 r->private_dir ? "" : r->dir);
        }
        cli_sleep_ms(10);
    }
}

static int spawn(struct local_redis *r, bool kept, struct kwq_error *err)
{
    char bin[PATH_MAX];
    pid_t pid, self = getpid();

    if (progpath_find_env("KWQ_REDIS_SERVER", "redis-server", bin, sizeof(bin)) < 0)
        return kwq_error_set(err, KWQ_ECONN,
                             "redis-server not found in PATH; install it (Debian: apt-get install "
                             "redis-server), set KWQ_REDIS_SERVER, or give --redis URL");
    set_paths(r);
    if (strlen(r->sock) >= 108)
        return kwq_error_set(err, KWQ_EINVAL,
                             "socket path %s is too long for a unix socket; set TMPDIR or "
                             "KWQ_STATE_DIR to a shorter directory",
                             r->sock);
    pid = fork();
    if (pid < 0)
        return kwq_error_set(err, -errno, "fork: %s", strerror(errno));
    if (pid == 0)
        exec_server(r, bin, kept, self);
    r->pid = pid;
    return wait_ready(r, err);
}

int local_redis_start_private(struct local_redis *r, struct kwq_error *err)
{
    const char *tmp = getenv("TMPDIR");
    int rc;

    memset(r, 0, sizeof(*r));
    (void)snprintf(r->dir, sizeof(r->dir), "%s/kwq-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir))
        return kwq_error_set(err, -errno,
                             "cannot create the private Redis's directory in %s: %s; set TMPDIR "
                             "to a writable directory, or give --redis URL",
                             tmp && *tmp ? tmp : "/tmp", strerror(errno));
    r->private_dir = true;
    rc = spawn(r, false, err);
    if (rc < 0)
        (void)local_redis_stop(r, NULL);
    return rc;
}

static int write_pid(const struct local_redis *r, struct kwq_error *err)
{
    char path[PATH_MAX + 16];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/redis.pid", r->dir);
    f = fopen(path, "we");
    if (!f)
        return kwq_error_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
    (void)fprintf(f, "%d\n", (int)r->pid);
    if (fclose(f) != 0)
        return kwq_error_set(err, KWQ_EIO, "cannot write %s", path);
    return 0;
}

int local_redis_start_kept(struct local_redis *r, bool *ret_started, struct kwq_error *err)
{
    char path[PATH_MAX + 16];
    int rc;

    *ret_started = false;
    if (local_redis_find(r) == 0)
        return 0;
    memset(r, 0, sizeof(*r));
    rc = local_state_dir(r->dir, sizeof(r->dir), true, err);
    if (rc < 0)
        return rc;
    set_paths(r);
    (void)unlink(r->sock); /* left by a server that was killed */
    (void)snprintf(path, sizeof(path), "%s/redis.pid", r->dir);
    (void)unlink(path);
    rc = spawn(r, true, err);
    if (rc == 0)
        rc = write_pid(r, err);
    if (rc < 0) {
        (void)local_redis_stop(r, NULL);
        return rc;
    }
    *ret_started = true;
    return 0;
}

int local_redis_find(struct local_redis *r)
{
    char path[PATH_MAX + 16];
    struct kwq_error err;
    FILE *f;
    int pid = 0;

    memset(r, 0, sizeof(*r));
    if (local_state_dir(r->dir, sizeof(r->dir), false, &err) < 0)
        return KWQ_ENOTFOUND;
    (void)snprintf(path, sizeof(path), "%s/redis.pid", r->dir);
    f = fopen(path, "re");
    if (!f)
        return KWQ_ENOTFOUND;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    (void)fclose(f);
    if (!is_redis((pid_t)pid))
        return KWQ_ENOTFOUND;
    r->pid = (pid_t)pid;
    set_paths(r);
    return access(r->sock, F_OK) == 0 ? 0 : KWQ_ENOTFOUND;
}

/* Wait for pid to end: reap it when it is our child, else watch it disappear. */
static bool wait_gone(pid_t pid, uint64_t timeout_ms)
{
    uint64_t until = kwq_monotonic_ms() + timeout_ms;

    for (;;) {
        pid_t w = waitpid(pid, NULL, WNOHANG);

        if (w == pid || (w < 0 && errno == ECHILD && kill(pid, 0) < 0))
            return true;
        if (kwq_monotonic_ms() > until)
            return false;
        cli_sleep_ms(10);
    }
}

int local_redis_stop(struct local_redis *r, struct kwq_error *err)
{
    char path[PATH_MAX + 16];

    if (r->pid > 0) {
        /* SIGTERM: redis-server shuts down cleanly (fsyncs the append-only file). */
        (void)kill(r->pid, SIGTERM);
        if (!wait_gone(r->pid, STOP_TIMEOUT_MS)) {
            (void)kill(r->pid, SIGKILL);
            (void)wait_gone(r->pid, STOP_TIMEOUT_MS);
        }
        r->pid = 0;
    }
    if (r->private_dir && r->dir[0]) {
        if (nftw(r->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) < 0)
            return kwq_error_set(err, KWQ_EIO, "could not remove %s", r->dir);
        r->dir[0] = '\0';
        return 0;
    }
    (void)snprintf(path, sizeof(path), "%s/redis.pid", r->dir);
    (void)unlink(path);
    (void)unlink(r->sock);
    return 0;
}
