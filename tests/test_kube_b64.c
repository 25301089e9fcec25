/*
 * test_kube_b64.c - the base64 fields of a kubeconfig (kube/src/b64.c):
 * exact bytes out, whitespace from wrapped lines skipped, and every kind of
 * bad input refused with a line that names the field and never the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kwq/error.h"

#include "b64.h"

static void decodes_to(const char *text, const void *want, size_t want_len)
{
    struct kwq_error err = {0};
    char *out;
    size_t len;

    cr_assert_eq(kube__b64_field("f", text, strlen(text), &out, &len, &err), 0, "%s: %s", text,
                 err.msg);
    cr_assert_eq(len, want_len, "%s", text);
    cr_assert_eq(memcmp(out, want, want_len), 0, "%s", text);
    cr_assert_eq(out[len], '\0', "a NUL follows the bytes");
    free(out);
}

static void refused(const char *text, const char *why)
{
    struct kwq_error err = {0};
    char *out = (char *)"untouched";
    size_t len = 7;
    char want[512];

    cr_assert_eq(
        kube__b64_field("client-key-data of user 'u'", text, strlen(text), &out, &len, &err),
        KWQ_EINVAL, "%s", text);
    cr_assert_null(out);
    cr_assert_eq(len, 0);
    (void)snprintf(want, sizeof(want),
                   "client-key-data of user 'u' is not valid base64 (%s); encode the PEM file "
                   "with 'base64 -w0'",
                   why);
    cr_assert_str_eq(err.msg, want);
}

Test(kube_b64, decodes_exact_bytes)
{
    decodes_to("aGVsbG8K", "hello\n", 6);
    decodes_to("AAEC//4=", "\x00\x01\x02\xff\xfe", 5);
    decodes_to("YQ==", "a", 1);
    decodes_to("YWI=", "ab", 2);
    decodes_to("YWJj", "abc", 3);
}

Test(kube_b64, line_breaks_and_spaces_are_not_data)
{
    decodes_to("aGVs\nbG8K\n", "hello\n", 6);
    decodes_to("  aGVs\r\n\tbG8K  ", "hello\n", 6);
}

#define BAD_CHAR "a character outside A-Z a-z 0-9 + / or misplaced '=' padding"

Test(kube_b64, bad_input_is_refused_by_kind)
{
    refused("", "it is empty");
    refused(" \n", "it is empty");
    refused("aGVsbG8", "its length is not a multiple of 4");
    refused("aGVsbG8*", BAD_CHAR);
    refused("aGVsbG-_", BAD_CHAR); /* the URL-safe alphabet is not what kubeconfig uses */
    refused("YQ==YQ==", BAD_CHAR); /* padding only at the very end */
    refused("Y===", BAD_CHAR);
}
