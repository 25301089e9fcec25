/*
 * b64.c - base64 fields of a kubeconfig into bytes. The decoding itself is
 * libkwq's kwq_base64_decode (strict: standard alphabet, padding required);
 * this adds what a kubeconfig needs around it: whitespace left by wrapped
 * lines, one clear error naming the field, and a NUL-terminated copy.
 */
#include "b64.h"

#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/util.h"

/* Line breaks and spaces are not data: Go's decoder drops \r and \n, YAML folds may add spaces. */
static size_t strip_space(const char *in, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (in[i] != ' ' && in[i] != '\t' && in[i] != '\r' && in[i] != '\n')
            out[n++] = in[i];
    }
    return n;
}

int kube__b64_field(const char *what, const char *text, size_t len, char **ret, size_t *ret_len,
                    struct kwq_error *err)
{
    char *clean, *out;
    size_t n;
    long got;

    *ret = NULL;
    *ret_len = 0;
    clean = malloc(len + 1);
    out = malloc(len / 4 * 3 + 1);
    if (!clean || !out) {
        free(clean);
        free(out);
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    }
    n = strip_space(text, len, clean);
    got = n ? kwq_base64_decode(clean, n, out) : KWQ_EINVAL;
    /* The text may be a private key: wipe the copy, never quote it. */
    explicit_bzero(clean, len + 1);
    free(clean);
    if (got < 0) {
        explicit_bzero(out, len / 4 * 3 + 1);
        free(out);
        return kwq_error_set(
            err, KWQ_EINVAL, "%s is not valid base64 (%s); encode the PEM file with 'base64 -w0'",
            what,
            n == 0  ? "it is empty"
            : n % 4 ? "its length is not a multiple of 4"
                    : "a character outside A-Z a-z 0-9 + / or misplaced '=' padding");
    }
    out[got] = '\0';
    *ret = out;
    *ret_len = (size_t)got;
    return 0;
}
