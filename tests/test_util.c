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

#include "client_int.h"

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

/* One trailing newline goes, as a file or a Kubernetes Secret leaves it; anything else stays. */
Test(util, secret_line_drops_one_trailing_newline)
{
    static const struct {
        const char *in;
        const char *out;
    } ok[] = {
        {"hunter2", "hunter2"},         {"hunter2\n", "hunter2"}, {"hunter2\r\n", "hunter2"},
        {" spaced pw ", " spaced pw "}, {"tab\tpw\n", "tab\tpw"}, {"x", "x"},
    };
    static const struct {
        const char *in;
        const char *msg;
    } bad[] = {
        {"", "KWQ_REDIS_PASSWORD is empty"},
        {"\n", "KWQ_REDIS_PASSWORD is empty"},
        {"\r\n", "KWQ_REDIS_PASSWORD is empty"},
        {"pw\n\n", "KWQ_REDIS_PASSWORD holds a line break inside: a password is one line (one "
                   "trailing newline is dropped)"},
        {"pw\nsecond\n", "KWQ_REDIS_PASSWORD holds a line break inside: a password is one line "
                         "(one trailing newline is dropped)"},
        {"pw\r", "KWQ_REDIS_PASSWORD holds a line break inside: a password is one line (one "
                 "trailing newline is dropped)"},
    };
    struct kwq_error err = {0};
    char *s = NULL;
    char big[KWQ_SECRET_MAX + 2];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert(
            eq(int, kwq_secret_line("KWQ_REDIS_PASSWORD", ok[i].in, strlen(ok[i].in), &s, &err), 0),
            "'%s'", ok[i].in);
        tp_assert_str_eq(s, ok[i].out);
        free(s);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = (char *)"untouched";
        cr_assert(eq(int,
                     kwq_secret_line("KWQ_REDIS_PASSWORD", bad[i].in, strlen(bad[i].in), &s, &err),
                     KWQ_EINVAL),
                  "case %zu", i);
        cr_assert(eq(ptr, s, NULL));
        tp_assert_str_eq(err.msg, bad[i].msg);
    }
    cr_assert(eq(int, kwq_secret_line("X", "a\0b", 3, &s, &err), KWQ_EINVAL));
    tp_assert_str_eq(err.msg,
                     "X holds a NUL byte inside: a password is one line (one trailing newline is "
                     "dropped)");
    /* The longest accepted, with its newline; one byte more is refused. */
    memset(big, 'p', sizeof(big));
    big[KWQ_SECRET_MAX] = '\n';
    cr_assert(eq(int, kwq_secret_line("X", big, KWQ_SECRET_MAX + 1, &s, &err), 0));
    cr_assert(eq(sz, strlen(s), KWQ_SECRET_MAX));
    free(s);
    big[KWQ_SECRET_MAX] = '\r';
    big[KWQ_SECRET_MAX + 1] = '\n';
    cr_assert(eq(int, kwq_secret_line("X", big, KWQ_SECRET_MAX + 2, &s, &err), 0));
    cr_assert(eq(sz, strlen(s), KWQ_SECRET_MAX));
    free(s);
    big[KWQ_SECRET_MAX] = 'p';
    cr_assert(eq(int, kwq_secret_line("X", big, KWQ_SECRET_MAX + 1, &s, &err), KWQ_EINVAL));
    tp_assert_str_eq(err.msg, "X is longer than 4096 bytes");
}

/* Write text to dir/name; the path into path. */
static void write_file(char *path, size_t len, const char *dir, const char *name, const char *text,
                       size_t n)
{
    FILE *f;

    (void)snprintf(path, len, "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert(f != NULL);
    cr_assert(eq(sz, fwrite(text, 1, n, f), n));
    cr_assert(eq(int, fclose(f), 0));
}

Test(util, secret_file_is_one_line)
{
    char dir[] = "/tmp/kwq-util-XXXXXX";
    char pw[64], crlf[64], two[64], empty[64], big[64], want[200];
    char text[KWQ_SECRET_MAX + 10];
    struct kwq_error err = {0};
    char *s = NULL;

    cr_assert(mkdtemp(dir) != NULL);
    write_file(pw, sizeof(pw), dir, "pw", "hunter2\n", 8);
    write_file(crlf, sizeof(crlf), dir, "crlf", "pw-from-windows\r\n", 17);
    write_file(two, sizeof(two), dir, "two", "hunter2\nsecond\n", 15);
    write_file(empty, sizeof(empty), dir, "empty", "\n", 1);
    memset(text, 'p', sizeof(text));
    write_file(big, sizeof(big), dir, "big", text, sizeof(text));

    cr_assert(eq(int, kwq_read_secret_file(pw, &s, &err), 0));
    tp_assert_str_eq(s, "hunter2");
    free(s);
    cr_assert(eq(int, kwq_read_secret_file(crlf, &s, &err), 0));
    tp_assert_str_eq(s, "pw-from-windows");
    free(s);
    cr_assert(eq(int, kwq_read_secret_file(two, &s, &err), KWQ_EINVAL));
    (void)snprintf(want, sizeof(want),
                   "the password file %s holds a line break inside: a password is one line (one "
                   "trailing newline is dropped)",
                   two);
    tp_assert_str_eq(err.msg, want);
    cr_assert(eq(int, kwq_read_secret_file(empty, &s, &err), KWQ_EINVAL));
    (void)snprintf(want, sizeof(want), "the password file %s is empty", empty);
    tp_assert_str_eq(err.msg, want);
    cr_assert(eq(int, kwq_read_secret_file(big, &s, &err), KWQ_EINVAL));
    (void)snprintf(want, sizeof(want), "the password file %s is longer than 4096 bytes", big);
    tp_assert_str_eq(err.msg, want);
    (void)unlink(pw);
    cr_assert(eq(int, kwq_read_secret_file(pw, &s, &err), KWQ_EINVAL));
    (void)snprintf(want, sizeof(want), "cannot read the password file %s: %s", pw,
                   strerror(ENOENT));
    tp_assert_str_eq(err.msg, want);
    cr_assert(eq(ptr, s, NULL));
    (void)unlink(crlf);
    (void)unlink(two);
    (void)unlink(empty);
    (void)unlink(big);
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

/* Exactly the codes that retrying can cure, and exactly those a setting must change. */
Test(util, error_classes_transient_and_config)
{
    static const int transient[] = {KWQ_ECONN, KWQ_ETIMEOUT, KWQ_EOOM};
    static const int config[] = {KWQ_EAUTH, KWQ_ENOPERM, KWQ_EREADONLY, KWQ_EPOLICY};
    static const int codes[] = {
#define KWQ_ERR_CODE(name, value, wire, text) KWQ_E##name,
        KWQ_ERR_MAP(KWQ_ERR_CODE)
#undef KWQ_ERR_CODE
    };
    size_t nt = 0, nc = 0;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        bool t = false, cf = false;

        for (size_t j = 0; j < sizeof(transient) / sizeof(transient[0]); j++)
            t = t || codes[i] == transient[j];
        for (size_t j = 0; j < sizeof(config) / sizeof(config[0]); j++)
            cf = cf || codes[i] == config[j];
        cr_assert(eq(int, kwq_err_is_transient(codes[i]), t), "%s", kwq_err_name(codes[i]));
        cr_assert(eq(int, kwq_err_is_config(codes[i]), cf), "%s", kwq_err_name(codes[i]));
        nt += t;
        nc += cf;
    }
    cr_assert(eq(sz, nt, 3));
    cr_assert(eq(sz, nc, 4));
    /* A lost queue, a Redis error, success and errno values are neither. */
    static const int neither[] = {0,       KWQ_EGONE,     KWQ_EREDIS, KWQ_EFULL, KWQ_EINVAL,
                                  -ENOENT, -ECONNREFUSED, 1,          12345};
    for (size_t i = 0; i < sizeof(neither) / sizeof(neither[0]); i++) {
        cr_assert(not(kwq_err_is_transient(neither[i])), "%d", neither[i]);
        cr_assert(not(kwq_err_is_config(neither[i])), "%d", neither[i]);
    }
}

/* Every Redis error reply kwq names: its code, and a message that says what to do. */
Test(util, redis_error_replies_map_to_codes)
{
    static const struct {
        const char *reply;
        int code;
        const char *msg;
    } v[] = {
        {"KWQ_SEALED queue 'q' is sealed", KWQ_ESEALED, "queue 'q' is sealed"},
        {"KWQ_FULL", KWQ_EFULL, "queue is full"},
        {"LOADING Redis is loading the dataset in memory", KWQ_ECONN,
         "Redis at U is still loading its data set into memory (LOADING); retry in a moment"},
        {"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
         KWQ_ECONN,
         "Redis at U is busy running a script past its time limit (BUSY); retry in a moment, or "
         "SCRIPT KILL it"},
        {"BUSYKEY Target key name already exists.", KWQ_EREDIS,
         "Redis error: BUSYKEY Target key name already exists."},
        {"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
         KWQ_ECONN,
         "Redis at U lost the link to its master (MASTERDOWN); retry in a moment, and point the "
         "URL at the master"},
        {"TRYAGAIN Multiple keys request during rehashing of slot", KWQ_ECONN,
         "Redis at U cannot serve the keys now (TRYAGAIN Multiple keys request during rehashing "
         "of slot)"},
        {"CLUSTERDOWN The cluster is down", KWQ_ECONN,
         "Redis at U cannot serve the keys now (CLUSTERDOWN The cluster is down)"},
        {"ERR max number of clients reached", KWQ_ECONN,
         "Redis at U has its maximum number of clients connected; retry in a moment, or raise its "
         "maxclients"},
        {"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
         "to disk.",
         KWQ_ECONN,
         "Redis at U refuses writes because it cannot save to disk (MISCONF); free its disk or "
         "check its log"},
        {"NOREPLICAS Not enough good replicas to write.", KWQ_ECONN,
         "Redis at U has fewer replicas than its min-replicas-to-write (NOREPLICAS); retry in a "
         "moment"},
        {"UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
         "replica?)",
         KWQ_ECONN,
         "Redis at U cut a blocking wait short (UNBLOCKED force unblock from blocking operation, "
         "instance state changed (master -> replica?))"},
        {"OOM command not allowed when used memory > 'maxmemory'.", KWQ_EOOM,
         "Redis at U is at its maxmemory limit and refused the write (OOM); let workers drain "
         "queues or raise maxmemory"},
        {"READONLY You can't write against a read only replica.", KWQ_EREADONLY,
         "Redis at U is a read-only replica (READONLY): the URL points at a replica; use the "
         "master"},
        {"NOAUTH Authentication required.", KWQ_EAUTH,
         "Redis requires a password; set KWQ_REDIS_PASSWORD or --redis-password-file"},
        {"WRONGPASS invalid username-password pair or user is disabled.", KWQ_EAUTH,
         "Redis refused the password (WRONGPASS); check KWQ_REDIS_PASSWORD / "
         "--redis-password-file"},
        {"ERR invalid password", KWQ_EAUTH,
         "Redis refused the password (WRONGPASS); check KWQ_REDIS_PASSWORD / "
         "--redis-password-file"},
        {"ERR AUTH <password> called without any password configured for the default user. Are "
         "you sure your configuration is correct?",
         KWQ_EAUTH,
         "a password was given but this Redis user has none; unset KWQ_REDIS_PASSWORD / "
         "--redis-password-file, or name the ACL user in the URL (redis://USER@host)"},
        {"NOPERM this user has no permissions to run the 'evalsha' command", KWQ_ENOPERM,
         "the Redis user may not do what kwq needs (NOPERM this user has no permissions to run "
         "the 'evalsha' command); grant it the ACL rules in docs/PROTOCOL.md \"Client rules\""},
        {"ERR DB index is out of range", KWQ_EINVAL,
         "Redis at U has fewer databases than the URL's db (DB index is out of range); use a db "
         "below its 'databases' setting (16 by default)"},
        {"WRONGTYPE Operation against a key holding the wrong kind of value", KWQ_EREDIS,
         "Redis error: WRONGTYPE Operation against a key holding the wrong kind of value"},
        {"ERR unknown command 'FOO'", KWQ_EREDIS, "Redis error: ERR unknown command 'FOO'"},
    };
    struct kwq_error err = {0};

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        cr_assert(eq(int, kwq__redis_error(v[i].reply, strlen(v[i].reply), "U", &err), v[i].code),
                  "'%s'", v[i].reply);
        tp_assert_str_eq(err.msg, v[i].msg);
    }
}

/* The INFO text decides: a replica, a loading server, an evicting one; run_id kept. */
Test(util, server_check_reads_info)
{
    static const char master[] = "# Server\r\nrun_id:0123456789abcdef0123456789abcdef01234567\r\n"
                                 "# Persistence\r\nloading:0\r\n# Memory\r\n"
                                 "maxmemory_policy:noeviction\r\n# Replication\r\nrole:master\r\n";
    static const char replica[] = "loading:0\r\nmaxmemory_policy:noeviction\r\nrole:slave\r\n"
                                  "master_host:10.0.0.7\r\nmaster_port:6380\r\n";
    static const char loading[] = "loading:1\r\nloading_loaded_perc:42.50\r\nrole:master\r\n"
                                  "maxmemory_policy:noeviction\r\n";
    static const char lru[] = "loading:0\r\nmaxmemory_policy:allkeys-lru\r\nrole:master\r\n";
    /* Fields missing (an old or a restricted INFO) are not held against the server. */
    static const char bare[] = "# Server\r\nredis_version:7.0.15\r\n";
    struct kwq_error err = {0};
    char run_id[KWQ__RUN_ID_LEN + 1] = "";

    cr_assert(eq(int, kwq__info_check(master, "U", false, run_id, &err), 0));
    tp_assert_str_eq(run_id, "0123456789abcdef0123456789abcdef01234567");
    cr_assert(eq(int, kwq__info_check(replica, "U", false, run_id, &err), KWQ_EREADONLY));
    tp_assert_str_eq(err.msg,
                     "Redis at U is a read-only replica of 10.0.0.7:6380; point the Redis URL at "
                     "the master");
    cr_assert(eq(int, kwq__info_check(loading, "U", false, run_id, &err), KWQ_ECONN));
    tp_assert_str_eq(err.msg, "Redis at U is still loading its data set into memory (LOADING, "
                              "42.50% done); retry in a moment");
    cr_assert(eq(int, kwq__info_check(lru, "U", false, run_id, &err), KWQ_EPOLICY));
    tp_assert_str_eq(err.msg, "Redis maxmemory-policy is 'allkeys-lru': kwq needs 'noeviction' "
                              "(it must never evict queue keys); run CONFIG SET maxmemory-policy "
                              "noeviction");
    cr_assert(eq(int, kwq__info_check(bare, "U", false, run_id, &err), 0));
    cr_assert(eq(int, kwq__info_check("role:slave\r\nloading:1\r\n", "U", false, run_id, &err),
                 KWQ_EREADONLY));
    tp_assert_str_eq(err.msg,
                     "Redis at U is a read-only replica of ?:?; point the Redis URL at the "
                     "master");
    cr_assert(eq(int, kwq__info_check("loading:1\r\n", "U", false, run_id, &err), KWQ_ECONN));
    tp_assert_str_eq(err.msg, "Redis at U is still loading its data set into memory (LOADING, ?% "
                              "done); retry in a moment");
    /* A field name must start a line: "xrole:" is not "role:". */
    cr_assert(eq(int, kwq__info_check("xrole:slave\r\n", "U", false, run_id, &err), 0));
    /* A read-only client (opts.read_only) takes a replica; the other checks still hold. */
    cr_assert(eq(int, kwq__info_check(replica, "U", true, run_id, &err), 0));
    cr_assert(eq(int, kwq__info_check("role:slave\r\nloading:1\r\n", "U", true, run_id, &err),
                 KWQ_ECONN));
    cr_assert(eq(
        int,
        kwq__info_check("role:slave\r\nmaxmemory_policy:allkeys-lru\r\n", "U", true, run_id, &err),
        KWQ_EPOLICY));
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
