/*
 * kubeconfig.h - kubeconfig files as libyaml documents, and the lookups
 * kube_config_load makes in them: current-context, and the first entry of
 * a named list (contexts, clusters, users) across several files, as the
 * $KUBECONFIG merge rule says. Nothing here knows what a field means; the
 * YAML is never walked by hand, only through libyaml's document nodes.
 */
#ifndef KUBE_KUBECONFIG_H
#define KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

struct kwq_error;

/* One kubeconfig file, parsed. */
struct kc_file {
    char *path;          /* as given: for messages */
    char *dir;           /* its directory: relative paths in the file are relative to it */
    yaml_document_t doc; /* the file's first YAML document */
    yaml_node_t *root;   /* its top-level mapping, NULL for an empty file */
};

/* The files of one load, in the order their definitions win. */
struct kc_files {
    struct kc_file *v; /* loaded files */
    size_t n;          /* how many */
};

/*
 * Parse path and append it to fs. A file that does not exist is skipped
 * when missing_ok (returns 1), an error otherwise. Returns 0, 1, or
 * KWQ_EINVAL (unreadable, not YAML: the message has the line, or not a
 * mapping at the top) / KWQ_ENOMEM with err set.
 */
int kc_files_add(struct kc_files *fs, const char *path, bool missing_ok, struct kwq_error *err);

/* Free every file of fs (their scalars are wiped first: they hold tokens and keys) and zero fs. */
void kc_files_free(struct kc_files *fs);

/*
 * The scalar at key in map, a mapping node of f: *ret is NUL-terminated and
 * borrowed from f, NULL when the key is absent, empty or null. what names
 * the map in a message ("cluster 'c'"). Returns 0, or KWQ_EINVAL when the
 * value is not a string (a list or a mapping) or holds a NUL byte.
 */
int kc_scalar(struct kc_file *f, yaml_node_t *map, const char *key, const char *what,
              const char **ret, struct kwq_error *err);

/* True when map has key with a value that is not null (a plugin block, a password). */
bool kc_has(struct kc_file *f, yaml_node_t *map, const char *key);

/*
 * current-context of the first file that sets one, or NULL; *ret_file is
 * that file. Returns 0 or KWQ_EINVAL (not a string).
 */
int kc_current_context(struct kc_files *fs, const char **ret, struct kc_file **ret_file,
                       struct kwq_error *err);

/* An entry of a named list: its body mapping, and the file that defines it. */
struct kc_entry {
    struct kc_file *file; /* the file, for its path and directory */
    yaml_node_t *body;    /* the mapping under the kind's key ("cluster: {...}") */
};

/*
 * The first entry named name of kind ("context", "cluster", "user": the list
 * is kind + "s") across the files in order. Returns 0 with *ret filled, 1
 * when no file defines it, KWQ_EINVAL when the list or the entry is
 * malformed (with its line).
 */
int kc_find(struct kc_files *fs, const char *kind, const char *name, struct kc_entry *ret,
            struct kwq_error *err);

#endif /* KUBE_KUBECONFIG_H */
