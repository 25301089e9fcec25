/*
 * scaler.c - the scaler's decision: the rule's target (kwq/scale.h), and
 * around it what keeps workers that hold tasks alive and a backend that can
 * no longer change out of it. Pure: no I/O, no clock (the time is an
 * argument), so every case is a row in a table test.
 */
#include "scaler.h"

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

struct scaler_decision scaler_decide(const struct kwq_scale_rule *r, const struct scaler_obs *o,
                                     struct scaler_hold *hold, uint64_t hold_ms, uint64_t now_ms)
{
    const struct scaler_workers *w = &o->workers;
    struct scaler_decision d = {.verdict = SCALER_KEEP, .setpoint = w->setpoint};
    uint32_t want;

    d.target = kwq_scale_target(r, o->pending, o->leased);
    if (o->drained || w->frozen) {
        d.verdict = o->drained ? SCALER_DONE : SCALER_FROZEN;
        hold->since_ms = 0;
        return d;
    }
    if (d.target >= w->setpoint)
        want = d.target;
    else /* a worker holding a task is never stopped */
        want = min_u32(w->setpoint, max_u32(d.target, w->busy));
    if (want >= w->setpoint) {
        hold->since_ms = 0;
        if (want > w->setpoint) {
            d.verdict = SCALER_APPLY;
            d.setpoint = want;
        }
        return d;
    }
    /* Lowering: only once the wish has lasted hold_ms, so that a dip deletes no worker. */
    if (!hold->since_ms)
        hold->since_ms = now_ms;
    if (now_ms - hold->since_ms < hold_ms) {
        d.verdict = SCALER_HOLD;
        d.hold_end_ms = hold->since_ms + hold_ms;
        return d;
    }
    hold->since_ms = 0;
    d.verdict = SCALER_APPLY;
    d.setpoint = want;
    return d;
}

const char *scaler_verdict_name(enum scaler_verdict v)
{
    switch (v) {
    case SCALER_KEEP:
        return "keep";
    case SCALER_APPLY:
        return "apply";
    case SCALER_HOLD:
        return "hold";
    case SCALER_FROZEN:
        return "frozen";
    case SCALER_DONE:
        return "done";
    }
    return "?";
}
