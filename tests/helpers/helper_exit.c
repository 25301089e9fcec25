/*
 * helper_exit CODE [MESSAGE] - read stdin, write two stderr lines (the
 * second one MESSAGE), exit with CODE. A failing handler.
 */
#include <stdio.h>
#include <stdlib.h>

#include "helper_common.h"

int main(int argc, char **argv)
{
    int code = argc > 1 ? atoi(argv[1]) : 1;

    helper_drain_stdin();
    (void)fprintf(stderr, "helper_exit: failing on purpose\n");
    (void)fprintf(stderr, "%s\n", argc > 2 ? argv[2] : "no message");
    return code;
}
