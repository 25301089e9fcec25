/*
 * helper_gate DIR - print "attempt $KWQ_ATTEMPT" and exit 0 at once, except
 * for the payload "block:NAME": then first write DIR/NAME.pid and wait (at
 * most 60s) until DIR/NAME.go exists. Lets a test hold one task running
 * while the tasks behind it are short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    const char *attempt = getenv("KWQ_ATTEMPT");
    char payload[256], path[2048];
    ssize_t n;
    size_t len = 0;

    if (argc < 2)
        return 64;
    while (len < sizeof(payload) - 1 && (n = read(0, payload + len, sizeof(payload) - 1 - len)) > 0)
        len += (size_t)n;
    payload[len] = '\0';
    if (strncmp(payload, "block:", 6) == 0) {
        (void)snprintf(path, sizeof(path), "%s/%s.pid", argv[1], payload + 6);
        helper_write_pid(path, getpid());
        (void)snprintf(path, sizeof(path), "%s/%s.go", argv[1], payload + 6);
        for (int i = 0; i < 6000 && !helper_exists(path); i++)
            helper_sleep_ms(10);
    }
    (void)printf("attempt %s", attempt ? attempt : "?");
    return 0;
}
