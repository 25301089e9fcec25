/*
 * cmd_task.c - `kwq task ID`: where one task is, its attempts and their
 * history, and its result when kept.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/task.h"

#include "cli.h"

struct task_cfg {
    bool json;    /* --json */
    bool payload; /* --payload */
};

static const struct kwq_opt opts[] = {
    {"json", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "print one JSON object",
     offsetof(struct task_cfg, json)},
    {"payload", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "include the payload",
     offsetof(struct task_cfg, payload)},
};

static const struct cli_spec spec = {
    .name = "task",
    .usage = "[options] ID",
    .description =
        "Show one task: its state (pending, leased, delayed, done, dead), attempts made and\n"
        "allowed, the history of its attempts (outcome, exit code, error), and its result while\n"
        "it is kept. A done task without a result leaves nothing behind: it is not found.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* ---- Text ------------------------------------------------------------------------- */

static void print_history_entry(const cJSON *h)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(h, "n");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(h, "o");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(h, "at");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(h, "c");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(h, "e");
    const cJSON *due = cJSON_GetObjectItemCaseSensitive(h, "due");
    char t[40];

    (void)printf("  attempt %-3d %-9s %s", cJSON_IsNumber(n) ? n->valueint : 0,
                 cJSON_IsString(o) ? o->valuestring : "?",
                 cli_time(cJSON_IsNumber(at) ? (int64_t)at->valuedouble : 0, t, sizeof(t)));
    if (cJSON_IsNumber(code) && code->valueint >= 0)
        (void)printf("  exit %d", code->valueint);
    if (cJSON_IsNumber(due))
        (void)printf("  retry at %s", cli_time((int64_t)due->valuedouble, t, sizeof(t)));
    if (cJSON_IsString(e) && *e->valuestring)
        (void)printf("  %.*s", (int)strcspn(e->valuestring, "\n"), e->valuestring);
    (void)putchar('\n');
}

static void print_text(const struct kwq_task_info *ti, bool payload)
{
    char t[40], d[40];
    cJSON *hist = cJSON_Parse(ti->history_json ? ti->history_json : "[]");
    const cJSON *h;

    (void)printf("id:        %s\nqueue:     %s\nstate:     %s\n", ti->task.id, cli.queue,
                 kwq_state_to_string(ti->state));
    if (ti->state != KWQ_STATE_DONE) /* an acked task keeps only its result */
        (void)printf("attempts:  %u of %u\n", ti->task.attempt, ti->task.max_attempts);
    if (ti->task.timeout_ms)
        (void)printf("timeout:   %llums\n", (unsigned long long)ti->task.timeout_ms);
    if (ti->task.enqueued_ms > 0)
        (void)printf("enqueued:  %s\n", cli_time(ti->task.enqueued_ms, t, sizeof(t)));
    if (ti->state == KWQ_STATE_LEASED)
        (void)printf("lease until: %s\n", cli_time(ti->due_ms, d, sizeof(d)));
    else if (ti->state == KWQ_STATE_DELAYED)
        (void)printf("due:       %s\n", cli_time(ti->due_ms, d, sizeof(d)));
    if (cJSON_GetArraySize(hist) > 0) {
        (void)printf("history:\n");
        cJSON_ArrayForEach(h, hist) print_history_entry(h);
    }
    cJSON_Delete(hist);
    if (ti->result)
        (void)printf("result:    %zu byte%s kept ('kwq results %s' prints it)\n", ti->result_len,
                     ti->result_len == 1 ? "" : "s", ti->task.id);
    if (payload && ti->task.payload) {
        (void)printf("payload:\n");
        (void)fwrite(ti->task.payload, 1, ti->task.payload_len, stdout);
        (void)putchar('\n');
    }
}

/* ---- JSON -------------------------------------------------------------------------- */

static int print_json(const struct kwq_task_info *ti, bool payload)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *hist = cJSON_Parse(ti->history_json ? ti->history_json : "[]");

    if (!o || !hist) {
        cJSON_Delete(o);
        cJSON_Delete(hist);
        return cli_error(KWQ_EXIT_SOFTWARE, "cannot render task %s as JSON", ti->task.id);
    }
    (void)cJSON_AddStringToObject(o, "id", ti->task.id);
    (void)cJSON_AddStringToObject(o, "queue", cli.queue);
    (void)cJSON_AddStringToObject(o, "state", kwq_state_to_string(ti->state));
    (void)cJSON_AddNumberToObject(o, "attempts", ti->task.attempt);
    (void)cJSON_AddNumberToObject(o, "max_attempts", ti->task.max_attempts);
    (void)cJSON_AddNumberToObject(o, "timeout_ms", (double)ti->task.timeout_ms);
    (void)cJSON_AddNumberToObject(o, "enqueued_ms", (double)ti->task.enqueued_ms);
    (void)cJSON_AddNumberToObject(o, "due_ms", (double)ti->due_ms);
    cJSON_AddItemToObject(o, "history", hist);
    if (ti->result)
        (void)cli_json_add_bytes(o, "result", ti->result, ti->result_len);
    if (payload && ti->task.payload)
        (void)cli_json_add_bytes(o, "payload", ti->task.payload, ti->task.payload_len);
    return cli_json_print(o);
}

int cmd_task(int argc, char **argv)
{
    struct task_cfg cfg = {0};
    struct kwq_task_info ti;
    struct kwq_client *c = NULL;
    bool stop;
    int ind, r;

    r = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);
    if (stop)
        return r;
    if (ind >= argc)
        return cli_usage_error(spec.name, "give a task ID");
    if (ind + 1 < argc)
        return cli_usage_error(spec.name, "unexpected argument '%s'", argv[ind + 1]);
    r = cli_check_ids(spec.name, argv + ind, 1);
    if (r != 0)
        return r;
    r = cli_open(&c);
    if (r != 0)
        return r;
    memset(&ti, 0, sizeof(ti));
    r = kwq_task_get(c, cli.queue, argv[ind], &ti);
    if (r == KWQ_ENOTFOUND)
        r = cli_error(KWQ_EXIT_NOTFOUND,
                      "no task %s in queue '%s' (never enqueued, or done without a kept result); "
                      "check the ID and --queue",
                      argv[ind], cli.queue);
    else if (r < 0)
        r = cli_fail(c, r, NULL);
    else if (cfg.json)
        r = print_json(&ti, cfg.payload);
    else
        print_text(&ti, cfg.payload);
    kwq_task_info_done(&ti);
    kwq_client_free(c);
    return r;
}
