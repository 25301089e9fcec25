/*
 * test_proto_envelope.c - the JSON task envelope (kwq/task.h): round trips
 * of text and binary payloads, every parse error, and the task ID, queue
 * name and state helpers. No server needed.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "kwq/error.h"
#include "kwq/task.h"
#include "kwq/util.h"

#define tp_assert_str_eq(a, b) cr_assert(eq(str, (char *)(a), (char *)(b)))

/* A task whose payload is a malloc'd copy of len bytes. */
static struct kwq_task make_task(const void *payload, size_t len)
{
    struct kwq_task t;

    memset(&t, 0, sizeof(t));
    memcpy(t.id, "42", 3);
    t.payload = malloc(len + 1);
    cr_assert(t.payload != NULL);
    memcpy(t.payload, payload, len);
    t.payload[len] = '\0';
    t.payload_len = len;
    t.attempt = 2;
    t.max_attempts = 5;
    t.timeout_ms = 30000;
    t.enqueued_ms = 1764063350123LL;
    return t;
}

/* Render, check the JSON fields, parse back, and compare everything. */
static void round_trip(const void *payload, size_t len, const char *want_enc)
{
    struct kwq_task t = make_task(payload, len);
    struct kwq_task back;
    struct kwq_error err = {0};
    char *json = kwq_task_to_json(&t);
    cJSON *o;

    cr_assert(json != NULL);
    cr_assert(strchr(json, '\n') == NULL, "envelope is not one line");
    o = cJSON_Parse(json);
    cr_assert(cJSON_IsObject(o), "not a JSON object: %.200s", json);
    cr_assert(eq(dbl, cJSON_GetObjectItemCaseSensitive(o, "v")->valuedouble, 1.0));
    tp_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id")), "42");
    cr_assert(eq(dbl, cJSON_GetObjectItemCaseSensitive(o, "attempt")->valuedouble, 2.0));
    cr_assert(eq(dbl, cJSON_GetObjectItemCaseSensitive(o, "max_attempts")->valuedouble, 5.0));
    cr_assert(eq(dbl, cJSON_GetObjectItemCaseSensitive(o, "timeout_ms")->valuedouble, 30000.0));
    cr_assert(
        eq(dbl, cJSON_GetObjectItemCaseSensitive(o, "enqueued_ms")->valuedouble, 1764063350123.0));
    tp_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "enc")), want_enc);
    if (strcmp(want_enc, "utf8") == 0) {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "payload"));
        cr_assert(p != NULL);
        cr_assert(eq(sz, strlen(p), len));
        cr_assert(eq(int, memcmp(p, payload, len), 0));
    } else {
        char *b64 = malloc(kwq_base64_len(len) + 1);
        cr_assert(b64 != NULL);
        kwq_base64_encode(payload, len, b64);
        tp_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "payload")), b64);
        free(b64);
    }
    cJSON_Delete(o);

    memset(&back, 0xa5, sizeof(back));
    cr_assert(eq(int, kwq_task_from_json(json, strlen(json), &back, &err), 0), "%s", err.msg);
    tp_assert_str_eq(back.id, "42");
    cr_assert(eq(sz, back.payload_len, len));
    cr_assert(eq(int, memcmp(back.payload, payload, len), 0));
    cr_assert(eq(chr, back.payload[len], '\0'));
    cr_assert(eq(u32, back.attempt, 2));
    cr_assert(eq(u32, back.max_attempts, 5));
    cr_assert(eq(u64, back.timeout_ms, 30000));
    cr_assert(eq(i64, back.enqueued_ms, 1764063350123LL));
    kwq_task_done(&back);
    cr_assert(back.payload == NULL);
    free(json);
    kwq_task_done(&t);
}

Test(envelope, text_payload_round_trips)
{
    static const char text[] = "hello \"world\"\n\ttab \\ slash \xe2\x9c\x93 done";

    round_trip(text, sizeof(text) - 1, "utf8");
}

Test(envelope, empty_payload_round_trips)
{
    round_trip("", 0, "utf8");
}

Test(envelope, every_byte_value_goes_as_base64)
{
    unsigned char bytes[256];

    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)i;
    round_trip(bytes, sizeof(bytes), "base64");
}

Test(envelope, nul_byte_or_invalid_utf8_goes_as_base64)
{
    round_trip("a\0b", 3, "base64");
    round_trip("caf\xe9", 4, "base64");      /* Latin-1, not UTF-8 */
    round_trip("\xed\xa0\x80", 3, "base64"); /* a surrogate */
    round_trip("\xc0\xaf", 2, "base64");     /* overlong */
}

Test(envelope, one_mebibyte_binary_round_trips)
{
    const size_t n = 1048576;
    unsigned char *big = malloc(n);

    cr_assert(big != NULL);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 31u + (i >> 8));
    round_trip(big, n, "base64");
    free(big);
}

/* The parser reads exactly len bytes: the buffer need not be NUL-terminated. */
Test(envelope, parse_honours_the_length)
{
    static const char json[] =
        "{\"v\":1,\"id\":\"9\",\"attempt\":1,\"max_attempts\":3,\"timeout_ms\":0,"
        "\"enqueued_ms\":5,\"payload\":\"hi\",\"enc\":\"utf8\",\"extra\":{\"ignored\":[1]}}";
    const size_t len = sizeof(json) - 1;
    char *exact = malloc(len);
    struct kwq_task t;
    struct kwq_error err = {0};

    cr_assert(exact != NULL);
    memcpy(exact, json, len);
    cr_assert(eq(int, kwq_task_from_json(exact, len, &t, &err), 0), "%s", err.msg);
    tp_assert_str_eq(t.id, "9");
    tp_assert_str_eq(t.payload, "hi");
    cr_assert(eq(sz, t.payload_len, 2));
    cr_assert(eq(i64, t.enqueued_ms, 5));
    kwq_task_done(&t);
    free(exact);
}

Test(envelope, parse_errors)
{
#define ENV(rest)                                                                                  \
    "{\"v\":1,\"id\":\"1\",\"attempt\":1,\"max_attempts\":3,\"timeout_ms\":0,"                     \
    "\"enqueued_ms\":5," rest "}"
    static const char *const bad[] = {
        "",
        "not json",
        "[1,2,3]",
        "\"a string\"",
        "{\"id\":\"1\",\"payload\":\"x\",\"enc\":\"utf8\"}",             /* no v */
        "{\"v\":2,\"id\":\"1\",\"payload\":\"x\",\"enc\":\"utf8\"}",     /* future version */
        "{\"v\":\"1\",\"id\":\"1\",\"payload\":\"x\",\"enc\":\"utf8\"}", /* v not a number */
        ENV("\"payload\":\"%%%%\",\"enc\":\"base64\""),                  /* not base64 */
        ENV("\"payload\":\"Zg=\",\"enc\":\"base64\""),                   /* bad padding */
        ENV("\"payload\":\"x\",\"enc\":\"rot13\""),                      /* unknown encoding */
        ENV("\"payload\":5,\"enc\":\"utf8\""),                           /* payload not a string */
        "{\"v\":1,\"id\":\"x1\",\"payload\":\"x\",\"enc\":\"utf8\"}",    /* bad ID */
        "{\"v\":1,\"id\":\"1\",\"payload\":\"x\",\"enc\":\"utf8\"",      /* truncated */
    };
#undef ENV
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kwq_task t;
        struct kwq_error err = {0};
        int rc;

        memset(&t, 0, sizeof(t));
        rc = kwq_task_from_json(bad[i], strlen(bad[i]), &t, &err);
        cr_assert(eq(int, rc, KWQ_EINVAL), "envelope #%zu '%s' gave %d", i, bad[i], rc);
        cr_assert(eq(int, err.code, KWQ_EINVAL), "envelope #%zu", i);
        cr_assert(ne(chr, err.msg[0], '\0'), "envelope #%zu has no message", i);
        cr_assert(t.payload == NULL, "envelope #%zu leaves a payload behind", i);
    }
    /* err may be NULL. */
    {
        struct kwq_task t;
        cr_assert(eq(int, kwq_task_from_json("{", 1, &t, NULL), KWQ_EINVAL));
    }
}

/*
 * cJSON ends a string at a NUL: a text payload holding \u0000 (or a raw 0
 * byte) would arrive cut short without a word. It is refused instead, with a
 * message naming the field; the same for the other string fields read and
 * for field names. An unknown field holding one is still ignored.
 */
Test(envelope, nul_in_a_string_field_is_refused)
{
    static const struct {
        const char *json;
        size_t len;
        const char *field;
    } bad[] = {
#define BAD(lit, field) {lit, sizeof(lit) - 1, field}
        BAD("{\"v\":1,\"id\":\"1\",\"payload\":\"ab\\u0000cd\",\"enc\":\"utf8\"}", "'payload'"),
        BAD("{\"v\":1,\"payload\":\"\\u0000\"}", "'payload'"),
        BAD("{\"v\":1,\"payload\":\"ab\0cd\"}", "'payload'"),
        BAD("{\"v\":1,\"id\":\"12\\u0000\",\"payload\":\"x\"}", "'id'"),
        BAD("{\"v\":1,\"payload\":\"x\",\"enc\":\"utf8\\u0000zz\"}", "'enc'"),
        BAD("{\"v\":1,\"pay\\u006coad\":\"a\\u0000\"}", "'payload'"),
        BAD("{\"v\":1,\"payload\\u0000x\":\"a\",\"payload\":\"b\"}", "field name"),
#undef BAD
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kwq_task t;
        struct kwq_error err = {0};
        int rc = kwq_task_from_json(bad[i].json, bad[i].len, &t, &err);

        cr_assert(eq(int, rc, KWQ_EINVAL), "envelope #%zu gave %d", i, rc);
        cr_assert(eq(int, err.code, KWQ_EINVAL));
        cr_assert(strstr(err.msg, "NUL") != NULL && strstr(err.msg, bad[i].field) != NULL,
                  "envelope #%zu: message '%s' does not name %s", i, err.msg, bad[i].field);
        cr_assert(t.payload == NULL);
    }
    /* An escaped backslash followed by "u0000" is text, not a NUL. */
    {
        static const char ok[] = "{\"v\":1,\"payload\":\"a\\\\u0000b\",\"note\":\"\\u0000\"}";
        struct kwq_task t;
        struct kwq_error err = {0};

        cr_assert(eq(int, kwq_task_from_json(ok, sizeof(ok) - 1, &t, &err), 0), "%s", err.msg);
        tp_assert_str_eq(t.payload, "a\\u0000b");
        cr_assert(eq(sz, t.payload_len, 8));
        kwq_task_done(&t);
    }
    /* The writer never makes such an envelope: a NUL byte goes as base64 and comes back. */
    {
        struct kwq_task in = make_task("ab\0cd", 5), out;
        struct kwq_error err = {0};
        char *json = kwq_task_to_json(&in);

        cr_assert(json != NULL);
        cr_assert(eq(int, kwq_task_from_json(json, strlen(json), &out, &err), 0), "%s", err.msg);
        cr_assert(eq(sz, out.payload_len, 5));
        cr_assert(memcmp(out.payload, "ab\0cd", 5) == 0);
        free(json);
        kwq_task_done(&in);
        kwq_task_done(&out);
    }
}

Test(envelope, task_ids)
{
    static const char *const good[] = {"1", "42", "1000000", "18446744073709551615"};
    static const char *const bad[] = {
        "", "01", "-1", "+1", "1a", " 1", "1 ", "0x10", "184467440737095516150", NULL};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(kwq_id_is_valid(good[i]), "'%s' should be valid", good[i]);
    for (size_t i = 0; bad[i]; i++)
        cr_assert(not(kwq_id_is_valid(bad[i])), "'%s' should be invalid", bad[i]);
    cr_assert(not(kwq_id_is_valid(NULL)));
}

Test(envelope, queue_names)
{
    char name[KWQ_QUEUE_NAME_MAX + 2];
    struct kwq_error err = {0};
    static const char *const bad[] = {"", "a b", "{q}", "a/b", "a\tb", "\xc3\xa9", "q*", NULL};

    cr_assert(eq(int, kwq_queue_name_check("jobs", &err), 0));
    cr_assert(eq(int, kwq_queue_name_check("A-z_0.9:x", &err), 0));
    for (size_t i = 0; bad[i]; i++) {
        memset(&err, 0, sizeof(err));
        cr_assert(eq(int, kwq_queue_name_check(bad[i], &err), KWQ_EINVAL), "'%s'", bad[i]);
        cr_assert(eq(int, err.code, KWQ_EINVAL));
        cr_assert(ne(chr, err.msg[0], '\0'));
    }
    memset(name, 'n', sizeof(name));
    name[KWQ_QUEUE_NAME_MAX] = '\0';
    cr_assert(eq(int, kwq_queue_name_check(name, &err), 0));
    name[KWQ_QUEUE_NAME_MAX] = 'n';
    name[KWQ_QUEUE_NAME_MAX + 1] = '\0';
    cr_assert(eq(int, kwq_queue_name_check(name, &err), KWQ_EINVAL));
    cr_assert(eq(int, kwq_queue_name_check(NULL, NULL), KWQ_EINVAL));
}

Test(envelope, state_names)
{
    static const struct {
        enum kwq_state s;
        const char *name;
    } states[] = {
        {KWQ_STATE_PENDING, "pending"}, {KWQ_STATE_LEASED, "leased"},
        {KWQ_STATE_DELAYED, "delayed"}, {KWQ_STATE_DONE, "done"},
        {KWQ_STATE_DEAD, "dead"},
    };
    enum kwq_state s;

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        tp_assert_str_eq(kwq_state_to_string(states[i].s), states[i].name);
        s = KWQ_STATE_UNKNOWN;
        cr_assert(eq(int, kwq_state_from_string(states[i].name, &s), 0));
        cr_assert(eq(int, s, states[i].s));
    }
    tp_assert_str_eq(kwq_state_to_string(KWQ_STATE_UNKNOWN), "unknown");
    tp_assert_str_eq(kwq_state_to_string((enum kwq_state)99), "unknown");
    cr_assert(eq(int, kwq_state_from_string("Pending", &s), KWQ_EINVAL));
    cr_assert(eq(int, kwq_state_from_string("", &s), KWQ_EINVAL));
}
