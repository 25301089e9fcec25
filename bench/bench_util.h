/*
 * bench_util.h - what the kwq benchmark programs share: clocks, INFO
 * parsing, child processes, /proc readings, percentiles and the output
 * convention.
 *
 * Output convention: each program prints raw measurements on stdout, one
 * "name=value" per line; bench/run.sh puts them beside their targets and
 * redis-benchmark's figures. Diagnostics go to stderr. A program exits 0
 * when it measured, 1 when something broke (never because a figure missed
 * its target: benchmarks report, they do not judge).
 */
#ifndef KWQ_BENCH_UTIL_H
#define KWQ_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kwq_client;

#define BENCH_CMDSTATS_MAX 256 /* distinct commands kept from INFO commandstats */

/* ---- Clocks ------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in ns, for intervals. */
uint64_t bench_mono_ns(void);

/* CLOCK_REALTIME in ns: comparable across processes of this machine. */
uint64_t bench_real_ns(void);

/* Sleep us microseconds (restarted on EINTR). */
void bench_sleep_us(uint64_t us);

/* ---- Output ------------------------------------------------------------------ */

/* Print "name=value" with value as an integer. */
void bench_put_u64(const char *name, uint64_t value);

/* Print "name=value" with value as a decimal with `decimals` places. */
void bench_put_f(const char *name, double value, int decimals);

/* Print "name=value" with value as text (no spaces or newlines in it). */
void bench_put_s(const char *name, const char *value);

/* Print "kwq-bench: <msg>" on stderr and exit 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A whole number from a command line within [min, max], or bench_die with the reason. */
size_t bench_parse_count(const char *s, size_t min, size_t max, const char *what);

/* ---- Redis through libkwq ------------------------------------------------------ */

/* Connect a client to url or die with the client's error line. Owned by the caller. */
struct kwq_client *bench_connect(const char *url);

/* Read INFO section `section` through c; the malloc'd text is the caller's. Dies on error. */
char *bench_info(struct kwq_client *c, const char *section);

/*
 * Find "field:<number>" in INFO text and store the number in *ret.
 * Returns 0, or -1 when the field is absent or not a number.
 */
int bench_info_u64(const char *info, const char *field, uint64_t *ret);

/* Call counts from INFO commandstats. */
struct bench_cmdstats {
    size_t n;                           /* commands in the table */
    char name[BENCH_CMDSTATS_MAX][40];  /* command name ("lpop", "client|setname", ...) */
    uint64_t calls[BENCH_CMDSTATS_MAX]; /* calls since start or CONFIG RESETSTAT */
    uint64_t usec[BENCH_CMDSTATS_MAX];  /* server time spent in them, us */
};

/* Read the call counts of every command (through c). Dies on error. */
void bench_cmdstats_read(struct kwq_client *c, struct bench_cmdstats *ret);

/*
 * Calls made between `before` and `after`, summed over every command except
 * INFO (the benchmark's own readings). When breakdown is not NULL it receives
 * "cmd:calls,cmd:calls,..." of the non-zero deltas, truncated to len.
 */
uint64_t bench_cmdstats_delta(const struct bench_cmdstats *before,
                              const struct bench_cmdstats *after, char *breakdown, size_t len);

/*
 * Server time spent in command `name` between `before` and `after`, us.
 * For "evalsha" that is the whole time of the scripts, the commands they
 * ran included.
 */
uint64_t bench_cmdstats_usec(const struct bench_cmdstats *before,
                             const struct bench_cmdstats *after, const char *name);

/* ---- Processes ------------------------------------------------------------------ */

/*
 * Start argv[0] (a path) with stdin from /dev/null, stdout to /dev/null
 * and stderr appended to log_path (NULL: inherited). The child dies with
 * SIGKILL if the benchmark dies. Returns the pid; dies on failure.
 */
pid_t bench_spawn(char *const argv[], const char *log_path);

/*
 * Resident set size of pid from /proc/PID/status (VmRSS), KiB, or -1 when
 * the process is gone.
 */
long bench_vmrss_kib(pid_t pid);

/* ---- Statistics ------------------------------------------------------------------ */

/* Sort v ascending in place. */
void bench_sort(double *v, size_t n);

/* Percentile p (0..100) of sorted v by nearest rank; 0 when n is 0. */
double bench_percentile(const double *sorted, size_t n, double p);

#endif /* KWQ_BENCH_UTIL_H */
