/* helper_crash - read stdin, say so on stderr, die of SIGABRT. */
#include <stdio.h>
#include <stdlib.h>

#include "helper_common.h"

int main(void)
{
    helper_drain_stdin();
    (void)fprintf(stderr, "helper_crash: about to abort\n");
    abort();
}
