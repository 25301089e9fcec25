/*
 * kube_env.c - a private $HOME and no inherited Kubernetes settings for the
 * tests of kube/config.h and of the kwq commands that use it.
 */
#include "kube_env.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

static char dir[64];

void kube_env_setup(void)
{
    static const char *const clear[] = {
        "KUBECONFIG",   "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KWQ_KUBE_SA_DIR",
        "KWQ_KUBE_API", "KWQ_NAMESPACE",           "KWQ_KUBE_RETRY"};

    (void)snprintf(dir, sizeof(dir), "/tmp/kwq-kube-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    cr_assert_eq(setenv("HOME", dir, 1), 0);
    for (size_t i = 0; i < sizeof(clear) / sizeof(clear[0]); i++)
        cr_assert_eq(unsetenv(clear[i]), 0);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void kube_env_teardown(void)
{
    (void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *kube_env_dir(void)
{
    return dir;
}

const char *kube_env_path(const char *name)
{
    static char bufs[8][512];
    static unsigned next;
    char *b = bufs[next++ % 8];

    (void)snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

const char *kube_env_write(const char *name, const char *text)
{
    const char *path = kube_env_path(name);
    char sub[512];
    FILE *f;

    (void)snprintf(sub, sizeof(sub), "%s", path);
    *strrchr(sub, '/') = '\0';
    if (mkdir(sub, 0700) < 0)
        cr_assert_eq(errno, EEXIST, "mkdir %s: %s", sub, strerror(errno));
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert(fputs(text, f) >= 0);
    cr_assert_eq(fclose(f), 0);
    return path;
}
