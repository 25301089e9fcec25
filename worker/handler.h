/*
 * handler.h - finding and starting handler processes (no shell).
 *
 * A handler runs in its own process group (pgid = pid) so that stopping it
 * reaches everything it started. Its stdin, stdout and stderr are pipes to
 * the worker; every other fd is closed before exec, so a handler inherits
 * nothing else (in particular not the worker's Redis connections).
 */
#ifndef KWQ_WORKER_HANDLER_H
#define KWQ_WORKER_HANDLER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct kwq_error;

struct handler_proc {
    pid_t pid;  /* process id, also its process group id */
    int in_fd;  /* write end of its stdin, non-blocking, O_CLOEXEC */
    int out_fd; /* read end of its stdout, non-blocking, O_CLOEXEC */
    int err_fd; /* read end of its stderr, non-blocking, O_CLOEXEC */
};

/*
 * Resolve name as execvp would (a name with a slash is a path, else PATH is
 * searched) to an executable regular file. *ret_path is malloc'd. Errors:
 * KWQ_EINVAL with a one-line message in err (missing, not executable).
 */
int handler_resolve(const char *name, char **ret_path, struct kwq_error *err);

/*
 * Start path with argv and envp in a new process group, with pipes for its
 * stdio. The child shares the worker's memory until exec (vfork-like, the
 * worker waits meanwhile); signals are blocked around its creation; it resets
 * dispositions and the mask, asks for SIGKILL if the worker dies, and reports
 * an exec failure through that shared memory. Returns 0 and fills ret, or -errno (the exec
 * error, or a pipe/fork failure); on error no process is left running.
 * handler_spawn_error_is_resource tells the two kinds apart.
 */
int handler_spawn(const char *path, char *const argv[], char *const envp[],
                  struct handler_proc *ret);

/*
 * handler_spawn, with the first bytes of the handler's stdin already in the
 * pipe before the child exists: as much of in[0..in_len) as the pipe takes
 * (its whole buffer, 64 KiB by default), the count in *ret_written. A worker
 * killed right after the spawn then leaves a handler that reads its payload,
 * not an empty stdin. The caller writes the rest, if any, to ret->in_fd.
 */
int handler_spawn_input(const char *path, char *const argv[], char *const envp[], const char *in,
                        size_t in_len, struct handler_proc *ret, size_t *ret_written);

/*
 * True when a handler_spawn error is a shortage (processes, fds, memory)
 * rather than a handler that cannot be executed: the first may pass, the
 * second is a configuration error.
 */
bool handler_spawn_error_is_resource(int rc);

/* Send sig to the whole process group of pgid; a group already gone is not an error. */
void handler_signal_group(pid_t pgid, int sig);

/*
 * Read what the non-blocking handler pipe fd has now (EINTR retried).
 * Returns bytes read, 0 at EOF or on a read error (the pipe is done), -1
 * when nothing is there yet.
 */
ssize_t handler_read(int fd, char *buf, size_t len);

/* Close the fds of p that are still open (set to -1). */
void handler_close_fds(struct handler_proc *p);

#endif /* KWQ_WORKER_HANDLER_H */
