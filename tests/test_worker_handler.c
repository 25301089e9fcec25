/*
 * test_worker_handler.c - starting one handler process (worker/handler.c) on
 * its own: the payload is in the stdin pipe before the handler runs, so a
 * handler whose worker dies right after the spawn (its writer gone) still
 * reads all of it; a payload larger than the pipe is cut at the pipe's size
 * and the rest follows through in_fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/error.h"

#include "handler.h"

static char *envp[] = {NULL};

static void spawn(const char *name, const char *arg, const char *in, size_t len,
                  struct handler_proc *p, size_t *written)
{
    struct kwq_error err = {0};
    char *path = NULL;
    char *argv[] = {(char *)name, (char *)arg, NULL};

    cr_assert(handler_resolve(name, &path, &err) == 0, "%s", err.msg);
    cr_assert_eq(handler_spawn_input(path, argv, envp, in, len, p, written), 0);
    free(path);
}

/* Everything the non-blocking fd gives until EOF, NUL-terminated. */
static char *read_all(int fd)
{
    size_t cap = 1024, len = 0;
    char *buf = malloc(cap);

    cr_assert(buf);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        cr_assert(poll(&pfd, 1, 30000) == 1, "the handler wrote nothing for 30 s");
        if (len + 512 > cap)
            buf = realloc(buf, cap *= 2);
        cr_assert(buf);
        n = handler_read(fd, buf + len, cap - len - 1);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

static void reap(struct handler_proc *p)
{
    int st;

    cr_assert_eq(waitpid(p->pid, &st, 0), p->pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    handler_close_fds(p);
}

/* The worker's side closes right after the spawn, as a SIGKILLed worker's would. */
Test(worker_handler, payload_is_in_the_pipe_before_the_handler_runs)
{
    const char *payload = "the payload, all of it";
    struct handler_proc p;
    size_t written = 0;
    char *out;

    spawn("cat", NULL, payload, strlen(payload), &p, &written);
    cr_assert_eq(written, strlen(payload));
    (void)close(p.in_fd);
    p.in_fd = -1;
    out = read_all(p.out_fd);
    cr_assert_str_eq(out, payload);
    free(out);
    reap(&p);
}

Test(worker_handler, payload_larger_than_the_pipe_is_cut_at_its_size)
{
    size_t len = 300 * 1024, written = 0, off;
    char *payload = malloc(len);
    struct handler_proc p;
    char *out;
    int pipe_size;

    cr_assert(payload);
    memset(payload, 'x', len);
    spawn("wc", "-c", payload, len, &p, &written);
    pipe_size = fcntl(p.in_fd, F_GETPIPE_SZ);
    cr_assert(pipe_size > 0);
    cr_assert(written > 0 && written <= (size_t)pipe_size, "%zu of a %d-byte pipe", written,
              pipe_size);
    for (off = written; off < len;) {
        struct pollfd pfd = {.fd = p.in_fd, .events = POLLOUT};
        ssize_t n;

        cr_assert(poll(&pfd, 1, 30000) == 1);
        n = write(p.in_fd, payload + off, len - off);
        cr_assert(n > 0 || errno == EAGAIN);
        off += n > 0 ? (size_t)n : 0;
    }
    (void)close(p.in_fd);
    p.in_fd = -1;
    out = read_all(p.out_fd);
    cr_assert_eq(strtoul(out, NULL, 10), len, "wc counted '%s'", out);
    free(out);
    free(payload);
    reap(&p);
}

Test(worker_handler, no_payload_is_an_empty_stdin)
{
    struct handler_proc p;
    size_t written = 1;
    char *out;

    spawn("wc", "-c", NULL, 0, &p, &written);
    cr_assert_eq(written, 0);
    (void)close(p.in_fd);
    p.in_fd = -1;
    out = read_all(p.out_fd);
    cr_assert_eq(strtoul(out, NULL, 10), 0, "wc counted '%s'", out);
    free(out);
    reap(&p);
}
