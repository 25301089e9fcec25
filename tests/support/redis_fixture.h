/*
 * redis_fixture.h - a private redis-server per test: its own temp dir and
 * unix socket, never a fixed port, so tests run in parallel.
 */
#ifndef KWQ_REDIS_FIXTURE_H
#define KWQ_REDIS_FIXTURE_H

#include <sys/types.h>

#define REDIS_FIXTURE_MAX_ARGS 16

struct redis_fixture {
    char dir[256];                             /* temp dir: socket, AOF, log */
    char sock[300];                            /* unix socket path */
    char url[320];                             /* unix://<sock> */
    pid_t pid;                                 /* server pid, 0 when stopped */
    const char *extra[REDIS_FIXTURE_MAX_ARGS]; /* extra server arguments, NULL-terminated */
};

/*
 * Start a server with the given extra arguments (NULL-terminated list, may
 * be NULL), e.g. {"--appendonly", "yes", NULL}. Aborts the test on failure.
 */
void redis_fixture_start(struct redis_fixture *f, const char *const *extra);

/* Stop the server (SHUTDOWN NOSAVE, then SIGKILL) and remove its dir. */
void redis_fixture_stop(struct redis_fixture *f);

/* Kill the server with SIGKILL and wait for it; the dir is kept. */
void redis_fixture_kill(struct redis_fixture *f);

/* Start the server again in the same dir with the same arguments. */
void redis_fixture_restart(struct redis_fixture *f);

/*
 * Kill the server and start it again with more arguments (NULL-terminated,
 * may be NULL) after the first ones, returning as soon as it answers at all:
 * a server still loading its data answers -LOADING meanwhile.
 */
void redis_fixture_restart_loading(struct redis_fixture *f, const char *const *more);

/* The fixture used by TestSuite(.init = redis_setup, .fini = redis_teardown). */
extern struct redis_fixture test_redis;
void redis_setup(void);
void redis_teardown(void);

#endif /* KWQ_REDIS_FIXTURE_H */
