/*
 * test_redis_tls_support.h - a TLS-only Redis and the stunnel ambassador of
 * manifests/components/redis-tls (images/kwq-tls-ambassador) for one test:
 * a CA and a server certificate made with openssl in the fixture's dir, the
 * fixture's redis-server listening for TLS on a free loopback port (its
 * plain TCP port stays off), and the ambassador on another free port with
 * the component's own stunnel.conf, only accept, connect and CAfile changed.
 *
 * Use as TestSuite(..., .init = tls_setup, .fini = tls_teardown): fini stops
 * what the test left running (worker first, then the ambassador, which
 * stops its stunnel), then the Redis fixture.
 */
#ifndef KWQ_TEST_REDIS_TLS_SUPPORT_H
#define KWQ_TEST_REDIS_TLS_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The ambassador's line once it has seen a kwq-worker. It looks once a
 * second, so a test lets a worker end only after this line.
 */
#define AMB_SEES_WORKER "kwq-tls-ambassador: kwq-worker is running\n"

/* The host name the component's stunnel.conf checks (its checkHost). */
#define TLS_HOST "kwq-redis"

struct tls_ambassador {
    pid_t pid;     /* the kwq-tls-ambassador script, 0 once reaped */
    char port[8];  /* its plain-text port on 127.0.0.1 */
    char url[64];  /* redis://127.0.0.1:<port>/0 */
    char log[512]; /* its stdout and stderr (stunnel's log included) */
};

/* The fixture's Redis plus a skip, in one line, when stunnel or TLS is missing. */
void tls_setup(void);
void tls_teardown(void);

/* Make a CA in the fixture's dir: <name>.crt and <name>.key. */
void tls_make_ca(const char *name);

/* Make <name>.crt/.key for a server called host (subjectAltName DNS:host), signed by CA ca. */
void tls_make_server(const char *name, const char *ca, const char *host);

/*
 * Let the fixture's Redis accept TLS (no client certificates) with the
 * server certificate <cert>.crt/.key issued by CA ca, on a free loopback
 * port, written into port.
 */
void tls_redis_listen(const char *cert, const char *ca, char *port, size_t len);

/*
 * Start the ambassador towards 127.0.0.1:redis_port trusting CA file ca
 * (a name in the fixture's dir, or an absolute path), with the environment
 * env (NULL-terminated "NAME=value" strings, may be NULL) on top of
 * KWQ_TLS_WATCH_PARENT=<this test's pid>: only this test's kwq-worker
 * processes count. Returns once it accepts connections.
 */
void tls_ambassador_start(struct tls_ambassador *a, const char *redis_port, const char *ca,
                          const char *const *env);

/* tls_ambassador_start without waiting for a listener: for one that must fail. */
void tls_ambassador_spawn(struct tls_ambassador *a, const char *redis_port, const char *ca,
                          const char *const *env);

/* Wait for the ambassador's exit (safety limit) and return its exit code. */
int tls_ambassador_wait(struct tls_ambassador *a);

/*
 * Start kwq-worker on queue q against url (the ambassador's), with extra
 * options (NULL-terminated, may be NULL) and helper_echo as the handler;
 * log to test_path(log). Stopped by tls_teardown if still running.
 */
pid_t tls_worker_start(const char *url, const char *log, const char *const *extra);

/* Wait for a worker's exit (safety limit, else the test fails); returns as test_proc_wait. */
int tls_worker_wait(pid_t pid);

#endif /* KWQ_TEST_REDIS_TLS_SUPPORT_H */
