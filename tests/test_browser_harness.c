/*
 * test_browser_harness.c - tests/helpers/browser.py itself, in the real
 * headless Chromium, on pages given as data: URLs (no server): its steps
 * pass when the page holds, a failed step says which one and what it saw,
 * bad steps are refused before any browser starts, a missing Chromium is a
 * skip (77). The dashboard's own test drives the live broker with it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "browser_run.h"

/* A button that asks confirm() and writes the answer into #x. */
#define PAGE                                                                                       \
    "<title>harness</title><p id=x>hello &lt;b&gt;</p>"                                            \
    "<button id=b onclick=\"x.textContent=confirm('Sure?')?'yes':'no'\">go</button>"

/* PAGE as a data: URL, every byte but [A-Za-z0-9] percent-encoded. */
static const char *page_url(void)
{
    static char url[2048];
    size_t n = (size_t)snprintf(url, sizeof(url), "data:text/html;charset=utf-8,");

    for (const char *p = PAGE; *p && n + 4 < sizeof(url); p++)
        n += (size_t)(isalnum((unsigned char)*p)
                          ? snprintf(url + n, sizeof(url) - n, "%c", *p)
                          : snprintf(url + n, sizeof(url) - n, "%%%02X", (unsigned char)*p));
    return url;
}

/* browser_run on PAGE, the test skipped where Chromium is not installed. */
static int run(const char *steps, const char *shot, char *line, size_t linelen)
{
    int code = browser_run(page_url(), steps, shot, line, linelen);

    if (code == BROWSER_ABSENT)
        cr_skip_test("%s", line);
    return code;
}

Test(browser, every_step_holds_and_a_screenshot_is_kept, .timeout = 300)
{
    char line[1024], shot[512];
    unsigned char sig[8] = {0};
    FILE *f;

    (void)snprintf(shot, sizeof(shot), "%s/browser_harness.png", browser_artifacts_dir());
    (void)unlink(shot);
    cr_assert(eq(int,
                 run("[{\"wait\": \"#b\"},"
                     " {\"expect-text\": \"#x\", \"equals\": \"hello <b>\"},"
                     " {\"expect-count\": \"button\", \"equals\": 1},"
                     " {\"click\": \"#b\"}, {\"accept-confirm\": \"Sure?\"},"
                     " {\"expect-text\": \"#x\", \"equals\": \"yes\"},"
                     " {\"click\": \"#b\"}, {\"dismiss-confirm\": true},"
                     " {\"expect-text\": \"#x\", \"matches\": \"^no$\"},"
                     " {\"wait-gone\": \"#nothing\"}, {\"console-clean\": true}]",
                     shot, line, sizeof(line)),
                 BROWSER_OK),
              "browser.py: %s", line);
    cr_assert(eq(str, line, (char *)""));
    f = fopen(shot, "rb");
    cr_assert(f != NULL, "no screenshot at %s", shot);
    cr_assert(eq(sz, fread(sig, 1, sizeof(sig), f), sizeof(sig)));
    (void)fclose(f);
    cr_assert(memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG", shot);
}

Test(browser, a_failed_step_says_which_and_what_it_saw, .timeout = 300)
{
    char line[1024];

    cr_assert(eq(int,
                 run("[{\"wait\": \"#x\"},"
                     " {\"expect-text\": \"#x\", \"equals\": \"bye\", \"timeout\": 1}]",
                     NULL, line, sizeof(line)),
                 BROWSER_FAILED));
    cr_assert(eq(
        str, line,
        (char *)"browser.py: step 2 (expect-text #x): text of #x is 'hello <b>', expected equal to "
                "'bye' (waited 1 s)"));
}

Test(browser, a_confirm_that_never_opens_fails, .timeout = 300)
{
    char line[1024];

    cr_assert(eq(int, run("[{\"accept-confirm\": true, \"timeout\": 1}]", NULL, line, sizeof(line)),
                 BROWSER_FAILED));
    cr_assert(eq(str, line,
                 (char *)"browser.py: step 1 (accept-confirm): no confirm() opened within 1 s"));
}

/* A page that does not load (here: a bound port nobody listens on) fails, naming the error. */
Test(browser, a_page_that_does_not_load_fails, .timeout = 300)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64], line[1024], want[256];
    int code;

    cr_assert(fd >= 0);
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&sa, &len), 0));
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    code = browser_run(url, "[{\"wait\": \"body\"}]", NULL, line, sizeof(line));
    (void)close(fd);
    if (code == BROWSER_ABSENT)
        cr_skip_test("%s", line);
    cr_assert(eq(int, code, BROWSER_FAILED));
    (void)snprintf(want, sizeof(want),
                   "browser.py: cannot open %s: unknown error: net::ERR_CONNECTION_REFUSED", url);
    cr_assert(eq(str, line, want));
}

Test(browser, bad_steps_are_refused_before_a_browser_starts)
{
    char line[1024];

    cr_assert(eq(int, run("[{\"frob\": \"#x\"}]", NULL, line, sizeof(line)), BROWSER_USAGE));
    cr_assert(
        eq(str, line,
           (char *)"browser.py: step 1 must name exactly one of: navigate, wait, wait-gone, "
                   "expect-text, expect-count, click, accept-confirm, dismiss-confirm, screenshot, "
                   "console-clean"));
    cr_assert(eq(int, run("{\"wait\": \"#x\"}", NULL, line, sizeof(line)), BROWSER_USAGE));
    cr_assert(eq(str, line, (char *)"browser.py: the steps must be a JSON array of objects"));
}

Test(browser, no_chromium_is_a_skip)
{
    char line[1024];

    cr_assert(eq(int, setenv("KWQ_CHROMIUM", "/nonexistent/chromium", 1), 0));
    cr_assert(eq(int, browser_run(page_url(), "[]", NULL, line, sizeof(line)), BROWSER_ABSENT));
    cr_assert(eq(
        str, line,
        (char *)"browser.py: skipped: Chromium or chromedriver is not installed (Debian: apt-get "
                "install chromium chromium-driver)"));
}
