/*
 * scale.c - the scaling rule shared by the local runner and the Kubernetes
 * backend, and the rate/ETA arithmetic their progress displays share. Pure:
 * no I/O, no clock, no Redis, so every case is a table in a unit test.
 */
#include "kwq/scale.h"

#include "kwq/error.h"

int kwq_scale_rule_check(const struct kwq_scale_rule *r, struct kwq_error *err)
{
    if (r->max < 1 || r->max > KWQ_SCALE_MAX_WORKERS)
        return kwq_error_set(err, KWQ_EINVAL, "--max must be from 1 to %d workers, got %u",
                             KWQ_SCALE_MAX_WORKERS, r->max);
    if (r->min > r->max)
        return kwq_error_set(err, KWQ_EINVAL, "--min (%u) must not exceed --max (%u)", r->min,
                             r->max);
    if (r->tasks_per_worker < 1)
        return kwq_error_set(err, KWQ_EINVAL, "--tasks-per-worker must be at least 1, got 0");
    return 0;
}

uint32_t kwq_scale_target(const struct kwq_scale_rule *r, uint64_t pending, uint64_t leased)
{
    uint64_t backlog = pending + leased;
    uint64_t want;

    if (backlog < pending) /* overflow: as much as allowed */
        return r->max;
    want = backlog / r->tasks_per_worker + (backlog % r->tasks_per_worker != 0);
    if (want < r->min)
        return r->min;
    if (want > r->max)
        return r->max;
    return (uint32_t)want;
}

void kwq_rate_update(double *rate, uint64_t done_delta, uint64_t elapsed_ms, uint64_t tau_ms)
{
    double sample, alpha;

    if (elapsed_ms == 0)
        return;
    sample = (double)done_delta * 1000.0 / (double)elapsed_ms;
    if (*rate < 0 || tau_ms == 0) {
        *rate = sample;
        return;
    }
    /* Weight of the new sample grows with the time it covers (no libm needed). */
    alpha = (double)elapsed_ms / (double)(elapsed_ms + tau_ms);
    *rate += alpha * (sample - *rate);
}

int64_t kwq_eta_ms(uint64_t remaining, double rate)
{
    double ms;

    if (remaining == 0)
        return 0;
    if (!(rate > 0))
        return -1;
    ms = (double)remaining * 1000.0 / rate;
    if (ms > 9.0e15)
        return -1;
    return (int64_t)ms;
}
