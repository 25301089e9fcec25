/*
 * stream_probe.h - telling an exec-style handler started with --stream: it
 * reads every task line, waits for an end-of-file that stream mode never
 * sends, and answers nothing, so each task would wait out its timeout (1h by
 * default). Found from the handler's side, on Linux: it has answered nothing,
 * its stdin pipe is empty, and every thread of its process group sits in a
 * read of a pipe (or waits for a child) for PROBE_QUIET_MS. Then its tasks
 * are released uncharged and the worker stops with the configuration exit
 * code: the fix is to run the handler without --stream.
 */
#ifndef KWQ_WORKER_STREAM_PROBE_H
#define KWQ_WORKER_STREAM_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

struct worker;

#define PROBE_INTERVAL_MS 1000
#define PROBE_QUIET_MS    3000 /* found idle this long without an answer: exec-style */

struct stream_probe {
    ev_timer timer;           /* every PROBE_INTERVAL_MS while a handler runs */
    struct worker *w;         /* owner; NULL while stopped */
    pid_t pgid;               /* the handler's process group */
    ino_t stdin_ino;          /* inode of its stdin pipe */
    int in_fd;                /* the worker's end of that pipe */
    const uint64_t *answered; /* answers from this handler process, owned by stream.c */
    uint64_t idle_since_ms;   /* monotonic time it was first seen idle; 0 when not idle */
};

/* Watch the handler just started (process group pgid, stdin written through in_fd). */
void stream_probe_start(struct stream_probe *p, struct worker *w, pid_t pgid, int in_fd,
                        const uint64_t *answered);

/* Stop watching (the handler is gone). Safe on a probe never started. */
void stream_probe_stop(struct stream_probe *p);

/*
 * True when every thread of every process in group pgid is blocked reading a
 * pipe or waiting for a child, and one reads the pipe of inode stdin_ino.
 * False when any runs, does anything else, or cannot be read (no /proc).
 */
bool stream_probe_waits_for_eof(pid_t pgid, ino_t stdin_ino);

#endif /* KWQ_WORKER_STREAM_PROBE_H */
