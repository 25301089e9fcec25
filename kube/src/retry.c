/*
 * retry.c - which failures are worth another attempt, and after how long.
 * Only what the server or the network may get over on its own is retried:
 * 429 (too many requests: the API server's priority and fairness queues
 * are full), 500, 502, 503, 504, failed connects and timeouts (http.c
 * decides those). The wait doubles from KUBE_BACKOFF_FIRST_MS to
 * KUBE_BACKOFF_CAP_MS with jitter, so that many clients refused at once do
 * not all come back at once, and is never shorter than what the server
 * asked for with Retry-After or the Status object's retryAfterSeconds.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "http_int.h"

/* A server asking for more than this is taken to mean this. */
#define RETRY_AFTER_MAX_S 3600

bool kube__retry_status(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

uint64_t kube__retry_delay_ms(unsigned n, uint64_t retry_after_ms)
{
    uint64_t d = KUBE_BACKOFF_FIRST_MS;

    for (unsigned i = 1; i < n && d < KUBE_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > KUBE_BACKOFF_CAP_MS)
        d = KUBE_BACKOFF_CAP_MS;
    /* Between half the step and the whole of it. */
    d = d / 2 + arc4random_uniform((uint32_t)(d / 2 + 1));
    return retry_after_ms > d ? retry_after_ms : d;
}

/* Delta-seconds only: the API server never sends an HTTP date here. */
static uint64_t header_seconds(const char *h)
{
    char *end;
    unsigned long long s;

    if (!h || *h < '0' || *h > '9')
        return 0;
    s = strtoull(h, &end, 10);
    if (*end != '\0')
        return 0;
    return s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
}

static uint64_t details_seconds(const cJSON *json)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(json, "details");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "retryAfterSeconds");

    if (!cJSON_IsNumber(s) || s->valuedouble < 0)
        return 0;
    return s->valuedouble > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (uint64_t)s->valuedouble;
}

uint64_t kube__retry_after_ms(const char *header, const struct kube_response *resp)
{
    uint64_t h = header_seconds(header), d = details_seconds(resp->json);

    return (h > d ? h : d) * 1000;
}
