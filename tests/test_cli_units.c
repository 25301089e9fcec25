/*
 * test_cli_units.c - the pure parts of the CLI: the scaling rule shared
 * with the Kubernetes backend (kwq/scale.h), the input splitter, option
 * tables, and the progress text. No Redis.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "kwq/error.h"
#include "kwq/log.h"
#include "kwq/opts.h"
#include "kwq/scale.h"

#include "input.h"
#include "progress.h"

/* ---- Scaling rule ---------------------------------------------------------------------- */

struct scale_case {
    uint32_t min, max, per;   /* rule */
    uint64_t pending, leased; /* queue */
    uint32_t want;            /* target */
};

ParameterizedTestParameters(scale, target)
{
    static struct scale_case cases[] = {
        {0, 10, 10, 0, 0, 0},                /* empty queue: min */
        {1, 10, 10, 0, 0, 1},                /* min holds */
        {0, 10, 10, 1, 0, 1},                /* one task: one worker (ceil) */
        {0, 10, 10, 10, 0, 1},               /* exactly one worker's worth */
        {0, 10, 10, 11, 0, 2},               /* one more: a second worker */
        {0, 10, 10, 5, 6, 2},                /* leased count too */
        {0, 4, 1, 10000, 0, 4},              /* capped at max */
        {3, 4, 100, 1, 0, 3},                /* raised to min */
        {0, 10000, 1, UINT64_MAX, 1, 10000}, /* overflow: max */
        {2, 2, 7, 0, 0, 2},                  /* min == max */
    };
    return cr_make_param_array(struct scale_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct scale_case *c, scale, target)
{
    struct kwq_scale_rule r = {.min = c->min, .max = c->max, .tasks_per_worker = c->per};

    cr_assert_eq(kwq_scale_rule_check(&r, NULL), 0);
    cr_assert_eq(kwq_scale_target(&r, c->pending, c->leased), c->want,
                 "min %u max %u per %u pending %llu leased %llu", c->min, c->max, c->per,
                 (unsigned long long)c->pending, (unsigned long long)c->leased);
}

Test(scale, rule_check_messages)
{
    struct kwq_error err = {0};
    struct kwq_scale_rule r = {.min = 5, .max = 2, .tasks_per_worker = 1};

    cr_assert_eq(kwq_scale_rule_check(&r, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "--min (5) must not exceed --max (2)");
    r = (struct kwq_scale_rule){.min = 0, .max = 0, .tasks_per_worker = 1};
    cr_assert_eq(kwq_scale_rule_check(&r, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "--max must be from 1 to 10000 workers, got 0");
    r = (struct kwq_scale_rule){.min = 0, .max = 1, .tasks_per_worker = 0};
    cr_assert_eq(kwq_scale_rule_check(&r, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "--tasks-per-worker must be at least 1, got 0");
}

Test(scale, rate_and_eta)
{
    double rate = -1;

    kwq_rate_update(&rate, 100, 1000, 3000); /* first sample taken as is */
    cr_assert_float_eq(rate, 100.0, 1e-9);
    kwq_rate_update(&rate, 0, 0, 3000); /* no time passed: unchanged */
    cr_assert_float_eq(rate, 100.0, 1e-9);
    kwq_rate_update(&rate, 300, 1000, 3000); /* sample 300/s weighs 1/4 */
    cr_assert_float_eq(rate, 150.0, 1e-9);
    cr_assert_eq(kwq_eta_ms(0, 0), 0);
    cr_assert_eq(kwq_eta_ms(10, 0), -1);
    cr_assert_eq(kwq_eta_ms(300, 150.0), 2000);
}

/* ---- Input ------------------------------------------------------------------------------ */

static struct input_rules rules_for(enum input_format fmt)
{
    return (struct input_rules){.format = fmt, .max_item = 16, .max_input = 1 << 20};
}

/* Parse text as format; returns the result and leaves items in set. */
static int parse(struct input_set *set, const char *text, enum input_format fmt,
                 struct kwq_error *err)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);

    cr_assert(buf != NULL);
    memcpy(buf, text, len);
    struct input_rules lim = rules_for(fmt);

    return input_parse(set, buf, len, &lim, "stdin", err);
}

static void assert_item(const struct input_set *set, size_t i, const char *want)
{
    cr_assert_lt(i, set->n);
    cr_assert_eq(set->items[i].len, strlen(want));
    cr_assert_eq(memcmp(set->items[i].payload, want, strlen(want)), 0, "item %zu", i);
}

Test(input, lines_skip_empty_keep_bytes)
{
    struct input_set set = {0};
    struct kwq_error err = {0};

    cr_assert_eq(parse(&set, "a\n\n b \r\nlast", INPUT_LINES, &err), 0);
    cr_assert_eq(set.n, 3);
    assert_item(&set, 0, "a");
    assert_item(&set, 1, " b \r");
    assert_item(&set, 2, "last");
    input_set_done(&set);
}

Test(input, nul_records)
{
    struct input_set set = {0};
    struct kwq_error err = {0};
    char *buf = malloc(16);

    memcpy(buf, "a b\0c\nd\0\0", 9);
    struct input_rules lim = rules_for(INPUT_NUL);

    cr_assert_eq(input_parse(&set, buf, 9, &lim, "stdin", &err), 0);
    cr_assert_eq(set.n, 2);
    assert_item(&set, 0, "a b");
    assert_item(&set, 1, "c\nd");
    input_set_done(&set);
}

Test(input, line_too_long_names_the_line_and_adds_nothing)
{
    struct input_set set = {0};
    struct kwq_error err = {0};

    cr_assert_eq(parse(&set, "ok\n\n0123456789abcdefX\n", INPUT_LINES, &err), KWQ_ETOOBIG);
    cr_assert_str_eq(err.msg, "line 3 of stdin is 17 bytes, over the 16-byte item limit; split "
                              "it or raise --max-item");
    cr_assert_eq(set.n, 0);
    input_set_done(&set);
}

Test(input, json_options)
{
    struct input_set set = {0};
    struct kwq_error err = {0};
    const struct input_opts *o;

    cr_assert_eq(parse(&set,
                       "{\"payload\":\"x\"}\n"
                       "  \n"
                       "{\"payload\":{\"n\":1},\"delay\":\"2s\",\"max_attempts\":5,"
                       "\"idempotency_key\":\"k1\",\"timeout_ms\":1500}\n",
                       INPUT_JSON, &err),
                 0, "%s", err.msg);
    cr_assert_eq(set.n, 2);
    assert_item(&set, 0, "x");
    cr_assert_null(input_item_opts(&set, 0));
    assert_item(&set, 1, "{\"n\":1}");
    o = input_item_opts(&set, 1);
    cr_assert_not_null(o);
    cr_assert_eq(o->delay_ms, 2000);
    cr_assert_eq(o->max_attempts, 5);
    cr_assert_eq(o->timeout_ms, 1500);
    cr_assert_str_eq(o->idem_key, "k1");
    cr_assert_eq(o->has, INPUT_HAS_DELAY | INPUT_HAS_MAX_ATTEMPTS | INPUT_HAS_TIMEOUT);
    input_set_done(&set);
}

/* Arrays, not pointers: Criterion may run a parameterized test in a new process image. */
struct bad_json {
    char text[96]; /* input */
    int code;      /* error */
    char msg[256]; /* exact message */
};

ParameterizedTestParameters(input, bad_json)
{
    static struct bad_json cases[] = {
        {"{\"payload\":\"a\"}\n{\"payload\":", KWQ_EINVAL,
         "line 2 of stdin is not valid JSON (near byte 12); give one JSON object per line"},
        {"[1]", KWQ_EINVAL,
         "line 1 of stdin is not a JSON object; give one object per line, e.g. "
         "{\"payload\":\"x\"}"},
        {"{\"delay\":\"1s\"}", KWQ_EINVAL,
         "line 1 of stdin has no \"payload\"; give e.g. {\"payload\":\"x\"}"},
        {"{\"payload\":\"a\",\"dealy\":\"1s\"}", KWQ_EINVAL,
         "line 1 of stdin: unknown field \"dealy\"; known: payload, delay, timeout, max_attempts, "
         "idempotency_key, idempotency_ttl (and *_ms forms)"},
        {"{\"payload\":\"a\",\"max_attempts\":0}", KWQ_EINVAL,
         "line 1 of stdin: \"max_attempts\" must be a whole number from 1 to 1000"},
        {"{\"payload\":\"a\",\"delay\":\"soon\"}", KWQ_EINVAL,
         "line 1 of stdin: \"delay\" must be a duration between 0ms and 365d (e.g. 250ms, 30s, "
         "5m, 2h), got 'soon'"},
        {"{\"payload\":\"0123456789abcdefX\"}", KWQ_ETOOBIG,
         "line 1 of stdin: payload is 17 bytes, over the 16-byte item limit; split it or raise "
         "--max-item"},
    };
    return cr_make_param_array(struct bad_json, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_json *c, input, bad_json)
{
    struct input_set set = {0};
    struct kwq_error err = {0};

    cr_assert_eq(parse(&set, c->text, INPUT_JSON, &err), c->code);
    cr_assert_str_eq(err.msg, c->msg);
    cr_assert_eq(set.n, 0);
    input_set_done(&set);
}

Test(input, arguments)
{
    struct input_set set = {0};
    struct kwq_error err = {0};

    struct input_rules lim = rules_for(INPUT_LINES);

    cr_assert_eq(input_add_arg(&set, "one", 1, &lim, &err), 0);
    cr_assert_eq(input_add_arg(&set, "", 2, &lim, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "argument 2 is empty; an item needs at least one byte");
    cr_assert_eq(input_add_arg(&set, "0123456789abcdefX", 3, &lim, &err), KWQ_ETOOBIG);
    cr_assert_str_eq(err.msg, "argument 3 is 17 bytes, over the 16-byte item limit; split it or "
                              "raise --max-item");
    cr_assert_eq(set.n, 1);
    input_set_done(&set);
}

/* A modifiable copy of a string literal, as argv holds. */
#define A(s) ((char[]){s})

/* ---- Options ----------------------------------------------------------------------------- */

struct tcfg {
    const char *name; /* --name */
    uint64_t n;       /* --n */
    uint64_t ms;      /* --wait */
    bool flag;        /* --flag */
};

static const struct kwq_opt topts[] = {
    {"name", 'N', "KWQ_TEST_NAME", KWQ_OPT_STR, "dflt", 0, 0, "S", "a name",
     offsetof(struct tcfg, name)},
    {"n", 0, "KWQ_TEST_N", KWQ_OPT_UINT, "3", 1, 10, "N", "a number", offsetof(struct tcfg, n)},
    {"wait", 0, NULL, KWQ_OPT_DURATION, "1s", 0, 60000, "DUR", "a time", offsetof(struct tcfg, ms)},
    {"flag", 0, "KWQ_TEST_FLAG", KWQ_OPT_BOOL, NULL, 0, 0, NULL, "a flag",
     offsetof(struct tcfg, flag)},
};

static int tparse(struct tcfg *cfg, char **argv, int argc, struct kwq_error *err, int *ind)
{
    struct kwq_opt_set set = {.opts = topts, .n = 4, .base = cfg};
    int r;

    memset(cfg, 0, sizeof(*cfg));
    r = kwq_opt_load_defaults(&set, NULL, err);
    if (r < 0)
        return r;
    *ind = kwq_opt_parse(&set, 1, argc, argv, NULL, err);
    return *ind < 0 ? *ind : 0;
}

Test(opts, defaults_env_flags)
{
    char *argv[] = {A("x"), A("--n"), A("7"), A("arg"), A("--wait=250ms"), NULL};
    struct kwq_error err = {0};
    struct tcfg cfg;
    int ind;

    cr_assert_eq(setenv("KWQ_TEST_NAME", "fromenv", 1), 0);
    cr_assert_eq(setenv("KWQ_TEST_N", "9", 1), 0);
    cr_assert_eq(setenv("KWQ_TEST_FLAG", "yes", 1), 0);
    cr_assert_eq(tparse(&cfg, argv, 5, &err, &ind), 0, "%s", err.msg);
    cr_assert_str_eq(cfg.name, "fromenv"); /* env over default */
    cr_assert_eq(cfg.n, 7);                /* flag over env */
    cr_assert_eq(cfg.ms, 250);
    cr_assert(cfg.flag);
    cr_assert_str_eq(argv[ind], "arg");
}

Test(opts, errors)
{
    char *a1[] = {A("x"), A("--nam"), A("y"), NULL}; /* abbreviations are refused */
    char *a2[] = {A("x"), A("--n"), A("11"), NULL};
    char *a3[] = {A("x"), A("--name"), NULL};
    char *a4[] = {A("x"), A("--redis-password"), A("s3cret"), NULL};
    struct kwq_error err = {0};
    struct tcfg cfg;
    int ind;

    (void)unsetenv("KWQ_TEST_N");
    cr_assert_eq(tparse(&cfg, a1, 3, &err, &ind), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "unknown option '--nam'");
    cr_assert_eq(tparse(&cfg, a2, 3, &err, &ind), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "--n must be a whole number from 1 to 10, got '11'");
    cr_assert_eq(tparse(&cfg, a3, 2, &err, &ind), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "option '--name' needs a value");
    cr_assert_eq(tparse(&cfg, a4, 3, &err, &ind), KWQ_EINVAL);
    cr_assert_null(strstr(err.msg, "s3cret"));
    cr_assert_str_eq(err.msg, "passwords are never taken on the command line (other users can "
                              "read it); set KWQ_REDIS_PASSWORD or use --redis-password-file");
    cr_assert_eq(setenv("KWQ_TEST_N", "zero", 1), 0);
    cr_assert_eq(tparse(&cfg, a3, 1, &err, &ind), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "KWQ_TEST_N must be a whole number from 1 to 10, got 'zero'");
}

/* kwq-worker's rules (kwq/opts.h is shared): options stop at the handler; no abbreviations. */
struct wcfg {
    const char *queue;          /* --queue */
    enum kwq_log_level level;   /* --log-level */
    bool help;                  /* --help */
    enum kwq_opt_source src[4]; /* sources */
};

static const struct kwq_opt wopts[] = {
    {"queue", 'q', "KWQ_TEST_WQUEUE", KWQ_OPT_STR, "dflt", 0, 0, "NAME", "q",
     offsetof(struct wcfg, queue)},
    {"log-level", 0, "KWQ_TEST_WLEVEL", KWQ_OPT_LOG_LEVEL, "info", 0, 0, "LEVEL", "l",
     offsetof(struct wcfg, level)},
    {"redis-password", 0, NULL, KWQ_OPT_SECRET, NULL, 0, 0, NULL, "not on the command line", 0},
    {"help", 'h', NULL, KWQ_OPT_EXIT, NULL, 0, 0, NULL, "h", offsetof(struct wcfg, help)},
};

static const struct kwq_opt_rules wrules = {.stop_at_arg = true};

static int wparse(struct wcfg *cfg, char **argv, int argc, struct kwq_error *err)
{
    struct kwq_opt_set set = {.opts = wopts, .n = 4, .base = cfg, .sources = cfg->src};
    int r;

    memset(cfg, 0, sizeof(*cfg));
    r = kwq_opt_load_defaults(&set, &wrules, err);
    return r < 0 ? r : kwq_opt_parse(&set, 1, argc, argv, &wrules, err);
}

Test(opts, worker_rules)
{
    char *args[] = {A("x"),    A("--queue"), A("a"),   A("--log-level"),
                    A("warn"), A("h"),       A("--q"), NULL};
    char *abbrev[] = {A("x"), A("--que"), A("a"), NULL};
    char *help[] = {A("x"), A("--help"), A("--bogus"), NULL};
    char *unknown[] = {A("x"), A("--bogus=v"), NULL};
    char *missing[] = {A("x"), A("--queue"), NULL};
    char *secret[] = {A("x"), A("--redis-password"), A("s3cret"), NULL};
    struct kwq_error err = {0};
    struct wcfg cfg;
    char buf[32];

    (void)unsetenv("KWQ_TEST_WLEVEL");
    cr_assert_eq(setenv("KWQ_TEST_WQUEUE", "", 1), 0);
    cr_assert_eq(wparse(&cfg, args, 7, &err), 5, "%s", err.msg); /* stops at the handler */
    cr_assert_str_eq(cfg.queue, "a");
    cr_assert_eq(cfg.level, KWQ_LOG_WARN);
    cr_assert_eq(cfg.src[1], KWQ_OPT_SRC_FLAG);
    kwq_opt_format(&wopts[1], &cfg, false, buf, sizeof(buf));
    cr_assert_str_eq(buf, "warn");
    cr_assert_eq(wparse(&cfg, help, 3, &err), 2); /* --help ends the options */
    cr_assert(cfg.help);
    cr_assert_eq(wparse(&cfg, help, 1, &err), 1);
    cr_assert_str_eq(cfg.queue, "dflt"); /* an empty variable is unset */
    cr_assert_eq(cfg.src[0], KWQ_OPT_SRC_DEFAULT);
    cr_assert_eq(wparse(&cfg, abbrev, 3, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "unknown option '--que'");
    cr_assert_eq(wparse(&cfg, unknown, 2, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "unknown option '--bogus'"); /* never echoes a value */
    cr_assert_eq(wparse(&cfg, missing, 2, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "option '--queue' needs a value");
    cr_assert_eq(wparse(&cfg, secret, 3, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "not on the command line");
    cr_assert_eq(setenv("KWQ_TEST_WLEVEL", "loud", 1), 0);
    cr_assert_eq(wparse(&cfg, help, 1, &err), KWQ_EINVAL);
    cr_assert_str_eq(err.msg, "KWQ_TEST_WLEVEL must be debug, info, warn or error, got 'loud'");
    (void)unsetenv("KWQ_TEST_WLEVEL");
    (void)unsetenv("KWQ_TEST_WQUEUE");
}

/* ---- Progress text ----------------------------------------------------------------------- */

Test(progress, format)
{
    struct progress_counts c = {.done = 250, .dead = 0, .total = 1000, .workers = 4};
    char buf[256];

    progress_format(buf, sizeof(buf), &c, 125.0, 6000, 10);
    cr_assert_str_eq(buf, "[##>.......] 250/1000 done  25%  125/s  ETA 6s  4 workers");
    c = (struct progress_counts){.done = 990, .dead = 10, .total = 1000, .workers = 0};
    progress_format(buf, sizeof(buf), &c, 0, -1, 0);
    cr_assert_str_eq(buf, "990/1000 done, 10 dead 100%  0/s  ETA -");
    /* Dead-lettered tasks are finished, not done: apart in the text and in the bar. */
    c = (struct progress_counts){.done = 300, .dead = 200, .total = 1000, .workers = 2};
    progress_format(buf, sizeof(buf), &c, 50, 10000, 10);
    cr_assert_str_eq(buf, "[###xx>....] 300/1000 done, 200 dead  50%  50/s  ETA 10s  2 workers");
    c = (struct progress_counts){.done = 1, .dead = 0, .total = 100000, .workers = 1};
    progress_format(buf, sizeof(buf), &c, 10, 3723000, 0);
    cr_assert_str_eq(buf, "1/100000 done   0%  10/s  ETA 1h02m  1 worker");
}

/* Long ETAs stay readable; one beyond 99 days is no estimate. */
Test(progress, eta_days_and_cap)
{
    struct progress_counts c = {.done = 1, .dead = 0, .total = 1000000, .workers = 0};
    char buf[256];

    progress_format(buf, sizeof(buf), &c, 1, (int64_t)(2 * 86400 + 5 * 3600) * 1000, 0);
    cr_assert_str_eq(buf, "1/1000000 done   0%  1/s  ETA 2d05h");
    progress_format(buf, sizeof(buf), &c, 0.0001, (int64_t)9999999 * 1000000, 0);
    cr_assert_str_eq(buf, "1/1000000 done   0%  0/s  ETA >99d");
}

/* No rate from a window of a few ms: nothing during the warm-up, then the average since the start. */
Test(progress, rate_warms_up_then_smooths)
{
    struct progress p;

    progress_init(&p, true, 5000);
    progress_sample(&p, 0, p.start_ms + 2); /* the first call sets the baseline */
    cr_assert_eq(progress_rate(&p), 0);
    progress_sample(&p, 3, p.start_ms + 5); /* 3 in 3ms would be 1000/s */
    cr_assert_eq(progress_rate(&p), 0);
    progress_sample(&p, 3, p.start_ms + PROGRESS_WARMUP_MS - 1);
    cr_assert_eq(progress_rate(&p), 0);
    progress_sample(&p, 20, p.start_ms + 2000); /* 20 in 2s */
    cr_assert_float_eq(progress_rate(&p), 10.0, 1e-9);
    progress_sample(&p, 20, p.start_ms + 2250); /* a quiet 250ms lowers it, gently */
    cr_assert_gt(progress_rate(&p), 9.0);
    cr_assert_lt(progress_rate(&p), 10.0);
}

/* Nothing processed for a long time: still no estimate, so "ETA -" and never a huge one. */
Test(progress, no_rate_before_the_first_item)
{
    struct progress p;

    progress_init(&p, true, 5000);
    progress_sample(&p, 0, p.start_ms);
    progress_sample(&p, 0, p.start_ms + 60000);
    cr_assert_eq(progress_rate(&p), 0);
    cr_assert_eq(kwq_eta_ms(1000, p.rate), -1);
    progress_sample(&p, 6, p.start_ms + 61000); /* the first ones: 6 in 61s */
    cr_assert_float_eq(progress_rate(&p), 6.0 / 61.0, 1e-9);
}
