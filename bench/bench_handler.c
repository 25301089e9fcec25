/*
 * bench_handler.c - kwq-bench-handler: the handlers the worker benchmarks run.
 *
 *   kwq-bench-handler stream
 *       A no-op stream-mode handler: for every task line (a JSON envelope)
 *       on stdin it answers {"id":"<id>","ok":true} on stdout, and does
 *       nothing else. It parses only as far as the "id" field, so that the
 *       benchmark measures kwq and not a JSON parser.
 *   kwq-bench-handler stream-record FIFO
 *       The same, and for each task it also writes "<id> <ns>\n" to FIFO,
 *       where ns is CLOCK_REALTIME when the line was read.
 *   kwq-bench-handler exec-record FIFO
 *       An exec-mode handler: writes "$KWQ_TASK_ID <ns>\n" to FIFO, ns being
 *       CLOCK_REALTIME at its start, then reads its payload and exits 0.
 *
 * Output is written once per read of stdin, after every complete line in
 * that read has been answered: one write per batch, and never a wait for
 * more input while answers are held back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IN_BUF   (256 * 1024) /* bytes read from stdin at once */
#define HEAD_MAX 256          /* bytes of a line kept to find its "id" */
#define ID_MAX   64           /* longest task ID answered */

struct out {
    char *buf;  /* pending bytes */
    size_t len; /* bytes in buf */
    size_t cap; /* bytes allocated */
};

static void die(const char *msg)
{
    (void)fprintf(stderr, "kwq-bench-handler: %s\n", msg);
    exit(1);
}

static uint64_t real_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write failed");
        p += w;
        n -= (size_t)w;
    }
}

static void out_add(struct out *o, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (!o->buf || n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap * 2 : 64 * 1024;
        while (cap < o->len + n)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b)
            die("out of memory");
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* Copy the value of "id" from the start of an envelope into id. Returns its length or -1. */
static int find_id(const char *head, size_t n, char *id)
{
    static const char key[] = "\"id\":\"";

    for (size_t i = 0; i + sizeof(key) - 1 <= n; i++) {
        if (memcmp(head + i, key, sizeof(key) - 1) != 0)
            continue;
        size_t s = i + sizeof(key) - 1, e = s;
        while (e < n && head[e] != '"' && e - s < ID_MAX)
            e++;
        if (e >= n || head[e] != '"')
            return -1;
        memcpy(id, head + s, e - s);
        return (int)(e - s);
    }
    return -1;
}

static int stream(int record_fd)
{
    char *in = malloc(IN_BUF);
    char head[HEAD_MAX], id[ID_MAX], line[ID_MAX + 64];
    size_t head_len = 0;
    struct out o = {0};

    if (!in)
        die("out of memory");
    for (;;) {
        ssize_t n = read(STDIN_FILENO, in, IN_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read failed");
        if (n == 0)
            break;
        uint64_t t = record_fd >= 0 ? real_ns() : 0;
        for (ssize_t i = 0; i < n; i++) {
            if (in[i] != '\n') {
                if (head_len < HEAD_MAX)
                    head[head_len++] = in[i];
                continue;
            }
            int len = find_id(head, head_len, id);
            head_len = 0;
            if (len < 0)
                die("a task line has no \"id\" field near its start");
            int w = snprintf(line, sizeof(line), "{\"id\":\"%.*s\",\"ok\":true}\n", len, id);
            out_add(&o, line, (size_t)w);
            if (record_fd >= 0) {
                w = snprintf(line, sizeof(line), "%.*s %" PRIu64 "\n", len, id, t);
                write_all(record_fd, line, (size_t)w);
            }
        }
        if (o.len) {
            write_all(STDOUT_FILENO, o.buf, o.len);
            o.len = 0;
        }
    }
    free(in);
    free(o.buf);
    return 0;
}

static int exec_record(const char *fifo)
{
    uint64_t t = real_ns();
    const char *id = getenv("KWQ_TASK_ID");
    char line[ID_MAX + 64], sink[4096];
    int fd = open(fifo, O_WRONLY | O_APPEND | O_CLOEXEC);

    if (fd < 0 || !id)
        die(fd < 0 ? "cannot open the record FIFO" : "KWQ_TASK_ID is not set");
    int w = snprintf(line, sizeof(line), "%.*s %" PRIu64 "\n", ID_MAX, id, t);
    write_all(fd, line, (size_t)w);
    (void)close(fd);
    /* Take the whole payload, as a real handler would, so the worker's write never fails. */
    while (read(STDIN_FILENO, sink, sizeof(sink)) > 0)
        ;
    return 0;
}

static int open_record(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

    if (fd < 0)
        die("cannot open the record FIFO");
    return fd;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "stream") == 0)
        return stream(-1);
    if (argc == 3 && strcmp(argv[1], "stream-record") == 0)
        return stream(open_record(argv[2]));
    if (argc == 3 && strcmp(argv[1], "exec-record") == 0)
        return exec_record(argv[2]);
    (void)fputs("usage: kwq-bench-handler stream | stream-record FIFO | exec-record FIFO\n",
                stderr);
    return 2;
}
