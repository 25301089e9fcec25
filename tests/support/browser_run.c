/*
 * browser_run.c - tests/helpers/browser.py run from a test (browser_run.h).
 */
#include "browser_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test_proc.h"

#define SAFETY_S 600

/* The last non-empty line of fd's file (its last 8 KiB are enough) into line. */
static void last_line(int fd, char *line, size_t linelen)
{
    char buf[8192];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = size > 0 ? pread(fd, buf, sizeof(buf) - 1, from) : 0;
    char *start;

    line[0] = '\0';
    if (n <= 0)
        return;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    start = strrchr(buf, '\n');
    (void)snprintf(line, linelen, "%s", start ? start + 1 : buf);
}

int browser_run(const char *url, const char *steps, const char *shot, char *line, size_t linelen)
{
    char errpath[] = "/tmp/kwq-browser-stderr-XXXXXX";
    const char *argv[12];
    int n = 0, code;
    int fd = mkstemp(errpath);

    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    (void)unlink(errpath);
    argv[n++] = KWQ_TEST_PYTHON3;
    argv[n++] = KWQ_TEST_BROWSER_PY;
    argv[n++] = "--url";
    argv[n++] = url;
    argv[n++] = "--steps";
    argv[n++] = steps;
    if (shot) {
        argv[n++] = "--screenshot";
        argv[n++] = shot;
    }
    argv[n] = NULL;
    code = test_proc_wait(test_proc_start(argv, (int[3]){-1, -1, fd}), time(NULL) + SAFETY_S);
    last_line(fd, line, linelen);
    (void)close(fd);
    return code;
}

const char *browser_artifacts_dir(void)
{
    if (mkdir(KWQ_TEST_ARTIFACTS_DIR, 0755) != 0)
        cr_assert(errno == EEXIST, "mkdir %s: %s", KWQ_TEST_ARTIFACTS_DIR, strerror(errno));
    return KWQ_TEST_ARTIFACTS_DIR;
}
