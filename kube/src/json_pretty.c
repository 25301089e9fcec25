/*
 * json_pretty.c - JSON text for people (`kwq job create --dry-run`, the
 * docs): two-space indents, one member per line, arrays of scalars on one
 * line, empty objects and arrays as {} and []. Scalars are printed by cJSON,
 * so escaping and numbers are exactly what the API receives.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "job_int.h"

void kube__text_put(struct kube__text *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 1024) + n;
        char *b = realloc(o->buf, cap);

        if (!b) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(struct kube__text *o, const char *s)
{
    kube__text_put(o, s, strlen(s));
}

static void indent(struct kube__text *o, int depth)
{
    kube__text_put(o, "\n", 1);
    for (int i = 0; i < depth; i++)
        kube__text_put(o, "  ", 2);
}

/* A scalar (or an empty container) as cJSON prints it. */
static void scalar(struct kube__text *o, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);

    if (!s) {
        o->oom = true;
        return;
    }
    puts_(o, s);
    cJSON_free(s);
}

static bool is_container(const cJSON *v)
{
    return cJSON_IsObject(v) || cJSON_IsArray(v);
}

static bool all_scalars(const cJSON *a)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, a)
    {
        if (is_container(v))
            return false;
    }
    return true;
}

static void value(struct kube__text *o, const cJSON *v, int depth)
{
    bool obj = cJSON_IsObject(v);
    const cJSON *c;

    if (!is_container(v) || !v->child || (!obj && all_scalars(v))) {
        if (!obj && v->child) { /* ["--", "/app/resize"]: readable on one line */
            kube__text_put(o, "[", 1);
            cJSON_ArrayForEach(c, v)
            {
                scalar(o, c);
                if (c->next)
                    kube__text_put(o, ", ", 2);
            }
            kube__text_put(o, "]", 1);
            return;
        }
        scalar(o, v);
        return;
    }
    kube__text_put(o, obj ? "{" : "[", 1);
    cJSON_ArrayForEach(c, v)
    {
        indent(o, depth + 1);
        if (obj) {
            cJSON *key = cJSON_CreateString(c->string);

            if (!key)
                o->oom = true;
            else
                scalar(o, key);
            cJSON_Delete(key);
            kube__text_put(o, ": ", 2);
        }
        value(o, c, depth + 1);
        if (c->next)
            kube__text_put(o, ",", 1);
    }
    indent(o, depth);
    kube__text_put(o, obj ? "}" : "]", 1);
}

char *kube__json_pretty(const cJSON *v)
{
    struct kube__text o = {0};

    value(&o, v, 0);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
