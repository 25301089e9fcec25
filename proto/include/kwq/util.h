/*
 * kwq/util.h - small parsers and codecs shared by the kwq programs. Each
 * parser of outside input is here, small and separate, so it can be fuzzed.
 */
#ifndef KWQ_UTIL_H
#define KWQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kwq_error;

/*
 * Parse a duration: a non-negative integer with a unit, "250ms", "30s",
 * "5m", "2h" (a bare number means seconds), into milliseconds within
 * [min_ms, max_ms]. what names the setting in the message ("--lease").
 * Returns 0 or KWQ_EINVAL with e.g. "--lease must be between 1s and 1h, got '0s'".
 */
int kwq_parse_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms, const char *what,
                          uint64_t *ret, struct kwq_error *err);

/* Parse a decimal unsigned integer within [min, max]. Same error shape. */
int kwq_parse_uint(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret,
                   struct kwq_error *err);

/* Parse a byte size: "512", "64k", "1MiB", "2M" (k/M/G are powers of 1024). */
int kwq_parse_size(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret,
                   struct kwq_error *err);

/* Render ms as the shortest exact duration ("1h", "90s", "250ms") into buf. */
void kwq_format_duration(uint64_t ms, char *buf, size_t len);

/* Bytes of base64 for n input bytes, terminator excluded. */
size_t kwq_base64_len(size_t n);

/* Encode n bytes into out (kwq_base64_len(n) + 1 bytes); NUL-terminates. */
void kwq_base64_encode(const void *in, size_t n, char *out);

/*
 * Decode base64 (standard alphabet, padding required) into out, which must
 * hold len * 3 / 4 bytes. Returns the decoded length or KWQ_EINVAL.
 */
long kwq_base64_decode(const char *in, size_t len, void *out);

/* True when the n bytes are valid UTF-8 with no NUL byte. */
bool kwq_utf8_valid(const void *s, size_t n);

/* Monotonic clock in ms (CLOCK_MONOTONIC), for intervals only. */
uint64_t kwq_monotonic_ms(void);

/* The longest secret (a Redis password) kwq accepts, in bytes. */
#define KWQ_SECRET_MAX 4096

/*
 * A secret given as text (a Redis password from KWQ_REDIS_PASSWORD or a
 * file): the len bytes of s less ONE trailing newline ("\n" or "\r\n"),
 * which a file, a Kubernetes Secret made from one or `echo` leaves there.
 * Anything else is kept as given. Refused with KWQ_EINVAL and a message in
 * err that starts with what ("KWQ_REDIS_PASSWORD is empty") when nothing is
 * left, when a line break or a NUL byte remains (a password is one line),
 * or when longer than KWQ_SECRET_MAX; KWQ_ENOMEM. *ret is a malloc'd copy:
 * overwrite it before freeing it.
 */
int kwq_secret_line(const char *what, const char *s, size_t len, char **ret, struct kwq_error *err);

/*
 * kwq_secret_line of a whole file's content, what being "the password file
 * <path>". A file that cannot be read is KWQ_EINVAL too, its message naming
 * the path and errno's text.
 */
int kwq_read_secret_file(const char *path, char **ret, struct kwq_error *err);

#endif /* KWQ_UTIL_H */
