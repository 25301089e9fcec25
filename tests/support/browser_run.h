/*
 * browser_run.h - a real browser for the dashboard's tests: runs
 * tests/helpers/browser.py (headless Chromium driven through chromedriver,
 * see its --help for the steps) from a Criterion test.
 */
#ifndef KWQ_TEST_BROWSER_RUN_H
#define KWQ_TEST_BROWSER_RUN_H

#include <stddef.h>

/* browser.py's exit statuses. */
#define BROWSER_OK     0  /* every step held */
#define BROWSER_FAILED 1  /* a step did not hold: line says which and what was seen */
#define BROWSER_USAGE  2  /* bad arguments or steps */
#define BROWSER_DRIVER 3  /* chromedriver or Chromium did not start */
#define BROWSER_ABSENT 77 /* Chromium or chromedriver is not installed: skip the test */

/*
 * Open url, run steps (a JSON array as text) and save a PNG to shot (NULL:
 * none; it is saved after a failed step too). Returns browser.py's exit
 * status, or -1 when it ran past a safety limit of 10 minutes and was
 * killed; line (size linelen) gets the last line it wrote on stderr ("" when
 * none). Asserts only what it cannot do itself (fork, a temporary file).
 */
int browser_run(const char *url, const char *steps, const char *shot, char *line, size_t linelen);

/* Where tests keep their screenshots: <build>/tests/artifacts (made if missing). */
const char *browser_artifacts_dir(void);

#endif /* KWQ_TEST_BROWSER_RUN_H */
