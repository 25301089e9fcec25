/*
 * job_int.h - what the files of kube/src/job_*.c share and nobody else
 * needs.
 */
#ifndef KUBE_JOB_INT_H
#define KUBE_JOB_INT_H

struct cJSON;
struct kwq_error;

/*
 * 0 when q is NULL or a Kubernetes quantity ("500m", "2", "256Mi"), else
 * KWQ_EINVAL with a line naming what ("--cpu") in err.
 */
int kube__check_quantity(const char *what, const char *q, struct kwq_error *err);

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
