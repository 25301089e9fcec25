/*
 * progpath.h - finding the programs kwq starts: redis-server, kwq-worker and
 * the user's handler, each checked before it is started so that a missing
 * one gets a clear message rather than a child that dies with 127.
 */
#ifndef KWQ_PROGPATH_H
#define KWQ_PROGPATH_H

#include <stddef.h>

/*
 * Resolve name like execvp would: a name with a '/' as is, else the first
 * executable regular file in PATH. Writes the path to buf. Returns 0, or
 * -ENOENT / -EACCES.
 */
int progpath_find(const char *name, char *buf, size_t len);

/* The program named by environment variable env when set, else progpath_find(name). */
int progpath_find_env(const char *env, const char *name, char *buf, size_t len);

/*
 * kwq-worker: $KWQ_WORKER_BIN, else the kwq-worker beside this kwq binary
 * (/proc/self/exe), else one in PATH. Returns 0 or -ENOENT.
 */
int progpath_worker(char *buf, size_t len);

#endif /* KWQ_PROGPATH_H */
