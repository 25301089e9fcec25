/*
 * job_shape.h - the options that shape a worker Job's pods, shared by
 * `kwq job create` and `kwq run --kube` so that both make the same Job from
 * the same flags: the image, the worker's stop timing, where Redis is read
 * from, readiness, resources, labels and the Job's limits.
 */
#ifndef KWQ_JOB_SHAPE_H
#define KWQ_JOB_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "kwq/opts.h"

#include "kube/job.h"

#define JOB_SHAPE_LABELS_MAX 64 /* --label entries */

struct job_shape {
    const char *image;           /* --image */
    uint64_t grace_ms;           /* --grace */
    uint64_t kill_grace_ms;      /* --kill-grace */
    const char *redis_secret;    /* --redis-secret */
    const char *ready_file;      /* --ready-file */
    const char *cpu;             /* --cpu: request */
    const char *cpu_limit;       /* --cpu-limit */
    const char *memory;          /* --memory: request */
    const char *memory_limit;    /* --memory-limit */
    const char *labels;          /* --label K=V[,K=V...] */
    uint64_t backoff_limit;      /* --backoff-limit */
    uint64_t ttl_ms;             /* --ttl */
    uint64_t active_deadline_ms; /* --active-deadline, 0 = none */
    /* Not options: the split --label list, filled by job_shape_spec. */
    char *label_buf;
    const char *label_list[JOB_SHAPE_LABELS_MAX];
};

/* One row per line reads better than the formatter's split. */
/* clang-format off */
#define JOB_SHAPE_OPTS(T, F)                                                                       \
    {"image", 0, "KWQ_IMAGE", KWQ_OPT_STR, NULL, 0, 0, "IMAGE",                                    \
     "the worker image, whose entrypoint is kwq-worker (required)", offsetof(T, F.image)},         \
    {"grace", 0, NULL, KWQ_OPT_DURATION, "20s", 0, 3600000, "DUR",                                 \
     "after SIGTERM, how long running handlers may finish (KWQ_GRACE)", offsetof(T, F.grace_ms)},  \
    {"kill-grace", 0, NULL, KWQ_OPT_DURATION, "5s", 0, 600000, "DUR",                              \
     "between SIGTERM and SIGKILL to a handler (KWQ_KILL_GRACE)", offsetof(T, F.kill_grace_ms)},   \
    {"redis-secret", 0, "KWQ_REDIS_SECRET", KWQ_OPT_STR, KUBE_JOB_DEFAULT_SECRET, 0, 0, "NAME",    \
     "Secret holding the Redis URL (key url) and password (key password, optional)",               \
     offsetof(T, F.redis_secret)},                                                                 \
    {"ready-file", 0, NULL, KWQ_OPT_STR, KUBE_JOB_DEFAULT_READY, 0, 0, "PATH",                     \
     "the worker's readiness file (KWQ_READY_FILE); absolute: on an emptyDir",                     \
     offsetof(T, F.ready_file)},                                                                   \
    {"cpu", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "Q", "CPU request of each pod, e.g. 500m",           \
     offsetof(T, F.cpu)},                                                                          \
    {"cpu-limit", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "Q", "CPU limit of each pod",                  \
     offsetof(T, F.cpu_limit)},                                                                    \
    {"memory", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "Q", "memory request of each pod, e.g. 256Mi",    \
     offsetof(T, F.memory)},                                                                       \
    {"memory-limit", 0, NULL, KWQ_OPT_STR, NULL, 0, 0, "Q", "memory limit of each pod",            \
     offsetof(T, F.memory_limit)},                                                                 \
    {"label", 'l', NULL, KWQ_OPT_STR, NULL, 0, 0, "K=V,...",                                       \
     "labels of the Job and its pods, comma-separated", offsetof(T, F.labels)},                    \
    {"backoff-limit", 0, NULL, KWQ_OPT_UINT, "6", 0, 1000000, "N",                                 \
     "pod failures (other than 69, 75 and disruptions) before the Job fails",                      \
     offsetof(T, F.backoff_limit)},                                                                \
    {"ttl", 0, NULL, KWQ_OPT_DURATION, "1d", 0, 31536000000, "DUR",                                \
     "delete the finished Job and its pods after DUR (0: at once)", offsetof(T, F.ttl_ms)},        \
    {"active-deadline", 0, NULL, KWQ_OPT_DURATION, "0", 0, 31536000000, "DUR",                     \
     "fail the Job after it ran DUR, 0 = never", offsetof(T, F.active_deadline_ms)}
/* clang-format on */

/*
 * Fill the shape's part of s (image, grace periods, Secret, ready file,
 * resources, labels, limits); the caller sets the rest (name, queue,
 * handler, parallelism, the worker's own settings). The label list is kept
 * in sh until job_shape_done. Returns 0, or KWQ_EINVAL (too many labels)
 * or KWQ_ENOMEM with one line in err; the values themselves are checked by
 * kube_job_build.
 */
int job_shape_spec(struct job_shape *sh, struct kube_job_spec *s, struct kwq_error *err);

/*
 * 0 when the Secret the pods read Redis from exists in k's namespace, or
 * when kwq may not read Secrets (403: the pods will tell); else the exit
 * code, after one line saying how to create it.
 */
struct kube_client;
int job_shape_check_secret(struct kube_client *k, const char *secret);

/* Free what job_shape_spec kept. */
void job_shape_done(struct job_shape *sh);

#endif /* KWQ_JOB_SHAPE_H */
