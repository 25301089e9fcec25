/*
 * placeholder.c - keeps libkwqkube non-empty until its first sources land.
 */
#include "kube/config.h"

int kube__placeholder(void);

int kube__placeholder(void)
{
    return 0;
}
