/*
 * yaml_emit.c - a JSON tree as YAML text (`kwq job create --dry-run -o
 * yaml`, the generated files in manifests/), through libyaml's emitter, so
 * that escaping, quoting and line breaks are libyaml's, not ours.
 *
 * The one rule of our own is when a string must be quoted. A YAML reader
 * resolves a plain scalar by its look: `1`, `0755`, `1e3`, `true`, `yes`,
 * `on`, `null`, `~` stop being strings, and Kubernetes then refuses an env
 * value that is no longer a string. Which words count differs between YAML
 * 1.1 and 1.2 readers (kubectl's is 1.1-like), so any string that is empty,
 * starts with a digit, a sign or a dot, or is one of those words is
 * double-quoted; everything else is left to libyaml, which quotes by itself
 * where plain style cannot carry the text.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include <cjson/cJSON.h>

#include "job_int.h"

/* libyaml's output handler: 1 is success to it. */
static int write_text(void *data, unsigned char *s, size_t n)
{
    struct kube__text *t = data;

    kube__text_put(t, (const char *)s, n);
    return !t->oom;
}

static bool needs_quotes(const char *s)
{
    static const char *const words[] = {"y",     "yes",   "n",     "no",   "true",
                                        "false", "on",    "off",   "null", "~",
                                        ".inf",  "-.inf", "+.inf", ".nan", NULL};

    if (!*s || strchr("0123456789+-.", *s))
        return true;
    for (const char *const *w = words; *w; w++)
        if (strcasecmp(s, *w) == 0)
            return true;
    return false;
}

static bool scalar(yaml_emitter_t *e, const char *v, bool plain_ok)
{
    yaml_event_t ev;

    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1,
                                      plain_ok ? YAML_ANY_SCALAR_STYLE
                                               : YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        return false;
    return yaml_emitter_emit(e, &ev) != 0;
}

static bool node(yaml_emitter_t *e, const cJSON *v);

static bool collection(yaml_emitter_t *e, const cJSON *v, bool map)
{
    yaml_event_t ev;
    const cJSON *c;

    if (map ? !yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
            : !yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE))
        return false;
    /* libyaml writes an empty block collection as {} or [] by itself. */
    if (!yaml_emitter_emit(e, &ev))
        return false;
    cJSON_ArrayForEach(c, v)
    {
        if (map && !scalar(e, c->string, !needs_quotes(c->string)))
            return false;
        if (!node(e, c))
            return false;
    }
    if (map ? !yaml_mapping_end_event_initialize(&ev) : !yaml_sequence_end_event_initialize(&ev))
        return false;
    return yaml_emitter_emit(e, &ev) != 0;
}

static bool node(yaml_emitter_t *e, const cJSON *v)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v))
        return collection(e, v, cJSON_IsObject(v));
    if (cJSON_IsString(v))
        return scalar(e, v->valuestring, !needs_quotes(v->valuestring));
    if (cJSON_IsBool(v))
        return scalar(e, cJSON_IsTrue(v) ? "true" : "false", true);
    if (cJSON_IsNull(v))
        return scalar(e, "null", true);
    if (cJSON_IsNumber(v)) {
        /* cJSON's own text, so the number is exactly the one the JSON form carries. */
        char *num = cJSON_PrintUnformatted(v);
        bool ok = num && scalar(e, num, true);

        free(num);
        return ok;
    }
    return false;
}

static bool document(yaml_emitter_t *e, const cJSON *v)
{
    yaml_event_t ev;

    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || !yaml_emitter_emit(e, &ev))
        return false;
    if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(e, &ev))
        return false;
    if (!node(e, v))
        return false;
    if (!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(e, &ev))
        return false;
    return yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
}

char *kube__json_to_yaml(const struct cJSON *v)
{
    struct kube__text t = {0};
    yaml_emitter_t e;
    bool ok;

    if (!yaml_emitter_initialize(&e))
        return NULL;
    yaml_emitter_set_output(&e, write_text, &t);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_indent(&e, 2);
    yaml_emitter_set_width(&e, -1); /* never fold a long string over lines */
    yaml_emitter_set_break(&e, YAML_LN_BREAK);
    ok = document(&e, v) && yaml_emitter_flush(&e);
    yaml_emitter_delete(&e);
    if (!ok || t.oom || !t.buf) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
