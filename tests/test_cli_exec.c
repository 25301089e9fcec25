/*
 * test_cli_exec.c - run the kwq binary as a user would, against the
 * fixture's private redis-server (see test_cli_exec.h).
 */
#include "test_cli_exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "redis_fixture.h"

void cli_setup(void)
{
    (void)signal(SIGPIPE, SIG_IGN);
    redis_setup();
    cli_setup_env();
}

void cli_setup_aof(void)
{
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

    (void)signal(SIGPIPE, SIG_IGN);
    redis_fixture_start(&test_redis, args);
    cli_setup_env();
}

void cli_setup_env(void)
{
    static const char *const clear[] = {
        "KWQ_QUEUE", "KWQ_REDIS_PASSWORD", "KWQ_REDIS_PASSWORD_FILE", "KWQ_LOG_FORMAT",
        "KWQ_QUIET", "KWQ_WORKER_BIN",     "KWQ_MAX_WORKERS",         "KWQ_CONCURRENCY",
        "KWQ_LEASE", "KWQ_STREAM",         "KWQ_WAIT_TIMEOUT",        "KWQ_REDIS_RETRY"};

    for (size_t i = 0; i < sizeof(clear) / sizeof(clear[0]); i++)
        (void)unsetenv(clear[i]);
    cr_assert(setenv("KWQ_REDIS_URL", test_redis.url, 1) == 0);
    cr_assert(mkdir(test_path("state"), 0700) == 0);
    cr_assert(setenv("KWQ_STATE_DIR", test_path("state"), 1) == 0);
    cr_assert(mkdir(test_path("tmp"), 0700) == 0);
    cr_assert(setenv("TMPDIR", test_path("tmp"), 1) == 0);
}

void cli_teardown(void)
{
    /* A kept local Redis a test started must not outlive it. */
    const char *args[] = {KWQ_TEST_KWQ_BIN, "local-redis", "stop", NULL};
    struct cli_out r;

    cli_exec_prog(&r, NULL, 0, args);
    cli_out_free(&r);
    redis_teardown();
}

/* ---- Running a program --------------------------------------------------------------- */

struct sink {
    int fd;     /* read end, -1 when closed */
    char *buf;  /* collected bytes */
    size_t len; /* bytes collected */
    size_t cap; /* bytes allocated */
};

static void sink_read(struct sink *s)
{
    char tmp[65536];
    ssize_t n = read(s->fd, tmp, sizeof(tmp));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        (void)close(s->fd);
        s->fd = -1;
        return;
    }
    if (s->len + (size_t)n + 1 > s->cap) {
        s->cap = (s->len + (size_t)n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        cr_assert(s->buf != NULL);
    }
    memcpy(s->buf + s->len, tmp, (size_t)n);
    s->len += (size_t)n;
}

/* Start args[0] with pipes for its stdin, stdout and stderr; the parent's ends stay in in/out/err. */
static pid_t spawn(const char *const *args, int in[2], int out[2], int err[2])
{
    pid_t pid;

    cr_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
              pipe2(err, O_CLOEXEC) == 0);
    pid = test_proc_start(args, (const int[3]){in[0], out[1], err[1]});
    (void)close(in[0]);
    (void)close(out[1]);
    (void)close(err[1]);
    return pid;
}

void cli_exec_prog(struct cli_out *r, const char *input, size_t input_len, const char *const *args)
{
    int in[2], out[2], err[2];
    struct sink so = {.fd = -1}, se = {.fd = -1};
    size_t written = 0;
    time_t deadline = time(NULL) + CLI_SAFETY_S;
    pid_t pid = spawn(args, in, out, err);
    int wfd = in[1];

    so.fd = out[0];
    se.fd = err[0];
    if (!input || input_len == 0) {
        (void)close(wfd);
        wfd = -1;
    } else {
        (void)fcntl(wfd, F_SETFL, O_NONBLOCK);
    }
    while (so.fd >= 0 || se.fd >= 0) {
        struct pollfd p[3] = {{.fd = so.fd, .events = POLLIN},
                              {.fd = se.fd, .events = POLLIN},
                              {.fd = wfd, .events = POLLOUT}};
        cr_assert(time(NULL) <= deadline, "kwq did not finish within %ds", CLI_SAFETY_S);
        if (poll(p, 3, 1000) < 0)
            continue;
        if (p[0].revents)
            sink_read(&so);
        if (p[1].revents)
            sink_read(&se);
        if (wfd >= 0 && p[2].revents) {
            ssize_t n = write(wfd, input + written, input_len - written);
            if (n > 0)
                written += (size_t)n;
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                written = input_len; /* EPIPE: kwq stopped reading */
            if (written == input_len) {
                (void)close(wfd);
                wfd = -1;
            }
        }
    }
    if (wfd >= 0)
        (void)close(wfd);
    r->status = test_proc_wait(pid, deadline);
    cr_assert(r->status >= 0, "%s did not finish within %ds", "kwq", CLI_SAFETY_S);
    r->out = so.buf ? so.buf : calloc(1, 1);
    r->out[so.len] = '\0';
    r->out_len = so.len;
    r->err = se.buf ? se.buf : calloc(1, 1);
    r->err[se.len] = '\0';
    r->err_len = se.len;
}

void cli_exec(struct cli_out *r, const char *input, size_t input_len, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;

    argv[n++] = KWQ_TEST_KWQ_BIN;
    for (size_t i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cli_exec_prog(r, input, input_len, argv);
}

char *cli_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1);
    size_t len = 0, n;
    char tmp[4096];

    cr_assert_not_null(buf);
    while (f && (n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        buf = realloc(buf, len + n + 1);
        cr_assert_not_null(buf);
        memcpy(buf + len, tmp, n);
        len += n;
        buf[len] = '\0';
    }
    if (f)
        (void)fclose(f);
    return buf;
}

void cli_wait_for_text(const char *path, const char *text)
{
    const struct timespec nap = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};

    for (time_t deadline = time(NULL) + CLI_SAFETY_S;; (void)nanosleep(&nap, NULL)) {
        char *s = cli_read_file(path);
        bool found = strstr(s, text) != NULL;

        free(s);
        if (found)
            return;
        cr_assert(time(NULL) < deadline, "'%s' never appeared in %s", text, path);
    }
}

void cli_exec_out_fd(struct cli_out *r, int out_fd, const char *const *args)
{
    const char *argv[64];
    char errpath[4096];
    size_t n = 0;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC), err;
    pid_t pid;

    (void)snprintf(errpath, sizeof(errpath), "%s", test_path("exec-out-fd.err"));
    err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(null >= 0 && err >= 0);
    argv[n++] = KWQ_TEST_KWQ_BIN;
    for (size_t i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = test_proc_start(argv, (const int[3]){null, out_fd, err});
    (void)close(null);
    (void)close(err);
    r->status = test_proc_wait(pid, time(NULL) + CLI_SAFETY_S);
    cr_assert(r->status >= 0, "kwq did not finish within %ds", CLI_SAFETY_S);
    r->out = calloc(1, 1);
    r->out_len = 0;
    r->err = cli_read_file(errpath);
    r->err_len = strlen(r->err);
}

size_t cli_children(pid_t pid, const char *comm, pid_t *ret, size_t max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL && n < max) {
        char path[300], buf[512], name[64];
        int child, ppid;
        char state;
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        /* pid (comm) state ppid: comm has no spaces or ')' for the programs looked for */
        if (fgets(buf, sizeof(buf), f) &&
            sscanf(buf, "%d (%63[^)]) %c %d", &child, name, &state, &ppid) == 4 && ppid == pid &&
            state != 'Z' && strcmp(name, comm) == 0)
            ret[n++] = (pid_t)child;
        (void)fclose(f);
    }
    (void)closedir(d);
    return n;
}

void cli_out_free(struct cli_out *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* ---- Queue helpers ------------------------------------------------------------------------- */

struct kwq_stats cli_stats(struct kwq_client *c, const char *queue)
{
    struct kwq_stats st;

    cr_assert(kwq_stats(c, queue, &st) == 0, "stats: %s", kwq_client_errstr(c));
    return st;
}

size_t cli_count_line(const char *s, const char *line)
{
    size_t n = 0, len = strlen(line);

    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        if (l == len && memcmp(s, line, len) == 0)
            n++;
        if (!nl)
            break;
        s = nl + 1;
    }
    return n;
}

size_t cli_len(const char *s)
{
    return s ? strlen(s) : 0;
}
