/*
 * config_util.c - small pieces the configuration sources share: reading a
 * file whole, joining a relative path to its kubeconfig's directory, and
 * the checks of a server URL and of a namespace name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kwq/error.h"

#include "config_int.h"

/* Free a buffer that may hold a secret (a kubeconfig has tokens and keys). */
static void free_wiped(char *buf, size_t len)
{
    explicit_bzero(buf, len);
    free(buf);
}

/* Double *cap, as long as it is not past max already (-EFBIG). */
static int grow(char **buf, size_t *cap, size_t max)
{
    char *bigger;

    if (*cap > max)
        return -EFBIG;
    bigger = realloc(*buf, *cap * 2);
    if (!bigger)
        return -ENOMEM;
    *buf = bigger;
    *cap *= 2;
    return 0;
}

static int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
    struct stat st;
    size_t cap, len = 0;
    char *buf;
    int r = 0;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    /* Sizes from stat are a hint only (a /proc file says 0): read until EOF. */
    cap = st.st_size > 0 && (size_t)st.st_size <= max ? (size_t)st.st_size + 1 : 4096;
    buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    while (r == 0) {
        ssize_t n;
        if (len + 1 >= cap)
            r = grow(&buf, &cap, max);
        n = r ? 0 : read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0)
            len += (size_t)n;
        else if (n == 0)
            break;
    }
    if (r == 0 && len > max)
        r = -EFBIG;
    if (r < 0) {
        free_wiped(buf, len);
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

int kube__read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r;

    *ret = NULL;
    *ret_len = 0;
    if (fd < 0)
        return -errno;
    r = read_fd(fd, max, ret, ret_len);
    (void)close(fd);
    return r;
}

char *kube__path_join(const char *dir, const char *path)
{
    char *out;

    if (path[0] == '/' || !dir)
        return strdup(path);
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
}

int kube__url_check(const char *url, const char *what, struct kwq_error *err)
{
    size_t skip = 0;

    if (strncmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncmp(url, "http://", 7) == 0)
        skip = 7;
    if (!skip || !url[skip] || url[skip] == '/' || strpbrk(url, " \t\r\n"))
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s must be an http:// or https:// URL such as "
                             "http://127.0.0.1:8001 (kubectl proxy), got '%s'",
                             what, url);
    return 0;
}

int kube__namespace_check(const char *ns, const char *what, struct kwq_error *err)
{
    size_t n = strlen(ns);
    bool ok = n > 0 && n <= 63 && ns[0] != '-' && ns[n - 1] != '-';

    for (size_t i = 0; ok && i < n; i++)
        ok = (ns[i] >= 'a' && ns[i] <= 'z') || (ns[i] >= '0' && ns[i] <= '9') || ns[i] == '-';
    if (!ok)
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s '%s' is not a namespace name (lowercase letters, digits and '-', "
                             "at most 63); pass another with --namespace",
                             what, ns);
    return 0;
}
