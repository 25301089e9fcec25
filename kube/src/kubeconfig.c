/*
 * kubeconfig.c - kubeconfig files through libyaml's document API: load,
 * look up a named entry across files (first definition wins), read a
 * scalar. Every message names the file and, where the YAML is at fault,
 * the line, so that the user can go straight to it.
 */
#include "kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"

#include "config_int.h"

/* ---- Loading ---------------------------------------------------------------- */

/* libyaml's own description of a parse error, with its line (1-based) when it has one. */
static int yaml_failed(const yaml_parser_t *p, const char *path, struct kwq_error *err)
{
    const char *problem = p->problem ? p->problem : "cannot be parsed";

    if (p->error == YAML_MEMORY_ERROR)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    if (p->error == YAML_READER_ERROR)
        return kwq_error_set(err, KWQ_EINVAL,
                             "kubeconfig %s is not valid YAML: %s at byte %zu; fix the file or "
                             "pass another with --kubeconfig",
                             path, problem, p->problem_offset);
    return kwq_error_set(err, KWQ_EINVAL,
                         "kubeconfig %s is not valid YAML: %s%s%s at line %zu; fix the file or "
                         "pass another with --kubeconfig",
                         path, p->context ? p->context : "", p->context ? ": " : "", problem,
                         p->problem_mark.line + 1);
}

/* Delete doc, its scalars wiped first: they hold tokens and keys. */
static void doc_free(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
        if (n->type == YAML_SCALAR_NODE)
            explicit_bzero(n->data.scalar.value, n->data.scalar.length);
    }
    yaml_document_delete(doc);
}

static int parse(struct kc_file *f, const char *text, size_t len, struct kwq_error *err)
{
    yaml_parser_t p;
    int ok;

    if (!yaml_parser_initialize(&p))
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    ok = yaml_parser_load(&p, &f->doc);
    if (!ok) {
        int r = yaml_failed(&p, f->path, err);
        yaml_parser_delete(&p);
        return r;
    }
    yaml_parser_delete(&p);
    f->root = yaml_document_get_root_node(&f->doc);
    if (f->root && f->root->type == YAML_SCALAR_NODE && f->root->data.scalar.length == 0)
        f->root = NULL; /* a file holding only comments */
    if (f->root && f->root->type != YAML_MAPPING_NODE) {
        size_t line = f->root->start_mark.line + 1;
        doc_free(&f->doc);
        return kwq_error_set(err, KWQ_EINVAL,
                             "kubeconfig %s is not a kubeconfig: its top level is not a mapping "
                             "(line %zu); fix the file or pass another with --kubeconfig",
                             f->path, line);
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Read and parse path into f (f->path and f->dir are already set). 1: it does not exist. */
static int load_file(struct kc_file *f, bool missing_ok, struct kwq_error *err)
{
    char *text;
    size_t len;
    int r = kube__read_file(f->path, (size_t)KUBE_FILE_MAX, &text, &len);

    if (r == -ENOENT && missing_ok)
        return 1;
    if (r == -EFBIG)
        return kwq_error_set(err, KWQ_EINVAL,
                             "kubeconfig %s is larger than %d MiB; pass another with --kubeconfig",
                             f->path, KUBE_FILE_MAX >> 20);
    if (r < 0)
        return kwq_error_set(err, KWQ_EINVAL,
                             "cannot read kubeconfig %s: %s; check the path (--kubeconfig, "
                             "$KUBECONFIG) and its permissions",
                             f->path, strerror(-r));
    r = parse(f, text, len, err);
    explicit_bzero(text, len); /* it holds tokens and keys */
    free(text);
    return r;
}

int kc_files_add(struct kc_files *fs, const char *path, bool missing_ok, struct kwq_error *err)
{
    struct kc_file *v = realloc(fs->v, (fs->n + 1) * sizeof(*v));
    struct kc_file *f;
    int r;

    if (!v)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    fs->v = v;
    f = &v[fs->n];
    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    f->dir = dir_of(path);
    if (!f->path || !f->dir)
        r = kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    else
        r = load_file(f, missing_ok, err);
    if (r != 0) {
        free(f->path);
        free(f->dir);
        return r;
    }
    fs->n++;
    return 0;
}

void kc_files_free(struct kc_files *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        doc_free(&fs->v[i].doc);
        free(fs->v[i].path);
        free(fs->v[i].dir);
    }
    free(fs->v);
    fs->v = NULL;
    fs->n = 0;
}

/* ---- Lookups ---------------------------------------------------------------- */

/* A plain empty, "~" or "null" scalar is YAML's null: the key is as good as absent. */
static bool is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/* The value at key in map (a mapping node), or NULL. */
static yaml_node_t *get(struct kc_file *f, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        if (scalar_is(yaml_document_get_node(&f->doc, p->key), key))
            return yaml_document_get_node(&f->doc, p->value);
    }
    return NULL;
}

bool kc_has(struct kc_file *f, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = get(f, map, key);

    return v && !is_null(v);
}

int kc_scalar(struct kc_file *f, yaml_node_t *map, const char *key, const char *what,
              const char **ret, struct kwq_error *err)
{
    yaml_node_t *v = get(f, map, key);

    *ret = NULL;
    /* "" quoted is a string, not YAML's null, but means unset all the same, as in kubectl. */
    if (!v || is_null(v) || (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0))
        return 0;
    if (v->type != YAML_SCALAR_NODE ||
        strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return kwq_error_set(err, KWQ_EINVAL,
                             "kubeconfig %s line %zu: %s of %s must be a string; fix the file",
                             f->path, v->start_mark.line + 1, key, what);
    *ret = (const char *)v->data.scalar.value;
    return 0;
}

int kc_current_context(struct kc_files *fs, const char **ret, struct kc_file **ret_file,
                       struct kwq_error *err)
{
    *ret = NULL;
    *ret_file = NULL;
    for (size_t i = 0; i < fs->n; i++) {
        int r = kc_scalar(&fs->v[i], fs->v[i].root, "current-context", "the file", ret, err);
        if (r < 0)
            return r;
        if (*ret) {
            *ret_file = &fs->v[i];
            return 0;
        }
    }
    return 0;
}

/* Look for name in the list of kind in one file: 0 found, 1 not there, or an error. */
static int find_in(struct kc_file *f, const char *kind, const char *name, yaml_node_t **ret_body,
                   struct kwq_error *err)
{
    char section[32];
    yaml_node_t *list;

    (void)snprintf(section, sizeof(section), "%ss", kind);
    list = get(f, f->root, section);
    if (!list || is_null(list))
        return 1;
    if (list->type != YAML_SEQUENCE_NODE)
        return kwq_error_set(err, KWQ_EINVAL,
                             "kubeconfig %s line %zu: %s must be a list; fix the file", f->path,
                             list->start_mark.line + 1, section);
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *entry = yaml_document_get_node(&f->doc, *it);
        if (!scalar_is(get(f, entry, "name"), name))
            continue;
        *ret_body = get(f, entry, kind);
        if (!*ret_body || (*ret_body)->type != YAML_MAPPING_NODE)
            return kwq_error_set(err, KWQ_EINVAL,
                                 "kubeconfig %s line %zu: the entry '%s' of %s has no '%s' "
                                 "mapping; fix the file",
                                 f->path, entry->start_mark.line + 1, name, section, kind);
        return 0;
    }
    return 1;
}

int kc_find(struct kc_files *fs, const char *kind, const char *name, struct kc_entry *ret,
            struct kwq_error *err)
{
    ret->file = NULL;
    ret->body = NULL;
    for (size_t i = 0; i < fs->n; i++) {
        int r = find_in(&fs->v[i], kind, name, &ret->body, err);
        if (r == 0)
            ret->file = &fs->v[i];
        if (r <= 0)
            return r;
    }
    return 1;
}
