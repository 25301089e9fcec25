/*
 * shutdown.h - signal watchers, the SIGTERM grace period and --idle-exit
 * (see shutdown.c for the rules).
 */
#ifndef KWQ_WORKER_SHUTDOWN_H
#define KWQ_WORKER_SHUTDOWN_H

struct worker;

/* Install the SIGTERM/SIGINT watchers and the grace and idle timers. */
void shutdown_init(struct worker *w);

/* Stop them (after the loop). */
void shutdown_done(struct worker *w);

#endif /* KWQ_WORKER_SHUTDOWN_H */
