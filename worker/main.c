/*
 * main.c - kwq-worker: lease tasks from a kwq queue and run a handler for
 * each, until the queue is sealed and drained. See docs/kwq-worker.md.
 */
#include <signal.h>
#include <string.h>

#include <ev.h>

#include "kwq/exit.h"
#include "kwq/log.h"

#include "config.h"
#include "core.h"

static int setup(struct worker *w)
{
    int rc;

    if (worker_init(w) < 0) {
        kwq_log(KWQ_LOG_ERROR, "out of memory at start-up");
        return KWQ_EXIT_SOFTWARE;
    }
    shutdown_init(w);
    rc = w->runner->init(w);
    if (rc < 0) {
        kwq_log(KWQ_LOG_ERROR, "cannot start the stream handler",
                KWQ_LS("handler", w->cfg->handler_path), KWQ_LS("err", strerror(-rc)));
        return handler_spawn_error_is_resource(rc) ? KWQ_EXIT_OSERR : KWQ_EXIT_CONFIG;
    }
    return -1;
}

static int run(const struct worker_config *cfg)
{
    struct worker w;
    int rc;

    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.loop = ev_default_loop(EVFLAG_AUTO);
    if (!w.loop) {
        kwq_log(KWQ_LOG_ERROR, "cannot initialise the event loop");
        return KWQ_EXIT_SOFTWARE;
    }
    rc = setup(&w);
    if (rc < 0) {
        kwq_log(KWQ_LOG_INFO, "worker started", KWQ_LS("queue", cfg->queue),
                KWQ_LS("mode", cfg->stream ? "stream" : "exec"),
                KWQ_LI("concurrency", cfg->concurrency), KWQ_LS("handler", cfg->handler_path));
        worker_start(&w);
        ev_run(w.loop, 0);
        rc = w.exit_code < 0 ? KWQ_EXIT_SOFTWARE : w.exit_code;
    }
    w.runner->free(&w);
    ready_clear(&w);
    shutdown_done(&w);
    worker_done(&w);
    ev_loop_destroy(w.loop);
    kwq_log(KWQ_LOG_INFO, "worker exiting", KWQ_LI("code", rc));
    return rc;
}

int main(int argc, char **argv)
{
    struct worker_config cfg;
    int rc;

    kwq_log_init("worker", KWQ_LOG_AUTO, KWQ_LOG_INFO);
    rc = config_parse(&cfg, argc, argv);
    if (rc < 0) {
        kwq_log_init("worker", cfg.log_format, cfg.log_level);
        config_warn_env();
        (void)signal(SIGPIPE, SIG_IGN);
        rc = run(&cfg);
    }
    config_done(&cfg);
    return rc;
}
