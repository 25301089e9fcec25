/*
 * test_broker_election.c - two kwq-broker processes on one private Redis:
 * one leads; SIGKILL the leader and the other takes over once the lease
 * has run out; SIGTERM the leader and the other takes over without waiting
 * for the lease (the lease is 60 s there, so a takeover inside the test's
 * 30 s can only come from the release). Leadership is read off /metrics.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/util.h"

#include "broker_proc.h"
#include "test_cli_exec.h"

TestSuite(election, .init = cli_setup, .fini = cli_teardown, .timeout = 180);

static double leading(const struct broker_proc *b)
{
    return broker_metric(b, "kwq_broker_leader");
}

static double term(const struct broker_proc *b)
{
    return broker_metric(b, "kwq_broker_leader_term");
}

/* Wait until b leads; returns the monotonic ms it took. */
static uint64_t wait_leading(const struct broker_proc *b, int safety_s)
{
    uint64_t t0 = kwq_monotonic_ms();
    time_t deadline = time(NULL) + safety_s;

    while (leading(b) != 1.0) {
        cr_assert(time(NULL) < deadline, "%s never led", b->log);
        (void)usleep(50000);
    }
    return kwq_monotonic_ms() - t0;
}

/* Start two brokers and return the index of the leader, once exactly one leads. */
static int start_pair(struct broker_proc b[2], const char *lease)
{
    const char *args0[] = {"--leader-lease", lease, "--identity", "broker-a", NULL};
    const char *args1[] = {"--leader-lease", lease, "--identity", "broker-b", NULL};
    time_t deadline = time(NULL) + 60;
    int who = -1;

    broker_start(&b[0], "a.log", args0);
    broker_start(&b[1], "b.log", args1);
    for (;;) {
        double l0 = leading(&b[0]), l1 = leading(&b[1]);

        cr_assert(l0 + l1 <= 1.0, "two leaders at once");
        if (l0 + l1 == 1.0) {
            who = l0 == 1.0 ? 0 : 1;
            break;
        }
        cr_assert(time(NULL) < deadline, "no leader elected");
        (void)usleep(50000);
    }
    /* and it stays so over several renewals */
    for (int i = 0; i < 10; i++) {
        (void)usleep(200000);
        cr_assert_eq(leading(&b[who]), 1.0);
        cr_assert_eq(leading(&b[1 - who]), 0.0);
    }
    return who;
}

Test(election, one_of_two_leads)
{
    struct broker_proc b[2];
    int who = start_pair(b, "2s");

    cr_assert_eq(term(&b[who]), term(&b[1 - who]), "the follower sees the leader's term");
    cr_assert_eq(broker_stop(&b[0], SIGTERM), 0);
    cr_assert_eq(broker_stop(&b[1], SIGTERM), 0);
}

Test(election, sigkill_hands_over_after_the_lease)
{
    struct broker_proc b[2];
    int who = start_pair(b, "2s");
    double t = term(&b[who]);
    uint64_t took;

    cr_assert_eq(broker_stop(&b[who], SIGKILL), 128 + SIGKILL);
    took = wait_leading(&b[1 - who], 60);
    /* a functional bound, generous for a loaded host: the lease (2 s) plus retries */
    cr_assert_lt(took, 8000, "took %llu ms for a 2 s lease", (unsigned long long)took);
    cr_assert_gt(term(&b[1 - who]), t);
    cr_assert_eq(broker_stop(&b[1 - who], SIGTERM), 0);
}

Test(election, sigterm_hands_over_at_once)
{
    struct broker_proc b[2];
    int who = start_pair(b, "60s");
    double t = term(&b[who]);

    cr_assert_eq(broker_stop(&b[who], SIGTERM), 0);
    (void)wait_leading(&b[1 - who], 30); /* well before the 60 s lease could expire */
    cr_assert_gt(term(&b[1 - who]), t);
    cr_assert_eq(broker_stop(&b[1 - who], SIGTERM), 0);
}
