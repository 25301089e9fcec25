/*
 * primes.c - the handler of kwq's demo job: count the primes in one range.
 *
 * Payload (stdin): "LO HI", two decimal numbers with 0 <= LO < HI <= 10^12
 * and HI - LO <= 10^7. Result (stdout): "LO HI COUNT\n", the count of primes
 * p with LO <= p < HI, found with a segmented sieve of Eratosthenes. A
 * malformed payload exits 65, which kwq-worker takes as "bad input, do not
 * retry" and dead-letters at once.
 *
 * With --stream it serves kwq-worker's stream mode instead (kwq run --local
 * --stream, docs/kwq-worker.md): one process reads task envelopes as NDJSON
 * lines on stdin and answers {"id":..,"ok":true,"result":"LO HI COUNT"}, one
 * line per task; a malformed payload is answered with "retry":false.
 *
 * The demo (examples/demo.sh) splits [0, 10^8) into 2,000 ranges, runs them
 * with `kwq run --local`, and checks that the gathered counts cover every
 * range once and add up to pi(10^8) = 5,761,455.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define EXIT_BAD_INPUT 65
#define MAX_HI         1000000000000ULL
#define MAX_SPAN       10000000ULL

static bool parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    char *end;

    *lo = strtoull(s, &end, 10);
    if (end == s || *end != ' ')
        return false;
    s = end + 1;
    *hi = strtoull(s, &end, 10);
    if (end == s || (*end != '\0' && *end != '\n'))
        return false;
    return *lo < *hi && *hi <= MAX_HI && *hi - *lo <= MAX_SPAN;
}

/* Primes up to limit (inclusive) by a plain sieve; *ret_n of them. */
static uint32_t *small_primes(uint32_t limit, size_t *ret_n)
{
    char *composite = calloc((size_t)limit + 1, 1);
    uint32_t *p = malloc(((size_t)limit / 2 + 2) * sizeof(*p));
    size_t n = 0;

    if (!composite || !p) {
        free(composite);
        free(p);
        return NULL;
    }
    for (uint32_t i = 2; i <= limit; i++) {
        if (composite[i])
            continue;
        p[n++] = i;
        for (uint64_t j = (uint64_t)i * i; j <= limit; j += i)
            composite[j] = 1;
    }
    free(composite);
    *ret_n = n;
    return p;
}

static uint32_t isqrt(uint64_t v)
{
    uint64_t r = 0;

    while ((r + 1) * (r + 1) <= v)
        r++;
    return (uint32_t)r;
}

/* Count the primes in [lo, hi); -1 when out of memory. */
static int64_t count_primes(uint64_t lo, uint64_t hi)
{
    size_t span = (size_t)(hi - lo), np = 0;
    char *composite = calloc(span, 1);
    uint32_t *p = small_primes(isqrt(hi) + 1, &np);
    int64_t count = 0;

    if (!composite || !p) {
        free(composite);
        free(p);
        return -1;
    }
    for (size_t k = 0; k < np; k++) {
        uint64_t q = p[k], start = q * q;
        if (start < lo)
            start = (lo + q - 1) / q * q;
        for (uint64_t j = start; j < hi; j += q)
            composite[j - lo] = 1;
    }
    for (size_t i = 0; i < span; i++)
        count += !composite[i] && lo + i >= 2;
    free(composite);
    free(p);
    return count;
}

/* The answer line for one range (result, or error when the payload is bad). */
static char *answer(const char *id, const char *payload)
{
    cJSON *o = cJSON_CreateObject();
    char result[96];
    uint64_t lo, hi;
    int64_t count = -1;
    char *line;

    if (!o)
        return NULL;
    (void)cJSON_AddStringToObject(o, "id", id);
    if (parse_range(payload, &lo, &hi))
        count = count_primes(lo, hi);
    if (count >= 0) {
        (void)snprintf(result, sizeof(result), "%" PRIu64 " %" PRIu64 " %" PRId64, lo, hi, count);
        (void)cJSON_AddTrueToObject(o, "ok");
        (void)cJSON_AddStringToObject(o, "result", result);
    } else {
        (void)cJSON_AddFalseToObject(o, "ok");
        (void)cJSON_AddStringToObject(o, "error", "payload must be \"LO HI\"");
        (void)cJSON_AddFalseToObject(o, "retry");
    }
    line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return line;
}

/* Stream mode: envelopes in, answers out, until end of input. */
static int serve(void)
{
    char line[4096];

    while (fgets(line, sizeof(line), stdin)) {
        cJSON *t = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        const cJSON *payload = cJSON_GetObjectItemCaseSensitive(t, "payload");
        char *out = NULL;

        if (cJSON_IsString(id))
            out = answer(id->valuestring, cJSON_IsString(payload) ? payload->valuestring : "");
        else
            (void)fprintf(stderr, "primes: a line without a task id was ignored\n");
        cJSON_Delete(t);
        if (out) {
            (void)printf("%s\n", out);
            (void)fflush(stdout);
            cJSON_free(out);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    char buf[128];
    size_t n;
    uint64_t lo, hi;
    int64_t count;

    if (argc > 1 && strcmp(argv[1], "--stream") == 0)
        return serve();
    n = fread(buf, 1, sizeof(buf) - 1, stdin);
    buf[n] = '\0';
    if (n == sizeof(buf) - 1 || !parse_range(buf, &lo, &hi)) {
        (void)fprintf(stderr, "primes: payload must be \"LO HI\" with LO < HI <= 10^12 and "
                              "HI - LO <= 10^7\n");
        return EXIT_BAD_INPUT;
    }
    count = count_primes(lo, hi);
    if (count < 0) {
        (void)fprintf(stderr, "primes: out of memory\n");
        return 1;
    }
    (void)printf("%" PRIu64 " %" PRIu64 " %" PRId64 "\n", lo, hi, count);
    return 0;
}
