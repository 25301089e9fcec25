/*
 * helper_common.h - small shared pieces of the test handlers: draining
 * stdin, writing a pid file atomically (so a test never reads half a file),
 * waiting for a file, sleeping.
 */
#ifndef KWQ_HELPER_COMMON_H
#define KWQ_HELPER_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline void helper_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static inline void helper_drain_stdin(void)
{
    char buf[4096];

    while (read(0, buf, sizeof(buf)) > 0)
        ;
}

/* Write "pid\n" to path via a temp file and rename, so readers see all or nothing. */
static inline void helper_write_pid(const char *path, pid_t pid)
{
    char tmp[4096];
    FILE *f;

    (void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", (long)pid) < 0 || fclose(f) != 0)
        exit(90);
    if (rename(tmp, path) != 0)
        exit(91);
}

static inline int helper_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* Create path exclusively; 1 when this call created it, 0 when it existed. */
static inline int helper_create_once(const char *path)
{
    FILE *f = fopen(path, "wx");

    if (!f)
        return 0;
    (void)fclose(f);
    return 1;
}

#endif /* KWQ_HELPER_COMMON_H */
