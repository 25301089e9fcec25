/*
 * helper_stream PIDFILE [CRASH_AFTER MARKER [HOLD]] - a stream-mode handler.
 * Appends its pid to PIDFILE at start (one line per process started), then
 * answers each envelope line with {"id":..,"ok":true,"result":"r:<payload>"};
 * a payload "fail" gets {"ok":false,"error":"bad item","retry":false}.
 * With CRASH_AFTER and MARKER: the first process (MARKER absent) creates
 * MARKER, answers CRASH_AFTER tasks, then reads HOLD (default 1) more task
 * lines without answering them and dies of SIGABRT: at least HOLD tasks are
 * in flight when it dies, whatever the timing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "helper_common.h"

static void answer(const char *line)
{
    cJSON *in = cJSON_Parse(line);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "id");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(in, "payload");
    cJSON *out = cJSON_CreateObject();
    char *text;

    if (!cJSON_IsString(id) || !cJSON_IsString(payload))
        exit(65);
    cJSON_AddStringToObject(out, "id", id->valuestring);
    if (strcmp(payload->valuestring, "fail") == 0) {
        cJSON_AddFalseToObject(out, "ok");
        cJSON_AddStringToObject(out, "error", "bad item");
        cJSON_AddFalseToObject(out, "retry");
    } else {
        size_t len = strlen(payload->valuestring) + 3;
        char *r = malloc(len);
        (void)snprintf(r, len, "r:%s", payload->valuestring);
        cJSON_AddTrueToObject(out, "ok");
        cJSON_AddStringToObject(out, "result", r);
        free(r);
    }
    text = cJSON_PrintUnformatted(out);
    (void)printf("%s\n", text);
    (void)fflush(stdout);
    free(text);
    cJSON_Delete(out);
    cJSON_Delete(in);
}

int main(int argc, char **argv)
{
    long crash_after = argc > 3 ? atol(argv[2]) : -1;
    long hold = argc > 4 ? atol(argv[4]) : 1;
    int will_crash = 0;
    long answered = 0, held = 0;
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (argc < 2)
        return 64;
    f = fopen(argv[1], "a");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
        return 73;
    if (crash_after >= 0)
        will_crash = helper_create_once(argv[3]);
    while (getline(&line, &cap, stdin) > 0) {
        if (will_crash && answered >= crash_after) {
            if (++held >= hold)
                abort();
            continue;
        }
        answer(line);
        answered++;
    }
    free(line);
    return 0;
}
