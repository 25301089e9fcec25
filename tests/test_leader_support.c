/*
 * test_leader_support.c - the two brokers of the election tests and their
 * loop (test_leader_support.h).
 */
#include "test_leader_support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

struct ev_loop *lt_loop;
struct lt_broker lt_a = {.id = "broker-a"}, lt_b = {.id = "broker-b"};
int lt_stopped_err = 1;
static int events;

static void on_guard(struct ev_loop *lp, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(lp, EVBREAK_ONE);
}

bool lt_run_until(bool (*cond)(void), double guard_s)
{
    bool expired = false;
    ev_timer guard;

    ev_timer_init(&guard, on_guard, guard_s, 0.);
    guard.data = &expired;
    ev_timer_start(lt_loop, &guard);
    while ((!cond || !cond()) && !expired)
        ev_run(lt_loop, EVRUN_ONCE);
    ev_timer_stop(lt_loop, &guard);
    return cond && cond();
}

void lt_on_change(struct leader *l, bool leading, uint64_t term, void *data)
{
    struct lt_broker *b = data, *other = b == &lt_a ? &lt_b : &lt_a;

    cr_assert(eq(int, leader_is_leader(l), leading));
    cr_assert(eq(u64, leader_term(l), term));
    b->leading = leading;
    b->term = term;
    b->changes++;
    b->order = ++events;
    /* Never two leaders: the other stepped down before this one took over. */
    if (leading)
        cr_assert(not(other->leading), "%s leads while %s does", b->id, other->id);
}

bool lt_a_leads(void)
{
    return lt_a.leading;
}

bool lt_b_leads(void)
{
    return lt_b.leading;
}

void lt_on_stopped(struct leader *l, int err, void *data)
{
    (void)l;
    (void)data;
    lt_stopped_err = err;
}

bool lt_stop_done(void)
{
    return lt_stopped_err != 1;
}
