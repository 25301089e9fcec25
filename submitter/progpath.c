/*
 * progpath.c - locate the programs kwq runs (see progpath.h).
 */
#include "progpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_exec(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EACCES;
    return access(path, X_OK) == 0 ? 0 : -errno;
}

int progpath_find(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    int last = -ENOENT;

    if (!name || !*name)
        return -ENOENT;
    if (strchr(name, '/')) {
        (void)snprintf(buf, len, "%s", name);
        return check_exec(buf);
    }
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        int r;

        (void)snprintf(buf, len, "%.*s%s%s", (int)n, path, n ? "/" : "", name);
        r = check_exec(buf);
        if (r == 0)
            return 0;
        if (r == -EACCES)
            last = r;
        path += n + (path[n] == ':');
    }
    return last;
}

int progpath_find_env(const char *env, const char *name, char *buf, size_t len)
{
    const char *v = getenv(env);

    if (v && *v) {
        (void)snprintf(buf, len, "%s", v);
        return check_exec(buf);
    }
    return progpath_find(name, buf, len);
}

int progpath_worker(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n;
    char *slash;
    const char *env = getenv("KWQ_WORKER_BIN");

    if (env && *env)
        return progpath_find_env("KWQ_WORKER_BIN", "kwq-worker", buf, len);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            (void)snprintf(buf, len, "%s/kwq-worker", self);
            if (check_exec(buf) == 0)
                return 0;
        }
    }
    return progpath_find("kwq-worker", buf, len);
}
