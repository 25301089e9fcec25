/*
 * helper_stream_odd MODE [MARKER] - a stream-mode handler that answers
 * badly, one way per MODE, for each task line it reads:
 *   nul-result   ok, with a result holding \u0000
 *   nul-error    failed (no retry), with an error text holding \u0000
 *   nul-id       first an answer (result "wrong") whose id is the task's id
 *                followed by \u0000 and more, then the right one ("right")
 *   noise        first a line that is not JSON, an object without "id",
 *                answers for an unknown task and for a made-up id, then the
 *                right answer twice (result "first", then "second")
 *   long         ok, with a 20000-byte result on one line
 *   fds          ok, with the result "fds:" and " N" per open fd above 2
 *   close-stdout the first process (MARKER absent: it creates it) closes
 *                its stdout after reading a task and keeps running; later
 *                ones answer ok with result "ok"
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "helper_common.h"

static void say(const char *fmt, const char *id)
{
    (void)printf(fmt, id);
    (void)fflush(stdout);
}

static void answer_fds(const char *id)
{
    char fds[1024] = "fds:";
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    while (d && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);

        if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d) && strlen(fds) < sizeof(fds) - 16)
            (void)snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), " %d", fd);
    }
    if (d)
        (void)closedir(d);
    (void)printf("{\"id\":\"%s\",\"ok\":true,\"result\":\"%s\"}\n", id, fds);
    (void)fflush(stdout);
}

static void answer(const char *mode, const char *id)
{
    if (strcmp(mode, "fds") == 0) {
        answer_fds(id);
    } else if (strcmp(mode, "nul-result") == 0) {
        say("{\"id\":\"%s\",\"ok\":true,\"result\":\"ab\\u0000cd\"}\n", id);
    } else if (strcmp(mode, "nul-error") == 0) {
        say("{\"id\":\"%s\",\"ok\":false,\"error\":\"bad\\u0000hidden\",\"retry\":false}\n", id);
    } else if (strcmp(mode, "nul-id") == 0) {
        (void)printf("{\"id\":\"%s\\u0000x\",\"ok\":true,\"result\":\"wrong\"}\n"
                     "{\"id\":\"%s\",\"ok\":true,\"result\":\"right\"}\n",
                     id, id);
        (void)fflush(stdout);
    } else if (strcmp(mode, "noise") == 0) {
        /* One write (under PIPE_BUF): the worker reads the second answer with the first. */
        (void)printf("not json at all, task %s\n"
                     "{\"ok\":true,\"result\":\"no id for %s\"}\n"
                     "{\"id\":\"987654321\",\"ok\":true,\"result\":\"unknown %s\"}\n"
                     "{\"id\":\"secret-made-up-%s\",\"ok\":true}\n"
                     "{\"id\":\"%s\",\"ok\":true,\"result\":\"first\"}\n"
                     "{\"id\":\"%s\",\"ok\":true,\"result\":\"second\"}\n",
                     id, id, id, id, id, id);
        (void)fflush(stdout);
    } else if (strcmp(mode, "long") == 0) {
        char *big = malloc(20001);

        if (!big)
            exit(71);
        memset(big, 'x', 20000);
        big[20000] = '\0';
        (void)printf("{\"id\":\"%s\",\"ok\":true,\"result\":\"%s\"}\n", id, big);
        (void)fflush(stdout);
        free(big);
    } else {
        say("{\"id\":\"%s\",\"ok\":true,\"result\":\"ok\"}\n", id);
    }
}

int main(int argc, char **argv)
{
    char *line = NULL;
    size_t cap = 0;
    int closer;

    if (argc < 2)
        return 64;
    closer = strcmp(argv[1], "close-stdout") == 0 && argc > 2 && helper_create_once(argv[2]);
    while (getline(&line, &cap, stdin) > 0) {
        cJSON *in = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "id");

        if (!cJSON_IsString(id))
            return 65;
        if (closer) {
            (void)fclose(stdout);
            while (getline(&line, &cap, stdin) > 0)
                ;
            for (;;)
                pause();
        }
        answer(argv[1], id->valuestring);
        cJSON_Delete(in);
    }
    free(line);
    return 0;
}
