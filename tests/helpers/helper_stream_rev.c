/*
 * helper_stream_rev N - a stream-mode handler that answers out of order: it
 * reads N task lines without answering any, then answers those N in reverse
 * order, then answers every further line as it comes. Each answer is
 * {"id":..,"ok":true,"result":"r:<payload>"}, so a result that lands on the
 * wrong task shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static void answer(const char *line)
{
    cJSON *in = cJSON_Parse(line);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "id");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(in, "payload");
    cJSON *out = cJSON_CreateObject();
    size_t len;
    char *r, *text;

    if (!cJSON_IsString(id) || !cJSON_IsString(payload))
        exit(65);
    len = strlen(payload->valuestring) + 3;
    r = malloc(len);
    if (!r)
        exit(71);
    (void)snprintf(r, len, "r:%s", payload->valuestring);
    cJSON_AddStringToObject(out, "id", id->valuestring);
    cJSON_AddTrueToObject(out, "ok");
    cJSON_AddStringToObject(out, "result", r);
    text = cJSON_PrintUnformatted(out);
    (void)printf("%s\n", text);
    free(text);
    free(r);
    cJSON_Delete(out);
    cJSON_Delete(in);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0;
    char **held;
    char *line = NULL;
    size_t cap = 0;
    long got = 0;

    if (n <= 0)
        return 64;
    held = calloc((size_t)n, sizeof(*held));
    if (!held)
        return 71;
    while (got < n && getline(&line, &cap, stdin) > 0) {
        held[got++] = line;
        line = NULL;
        cap = 0;
    }
    for (long i = got - 1; i >= 0; i--) {
        answer(held[i]);
        free(held[i]);
    }
    (void)fflush(stdout);
    while (getline(&line, &cap, stdin) > 0) {
        answer(line);
        (void)fflush(stdout);
    }
    free(line);
    free(held);
    return 0;
}
