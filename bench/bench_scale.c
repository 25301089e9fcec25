/*
 * bench_scale.c - kwq-bench-scale: how fast the one scaler (submitter/
 * scaler.h) with the Kubernetes backend (submitter/kube_scale.h) answers a
 * jump in queue depth with a PATCH of the worker Job, against a real API
 * server; and how many requests it makes meanwhile.
 *
 *   kwq-bench-scale URL --kubeconfig PATH [--namespace NS] [--jumps N]
 *       [--tasks N] [--per-worker N] [--max N] [--hold MS] [--spread MS]
 *       [--rate-s S] [--seed N]
 *
 * The scaler runs here on a libev loop exactly as `kwq autoscale` runs it
 * (the same sources, linked in), on a Job made with parallelism 0. A
 * producer thread, with a connection of its own, repeats: wait until the
 * Job is back at 0, wait a random 0..--spread ms (so that the jump lands in
 * any phase of the scaler's wait, pacing and GET cache), enqueue --tasks
 * tasks, and time from the enqueue's return to
 *   - apply:  the scaler's backend hearing the API server accept the PATCH
 *             (its apply callback, wrapped here), and
 *   - watch:  a watch on the Job (its own thread and connection) seeing the
 *             new spec.parallelism committed;
 * then purge the queue, so that the scaler lowers the Job to 0 again after
 * its hold. Also split: decide (enqueue return -> the scaler's raise
 * decision: wake-up, stats, the Job's GET unless cached) and patch
 * (decision -> accepted).
 *
 * Then the request rate: --rate-s seconds with tasks always pending (the
 * wake token stays set, so the scaler steps every min_step), and --rate-s
 * seconds with an empty queue, counted by the API server itself
 * (apiserver_request_total on jobs, /metrics) and by the scaler's steps.
 *
 * Pods never run: whoever starts the control plane starts no node agent,
 * so the Job's pods stay Pending and only the API server and the Job
 * controller are involved (bench/run.sh does this).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/util.h"

#include "bench_kube.h"
#include "bench_util.h"
#include "kube/config.h"
#include "kube/http.h"
#include "kube/job.h"
#include "kube_scale.h"
#include "scaler.h"

#define QUEUE       "bench-scale"
#define PAYLOAD_LEN 100
#define WAIT_MS     60000 /* longest wait for one expected state: then the run failed */
#define MAX_JUMPS   10000

struct params {
    const char *url;
    const char *kubeconfig;
    const char *ns;
    size_t jumps;
    size_t tasks;      /* tasks per jump */
    size_t per_worker; /* the rule's tasks per pod */
    size_t max;        /* the rule's most pods */
    size_t hold_ms;    /* the scaler's hold before lowering */
    size_t spread_ms;  /* the random wait before each jump is 0..spread_ms */
    size_t rate_s;     /* seconds of each request-rate window */
    size_t seed;
};

/* What the threads share, under mu. */
struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bench_watch_seen watch;
    int64_t applied;       /* last setpoint the API server accepted, -1 none */
    uint64_t raise_ns;     /* first accepted raise since zeroed */
    uint64_t decide_ns;    /* first raise decided since zeroed */
    uint64_t observe_ns;   /* how long that step's observe took (a GET, or the cache) */
    uint64_t decide_steps; /* scaler steps until then (of the jump: minus those before it) */
    uint64_t steps;        /* scaler steps */
    bool ended;            /* the scaler ended */
    char fail[512];        /* why the run failed, "" while it has not */
};

struct run {
    struct params p;
    struct shared sh;
    struct ev_loop *loop;
    ev_async stop;
    struct scaler *sc;
    struct bench_api api;
    /* The backend under measurement, wrapped to timestamp its accepted PATCHes. */
    struct scaler_backend inner;
    scaler_apply_done *apply_done;
    void *apply_arg;
    uint32_t want;
    scaler_observe_done *observe_done;
    void *observe_arg;
    uint64_t observe_t0; /* start of the observe in flight */
    uint64_t observe_ns; /* how long the latest observe took */
    /* Samples, ms. */
    double *apply_ms, *watch_ms, *decide_ms, *patch_ms, *observe_ms;
    size_t n;
    size_t raises_with_get; /* raises whose step read the Job (not the cache) */
    double *rtt_ms;         /* bare GETs of the Job, as many as jumps (0 taken: rtt_ok false) */
    bool rtt_ok;
    char job_path[256];
    /* Request rates: [0] pending, [1] idle. */
    struct bench_api_counts c0[2], c1[2];
    uint64_t steps0[2], steps1[2], window_ns[2];
};

static void usage(void)
{
    (void)fputs("usage: kwq-bench-scale URL --kubeconfig PATH [--namespace NS] [--jumps N]\n"
                "         [--tasks N] [--per-worker N] [--max N] [--hold MS] [--spread MS]\n"
                "         [--rate-s S] [--seed N]\n",
                stderr);
    exit(1);
}

/* The numeric options: name, field, range. */
static const struct count_opt {
    const char *name;
    size_t off;
    size_t min, max;
} count_opts[] = {
    {"--jumps", offsetof(struct params, jumps), 1, MAX_JUMPS},
    {"--tasks", offsetof(struct params, tasks), 1, 100000},
    {"--per-worker", offsetof(struct params, per_worker), 1, 1000000},
    {"--max", offsetof(struct params, max), 1, KWQ_SCALE_MAX_WORKERS},
    {"--hold", offsetof(struct params, hold_ms), 0, 3600000},
    {"--spread", offsetof(struct params, spread_ms), 0, 3600000},
    {"--rate-s", offsetof(struct params, rate_s), 0, 3600},
    {"--seed", offsetof(struct params, seed), 0, UINT32_MAX},
};

static void parse(int argc, char **argv, struct params *p)
{
    *p = (struct params){.ns = "default",
                         .jumps = 50,
                         .tasks = 100,
                         .per_worker = 10,
                         .max = 10,
                         .hold_ms = 500,
                         .spread_ms = 2000,
                         .rate_s = 10,
                         .seed = (size_t)time(NULL) & UINT32_MAX};
    if (argc < 2)
        usage();
    p->url = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t j = 0;

        if (!v)
            usage();
        if (strcmp(o, "--kubeconfig") == 0) {
            p->kubeconfig = v;
            continue;
        }
        if (strcmp(o, "--namespace") == 0) {
            p->ns = v;
            continue;
        }
        while (j < sizeof(count_opts) / sizeof(count_opts[0]) && strcmp(o, count_opts[j].name))
            j++;
        if (j == sizeof(count_opts) / sizeof(count_opts[0]))
            usage();
        *(size_t *)((char *)p + count_opts[j].off) =
            bench_parse_count(v, count_opts[j].min, count_opts[j].max, o);
    }
    if (!p->kubeconfig)
        usage();
}

/* ---- The backend, wrapped ------------------------------------------------------------------ */

static void wrap_observed(void *arg, const struct scaler_workers *w, const struct kwq_error *err)
{
    struct run *r = arg;

    r->observe_ns = bench_mono_ns() - r->observe_t0;
    r->observe_done(r->observe_arg, w, err);
}

static void wrap_observe(void *ctx, scaler_observe_done *done, void *arg)
{
    struct run *r = ctx;

    r->observe_done = done;
    r->observe_arg = arg;
    r->observe_t0 = bench_mono_ns();
    r->inner.observe(r->inner.ctx, wrap_observed, r);
}

static void wrap_applied(void *arg, const struct kwq_error *err)
{
    struct run *r = arg;
    uint64_t now = bench_mono_ns();

    if (err->code == 0) {
        pthread_mutex_lock(&r->sh.mu);
        r->sh.applied = r->want;
        if (r->want > 0 && !r->sh.raise_ns)
            r->sh.raise_ns = now;
        pthread_cond_broadcast(&r->sh.cv);
        pthread_mutex_unlock(&r->sh.mu);
    }
    r->apply_done(r->apply_arg, err);
}

static void wrap_apply(void *ctx, uint32_t setpoint, scaler_apply_done *done, void *arg)
{
    struct run *r = ctx;

    r->apply_done = done;
    r->apply_arg = arg;
    r->want = setpoint;
    r->inner.apply(r->inner.ctx, setpoint, wrap_applied, r);
}

/* ---- The scaler's callbacks (its loop, the main thread) ------------------------------------- */

static void on_step(void *arg, const struct scaler_obs *o, const struct scaler_decision *d)
{
    struct run *r = arg;
    uint64_t now = bench_mono_ns();

    pthread_mutex_lock(&r->sh.mu);
    r->sh.steps++;
    if (d->verdict == SCALER_APPLY && d->setpoint > o->workers.setpoint && !r->sh.decide_ns) {
        r->sh.decide_ns = now;
        r->sh.observe_ns = r->observe_ns;
        r->sh.decide_steps = r->sh.steps;
    }
    pthread_mutex_unlock(&r->sh.mu);
}

static void on_end(void *arg, enum scaler_end why, const struct kwq_error *err)
{
    struct run *r = arg;

    pthread_mutex_lock(&r->sh.mu);
    r->sh.ended = true;
    if (why != SCALER_END_STOPPED && !r->sh.fail[0])
        (void)snprintf(r->sh.fail, sizeof(r->sh.fail), "the scaler ended: %s",
                       err->code ? err->msg : "(no error: the queue was drained?)");
    pthread_cond_broadcast(&r->sh.cv);
    pthread_mutex_unlock(&r->sh.mu);
    ev_break(r->loop, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    struct run *r = w->data;

    (void)loop;
    (void)revents;
    scaler_stop(r->sc);
}

/* ---- The producer (its own thread) ---------------------------------------------------------- */

static void fail(struct run *r, const char *fmt, const char *what)
{
    pthread_mutex_lock(&r->sh.mu);
    if (!r->sh.fail[0])
        (void)snprintf(r->sh.fail, sizeof(r->sh.fail), fmt, what);
    pthread_mutex_unlock(&r->sh.mu);
}

typedef bool state_ok(const struct run *r);

static bool at_zero(const struct run *r)
{
    return r->sh.watch.parallelism == 0 && r->sh.applied <= 0;
}

static bool raised(const struct run *r)
{
    return r->sh.raise_ns && r->sh.watch.raise_ns;
}

static bool at_max(const struct run *r)
{
    return r->sh.applied == (int64_t)r->p.max && r->sh.watch.parallelism == (int64_t)r->p.max;
}

/* Wait until ok (under mu) for at most WAIT_MS; false (and the run failed) otherwise. */
static bool wait_state(struct run *r, state_ok *ok, const char *what)
{
    struct timespec until;
    bool got;

    (void)clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&r->sh.mu);
    while (!(got = ok(r)) && !r->sh.ended && !r->sh.fail[0])
        if (pthread_cond_timedwait(&r->sh.cv, &r->sh.mu, &until) != 0) {
            got = ok(r);
            break;
        }
    pthread_mutex_unlock(&r->sh.mu);
    if (!got)
        fail(r, "the Job did not get %s within a minute", what);
    return got;
}

static bool enqueue(struct run *r, struct kwq_client *c, const struct kwq_new_task *t, size_t n)
{
    if (kwq_enqueue(c, QUEUE, t, n, NULL, NULL) == 0)
        return true;
    fail(r, "enqueue: %s", kwq_client_errstr(c));
    return false;
}

/* One request-rate window of rate_s seconds. */
static bool rate_window(struct run *r, int i)
{
    uint64_t t0;

    if (bench_api_counts_read(&r->api, &r->c0[i]) < 0) {
        fail(r, "%s", "cannot read the API server's /metrics");
        return false;
    }
    pthread_mutex_lock(&r->sh.mu);
    r->steps0[i] = r->sh.steps;
    pthread_mutex_unlock(&r->sh.mu);
    t0 = bench_mono_ns();
    bench_sleep_us((uint64_t)r->p.rate_s * 1000000);
    r->window_ns[i] = bench_mono_ns() - t0;
    pthread_mutex_lock(&r->sh.mu);
    r->steps1[i] = r->sh.steps;
    pthread_mutex_unlock(&r->sh.mu);
    if (bench_api_counts_read(&r->api, &r->c1[i]) < 0) {
        fail(r, "%s", "cannot read the API server's /metrics");
        return false;
    }
    return true;
}

static bool jump(struct run *r, struct kwq_client *c, const struct kwq_new_task *t)
{
    uint64_t t0, steps0;

    if (!wait_state(r, at_zero, "back to parallelism 0"))
        return false;
    bench_sleep_us(r->p.spread_ms ? (uint64_t)(rand() % (int)(r->p.spread_ms * 1000 + 1)) : 0);
    pthread_mutex_lock(&r->sh.mu);
    r->sh.raise_ns = r->sh.decide_ns = r->sh.watch.raise_ns = 0;
    steps0 = r->sh.steps;
    pthread_mutex_unlock(&r->sh.mu);
    if (!enqueue(r, c, t, r->p.tasks))
        return false;
    t0 = bench_mono_ns();
    if (!wait_state(r, raised, "a raised parallelism"))
        return false;
    pthread_mutex_lock(&r->sh.mu);
    r->apply_ms[r->n] = (double)(int64_t)(r->sh.raise_ns - t0) / 1e6;
    r->watch_ms[r->n] = (double)(int64_t)(r->sh.watch.raise_ns - t0) / 1e6;
    r->decide_ms[r->n] = (double)(int64_t)(r->sh.decide_ns - t0) / 1e6;
    r->patch_ms[r->n] = (double)(int64_t)(r->sh.raise_ns - r->sh.decide_ns) / 1e6;
    r->observe_ms[r->n] = (double)r->sh.observe_ns / 1e6;
    /* The cache answers within the call; a GET takes a round trip (over 0.3 ms on loopback). */
    r->raises_with_get += r->sh.observe_ns > 300000;
    (void)fprintf(stderr,
                  "kwq-bench: jump %zu: accepted after %.1f ms (decided %.1f, observe %.1f, "
                  "%" PRIu64 " steps), watch %.1f ms\n",
                  r->n + 1, r->apply_ms[r->n], r->decide_ms[r->n], r->observe_ms[r->n],
                  r->sh.decide_steps - steps0, r->watch_ms[r->n]);
    pthread_mutex_unlock(&r->sh.mu);
    r->n++;
    if (kwq_purge(c, QUEUE) < 0) {
        fail(r, "purge: %s", kwq_client_errstr(c));
        return false;
    }
    return true;
}

static void *producer_main(void *arg)
{
    struct run *r = arg;
    struct kwq_client *c = bench_connect(r->p.url);
    size_t many = r->p.max * r->p.per_worker * 10, n = many > r->p.tasks ? many : r->p.tasks;
    struct kwq_new_task *t = calloc(n, sizeof(*t));
    static const char payload[PAYLOAD_LEN];
    bool ok = t != NULL;

    for (size_t i = 0; i < n && ok; i++)
        t[i] = (struct kwq_new_task){.payload = payload, .payload_len = sizeof(payload)};
    for (size_t i = 0; ok && i < r->p.jumps; i++) {
        ok = jump(r, c, t);
    }
    if (ok && r->p.rate_s) {
        (void)fprintf(stderr, "kwq-bench: request rate, %zu tasks always pending, %zu s\n", many,
                      r->p.rate_s);
        ok = wait_state(r, at_zero, "back to parallelism 0") && enqueue(r, c, t, many) &&
             wait_state(r, at_max, "--max") && rate_window(r, 0);
        (void)fprintf(stderr, "kwq-bench: request rate, empty queue, %zu s\n", r->p.rate_s);
        ok = ok && kwq_purge(c, QUEUE) == 0 && wait_state(r, at_zero, "back to parallelism 0") &&
             rate_window(r, 1);
    }
    if (ok) {
        (void)fprintf(stderr, "kwq-bench: %zu bare GETs of the Job\n", r->p.jumps);
        r->rtt_ok = bench_api_get_rtt(&r->api, r->job_path, r->p.jumps, r->rtt_ms) == 0;
    }
    (void)kwq_purge(c, QUEUE);
    free(t);
    kwq_client_free(c);
    ev_async_send(r->loop, &r->stop);
    return NULL;
}

/* ---- Set-up -------------------------------------------------------------------------------- */

static struct kube_client *kube_open(struct run *r, struct kube_config *cfg)
{
    struct kube_config_opts o = {.kubeconfig = r->p.kubeconfig, .namespace = r->p.ns};
    struct kube_client_opts copts = {.retry_ms = 30000};
    struct kube_client *k;
    struct kwq_error err = {0};

    if (kube_config_load(&o, cfg, &err) < 0)
        bench_die("%s", err.msg);
    if (!cfg->ca_file || !cfg->token)
        bench_die("%s: give a kubeconfig with a CA file and an inline token (the rig's admin)",
                  r->p.kubeconfig);
    if (kube_client_new(r->loop, cfg, &copts, &k, &err) < 0)
        bench_die("%s", err.msg);
    r->api =
        (struct bench_api){.server = cfg->server, .ca_file = cfg->ca_file, .token = cfg->token};
    return k;
}

/* A worker Job of the usual shape, paused (parallelism 0). Its pods never run (no node). */
static void job_make(struct kube_client *k, const char *name)
{
    static const char *const handler[] = {"/bin/true"};
    struct kube_job_spec s = {.name = name,
                              .queue = QUEUE,
                              .image = "kwq-worker",
                              .handler = handler,
                              .nhandler = 1,
                              .parallelism = 0,
                              .concurrency = 1,
                              .lease_ms = 60000,
                              .grace_ms = 30000,
                              .kill_grace_ms = 10000,
                              .redis_secret = KUBE_JOB_DEFAULT_SECRET,
                              .backoff_limit = 6,
                              .ttl_s = 3600};
    struct kube_job_status st;
    struct kwq_error err = {0};
    char *json;

    if (kube_job_build(&s, false, &json, &err) < 0)
        bench_die("the Job: %s", err.msg);
    if (kube_job_create(k, json, &st, &err) < 0)
        bench_die("creating Job %s: %s", name, err.msg);
    kube_job_status_done(&st);
    free(json);
}

/* ---- Report -------------------------------------------------------------------------------- */

static void put_dist(const char *name, double *v, size_t n)
{
    char key[96];

    bench_sort(v, n);
    (void)snprintf(key, sizeof(key), "%s_min_ms", name);
    bench_put_f(key, v[0], 1);
    (void)snprintf(key, sizeof(key), "%s_p50_ms", name);
    bench_put_f(key, bench_percentile(v, n, 50), 1);
    (void)snprintf(key, sizeof(key), "%s_p90_ms", name);
    bench_put_f(key, bench_percentile(v, n, 90), 1);
    (void)snprintf(key, sizeof(key), "%s_p99_ms", name);
    bench_put_f(key, bench_percentile(v, n, 99), 1);
    (void)snprintf(key, sizeof(key), "%s_max_ms", name);
    bench_put_f(key, v[n - 1], 1);
}

static void put_rates(const struct run *r, int i, const char *name)
{
    double s = (double)r->window_ns[i] / 1e9;
    char key[96];

    (void)snprintf(key, sizeof(key), "scale_%s_steps_per_s", name);
    bench_put_f(key, (double)(r->steps1[i] - r->steps0[i]) / s, 2);
    (void)snprintf(key, sizeof(key), "scale_%s_get_per_s", name);
    bench_put_f(key, (double)(r->c1[i].get - r->c0[i].get) / s, 2);
    (void)snprintf(key, sizeof(key), "scale_%s_patch_per_s", name);
    bench_put_f(key, (double)(r->c1[i].patch - r->c0[i].patch) / s, 2);
    (void)snprintf(key, sizeof(key), "scale_%s_other_jobs_req_per_s", name);
    bench_put_f(key, (double)(r->c1[i].other - r->c0[i].other) / s, 2);
    (void)snprintf(key, sizeof(key), "scale_%s_window_s", name);
    bench_put_f(key, s, 2);
}

int main(int argc, char **argv)
{
    struct run r = {0};
    struct kube_config cfg;
    struct kube_client *k;
    struct kube_scale *b;
    struct scaler_cfg sc = {0};
    struct bench_watch *w;
    struct kwq_error err = {0};
    struct kwq_client *c;
    pthread_condattr_t ca;
    pthread_t producer;
    char name[KUBE_JOB_NAME_MAX + 1];

    parse(argc, argv, &r.p);
    srand((unsigned)r.p.seed);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        bench_die("cannot initialise libcurl");
    (void)pthread_mutex_init(&r.sh.mu, NULL);
    (void)pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&r.sh.cv, &ca);
    r.sh.watch.parallelism = -1;
    r.sh.applied = -1;
    r.apply_ms = calloc(r.p.jumps, sizeof(double));
    r.watch_ms = calloc(r.p.jumps, sizeof(double));
    r.decide_ms = calloc(r.p.jumps, sizeof(double));
    r.patch_ms = calloc(r.p.jumps, sizeof(double));
    r.rtt_ms = calloc(r.p.jumps, sizeof(double));
    r.observe_ms = calloc(r.p.jumps, sizeof(double));
    if (!r.apply_ms || !r.watch_ms || !r.decide_ms || !r.patch_ms || !r.rtt_ms || !r.observe_ms)
        bench_die("out of memory");

    r.loop = ev_default_loop(EVFLAG_AUTO);
    k = kube_open(&r, &cfg);
    (void)snprintf(name, sizeof(name), "bench-scale-%ld", (long)getpid());
    (void)snprintf(r.job_path, sizeof(r.job_path), "/apis/batch/v1/namespaces/%s/jobs/%s", r.p.ns,
                   name);
    c = bench_connect(r.p.url);
    if (kwq_purge(c, QUEUE) < 0)
        bench_die("purge: %s", kwq_client_errstr(c));
    kwq_client_free(c);
    job_make(k, name);
    w = bench_watch_start(&r.api, r.p.ns, name, &r.sh.mu, &r.sh.cv, &r.sh.watch);

    b = kube_scale_new(r.loop, k, name);
    if (!b)
        bench_die("out of memory");
    r.inner = kube_scale_backend(b);
    sc.backend = (struct scaler_backend){
        .name = r.inner.name, .ctx = &r, .observe = wrap_observe, .apply = wrap_apply};
    kwq_client_opts_init(&sc.redis);
    sc.redis.url = r.p.url;
    sc.queue = QUEUE;
    sc.rule = (struct kwq_scale_rule){
        .min = 0, .max = (uint32_t)r.p.max, .tasks_per_worker = (uint32_t)r.p.per_worker};
    sc.hold_ms = r.p.hold_ms;
    sc.retry_ms = 30000;
    sc.on_step = on_step;
    sc.on_end = on_end;
    sc.arg = &r;
    if (scaler_start(r.loop, &sc, &r.sc, &err) < 0)
        bench_die("%s", err.msg);
    ev_async_init(&r.stop, on_stop);
    r.stop.data = &r;
    ev_async_start(r.loop, &r.stop);
    if (pthread_create(&producer, NULL, producer_main, &r) != 0)
        bench_die("cannot start a thread");
    (void)ev_run(r.loop, 0);
    /* The scaler ended early: wake the producer and let it go. */
    pthread_mutex_lock(&r.sh.mu);
    r.sh.ended = true;
    pthread_cond_broadcast(&r.sh.cv);
    pthread_mutex_unlock(&r.sh.mu);
    (void)pthread_join(producer, NULL);
    ev_async_stop(r.loop, &r.stop);
    scaler_free(r.sc);
    bench_watch_stop(w);
    if (kube_job_delete(k, name, &err) < 0)
        (void)fprintf(stderr, "kwq-bench: deleting Job %s: %s\n", name, err.msg);
    kube_scale_free(b);
    kube_client_free(k);

    bench_put_u64("scale_jumps", r.n);
    bench_put_u64("scale_tasks_per_jump", r.p.tasks);
    bench_put_u64("scale_seed", r.p.seed);
    if (r.n) {
        put_dist("scale_apply", r.apply_ms, r.n);
        put_dist("scale_watch", r.watch_ms, r.n);
        put_dist("scale_decide", r.decide_ms, r.n);
        put_dist("scale_patch", r.patch_ms, r.n);
        put_dist("scale_observe", r.observe_ms, r.n);
        bench_put_u64("scale_raises_with_get", r.raises_with_get);
    }
    if (r.rtt_ok)
        put_dist("scale_api_get_rtt", r.rtt_ms, r.p.jumps);
    if (!r.sh.fail[0] && r.p.rate_s) {
        put_rates(&r, 0, "pending");
        put_rates(&r, 1, "idle");
    }
    bench_put_u64("scale_watch_reconnects", r.sh.watch.reconnects);
    kube_config_free(&cfg);
    free(r.apply_ms);
    free(r.watch_ms);
    free(r.decide_ms);
    free(r.patch_ms);
    free(r.rtt_ms);
    free(r.observe_ms);
    if (r.sh.fail[0]) {
        (void)fprintf(stderr, "kwq-bench: %s\n", r.sh.fail);
        return 1;
    }
    return 0;
}
