/*
 * task.c - task identity, state names, the JSON envelope (cJSON) and the
 * queue-name rule. Nothing here talks to Redis.
 */
#include "kwq/task.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"
#include "kwq/util.h"

static const char *const state_names[] = {
    [KWQ_STATE_UNKNOWN] = "unknown", [KWQ_STATE_PENDING] = "pending", [KWQ_STATE_LEASED] = "leased",
    [KWQ_STATE_DELAYED] = "delayed", [KWQ_STATE_DONE] = "done",       [KWQ_STATE_DEAD] = "dead",
};

const char *kwq_state_to_string(enum kwq_state s)
{
    if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[s];
}

int kwq_state_from_string(const char *s, enum kwq_state *ret)
{
    if (!s)
        return KWQ_EINVAL;
    for (unsigned i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *ret = (enum kwq_state)i;
            return 0;
        }
    }
    return KWQ_EINVAL;
}

void kwq_task_done(struct kwq_task *t)
{
    if (!t)
        return;
    free(t->payload);
    memset(t, 0, sizeof(*t));
}

bool kwq_id_is_valid(const char *s)
{
    /* The largest ID is UINT64_MAX: 20 digits compared as a string. */
    static const char max[] = "18446744073709551615";
    size_t n;

    if (!s || s[0] < '1' || s[0] > '9')
        return false;
    for (n = 0; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9')
            return false;
    }
    if (n > sizeof(max) - 1)
        return false;
    return n < sizeof(max) - 1 || strcmp(s, max) <= 0;
}

int kwq_queue_name_check(const char *name, struct kwq_error *err)
{
    size_t n;

    if (!name || !name[0])
        return kwq_error_set(err, KWQ_EINVAL,
                             "the queue name is empty: use 1 to %d of "
                             "A-Z a-z 0-9 . _ : -",
                             KWQ_QUEUE_NAME_MAX);
    for (n = 0; name[n]; n++) {
        unsigned char ch = (unsigned char)name[n];

        if (n >= KWQ_QUEUE_NAME_MAX)
            return kwq_error_set(err, KWQ_EINVAL, "queue name is longer than %d bytes",
                                 KWQ_QUEUE_NAME_MAX);
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return kwq_error_set(err, KWQ_EINVAL,
                                 "queue name has a character outside A-Z a-z 0-9 . _ : - at "
                                 "byte %zu (0x%02x)",
                                 n + 1, ch);
    }
    return 0;
}

char *kwq_task_to_json(const struct kwq_task *t)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL, *b64 = NULL;
    bool text = kwq_utf8_valid(t->payload ? t->payload : "", t->payload_len);

    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "v", KWQ_ENVELOPE_VERSION) ||
        !cJSON_AddStringToObject(o, "id", t->id) ||
        !cJSON_AddNumberToObject(o, "attempt", t->attempt) ||
        !cJSON_AddNumberToObject(o, "max_attempts", t->max_attempts) ||
        !cJSON_AddNumberToObject(o, "timeout_ms", (double)t->timeout_ms) ||
        !cJSON_AddNumberToObject(o, "enqueued_ms", (double)t->enqueued_ms))
        goto cleanup;
    if (text) {
        if (!cJSON_AddStringToObject(o, "payload", t->payload ? t->payload : ""))
            goto cleanup;
    } else {
        b64 = malloc(kwq_base64_len(t->payload_len) + 1);
        if (!b64)
            goto cleanup;
        kwq_base64_encode(t->payload, t->payload_len, b64);
        if (!cJSON_AddStringToObject(o, "payload", b64))
            goto cleanup;
    }
    if (!cJSON_AddStringToObject(o, "enc", text ? "utf8" : "base64"))
        goto cleanup;
    out = cJSON_PrintUnformatted(o);
cleanup:
    free(b64);
    cJSON_Delete(o);
    return out;
}

/* Read an optional non-negative integer field; absent leaves *ret alone. */
static int get_uint(const cJSON *o, const char *name, double max, uint64_t *ret,
                    struct kwq_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return kwq_error_set(err, KWQ_EINVAL,
                             "envelope field '%s' must be a whole number "
                             "from 0 to %.0f",
                             name, max);
    *ret = (uint64_t)v->valuedouble;
    return 0;
}

/* True when the n bytes of JSON string text at s (between its quotes) hold a NUL. */
static bool json_text_has_nul(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0')
            return true;
        if (s[i] == '\\') {
            if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
                return true;
            i++; /* the escaped character */
        }
    }
    return false;
}

/*
 * cJSON ends a string at a NUL (an escaped \u0000 or a raw 0 byte) and drops
 * the rest of it without a word. Look for one in the object's top level: in
 * any field name, or in the value of a field the envelope reads (id,
 * payload, enc). buf is the text cJSON parsed into o: its top-level members
 * come in the same order as o's children, which give their decoded names.
 */
static int check_nul(const cJSON *o, const char *buf, size_t len, struct kwq_error *err)
{
    static const char *const read_fields[] = {"id", "payload", "enc"};
    const cJSON *member = NULL;
    bool want_key = false;
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        size_t start;

        if (buf[i] == '{' || buf[i] == '[') {
            depth++;
            want_key = depth == 1;
        } else if (buf[i] == '}' || buf[i] == ']') {
            depth--;
        } else if (buf[i] == ',' && depth == 1) {
            want_key = true;
        } else if (buf[i] == '"') {
            start = ++i;
            while (i < len && buf[i] != '"')
                i += buf[i] == '\\' ? 2 : 1;
            if (depth != 1 || i > len)
                continue;
            if (want_key) {
                member = member ? member->next : o->child;
                want_key = false;
                if (json_text_has_nul(buf + start, i - start))
                    return kwq_error_set(err, KWQ_EINVAL,
                                         "envelope has a field name holding a NUL character "
                                         "(\\u0000): field names are plain text");
                continue;
            }
            for (size_t f = 0; member && f < sizeof(read_fields) / sizeof(read_fields[0]); f++) {
                if (strcmp(member->string, read_fields[f]) == 0 &&
                    json_text_has_nul(buf + start, i - start))
                    return kwq_error_set(err, KWQ_EINVAL,
                                         "envelope field '%s' holds a NUL character (\\u0000)%s",
                                         read_fields[f],
                                         f == 1 ? ": send such a payload as base64 with "
                                                  "\"enc\":\"base64\""
                                                : "");
            }
        }
    }
    return 0;
}

int kwq_task_from_json(const char *buf, size_t len, struct kwq_task *ret, struct kwq_error *err)
{
    cJSON *o = NULL;
    const cJSON *v, *id, *payload, *enc;
    const char *end = NULL;
    struct kwq_task t;
    uint64_t u;
    int rc = KWQ_EINVAL;

    memset(&t, 0, sizeof(t));
    memset(ret, 0, sizeof(*ret));
    o = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!cJSON_IsObject(o)) {
        kwq_error_set(err, KWQ_EINVAL, "envelope is not a JSON object");
        goto cleanup;
    }
    /* One object and nothing after it but white space. */
    for (; end && end < buf + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            kwq_error_set(err, KWQ_EINVAL, "envelope has text after its JSON object");
            goto cleanup;
        }
    }
    if (check_nul(o, buf, end ? (size_t)(end - buf) : len, err))
        goto cleanup;
    v = cJSON_GetObjectItemCaseSensitive(o, "v");
    if (!cJSON_IsNumber(v)) {
        kwq_error_set(err, KWQ_EINVAL, "envelope has no numeric version field \"v\"");
        goto cleanup;
    }
    if (v->valuedouble != KWQ_ENVELOPE_VERSION) {
        kwq_error_set(err, KWQ_EINVAL,
                      "envelope version %g is not supported (this kwq reads "
                      "version %d)",
                      v->valuedouble, KWQ_ENVELOPE_VERSION);
        goto cleanup;
    }
    id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (id) {
        if (!cJSON_IsString(id) || !kwq_id_is_valid(id->valuestring)) {
            kwq_error_set(err, KWQ_EINVAL,
                          "envelope field 'id' is not a task ID (decimal "
                          "digits, no leading zero)");
            goto cleanup;
        }
        memcpy(t.id, id->valuestring, strlen(id->valuestring) + 1);
    }
    u = 0;
    if (get_uint(o, "attempt", UINT32_MAX, &u, err))
        goto cleanup;
    t.attempt = (uint32_t)u;
    u = 0;
    if (get_uint(o, "max_attempts", UINT32_MAX, &u, err))
        goto cleanup;
    t.max_attempts = (uint32_t)u;
    if (get_uint(o, "timeout_ms", 9007199254740992.0, &t.timeout_ms, err))
        goto cleanup;
    u = 0;
    if (get_uint(o, "enqueued_ms", 9007199254740992.0, &u, err))
        goto cleanup;
    t.enqueued_ms = (int64_t)u;
    payload = cJSON_GetObjectItemCaseSensitive(o, "payload");
    if (!cJSON_IsString(payload)) {
        kwq_error_set(err, KWQ_EINVAL, "envelope field 'payload' is missing or not a string");
        goto cleanup;
    }
    enc = cJSON_GetObjectItemCaseSensitive(o, "enc");
    if (enc && !cJSON_IsString(enc)) {
        kwq_error_set(err, KWQ_EINVAL, "envelope field 'enc' must be \"utf8\" or \"base64\"");
        goto cleanup;
    }
    if (!enc || strcmp(enc->valuestring, "utf8") == 0) {
        size_t n = strlen(payload->valuestring);

        t.payload = malloc(n + 1);
        if (!t.payload) {
            rc = kwq_error_set(err, KWQ_ENOMEM, "out of memory reading an envelope");
            goto cleanup;
        }
        memcpy(t.payload, payload->valuestring, n + 1);
        t.payload_len = n;
    } else if (strcmp(enc->valuestring, "base64") == 0) {
        size_t n = strlen(payload->valuestring);
        long got;

        t.payload = malloc(n / 4 * 3 + 1);
        if (!t.payload) {
            rc = kwq_error_set(err, KWQ_ENOMEM, "out of memory reading an envelope");
            goto cleanup;
        }
        got = kwq_base64_decode(payload->valuestring, n, t.payload);
        if (got < 0) {
            kwq_error_set(err, KWQ_EINVAL, "envelope payload is not valid base64");
            goto cleanup;
        }
        t.payload[got] = '\0';
        t.payload_len = (size_t)got;
    } else {
        kwq_error_set(err, KWQ_EINVAL,
                      "envelope encoding '%.40s' is unknown: use \"utf8\" "
                      "or \"base64\"",
                      enc->valuestring);
        goto cleanup;
    }
    *ret = t;
    memset(&t, 0, sizeof(t));
    rc = 0;
cleanup:
    kwq_task_done(&t);
    cJSON_Delete(o);
    return rc;
}
