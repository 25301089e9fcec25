/*
 * ready.c - the readiness file (--ready-file): it exists exactly while the
 * worker holds at least one task. A readiness probe `test -e FILE` thus
 * marks idle pods NotReady, and the Job controller deletes NotReady pods
 * first when parallelism is lowered, sparing pods in the middle of a task.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kwq/log.h"

#include "core.h"

static void ready_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0) {
        kwq_log(KWQ_LOG_WARN, "cannot create the readiness file", KWQ_LS("path", path),
                KWQ_LS("err", strerror(errno)));
        return;
    }
    (void)close(fd);
}

static void ready_remove(const char *path)
{
    if (unlink(path) < 0 && errno != ENOENT)
        kwq_log(KWQ_LOG_WARN, "cannot remove the readiness file", KWQ_LS("path", path),
                KWQ_LS("err", strerror(errno)));
}

static void ready_set(struct worker *w, bool on)
{
    if (on)
        ready_create(w->cfg->ready_file);
    else
        ready_remove(w->cfg->ready_file);
    w->ready_on = on;
}

void ready_update(struct worker *w)
{
    bool want = w->njobs > 0;

    if (w->cfg->ready_file && want != w->ready_on)
        ready_set(w, want);
}

void ready_clear(struct worker *w)
{
    if (w->cfg->ready_file)
        ready_set(w, false);
}
