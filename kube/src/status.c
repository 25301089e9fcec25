/*
 * status.c - an answer of the API server turned into an error code and one
 * line. A refused request carries a Status object
 * ({"kind":"Status","message":...,"reason":...,"details":{...}}) whose
 * message already says what happened in the API's own words: for 403 the
 * user, verb, resource and API group the RBAC lacks; for 409 whether the
 * object exists or changed meanwhile. It is kept whole. Only a 422's line is
 * built here, from details.causes, so that every invalid field is named
 * with its message even when the API's summary is shortened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"

#include "http_int.h"

int kube__response_parse(struct kube_response *resp)
{
    const cJSON *kind, *reason;

    if (!resp->body || resp->len == 0)
        return 0;
    resp->json = cJSON_ParseWithLength(resp->body, resp->len);
    if (!resp->json)
        return 0; /* not JSON: the raw body is all there is */
    kind = cJSON_GetObjectItemCaseSensitive(resp->json, "kind");
    reason = cJSON_GetObjectItemCaseSensitive(resp->json, "reason");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0 &&
        cJSON_IsString(reason) && reason->valuestring[0] != '\0') {
        resp->reason = strdup(reason->valuestring);
        if (!resp->reason)
            return KWQ_ENOMEM;
    }
    return 0;
}

static int code_of(long status)
{
    switch (status) {
    case 401:
        return KWQ_EAUTH;
    case 403:
        return KWQ_ENOPERM;
    case 404:
        return KWQ_ENOTFOUND;
    case 409:
        return KWQ_ESTATE;
    case 400:
    case 415:
    case 422:
        return KWQ_EINVAL;
    default:
        return status >= 200 && status < 300 ? 0 : KWQ_EPROTO;
    }
}

/* The Status object's string field name, or NULL. */
static const char *status_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

/*
 * "Job "wq-main" is invalid: spec.completions: Invalid value: 5: field is
 * immutable; spec.x: ..." from details, or 0 when there are no causes.
 */
static size_t causes_line(const cJSON *json, char *buf, size_t len)
{
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(json, "details");
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
    const char *kind = status_str(details, "kind"), *name = status_str(details, "name");
    const char *sep = " ";
    const cJSON *c;
    size_t n;
    int w;

    if (!cJSON_IsArray(causes) || cJSON_GetArraySize(causes) == 0)
        return 0;
    w = snprintf(buf, len, "%s \"%s\" is invalid:", kind ? kind : "object", name ? name : "");
    n = w < 0 ? 0 : (size_t)w;
    cJSON_ArrayForEach(c, causes)
    {
        const char *field = status_str(c, "field"), *msg = status_str(c, "message");

        if (n >= len)
            break;
        w = snprintf(buf + n, len - n, "%s%s: %s", sep, field ? field : "(object)",
                     msg ? msg : "invalid");
        n += w < 0 ? 0 : (size_t)w;
        sep = "; ";
    }
    return n;
}

/* Control characters (a message quoting user input) would break the one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            *s = ' ';
}

int kube__status_error(const struct kube_response *resp, const char *method, const char *path,
                       struct kwq_error *err)
{
    int code = code_of(resp->status);
    const char *msg = status_str(resp->json, "message");

    if (code == 0)
        return 0;
    if (resp->status == 422 && causes_line(resp->json, err->msg, sizeof(err->msg)) > 0)
        err->code = code;
    else if (msg)
        (void)kwq_error_set(err, code, "%s", msg);
    else
        (void)kwq_error_set(err, code, "%s %s: the API server answered HTTP %ld", method, path,
                            resp->status);
    one_line(err->msg);
    return code;
}
