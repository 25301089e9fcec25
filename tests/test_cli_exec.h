/*
 * test_cli_exec.h - driving the kwq binary in tests: run it with arguments
 * and stdin, collect stdout, stderr and the exit code. Every test gets the
 * fixture's Redis in KWQ_REDIS_URL and a private KWQ_STATE_DIR and TMPDIR.
 */
#ifndef KWQ_TEST_CLI_EXEC_H
#define KWQ_TEST_CLI_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "kwq/client.h"

#include "test_proc.h" /* test_path, test_client */

/* Safety limit of one kwq run, seconds (a hang fails the test; never a timing assertion). */
#define CLI_SAFETY_S 240

struct cli_out {
    int status;     /* exit code, or 128 + signal */
    char *out;      /* stdout, NUL-terminated, owned */
    size_t out_len; /* bytes in out */
    char *err;      /* stderr, NUL-terminated, owned */
    size_t err_len; /* bytes in err */
};

/* Suite init/fini: start the fixture's Redis, set the environment; stop it. */
void cli_setup(void);

/* cli_setup with the append-only file on, fsynced at every write: a restart loses nothing. */
void cli_setup_aof(void);

/* The environment part of cli_setup, for suites that start test_redis themselves. */
void cli_setup_env(void);
void cli_teardown(void);

/*
 * Run KWQ_TEST_KWQ_BIN with args (NULL-terminated), input on stdin (NULL:
 * /dev/null). Fills r (free with cli_out_free).
 */
void cli_exec(struct cli_out *r, const char *input, size_t input_len, const char *const *args);

/* Run any program the same way (args[0] is its path). */
void cli_exec_prog(struct cli_out *r, const char *input, size_t input_len, const char *const *args);

/*
 * Run kwq with args, stdin from /dev/null and stdout on out_fd (a closed
 * pipe, /dev/full, a file: what kwq must cope with); r->out stays empty,
 * r->err is its stderr.
 */
void cli_exec_out_fd(struct cli_out *r, int out_fd, const char *const *args);

/* Pids of the running children of pid whose name (comm) is comm; returns how many (<= max). */
size_t cli_children(pid_t pid, const char *comm, pid_t *ret, size_t max);

/* Whole contents of a file (malloc'd, NUL-terminated; "" when missing). */
char *cli_read_file(const char *path);

/* Wait until the file at path contains text (the safety limit, CLI_SAFETY_S, fails the test). */
void cli_wait_for_text(const char *path, const char *text);

void cli_out_free(struct cli_out *r);

/* strlen, 0 for NULL. */
size_t cli_len(const char *s);

/* kwq(r, input, "enqueue", "a") runs `kwq enqueue a` with input on stdin. */
#define kwq(r, input, ...)                                                                         \
    cli_exec((r), (input), cli_len(input), (const char *const[]){__VA_ARGS__, NULL})

/* In a Criterion test: assert exit code, and stdout/stderr exactly when not NULL. */
#define expect(r, code, out_text, err_text)                                                        \
    do {                                                                                           \
        cr_assert_eq((r)->status, (code), "exit %d, want %d; stderr: %s", (r)->status, (code),     \
                     (r)->err);                                                                    \
        if ((out_text) != NULL)                                                                    \
            cr_assert_str_eq((r)->out, (const char *)(out_text));                                  \
        if ((err_text) != NULL)                                                                    \
            cr_assert_str_eq((r)->err, (const char *)(err_text));                                  \
    } while (0)

/* Queue stats (asserts success). */
struct kwq_stats cli_stats(struct kwq_client *c, const char *queue);

/* Count lines of s equal to line. */
size_t cli_count_line(const char *s, const char *line);

#endif /* KWQ_TEST_CLI_EXEC_H */
