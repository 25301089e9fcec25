/*
 * test_util.c - the small parsers and codecs of kwq/util.h, the error table
 * of kwq/error.h and the log option parsers: exact values, every boundary,
 * and the message a user sees for bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/redirect.h>

#include "kwq/error.h"
#include "kwq/log.h"
#include "kwq/util.h"

#define tp_assert_str_eq(a, b) cr_assert(eq(str, (char *)(a), (char *)(b)))

#define HOUR_MS 3600000ULL
#define DAY_MS  (24 * HOUR_MS)

/* ---- Durations ------------------------------------------------------------- */

Test(util, durations)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {
        {"0ms", 0},     {"250ms", 250},      {"1s", 1000},   {"30s", 30000}, {"7", 7000},
        {"5m", 300000}, {"2h", 2 * HOUR_MS}, {"1d", DAY_MS}, {"90s", 90000}, {"007s", 7000},
    };
    struct kwq_error err = {0};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;
        cr_assert(eq(int, kwq_parse_duration_ms(ok[i].s, 0, 7 * DAY_MS, "--x", &v, &err), 0),
                  "'%s': %s", ok[i].s, err.msg);
        cr_assert(eq(u64, v, ok[i].ms), "'%s'", ok[i].s);
    }
}

Test(util, duration_errors_name_the_range)
{
    static const char *const bad[] = {"",
                                      "abc",
                                      "5x",
                                      "-1s",
                                      "1.5s",
                                      "s",
                                      "1 s",
                                      " 1s",
                                      "1s ",
                                      "1S",
                                      "1sec",
                                      "99999999999999999999s",
                                      "18446744073709551615h",
                                      "0s",
                                      "2h",
                                      NULL};
    struct kwq_error err;
    uint64_t v = 777;

    for (size_t i = 0; bad[i]; i++) {
        memset(&err, 0, sizeof(err));
        cr_assert(
            eq(int, kwq_parse_duration_ms(bad[i], 1000, HOUR_MS, "--lease", &v, &err), KWQ_EINVAL),
            "'%s' was accepted", bad[i]);
        cr_assert(eq(int, err.code, KWQ_EINVAL));
        cr_assert(eq(u64, v, 777), "'%s' changed the output", bad[i]);
    }
    memset(&err, 0, sizeof(err));
    cr_assert(eq(int, kwq_parse_duration_ms("0s", 1000, HOUR_MS, "--lease", &v, &err), KWQ_EINVAL));
    cr_assert(strstr(err.msg, "--lease") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "1s") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "1h") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "'0s'") != NULL, "%s", err.msg);
    /* The bounds themselves are accepted. */
    cr_assert(eq(int, kwq_parse_duration_ms("1s", 1000, HOUR_MS, "--lease", &v, &err), 0));
    cr_assert(eq(u64, v, 1000));
    cr_assert(eq(int, kwq_parse_duration_ms("60m", 1000, HOUR_MS, "--lease", &v, &err), 0));
    cr_assert(eq(u64, v, HOUR_MS));
    cr_assert(eq(int, kwq_parse_duration_ms(NULL, 0, HOUR_MS, "--lease", &v, NULL), KWQ_EINVAL));
}

Test(util, format_duration)
{
    static const struct {
        uint64_t ms;
        const char *s;
    } cases[] = {
        {0, "0ms"},     {1, "1ms"},    {250, "250ms"},  {1000, "1s"},   {1500, "1500ms"},
        {90000, "90s"}, {60000, "1m"}, {HOUR_MS, "1h"}, {DAY_MS, "1d"}, {DAY_MS + 1000, "86401s"},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t back = 0;
        kwq_format_duration(cases[i].ms, buf, sizeof(buf));
        tp_assert_str_eq(buf, cases[i].s);
        /* What is printed parses back to the same value. */
        cr_assert(eq(int, kwq_parse_duration_ms(buf, 0, UINT64_MAX, "x", &back, NULL), 0));
        cr_assert(eq(u64, back, cases[i].ms));
    }
    /* A short buffer is truncated, never overrun. */
    kwq_format_duration(250, buf, 3);
    tp_assert_str_eq(buf, "25");
}

/* ---- Numbers and sizes --------------------------------------------------------- */

Test(util, unsigned_integers)
{
    struct kwq_error err = {0};
    uint64_t v = 0;

    cr_assert(eq(int, kwq_parse_uint("0", 0, 10, "--n", &v, &err), 0));
    cr_assert(eq(u64, v, 0));
    cr_assert(eq(int, kwq_parse_uint("10", 0, 10, "--n", &v, &err), 0));
    cr_assert(eq(u64, v, 10));
    cr_assert(eq(int, kwq_parse_uint("18446744073709551615", 0, UINT64_MAX, "--n", &v, &err), 0));
    cr_assert(eq(u64, v, UINT64_MAX));
    static const char *const bad[] = {
        "", "-1", "+1", "11", "1e3", "0x1", " 1", "1 ", "abc", "18446744073709551616", NULL};
    for (size_t i = 0; bad[i]; i++) {
        memset(&err, 0, sizeof(err));
        v = 5;
        cr_assert(eq(int, kwq_parse_uint(bad[i], 0, 10, "--n", &v, &err), KWQ_EINVAL), "'%s'",
                  bad[i]);
        cr_assert(eq(u64, v, 5));
    }
    cr_assert(strstr(err.msg, "--n") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "10") != NULL, "%s", err.msg);
}

Test(util, sizes)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},        {"512", 512},       {"512b", 512},           {"64k", 65536},
        {"64K", 65536},  {"64KiB", 65536},   {"1M", 1048576},         {"1MiB", 1048576},
        {"2M", 2097152}, {"1G", 1073741824}, {"3GiB", 3221225472ULL},
    };
    static const char *const bad[] = {"",   "1.5M", "k",  "-1",           "1 M",
                                      "1m", "1MB",  "1T", "17179869184G", NULL};
    struct kwq_error err = {0};
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 1;
        cr_assert(eq(int, kwq_parse_size(ok[i].s, 0, UINT64_MAX, "--max", &v, &err), 0), "'%s'",
                  ok[i].s);
        cr_assert(eq(u64, v, ok[i].v), "'%s'", ok[i].s);
    }
    for (size_t i = 0; bad[i]; i++) {
        v = 1;
        cr_assert(eq(int, kwq_parse_size(bad[i], 0, UINT64_MAX, "--max", &v, &err), KWQ_EINVAL),
                  "'%s' was accepted as %llu", bad[i], (unsigned long long)v);
    }
    memset(&err, 0, sizeof(err));
    cr_assert(eq(int, kwq_parse_size("2M", 1, 1048576, "--max-payload", &v, &err), KWQ_EINVAL));
    cr_assert(strstr(err.msg, "--max-payload") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "1048576") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "'2M'") != NULL, "%s", err.msg);
    cr_assert(eq(int, kwq_parse_size("1MiB", 1, 1048576, "--max-payload", &v, &err), 0));
    cr_assert(eq(u64, v, 1048576));
}

/* ---- Base64 (RFC 4648 test vectors) ---------------------------------------------- */

Test(util, base64_vectors)
{
    static const struct {
        const char *in;
        const char *out;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char enc[32];
    char dec[32];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i].in);
        long got;
        cr_assert(eq(sz, kwq_base64_len(n), strlen(v[i].out)));
        kwq_base64_encode(v[i].in, n, enc);
        tp_assert_str_eq(enc, v[i].out);
        got = kwq_base64_decode(v[i].out, strlen(v[i].out), dec);
        cr_assert(eq(long, got, (long)n));
        cr_assert(eq(int, memcmp(dec, v[i].in, n), 0));
    }
}

Test(util, base64_every_byte_round_trips)
{
    unsigned char in[256], out[256];
    char enc[400];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)i;
    for (size_t n = 0; n <= sizeof(in); n += 1) {
        kwq_base64_encode(in, n, enc);
        cr_assert(eq(sz, strlen(enc), kwq_base64_len(n)));
        cr_assert(eq(long, kwq_base64_decode(enc, strlen(enc), out), (long)n));
        cr_assert(eq(int, memcmp(in, out, n), 0), "length %zu", n);
    }
}

Test(util, base64_decode_errors)
{
    static const char *const bad[] = {"Z",    "Zg",       "Zg=",      "Zg=a",  "Z===",
                                      "=Zg=", "Zm9v====", "Zg==Zg==", "Zm9\n", "Zm9-",
                                      "Zm9_", "@@@@",     NULL};
    unsigned char out[16];

    for (size_t i = 0; bad[i]; i++)
        cr_assert(eq(long, kwq_base64_decode(bad[i], strlen(bad[i]), out), (long)KWQ_EINVAL),
                  "'%s' was accepted", bad[i]);
}

/* ---- UTF-8 ------------------------------------------------------------------------ */

Test(util, utf8_validation)
{
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } v[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"\xc3\xa9", 2, true},          /* U+00E9 */
        {"\xe2\x9c\x93", 3, true},      /* U+2713 */
        {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"a\0b", 3, false},             /* NUL */
        {"\x80", 1, false},             /* lone continuation */
        {"\xc3", 1, false},             /* truncated */
        {"\xe2\x9c", 2, false},         /* truncated */
        {"\xc0\xaf", 2, false},         /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},     /* overlong */
        {"\xed\xa0\x80", 3, false},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, false}, /* past U+10FFFF */
        {"\xff", 1, false},
        {"\xc3\x28", 2, false}, /* bad continuation */
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        cr_assert(eq(int, kwq_utf8_valid(v[i].s, v[i].n), v[i].ok), "case %zu", i);
}

/* ---- Secrets, clock --------------------------------------------------------------- */

Test(util, secret_file_first_line)
{
    char dir[] = "/tmp/kwq-util-XXXXXX";
    char path[64], empty[64], crlf[64];
    char *s = NULL;
    FILE *f;

    cr_assert(mkdtemp(dir) != NULL);
    (void)snprintf(path, sizeof(path), "%s/pw", dir);
    (void)snprintf(empty, sizeof(empty), "%s/empty", dir);
    (void)snprintf(crlf, sizeof(crlf), "%s/crlf", dir);
    f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs("hunter2\nsecond\n", f);
    fclose(f);
    f = fopen(empty, "w");
    cr_assert(f != NULL);
    fclose(f);
    f = fopen(crlf, "w");
    cr_assert(f != NULL);
    fputs("pw-from-windows\r\n", f);
    fclose(f);

    cr_assert(eq(int, kwq_read_secret_file(path, &s), 0));
    tp_assert_str_eq(s, "hunter2");
    free(s);
    cr_assert(eq(int, kwq_read_secret_file(crlf, &s), 0));
    tp_assert_str_eq(s, "pw-from-windows");
    free(s);
    cr_assert(eq(int, kwq_read_secret_file(empty, &s), KWQ_EINVAL));
    (void)unlink(path);
    cr_assert(eq(int, kwq_read_secret_file(path, &s), -ENOENT));
    (void)unlink(empty);
    (void)unlink(crlf);
    (void)rmdir(dir);
}

Test(util, monotonic_clock_never_goes_back)
{
    uint64_t a = kwq_monotonic_ms();
    uint64_t b = kwq_monotonic_ms();

    cr_assert(ge(u64, b, a));
}

/* ---- Errors ----------------------------------------------------------------------- */

Test(util, error_names_texts_and_wire_words)
{
    tp_assert_str_eq(kwq_err_name(KWQ_ESEALED), "KWQ_ESEALED");
    tp_assert_str_eq(kwq_err_name(KWQ_ELEASELOST), "KWQ_ELEASELOST");
    tp_assert_str_eq(kwq_err_name(12345), "KWQ_EUNKNOWN");
    tp_assert_str_eq(kwq_strerror(KWQ_ETOOBIG), "payload or result over the size limit");
    tp_assert_str_eq(kwq_strerror(-ENOENT), strerror(ENOENT));
    tp_assert_str_eq(kwq_strerror(-5000), "unknown error");

    static const struct {
        const char *reply;
        int code;
    } wire[] = {
        {"KWQ_SEALED queue 'jobs' is sealed; unseal it or use another queue", KWQ_ESEALED},
        {"KWQ_FULL", KWQ_EFULL},
        {"KWQ_INVAL max_attempts must be 1..1000", KWQ_EINVAL},
        {"KWQ_LEASELOST", KWQ_ELEASELOST},
        {"KWQ_CANCELLED", KWQ_ECANCELLED},
        {"KWQ_NOTFOUND no such task", KWQ_ENOTFOUND},
        {"KWQ_STATE dead", KWQ_ESTATE},
        {"KWQ_TOOBIG over 1048576", KWQ_ETOOBIG},
        {"KWQ_SEALEDX", KWQ_EREDIS},
        {"KWQ_SEAL", KWQ_EREDIS},
        {"ERR unknown command", KWQ_EREDIS},
        {"", KWQ_EREDIS},
    };
    for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++)
        cr_assert(eq(int, kwq_err_from_wire(wire[i].reply, strlen(wire[i].reply)), wire[i].code),
                  "'%s'", wire[i].reply);
    cr_assert(eq(int, kwq_err_from_wire(NULL, 0), KWQ_EREDIS));
    /* len bounds the reply: the word must end within it. */
    cr_assert(eq(int, kwq_err_from_wire("KWQ_FULLER", 8), KWQ_EFULL));
}

Test(util, error_set_fills_and_truncates)
{
    struct kwq_error err = {0};
    char big[600];

    cr_assert(eq(int, kwq_error_set(&err, KWQ_EINVAL, "bad %s %d", "thing", 7), KWQ_EINVAL));
    cr_assert(eq(int, err.code, KWQ_EINVAL));
    tp_assert_str_eq(err.msg, "bad thing 7");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert(eq(int, kwq_error_set(&err, KWQ_EIO, "%s", big), KWQ_EIO));
    cr_assert(eq(sz, strlen(err.msg), KWQ_ERRSTR_LEN - 1));
    cr_assert(eq(int, kwq_error_set(NULL, KWQ_EIO, "x"), KWQ_EIO));
}

/* ---- Log options -------------------------------------------------------------------- */

Test(util, log_option_parsers)
{
    enum kwq_log_format f = KWQ_LOG_AUTO;
    enum kwq_log_level l = KWQ_LOG_OFF;

    cr_assert(eq(int, kwq_log_format_from_string("json", &f), 0));
    cr_assert(eq(int, f, KWQ_LOG_JSON));
    cr_assert(eq(int, kwq_log_format_from_string("text", &f), 0));
    cr_assert(eq(int, f, KWQ_LOG_TEXT));
    cr_assert(eq(int, kwq_log_format_from_string("auto", &f), 0));
    cr_assert(eq(int, f, KWQ_LOG_AUTO));
    cr_assert(eq(int, kwq_log_format_from_string("xml", &f), KWQ_EINVAL));
    cr_assert(eq(int, kwq_log_level_from_string("debug", &l), 0));
    cr_assert(eq(int, l, KWQ_LOG_DEBUG));
    cr_assert(eq(int, kwq_log_level_from_string("warn", &l), 0));
    cr_assert(eq(int, l, KWQ_LOG_WARN));
    cr_assert(eq(int, kwq_log_level_from_string("error", &l), 0));
    cr_assert(eq(int, l, KWQ_LOG_ERROR));
    cr_assert(eq(int, kwq_log_level_from_string("info", &l), 0));
    cr_assert(eq(int, l, KWQ_LOG_INFO));
    cr_assert(eq(int, kwq_log_level_from_string("verbose", &l), KWQ_EINVAL));
    cr_assert(eq(int, kwq_log_level_from_string("", &l), KWQ_EINVAL));
}

Test(util, log_level_filter)
{
    kwq_log_init("test", KWQ_LOG_JSON, KWQ_LOG_WARN);
    cr_assert(not(kwq_log_enabled(KWQ_LOG_INFO)));
    cr_assert(kwq_log_enabled(KWQ_LOG_WARN));
    cr_assert(kwq_log_enabled(KWQ_LOG_ERROR));
    kwq_log_init("test", KWQ_LOG_JSON, KWQ_LOG_OFF);
    cr_assert(not(kwq_log_enabled(KWQ_LOG_ERROR)));
}

/* One JSON record per line, with escaped strings; captured from stderr. */
Test(util, log_json_record, .init = cr_redirect_stderr)
{
    kwq_log_init("worker", KWQ_LOG_JSON, KWQ_LOG_DEBUG);
    kwq_log(KWQ_LOG_INFO, "task done", KWQ_LS("task", "4\"2"), KWQ_LI("attempt", 3));
    fflush(stderr);
    {
        FILE *f = cr_get_redirected_stderr();
        char line[512] = {0};
        cr_assert(fgets(line, sizeof(line), f) != NULL);
        cr_assert(strstr(line, "\"level\":\"info\"") != NULL, "%s", line);
        cr_assert(strstr(line, "\"component\":\"worker\"") != NULL, "%s", line);
        cr_assert(strstr(line, "\"msg\":\"task done\"") != NULL, "%s", line);
        cr_assert(strstr(line, "\"task\":\"4\\\"2\"") != NULL, "%s", line);
        cr_assert(strstr(line, "\"attempt\":3") != NULL, "%s", line);
        cr_assert(eq(chr, line[strlen(line) - 1], '\n'));
    }
}
