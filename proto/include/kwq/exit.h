/*
 * kwq/exit.h - the exit codes of kwq, kwq-worker and kwq-broker.
 *
 * One table for every program, documented in docs/exit-codes.md. The worker's
 * codes are chosen for a Job's podFailurePolicy: KWQ_EXIT_INTERRUPTED is
 * meant for an Ignore rule, KWQ_EXIT_CONFIG for a FailJob rule. Codes 64-78
 * follow sysexits.h so that they read the same to operators.
 */
#ifndef KWQ_EXIT_H
#define KWQ_EXIT_H

#define KWQ_EXIT_OK          0  /* success; for the worker: the queue is drained */
#define KWQ_EXIT_FAILURE     1  /* the operation failed (message on stderr) */
#define KWQ_EXIT_USAGE       2  /* bad command line: unknown option, missing argument */
#define KWQ_EXIT_DEAD        3  /* finished, but tasks were dead-lettered */
#define KWQ_EXIT_TIMEOUT     4  /* `kwq wait --timeout` elapsed before the queue drained */
#define KWQ_EXIT_NOTFOUND    5  /* no such task or result */
#define KWQ_EXIT_SEALED      6  /* the queue is sealed: enqueue refused */
#define KWQ_EXIT_IDLE        7  /* worker: --idle-exit elapsed on an unsealed, empty queue */
#define KWQ_EXIT_GONE        8  /* worker: the queue vanished from Redis (its data was lost) */
#define KWQ_EXIT_DATAERR     65 /* bad input item: too big, line too long, bad JSON */
#define KWQ_EXIT_NOINPUT     66 /* input file missing, unreadable, or empty */
#define KWQ_EXIT_UNAVAILABLE 69 /* Redis unavailable for now: kwq_err_is_transient() */
#define KWQ_EXIT_SOFTWARE    70 /* internal error: a bug, please report it */
#define KWQ_EXIT_OSERR       71 /* worker: out of processes, file descriptors or memory */
#define KWQ_EXIT_INTERRUPTED 75 /* worker: stopped by SIGTERM/SIGINT before the queue drained */
#define KWQ_EXIT_CONFIG      78 /* configuration error: kwq_err_is_config(), bad option, handler */

#endif /* KWQ_EXIT_H */
