/*
 * results_out.c - results to a stream, raw or NDJSON (see results_out.h).
 */
#include "results_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/client.h"
#include "kwq/error.h"

#include "cli.h"

int results_format_parse(const char *s, enum results_format *ret)
{
    static const char *const names[] = {"raw", "json", "none"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *ret = (enum results_format)i;
            return 0;
        }
    }
    return -1;
}

static int write_json(FILE *f, const struct kwq_result *r)
{
    cJSON *o = cJSON_CreateObject();
    char *text;
    int rc = -1;

    if (!o)
        return -1;
    (void)cJSON_AddStringToObject(o, "id", r->id);
    (void)cJSON_AddStringToObject(o, "cursor", r->cursor);
    (void)cJSON_AddNumberToObject(o, "done_ms", (double)r->done_ms);
    (void)cli_json_add_bytes(o, "result", r->data ? r->data : "", r->data ? r->len : 0);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text && fprintf(f, "%s\n", text) > 0)
        rc = 0;
    cJSON_free(text);
    return rc;
}

/* The errno of a failed write, never 0 (a short write without one counts as EIO). */
static int write_error(void)
{
    return errno ? -errno : -EIO;
}

int results_write(FILE *f, enum results_format fmt, const struct kwq_result *list, size_t n)
{
    errno = 0;
    for (size_t i = 0; i < n && fmt != RESULTS_NONE; i++) {
        const struct kwq_result *r = &list[i];

        if (fmt == RESULTS_JSON) {
            if (write_json(f, r) < 0)
                return write_error();
            continue;
        }
        if (r->len && fwrite(r->data, 1, r->len, f) != r->len)
            return write_error();
        if ((r->len == 0 || r->data[r->len - 1] != '\n') && fputc('\n', f) == EOF)
            return write_error();
    }
    return fflush(f) == 0 ? 0 : write_error();
}

void results_feed_init(struct results_feed *f, struct kwq_client *c, const char *queue, FILE *out,
                       enum results_format fmt, int64_t server_time_ms)
{
    memset(f, 0, sizeof(*f));
    f->c = c;
    f->queue = queue;
    f->out = out;
    f->fmt = fmt;
    /* Result stream IDs begin with the server's ms clock: start just before now. */
    (void)snprintf(f->cursor, sizeof(f->cursor), "%lld-18446744073709551615",
                   (long long)server_time_ms - 1);
}

int results_feed_step(struct results_feed *f, int max_reads)
{
    f->behind = false;
    for (int i = 0; i < max_reads; i++) {
        struct kwq_result *list = NULL;
        size_t n = 0;
        int rc = kwq_results_read(f->c, f->queue, f->cursor, 1000, 0, &list, &n);

        if (rc < 0)
            return rc;
        if (n > 0) {
            (void)snprintf(f->cursor, sizeof(f->cursor), "%s", list[n - 1].cursor);
            if (f->before_write)
                f->before_write(f->arg);
        }
        rc = results_write(f->out, f->fmt, list, n);
        kwq_results_free(list, n);
        if (rc < 0) {
            f->out_err = rc;
            return KWQ_EIO;
        }
        f->written += n;
        if (n < 1000)
            return 0;
    }
    f->behind = true;
    return 0;
}
