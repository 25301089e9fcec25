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

/*
 * Read a secret from a file: its first line, without the newline. *ret is
 * malloc'd. Errors: -errno (file), KWQ_EINVAL (empty).
 */
int kwq_read_secret_file(const char *path, char **ret);

#endif /* KWQ_UTIL_H */
