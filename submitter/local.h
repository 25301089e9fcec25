/*
 * local.h - a redis-server of kwq's own on this machine, on a unix socket in
 * a directory only the user can enter: private to one `kwq run --local`, or
 * kept by `kwq local-redis start` in the state directory for a series of
 * commands. Readiness is checked through libkwq (connect + script load).
 */
#ifndef KWQ_LOCAL_H
#define KWQ_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct kwq_error;

struct local_redis {
    char dir[PATH_MAX];       /* directory holding the socket, log, pid file and data */
    char sock[PATH_MAX + 16]; /* unix socket path */
    char url[PATH_MAX + 32];  /* unix://<sock> */
    pid_t pid;                /* server pid, 0 when not running */
    bool private_dir;         /* dir was made by mkdtemp and is removed on stop */
};

/*
 * The state directory for a kept server: $KWQ_STATE_DIR, else
 * $XDG_RUNTIME_DIR/kwq, else /tmp/kwq-<uid>. Created 0700 when missing;
 * refused when it is not a directory owned by the user. Errors: KWQ_EINVAL
 * or -errno, message in err.
 */
int local_state_dir(char *buf, size_t len, bool create, struct kwq_error *err);

/*
 * Start a private server in a fresh temp dir, dying with this process
 * (PR_SET_PDEATHSIG). Waits until it answers. Errors: KWQ_ECONN (could not
 * start; the message names the binary or the log), -errno.
 */
int local_redis_start_private(struct local_redis *r, struct kwq_error *err);

/*
 * Start a kept server in the state dir (append-only file on, own session),
 * recording its pid; or find the one already running (*ret_started false).
 */
int local_redis_start_kept(struct local_redis *r, bool *ret_started, struct kwq_error *err);

/* Find a running kept server. Returns 0, or KWQ_ENOTFOUND when none runs. */
int local_redis_find(struct local_redis *r);

/*
 * What the server said last, for a message (always terminated; "" when
 * nothing): the last lines of its stdout and stderr (a refused argument is
 * reported there, before its log opens), else of its log, joined by " / ".
 * A private server's directory goes with it, so its words must be quoted.
 */
void local_redis_said(const struct local_redis *r, char *buf, size_t len);

/*
 * Stop the server (SIGTERM, SIGKILL after 5s) and wait for it; a private
 * one's dir is removed, a kept one's pid file. r->pid is 0 afterwards.
 */
int local_redis_stop(struct local_redis *r, struct kwq_error *err);

#endif /* KWQ_LOCAL_H */
