/*
 * main.c - kwq-broker: keep kwq's queues healthy and visible beside Redis.
 * See docs/kwq-broker.md. Start: options, the HTTP listener (a taken port
 * is found before anything else runs), the Redis links, then the timers.
 * Stop (SIGTERM, SIGINT): step down as leader at once (the lease is
 * released, not left to expire), stop listening, then exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <ev.h>

#include "kwq/async.h"
#include "kwq/error.h"
#include "kwq/exit.h"
#include "kwq/log.h"
#include "kwq/util.h"

#include "broker.h"
#include "config.h"
#include "http.h"
#include "kube/http.h"
#include "leader.h"

#define STOP_WAIT_S 3.0 /* the longest a stop waits for the lease's release */

static void finish(struct broker *b)
{
    ev_timer_stop(b->loop, &b->stop_timer);
    ev_break(b->loop, EVBREAK_ALL);
}

static void on_stop_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    kwq_log(KWQ_LOG_WARN, "leader lease not released in time: it will expire");
    finish(t->data);
}

static void on_leader_stopped(struct leader *l, int err, void *data)
{
    (void)l;
    if (err != 0)
        kwq_log(KWQ_LOG_WARN, "leader lease not released: it will expire",
                KWQ_LS("err", kwq_strerror(err)));
    finish(data);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct broker *b = w->data;

    (void)loop;
    (void)revents;
    if (b->stopping) {
        kwq_log(KWQ_LOG_WARN, "second signal: exiting at once");
        finish(b);
        return;
    }
    kwq_log(KWQ_LOG_INFO, "stopping",
            KWQ_LS("signal", w->signum == SIGTERM ? "SIGTERM" : "SIGINT"));
    b->stopping = true;
    housekeep_stop(b);
    sample_stop(b);
    ev_timer_stop(b->loop, &b->queues.timer);
    if (b->http)
        http_server_stop(b->http);
    ev_timer_set(&b->stop_timer, STOP_WAIT_S, 0.0);
    ev_timer_start(b->loop, &b->stop_timer);
    if (b->leader)
        leader_stop(b->leader, on_leader_stopped, b);
    else
        finish(b);
}

static void on_leader_change(struct leader *l, bool leading, uint64_t term, void *data)
{
    struct broker *b = data;

    (void)l;
    b->leading = leading;
    kwq_log(KWQ_LOG_INFO, leading ? "leading" : "no longer leading", KWQ_LI("term", term),
            KWQ_LS("identity", b->cfg->identity));
}

static void on_master_up(struct link *l)
{
    struct broker *b = l->b;

    if (b->reader == l) {
        queues_refresh(b);
        sample_now(b);
    }
}

static void on_replica_up(struct link *l)
{
    queues_refresh(l->b);
    sample_now(l->b);
}

static void make_csrf(struct broker *b)
{
    unsigned char r[16] = {0};

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t t = kwq_monotonic_ms() ^ ((uint64_t)getpid() << 32);

        memcpy(r, &t, sizeof(t));
    }
    for (size_t i = 0; i < sizeof(r); i++)
        (void)snprintf(b->csrf + 2 * i, 3, "%02x", r[i]);
}

static int setup(struct broker *b)
{
    const struct broker_config *cfg = b->cfg;
    struct http_limits limits;
    char err[256];
    int rc;

    make_csrf(b);
    http_limits_init(&limits);
    b->http = http_server_new(b->loop, cfg->listen, &limits, routes_handle, b, err, sizeof(err));
    if (!b->http) {
        (void)fprintf(stderr, "kwq-broker: --listen %s: %s\n", cfg->listen, err);
        return KWQ_EXIT_OSERR;
    }
    if (link_init(&b->master, b, "master", cfg->redis_url, false) < 0 ||
        (cfg->read_redis_url &&
         link_init(&b->replica, b, "replica", cfg->read_redis_url, true) < 0) ||
        queues_init(b) < 0) {
        kwq_log(KWQ_LOG_ERROR, "out of memory at start-up");
        return KWQ_EXIT_SOFTWARE;
    }
    b->reader = cfg->read_redis_url ? &b->replica : &b->master;
    b->master.on_up = on_master_up;
    b->replica.on_up = on_replica_up;
    housekeep_init(b);
    sample_init(b);
    if ((rc = kube_jobs_open(b)) >= 0)
        return rc;
    if (cfg->leader_mode != BROKER_LEADER_OFF) {
        struct leader_opts lo = {
            .name = cfg->leader_name,
            .identity = cfg->identity,
            .lease_ms = cfg->leader_lease_ms,
        };

        if (cfg->leader_mode == BROKER_LEADER_KUBE)
            b->leader = leader_new_kube(b->loop, b->kube, kube_client_namespace(b->kube), &lo,
                                        on_leader_change, b);
        else
            b->leader = leader_new_redis(b->loop, b->master.a, &lo, on_leader_change, b);
        if (!b->leader) {
            kwq_log(KWQ_LOG_ERROR, "out of memory at start-up");
            return KWQ_EXIT_SOFTWARE;
        }
    }
    if (link_start(&b->master) == KWQ_EINVAL) {
        (void)fprintf(stderr, "kwq-broker: --redis: %s; see 'kwq-broker --help'\n",
                      kwq_async_errstr(b->master.a));
        return KWQ_EXIT_CONFIG;
    }
    if (cfg->read_redis_url && link_start(&b->replica) == KWQ_EINVAL) {
        (void)fprintf(stderr, "kwq-broker: --read-redis: %s; see 'kwq-broker --help'\n",
                      kwq_async_errstr(b->replica.a));
        return KWQ_EXIT_CONFIG;
    }
    return -1;
}

static void start(struct broker *b)
{
    queues_start(b);
    housekeep_start(b);
    sample_start(b);
    if (b->leader)
        leader_start(b->leader);
    ev_signal_init(&b->sigterm, on_signal, SIGTERM);
    ev_signal_init(&b->sigint, on_signal, SIGINT);
    b->sigterm.data = b->sigint.data = b;
    ev_signal_start(b->loop, &b->sigterm);
    ev_signal_start(b->loop, &b->sigint);
    kwq_log(KWQ_LOG_INFO, "broker started", KWQ_LS("listen", http_server_addr(b->http)),
            KWQ_LS("identity", b->cfg->identity), KWQ_LI("queues", b->queues.n),
            KWQ_LS("leader", b->leader ? leader_backend_name(b->leader) : "off"));
}

static void teardown(struct broker *b)
{
    if (b->leader)
        leader_free(b->leader);
    kube_client_free(b->kube); /* its callbacks answer their exchanges */
    /* Redis first: its callbacks still answer their HTTP exchanges. */
    link_done(&b->master);
    link_done(&b->replica);
    if (b->http)
        http_server_free(b->http);
    queues_done(b);
    ev_signal_stop(b->loop, &b->sigterm);
    ev_signal_stop(b->loop, &b->sigint);
}

static int run(const struct broker_config *cfg)
{
    struct broker b;
    int rc;

    memset(&b, 0, sizeof(b));
    b.cfg = cfg;
    b.started_ms = kwq_monotonic_ms();
    b.loop = ev_default_loop(EVFLAG_AUTO);
    if (!b.loop) {
        (void)fprintf(stderr, "kwq-broker: cannot initialise the event loop\n");
        return KWQ_EXIT_SOFTWARE;
    }
    ev_timer_init(&b.stop_timer, on_stop_timeout, STOP_WAIT_S, 0.0);
    b.stop_timer.data = &b;
    rc = setup(&b);
    if (rc < 0) {
        start(&b);
        ev_run(b.loop, 0);
        rc = KWQ_EXIT_OK;
    }
    teardown(&b);
    ev_loop_destroy(b.loop);
    if (rc == KWQ_EXIT_OK)
        kwq_log(KWQ_LOG_INFO, "broker exiting", KWQ_LI("code", rc));
    return rc;
}

int main(int argc, char **argv)
{
    struct broker_config cfg;
    int rc;

    kwq_log_init("broker", KWQ_LOG_AUTO, KWQ_LOG_INFO);
    rc = broker_config_parse(&cfg, argc, argv);
    if (rc < 0) {
        kwq_log_init("broker", cfg.log_format, cfg.log_level);
        broker_config_warn_env();
        (void)signal(SIGPIPE, SIG_IGN);
        rc = run(&cfg);
    }
    broker_config_done(&cfg);
    return rc;
}
