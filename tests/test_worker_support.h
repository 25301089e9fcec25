/*
 * test_worker_support.h - running real kwq-worker processes in tests: spawn
 * with the fixture's Redis, wait with a safety timeout, read their logs,
 * and small queue helpers over libkwq (process basics: test_proc.h).
 */
#ifndef KWQ_TEST_WORKER_SUPPORT_H
#define KWQ_TEST_WORKER_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kwq/client.h"

#include "test_proc.h" /* test_path, test_client, test_proc_exited */

#define TEST_QUEUE "q"

/* Safety limit for every bounded wait in the worker tests, seconds (never a timing assertion). */
#define SAFETY_S 60

/* Path of a helper handler (static buffer per call slot 0..7, rotating). */
const char *helper_path(const char *name);

/*
 * Start kwq-worker with --redis <fixture> --queue q --log-format json plus
 * args (NULL-terminated: options, then "--", handler and its arguments).
 * Its stdout and stderr go to test_path(log). Returns the pid.
 */
pid_t worker_start(const char *log, const char *const *args);

/* Wait for pid's exit (safety limit SAFETY_S, then SIGKILL and fail). Returns the exit code. */
int worker_wait(pid_t pid, const char *log);

/* Wait until path exists (safety limit). */
void wait_for_file(const char *path);

/* Wait until file path contains text (safety limit). */
void wait_for_text(const char *path, const char *text);

/* True when file path contains text. */
bool file_contains(const char *path, const char *text);

/* Create path holding text (asserts success). */
void write_file(const char *path, const char *text);

/* Number of lines in path (0 when missing). */
size_t file_lines(const char *path);

/* The pid written in path. */
pid_t read_pid(const char *path);

/* Enqueue n tasks with payloads "<prefix><i>"; ids into ret (n entries) when not NULL. */
void enqueue_n(struct kwq_client *c, size_t n, const char *prefix, struct kwq_enqueued *ret);

/* Read queue stats (asserts success). */
struct kwq_stats stats_of(struct kwq_client *c);

/* Clients blocked in Redis right now: the idle workers' waits. */
long blocked_clients(struct kwq_client *c);

/* Calls of Redis command cmd (lower case, e.g. "blpop") since the server started. */
long command_calls(struct kwq_client *c, const char *cmd);

struct redis_fixture;

/* Run one command (argv, NULL-terminated) on f's Redis; assert a non-error reply. */
void redis_do(const struct redis_fixture *f, const char **argv);

/* A free TCP port on 127.0.0.1 (the kernel's pick, bound then released), as text into buf. */
void free_port(char *buf, size_t len);

/* Wait until blocked_clients is want (safety limit). */
void wait_blocked(struct kwq_client *c, long want);

#endif /* KWQ_TEST_WORKER_SUPPORT_H */
