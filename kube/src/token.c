/*
 * token.c - the bearer token. A service account's token file is replaced
 * by the kubelet as the token rotates (hourly by default, the old one
 * staying valid for a while), so a token from a file is read again once a
 * minute and whenever the API server refuses it. The token goes into an
 * HTTP header and nowhere else: never into a message, never into a log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kwq/error.h"
#include "kwq/util.h"

#include "http_int.h"

/* The longest token accepted: OIDC tokens with many groups run to a few KiB. */
#define TOKEN_MAX (64u << 10)

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/*
 * A token is one line of visible ASCII once the trailing line break (and
 * blanks) a file usually ends with are gone: anything else could break out
 * of the Authorization header.
 */
static int token_check(char *buf, size_t *len, const char *path, struct kwq_error *err)
{
    while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r' || buf[*len - 1] == ' ' ||
                        buf[*len - 1] == '\t'))
        (*len)--;
    buf[*len] = '\0';
    if (*len == 0)
        return kwq_error_set(err, KWQ_EINVAL, "the token file %s is empty", path);
    for (size_t i = 0; i < *len; i++)
        if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f)
            return kwq_error_set(err, KWQ_EINVAL,
                                 "the token file %s holds more than one line of text (byte %zu)",
                                 path, i + 1);
    return 0;
}

/* Read path into a new string (*ret). */
static int token_read(const char *path, char **ret, struct kwq_error *err)
{
    char *buf = malloc(TOKEN_MAX + 2);
    size_t len = 0;
    ssize_t n = 1;
    int fd, e = 0, rc;

    *ret = NULL;
    if (!buf)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading the token file %s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        e = errno;
    while (fd >= 0 && len <= TOKEN_MAX && n > 0) {
        n = read(fd, buf + len, TOKEN_MAX + 1 - len);
        if (n > 0)
            len += (size_t)n;
        else if (n < 0 && errno == EINTR)
            n = 1;
        else if (n < 0)
            e = errno;
    }
    if (fd >= 0)
        (void)close(fd);
    if (e)
        rc = kwq_error_set(err, KWQ_EINVAL, "cannot read the token file %s: %s", path, strerror(e));
    else if (len > TOKEN_MAX)
        rc = kwq_error_set(err, KWQ_EINVAL, "the token file %s is over %u KiB: not a token", path,
                           TOKEN_MAX >> 10);
    else
        rc = token_check(buf, &len, path, err);
    if (rc == 0) {
        *ret = buf;
        return 0;
    }
    explicit_bzero(buf, len);
    free(buf);
    return rc;
}

int kube__token_init(struct kube_token *t, const char *inline_token, const char *path,
                     struct kwq_error *err)
{
    *t = (struct kube_token){0};
    /*
     * Both set (kube_config_load sets only one): the file wins, as in
     * client-go's rest.Config, being the one kept current.
     */
    if (path) {
        t->path = strdup(path);
        if (!t->path)
            return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
        const char *ignored;
        return kube__token_get(t, true, &ignored, err);
    }
    if (inline_token) {
        t->value = strdup(inline_token);
        if (!t->value)
            return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    }
    return 0;
}

int kube__token_get(struct kube_token *t, bool force, const char **ret, struct kwq_error *err)
{
    uint64_t now = kwq_monotonic_ms();
    char *fresh;
    int rc;

    if (t->path && (force || !t->value || now - t->read_ms >= KUBE_TOKEN_MAX_AGE_MS)) {
        rc = token_read(t->path, &fresh, err);
        if (rc == KWQ_ENOMEM || (rc && (force || !t->value)))
            return rc;
        if (rc == 0) {
            wipe_free(t->value);
            t->value = fresh;
        }
        t->read_ms = now;
    }
    *ret = t->value;
    return 0;
}

bool kube__token_can_reread(const struct kube_token *t)
{
    return t->path != NULL;
}

void kube__token_done(struct kube_token *t)
{
    wipe_free(t->value);
    free(t->path);
    *t = (struct kube_token){0};
}
