/*
 * test_kube_token.c - the bearer token cache of the Kubernetes client
 * (kube/src/token.c, through kube/src/http_int.h): a token file is read
 * again once its token is KUBE_TOKEN_MAX_AGE_MS old (the age is set back
 * here rather than waited for) and whenever asked to (after a 401); a file
 * missing for a moment keeps the token read before, unless asked to; what
 * is not one line of visible text is refused; no message holds the token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "kwq/error.h"

#include "http_int.h"

static char dir[] = "/tmp/kwq-token-XXXXXX";
static char path[64];

static void setup(void)
{
    cr_assert(mkdtemp(dir) != NULL);
    (void)snprintf(path, sizeof(path), "%s/token", dir);
}

static void teardown(void)
{
    (void)unlink(path);
    (void)rmdir(dir);
}

TestSuite(kube_token, .init = setup, .fini = teardown);

static void put(const char *text)
{
    FILE *fp = fopen(path, "w");

    cr_assert(fp != NULL && fputs(text, fp) >= 0 && fclose(fp) == 0);
}

static const char *get(struct kube_token *t, bool force, int want)
{
    struct kwq_error err = {0};
    const char *v = NULL;

    cr_assert(eq(int, kube__token_get(t, force, &v, &err), want), "%s", err.msg);
    return v;
}

Test(kube_token, a_file_is_read_again_once_a_minute_old)
{
    struct kube_token t;
    struct kwq_error err = {0};

    put("first\n");
    cr_assert(eq(int, kube__token_init(&t, NULL, path, &err), 0), "%s", err.msg);
    cr_assert_str_eq(get(&t, false, 0), "first");
    put("second\n");
    cr_assert_str_eq(get(&t, false, 0), "first");
    t.read_ms -= KUBE_TOKEN_MAX_AGE_MS;
    cr_assert_str_eq(get(&t, false, 0), "second");
    put("third\r\n");
    cr_assert_str_eq(get(&t, true, 0), "third");
    kube__token_done(&t);
}

Test(kube_token, a_file_gone_for_a_moment_keeps_the_token_unless_forced)
{
    struct kube_token t;
    struct kwq_error err = {0};

    put("first\n");
    cr_assert(eq(int, kube__token_init(&t, NULL, path, &err), 0), "%s", err.msg);
    (void)unlink(path);
    t.read_ms -= KUBE_TOKEN_MAX_AGE_MS;
    cr_assert_str_eq(get(&t, false, 0), "first");
    cr_assert(eq(int, kube__token_get(&t, true, &(const char *){NULL}, &err), KWQ_EINVAL));
    cr_assert(strstr(err.msg, "cannot read the token file ") == err.msg, "%s", err.msg);
    kube__token_done(&t);
}

Test(kube_token, a_file_wins_over_an_inline_token)
{
    struct kube_token t;
    struct kwq_error err = {0};

    put("from-file\n");
    cr_assert(eq(int, kube__token_init(&t, "inline", path, &err), 0), "%s", err.msg);
    cr_assert_str_eq(get(&t, false, 0), "from-file");
    cr_assert(kube__token_can_reread(&t));
    kube__token_done(&t);
    cr_assert(eq(int, kube__token_init(&t, "inline", NULL, &err), 0), "%s", err.msg);
    cr_assert_str_eq(get(&t, true, 0), "inline");
    cr_assert(not(kube__token_can_reread(&t)));
    kube__token_done(&t);
    cr_assert(eq(int, kube__token_init(&t, NULL, NULL, &err), 0), "%s", err.msg);
    cr_assert(get(&t, false, 0) == NULL);
    kube__token_done(&t);
}

Test(kube_token, what_is_not_one_line_of_text_is_refused_without_showing_it)
{
    static const char *const bad[] = {"", "\n\n", "two\nlines-secret\n", "tab\tsecret\n",
                                      "nul\x01secret"};
    char want[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kube_token t;
        struct kwq_error err = {0};

        put(bad[i]);
        cr_assert(eq(int, kube__token_init(&t, NULL, path, &err), KWQ_EINVAL), "case %zu", i);
        cr_assert(strstr(err.msg, "secret") == NULL, "%s", err.msg);
        (void)snprintf(want, sizeof(want), "the token file %s ", path);
        cr_assert(strstr(err.msg, want) == err.msg, "%s", err.msg);
        kube__token_done(&t);
    }
}
