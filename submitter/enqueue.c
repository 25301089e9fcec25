/*
 * enqueue.c - items in, tasks out. All input is read and checked first, so
 * that a bad item changes nothing; then batches go to kwq_enqueue, each
 * atomic, and a failure part-way is reported with the exact count that went
 * in before it.
 */
#include "enqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"

#include "cli.h"

#define ENQUEUE_BATCH 10000

/* ---- Reading --------------------------------------------------------------------- */

static int input_exit(int err)
{
    if (err == KWQ_ENOMEM)
        return KWQ_EXIT_SOFTWARE;
    if (err == KWQ_ETOOBIG || err == KWQ_EINVAL)
        return KWQ_EXIT_DATAERR;
    return KWQ_EXIT_NOINPUT;
}

static int read_stream(const struct enqueue_source *src, struct input_set *set, const char **name)
{
    struct kwq_error err = {0};
    bool is_stdin = !src->file || strcmp(src->file, "-") == 0;
    char *buf = NULL;
    size_t len = 0;
    int fd = STDIN_FILENO, r;

    *name = is_stdin ? "stdin" : src->file;
    if (!is_stdin) {
        struct stat st;
        fd = open(src->file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return cli_error(KWQ_EXIT_NOINPUT, "cannot open %s: %s; check the path", src->file,
                             strerror(errno));
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            (void)close(fd);
            return cli_error(KWQ_EXIT_NOINPUT,
                             "%s is a directory; give a file of items (or '-' for stdin)",
                             src->file);
        }
    } else if (isatty(STDIN_FILENO) == 1) {
        cli_note("reading items from the terminal, one per line; end with Ctrl-D");
    }
    r = input_read_fd(fd, *name, src->rules.max_input, &buf, &len, &err);
    if (!is_stdin)
        (void)close(fd);
    if (r == 0)
        r = input_parse(set, buf, len, &src->rules, *name, &err);
    if (r < 0)
        return cli_error(input_exit(r), "%s", err.msg);
    return 0;
}

int enqueue_read(const char *cmd, const struct enqueue_source *src, struct input_set *set)
{
    struct kwq_error err = {0};
    const char *name = "the arguments";
    int r;

    if (src->nargs > 0 && src->file)
        return cli_usage_error(cmd, "give items as arguments or with --file, not both");
    if (src->nargs > 0 && src->rules.format == INPUT_NUL)
        return cli_usage_error(cmd, "--null applies to --file and stdin, not to arguments");
    if (src->nargs > 0) {
        for (int i = 0; i < src->nargs; i++) {
            r = input_add_arg(set, src->args[i], (size_t)i + 1, &src->rules, &err);
            if (r < 0)
                return cli_error(input_exit(r), "%s", err.msg);
        }
    } else {
        r = read_stream(src, set, &name);
        if (r != 0)
            return r;
    }
    if (src->rules.format == INPUT_JSON) {
        r = input_check_keys(set, src->nargs > 0 ? "argument" : "line",
                             src->nargs > 0 ? NULL : name, &err);
        if (r < 0)
            return cli_error(input_exit(r), "%s", err.msg);
    }
    if (set->n == 0)
        return cli_error(KWQ_EXIT_NOINPUT,
                         "no items in %s; give items as arguments, with --file, or on stdin", name);
    return 0;
}

/* ---- Enqueuing ------------------------------------------------------------------------ */

static void fill_task(struct kwq_new_task *t, const struct input_set *set, size_t i,
                      const struct enqueue_defaults *d)
{
    const struct input_opts *o = input_item_opts(set, i);

    *t = (struct kwq_new_task){
        .payload = set->items[i].payload,
        .payload_len = set->items[i].len,
        .delay_ms = d->delay_ms,
        .timeout_ms = d->timeout_ms,
        .max_attempts = d->max_attempts,
    };
    if (!o)
        return;
    t->idem_key = o->idem_key;
    if (o->has & INPUT_HAS_DELAY)
        t->delay_ms = o->delay_ms;
    if (o->has & INPUT_HAS_TIMEOUT)
        t->timeout_ms = o->timeout_ms;
    if (o->has & INPUT_HAS_MAX_ATTEMPTS)
        t->max_attempts = o->max_attempts;
    if (o->has & INPUT_HAS_IDEM_TTL)
        t->idem_ttl_ms = o->idem_ttl_ms;
}

static void count_batch(const struct kwq_enqueued *ids, size_t n, bool print_ids,
                        struct enqueue_report *rep)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i].duplicate)
            rep->duplicates++;
        else
            rep->added++;
        if (print_ids)
            (void)printf("%s\n", ids[i].id);
    }
    rep->accepted += n;
}

int enqueue_items(struct kwq_client *c, const char *queue, const struct input_set *set,
                  const struct enqueue_defaults *d, bool print_ids, struct enqueue_report *ret)
{
    size_t cap = set->n < ENQUEUE_BATCH ? set->n : ENQUEUE_BATCH;
    struct kwq_new_task *tasks = calloc(cap ? cap : 1, sizeof(*tasks));
    struct kwq_enqueued *ids = calloc(cap ? cap : 1, sizeof(*ids));
    int r = 0;

    memset(ret, 0, sizeof(*ret));
    ret->total = set->n;
    if (!tasks || !ids) {
        r = KWQ_ENOMEM;
        goto out_free;
    }
    for (size_t at = 0; at < set->n && r == 0;) {
        size_t n = set->n - at < cap ? set->n - at : cap, accepted = 0;

        for (size_t i = 0; i < n; i++)
            fill_task(&tasks[i], set, at + i, d);
        r = kwq_enqueue(c, queue, tasks, n, ids, &accepted);
        if (accepted > n)
            accepted = n;
        count_batch(ids, accepted, print_ids, ret);
        at += n;
    }
out_free:
    free(tasks);
    free(ids);
    return r < 0 ? r : 0;
}

int enqueue_fail(struct kwq_client *c, int err, const struct enqueue_report *rep)
{
    char context[160];

    if (rep->accepted == 0)
        (void)snprintf(context, sizeof(context), "nothing was enqueued");
    else
        (void)snprintf(context, sizeof(context),
                       "enqueue stopped after %zu of %zu items (%zu added, %zu duplicates)",
                       rep->accepted, rep->total, rep->added, rep->duplicates);
    return cli_fail(c, err, context);
}
