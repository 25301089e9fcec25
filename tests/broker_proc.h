/*
 * broker_proc.h - kwq-broker as a process in tests: start it on a free
 * loopback port (it logs the address it bound), talk HTTP to it through
 * libcurl, read a metric off /metrics, stop it with a signal.
 */
#ifndef KWQ_TEST_BROKER_PROC_H
#define KWQ_TEST_BROKER_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct broker_proc {
    pid_t pid;
    char log[300]; /* its stderr (JSON log lines) */
    char addr[64]; /* "127.0.0.1:40123" */
    char base[80]; /* "http://127.0.0.1:40123" */
};

/*
 * Start KWQ_TEST_BROKER_BIN with --listen 127.0.0.1:0 --log-format json,
 * the given extra arguments (NULL-terminated, may be NULL) and the test's
 * environment (KWQ_REDIS_URL from cli_setup), its log in the test's dir
 * under name; wait until /readyz answers 200 (Redis linked, queue
 * registry read). Asserts.
 */
void broker_start(struct broker_proc *p, const char *name, const char *const *extra);

/* broker_start, but wait only until it listens: for a broker whose Redis is down. */
void broker_start_listening(struct broker_proc *p, const char *name, const char *const *extra);

/* Send sig and wait for the exit; returns the exit code (128 + signal when killed). */
int broker_stop(struct broker_proc *p, int sig);

struct http_answer {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char *headers; /* raw response headers, owned */
};

/*
 * One request to the broker: method, path ("/metrics"), extra header lines
 * (NULL-terminated, may be NULL), body (NULL for none). Asserts the
 * transfer; a is filled (free with http_answer_free).
 */
void broker_http(const struct broker_proc *p, const char *method, const char *path,
                 const char *const *headers, const char *body, struct http_answer *a);
void http_answer_free(struct http_answer *a);

/* broker_http without asserting: returns the CURLcode (0 when an answer came). */
int broker_http_try(const struct broker_proc *p, const char *method, const char *path,
                    const char *const *headers, const char *body, struct http_answer *a);

/* GET path: the status, or -1 when nothing answered (not listening yet). */
long broker_try_status(const struct broker_proc *p, const char *path);

/* GET path and return the status alone. */
long broker_status(const struct broker_proc *p, const char *path);

/*
 * The value of the sample "series" (e.g. `kwq_queue_pending_tasks{queue="q"}`)
 * in a Prometheus text page, or -1 when absent.
 */
double metric_value(const char *page, const char *series);

/* GET /metrics and return metric_value of series in it. */
double broker_metric(const struct broker_proc *p, const char *series);

#endif /* KWQ_TEST_BROKER_PROC_H */
