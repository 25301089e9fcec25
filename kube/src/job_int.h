/*
 * job_int.h - what the files of kube/src/job_*.c share and nobody else
 * needs.
 */
#ifndef KUBE_JOB_INT_H
#define KUBE_JOB_INT_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct kwq_error;

/*
 * 0 when q is NULL or a Kubernetes quantity ("500m", "2", "256Mi"), else
 * KWQ_EINVAL with a line naming what ("--cpu") in err.
 */
int kube__check_quantity(const char *what, const char *q, struct kwq_error *err);

/* Text being built; an allocation failure sets oom once, checked at the end. */
struct kube__text {
    char *buf;  /* text so far, NUL-terminated */
    size_t len; /* bytes in buf */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed: buf is incomplete */
};

/* Append n bytes of s (nothing once oom is set). */
void kube__text_put(struct kube__text *t, const char *s, size_t n);

/*
 * v as indented JSON text for people (2 spaces, arrays of scalars on one
 * line), the caller's to free(); NULL when out of memory.
 */
char *kube__json_pretty(const struct cJSON *v);

/*
 * v as a YAML document (block style, 2-space indents, strings that a YAML
 * reader would take for a number, bool or null double-quoted), the caller's
 * to free(); NULL when out of memory.
 */
char *kube__json_to_yaml(const struct cJSON *v);

#endif /* KUBE_JOB_INT_H */
