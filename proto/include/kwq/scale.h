/*
 * kwq/scale.h - the one scaling rule of kwq: how many workers a queue
 * should have. Both backends apply it: the local runner (`kwq run --local`,
 * worker processes) and the Kubernetes backend (a Job's parallelism). Pure
 * functions over numbers read from kwq_stats(); nothing here talks to Redis.
 * How a backend moves towards the target (never stopping a busy worker,
 * holding before lowering) is the scaler's: submitter/scaler.h.
 *
 *     target = clamp(ceil((pending + leased) / tasks_per_worker), min, max)
 *
 * Delayed tasks do not count: they cannot run before they are due, and the
 * stats read that feeds the rule promotes due ones to pending first.
 */
#ifndef KWQ_SCALE_H
#define KWQ_SCALE_H

#include <stdbool.h>
#include <stdint.h>

struct kwq_error;

#define KWQ_SCALE_MAX_WORKERS 10000 /* upper bound accepted for max */

struct kwq_scale_rule {
    uint32_t min;              /* never fewer workers than this (may be 0) */
    uint32_t max;              /* never more workers than this, 1..KWQ_SCALE_MAX_WORKERS */
    uint32_t tasks_per_worker; /* backlog (pending + leased) one worker is sized for, >= 1 */
};

/*
 * Check a rule: max in 1..KWQ_SCALE_MAX_WORKERS, min <= max, tasks_per_worker
 * >= 1. Returns 0 or KWQ_EINVAL with a message naming the options in err
 * ("--min (5) must not exceed --max (2)").
 */
int kwq_scale_rule_check(const struct kwq_scale_rule *r, struct kwq_error *err);

/* The worker count the rule asks for. r must have passed kwq_scale_rule_check. */
uint32_t kwq_scale_target(const struct kwq_scale_rule *r, uint64_t pending, uint64_t leased);

/*
 * Update a smoothed rate (items per second) with done_delta items seen over
 * elapsed_ms: a moving average in which a sample weighs
 * elapsed / (elapsed + tau_ms), so that a rate read every 250 ms and one
 * read every 5 s smooth over about the same time.
 * *rate < 0 means "no estimate yet": the first sample is taken as is.
 */
void kwq_rate_update(double *rate, uint64_t done_delta, uint64_t elapsed_ms, uint64_t tau_ms);

/*
 * Estimated ms until remaining items are done at rate items/s; -1 when it
 * cannot be estimated (rate not positive), 0 when nothing remains.
 */
int64_t kwq_eta_ms(uint64_t remaining, double rate);

#endif /* KWQ_SCALE_H */
