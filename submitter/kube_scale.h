/*
 * kube_scale.h - the scaler's Kubernetes backend (scaler.h): the workers are
 * the pods of one Job, their count its spec.parallelism. Observing is one
 * GET of the Job (active, ready, parallelism, and whether it can still be
 * scaled); applying is one merge PATCH. Both are requests on the client's
 * loop (kube/http.h): a slow API server never stalls the loop.
 *
 * When the Job can no longer be scaled (a pod succeeded, or it finished)
 * while work is waiting, kube_scale_successor() makes the next Job of its
 * chain (NAME-2, NAME-3, ...) with the same spec, and the backend follows
 * that one from then on.
 */
#ifndef KWQ_KUBE_SCALE_H
#define KWQ_KUBE_SCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/job.h"
#include "scaler.h"

struct ev_loop;
struct kube_client;
struct kube_scale;

/* Observations younger than this are answered from the last GET (no apply since). */
#define KUBE_SCALE_OBSERVE_MS 400

/* A backend for Job name (copied), on k and its loop. NULL when out of memory. */
struct kube_scale *kube_scale_new(struct ev_loop *loop, struct kube_client *k, const char *name);

/* Free b; no request of its may be in flight (after the scaler ended). b may be NULL. */
void kube_scale_free(struct kube_scale *b);

/* The backend for scaler_cfg.backend. */
struct scaler_backend kube_scale_backend(struct kube_scale *b);

/* The Job the backend scales now (its name changes with a successor). */
const char *kube_scale_name(const struct kube_scale *b);

/* The Job as last read, or NULL before the first observation. */
const struct kube_job_status *kube_scale_job(const struct kube_scale *b);

/* Jobs made by kube_scale_successor so far. */
uint32_t kube_scale_successors(const struct kube_scale *b);

/*
 * Make the successor of the current Job with parallelism p: the next free
 * name of the chain, the same pod template, the predecessor annotation
 * naming the last Job of the chain (a taken name that follows the current
 * Job and has finished is the chain's next link, not a fork). The
 * backend scales it from then on. done is called once, from the loop, with
 * err->code 0 on success. Returns 0, or KWQ_ESTATE when a request of the
 * backend's is in flight or no Job was read yet (done is not called).
 */
int kube_scale_successor(struct kube_scale *b, uint32_t p,
                         void (*done)(void *arg, const struct kwq_error *err), void *arg);

/*
 * Read the Job now, blocking on the client's loop (for `kwq scale`, a
 * single step). Returns err->code.
 */
int kube_scale_observe_now(struct kube_scale *b, struct kwq_error *err);

/*
 * kube_scale_successor, blocking on the client's loop. Returns err->code.
 */
int kube_scale_successor_now(struct kube_scale *b, uint32_t p, struct kwq_error *err);

#endif /* KWQ_KUBE_SCALE_H */
