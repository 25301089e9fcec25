/*
 * opts.c - table-driven option parsing for the kwq programs (getopt_long
 * underneath). The same table row parses "--lease 30s", KWQ_LEASE=30s and
 * prints the help line, so the three never disagree.
 */
#include "kwq/opts.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/log.h"
#include "kwq/util.h"

#define OPTS_MAX 64

static const struct kwq_opt_rules default_rules; /* the CLI's: all false */

/* ---- Storing one value ---------------------------------------------------- */

static int parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (strcmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return KWQ_EINVAL;
}

static int store_bool(const char *s, bool *field, const char *what, struct kwq_error *err)
{
    if (parse_bool(s, field) == 0)
        return 0;
    return kwq_error_set(err, KWQ_EINVAL, "%s must be %s, got '%s'", what,
                         "1/true/yes or 0/false/no", s);
}

/* Store s into the field of o; what names the source in errors ("--lease", "KWQ_LEASE"). */
static int store(const struct kwq_opt *o, void *base, const char *s, const char *what,
                 struct kwq_error *err)
{
    char *field = (char *)base + o->offset;

    switch (o->type) {
    case KWQ_OPT_BOOL:
    case KWQ_OPT_EXIT:
        return store_bool(s, (bool *)field, what, err);
    case KWQ_OPT_STR:
        *(const char **)field = s;
        return 0;
    case KWQ_OPT_UINT:
        return kwq_parse_uint(s, o->min, o->max, what, (uint64_t *)field, err);
    case KWQ_OPT_DURATION:
        return kwq_parse_duration_ms(s, o->min, o->max, what, (uint64_t *)field, err);
    case KWQ_OPT_SIZE:
        return kwq_parse_size(s, o->min, o->max, what, (uint64_t *)field, err);
    case KWQ_OPT_LOG_FORMAT:
        if (kwq_log_format_from_string(s, (enum kwq_log_format *)field) < 0)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be json, text or auto, got '%s'", what,
                                 s);
        return 0;
    case KWQ_OPT_LOG_LEVEL:
        if (kwq_log_level_from_string(s, (enum kwq_log_level *)field) < 0)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be debug, info, warn or error, got '%s'",
                                 what, s);
        return 0;
    case KWQ_OPT_SECRET:
        return kwq_error_set(err, KWQ_EINVAL, "%s", o->help);
    }
    return kwq_error_set(err, KWQ_EINVAL, "%s: unknown option type", what);
}

int kwq_opt_load_defaults(const struct kwq_opt_set *set, const struct kwq_opt_rules *rules,
                          struct kwq_error *err)
{
    char what[80];

    if (!rules)
        rules = &default_rules;
    for (size_t i = 0; i < set->n; i++) {
        const struct kwq_opt *o = &set->opts[i];
        const char *env = o->env ? getenv(o->env) : NULL;
        int r;

        if (o->def) {
            (void)snprintf(what, sizeof(what), "--%s", o->name);
            r = store(o, set->base, o->def, what, err);
            if (r < 0)
                return r;
            if (set->sources)
                set->sources[i] = KWQ_OPT_SRC_DEFAULT;
        }
        if (env && (*env || o->type == KWQ_OPT_BOOL)) {
            r = store(o, set->base, env, o->env, err);
            if (r < 0)
                return r;
            if (set->sources)
                set->sources[i] = KWQ_OPT_SRC_ENV;
        }
    }
    return 0;
}

/* ---- Parsing argv ----------------------------------------------------------- */

struct opts_index {
    struct option longopts[OPTS_MAX + 1]; /* getopt_long table, NULL-terminated */
    const struct kwq_opt *rows[OPTS_MAX]; /* row for each longopts entry */
    void *bases[OPTS_MAX];                /* struct for each row */
    enum kwq_opt_source *srcs[OPTS_MAX];  /* source slot for each row, or NULL */
    char shortopts[2 * OPTS_MAX + 4];     /* "+:" prefix, then letters */
    size_t n;                             /* entries used */
};

static bool takes_value(const struct kwq_opt *o)
{
    return o->type != KWQ_OPT_BOOL && o->type != KWQ_OPT_EXIT;
}

static void index_build(struct opts_index *ix, const struct kwq_opt_set *sets, size_t nsets,
                        bool stop_at_arg)
{
    size_t s = 0;

    memset(ix, 0, sizeof(*ix));
    if (stop_at_arg)
        ix->shortopts[s++] = '+';
    ix->shortopts[s++] = ':';
    for (size_t k = 0; k < nsets; k++) {
        for (size_t i = 0; i < sets[k].n && ix->n < OPTS_MAX; i++) {
            const struct kwq_opt *o = &sets[k].opts[i];
            struct option *lo = &ix->longopts[ix->n];

            lo->name = o->name;
            lo->has_arg = takes_value(o) ? required_argument : no_argument;
            lo->flag = NULL;
            lo->val = o->short_name ? o->short_name : 256 + (int)ix->n;
            ix->rows[ix->n] = o;
            ix->bases[ix->n] = sets[k].base;
            ix->srcs[ix->n] = sets[k].sources ? &sets[k].sources[i] : NULL;
            if (o->short_name) {
                ix->shortopts[s++] = (char)o->short_name;
                if (takes_value(o))
                    ix->shortopts[s++] = ':';
            }
            ix->n++;
        }
    }
}

/* Find the row getopt_long returned: by long index, else by short letter. */
static size_t index_find(const struct opts_index *ix, int c, int longindex)
{
    if (longindex >= 0)
        return (size_t)longindex;
    for (size_t i = 0; i < ix->n; i++) {
        if (ix->rows[i]->short_name == c)
            return i;
    }
    return ix->n;
}

/* The row whose long name is exactly the n bytes at name, or NULL. */
static const struct kwq_opt *index_exact(const struct opts_index *ix, const char *name, size_t n)
{
    for (size_t i = 0; i < ix->n; i++) {
        if (strlen(ix->rows[i]->name) == n && memcmp(ix->rows[i]->name, name, n) == 0)
            return ix->rows[i];
    }
    return NULL;
}

/*
 * The error for an unknown option. Every kwq program refuses a password on
 * the command line, with the row-less rules too: "--redis-password" and its
 * misspellings get the refusal, never an echo of the value.
 */
static int bad_option(char **argv, int at, int c, struct kwq_error *err)
{
    const char *arg = at > 0 ? argv[at - 1] : "";

    if (strncmp(arg, "--redis-password", 16) == 0 && strncmp(arg, "--redis-password-file", 21) != 0)
        return kwq_error_set(err, KWQ_EINVAL,
                             "passwords are never taken on the command line (other users can "
                             "read it); set KWQ_REDIS_PASSWORD or use --redis-password-file");
    if (strncmp(arg, "--", 2) != 0)
        return kwq_error_set(err, KWQ_EINVAL, "unknown option '-%c'", c > 0 ? c : '?');
    return kwq_error_set(err, KWQ_EINVAL, "unknown option '%.*s'", (int)strcspn(arg, "="), arg);
}

static int needs_value(const char *arg, struct kwq_error *err)
{
    return kwq_error_set(err, KWQ_EINVAL, "option '%.*s' needs a value", (int)strcspn(arg, "="),
                         arg);
}

/*
 * getopt_long accepts any unambiguous prefix of a long option. kwq does
 * not: "--redis-password" must not quietly mean "--redis-password-file",
 * and a script must not break when a new option makes its abbreviation
 * ambiguous.
 */
static int check_exact(const struct opts_index *ix, int argc, char **argv,
                       const struct kwq_opt_rules *rules, struct kwq_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct kwq_opt *o;
        size_t n;

        if (strcmp(a, "--") == 0 || (rules->stop_at_arg && a[0] != '-'))
            return 0;
        if (strncmp(a, "--", 2) != 0)
            continue;
        n = strcspn(a + 2, "=");
        o = index_exact(ix, a + 2, n);
        if (!o)
            return bad_option(argv, i + 1, 0, err);
        if (o->type == KWQ_OPT_SECRET)
            return kwq_error_set(err, KWQ_EINVAL, "%s", o->help);
        if (o->type == KWQ_OPT_EXIT)
            return 0; /* parsing ends there */
        if (takes_value(o) && a[2 + n] == '\0')
            i++; /* its value */
    }
    return 0;
}

int kwq_opt_parse(const struct kwq_opt_set *sets, size_t nsets, int argc, char **argv,
                  const struct kwq_opt_rules *rules, struct kwq_error *err)
{
    struct opts_index ix;
    char what[80];

    if (!rules)
        rules = &default_rules;
    index_build(&ix, sets, nsets, rules->stop_at_arg);
    if (check_exact(&ix, argc, argv, rules, err) < 0)
        return KWQ_EINVAL;
    optind = 0; /* glibc: full re-initialisation, argv may differ from the last call */
    opterr = 0;
    for (;;) {
        int longindex = -1;
        int c = getopt_long(argc, argv, ix.shortopts, ix.longopts, &longindex);
        const struct kwq_opt *o;
        size_t i;

        if (c == -1)
            break;
        if (c == '?')
            return bad_option(argv, optind, optopt, err);
        if (c == ':')
            return needs_value(argv[optind - 1], err);
        i = index_find(&ix, c, longindex);
        if (i >= ix.n)
            return kwq_error_set(err, KWQ_EINVAL, "unknown option");
        o = ix.rows[i];
        (void)snprintf(what, sizeof(what), "--%s", o->name);
        if (store(o, ix.bases[i], takes_value(o) ? optarg : "1", what, err) < 0)
            return KWQ_EINVAL;
        if (ix.srcs[i])
            *ix.srcs[i] = KWQ_OPT_SRC_FLAG;
        if (o->type == KWQ_OPT_EXIT)
            break;
    }
    return optind;
}

/* ---- Printing values ------------------------------------------------------------ */

/* s with the password of a "scheme://user:password@host" URL replaced by "***". */
static void redacted(const char *s, char *buf, size_t len)
{
    const char *scheme = strstr(s, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;

    if (!colon) {
        (void)snprintf(buf, len, "%s", s);
        return;
    }
    (void)snprintf(buf, len, "%.*s***%s", (int)(colon + 1 - s), s, at);
}

void kwq_opt_format(const struct kwq_opt *o, const void *base, bool redact, char *buf, size_t len)
{
    static const char *const formats[] = {"auto", "json", "text"};
    static const char *const levels[] = {"debug", "info", "warn", "error", "off"};
    const char *field = (const char *)base + o->offset;
    const char *s;
    uint64_t v = 0;

    switch (o->type) {
    case KWQ_OPT_BOOL:
    case KWQ_OPT_EXIT:
        (void)snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
        return;
    case KWQ_OPT_STR:
        s = *(const char *const *)field ? *(const char *const *)field : "";
        if (redact)
            redacted(s, buf, len);
        else
            (void)snprintf(buf, len, "%s", s);
        return;
    case KWQ_OPT_DURATION:
        memcpy(&v, field, sizeof(v));
        kwq_format_duration(v, buf, len);
        return;
    case KWQ_OPT_UINT:
    case KWQ_OPT_SIZE:
        memcpy(&v, field, sizeof(v));
        (void)snprintf(buf, len, "%llu", (unsigned long long)v);
        return;
    case KWQ_OPT_LOG_FORMAT:
        (void)snprintf(buf, len, "%s", formats[*(const enum kwq_log_format *)field]);
        return;
    case KWQ_OPT_LOG_LEVEL:
        (void)snprintf(buf, len, "%s", levels[*(const enum kwq_log_level *)field]);
        return;
    case KWQ_OPT_SECRET:
        break;
    }
    if (len > 0)
        buf[0] = '\0';
}

void kwq_opt_print_config(FILE *f, const struct kwq_opt_set *set)
{
    static const char *const src[] = {"unset", "default", "env", "flag"};

    for (size_t i = 0; i < set->n; i++) {
        const struct kwq_opt *o = &set->opts[i];
        enum kwq_opt_source from = set->sources ? set->sources[i] : KWQ_OPT_SRC_UNSET;
        char val[512];

        if (o->type == KWQ_OPT_SECRET || o->type == KWQ_OPT_EXIT || strcmp(o->name, "help") == 0 ||
            strcmp(o->name, "version") == 0 || strcmp(o->name, "print-config") == 0)
            continue;
        kwq_opt_format(o, set->base, true, val, sizeof(val));
        (void)fprintf(f, "%-22s = %-30s (%s%s%s)\n", o->name, val, src[from],
                      from == KWQ_OPT_SRC_ENV ? " " : "", from == KWQ_OPT_SRC_ENV ? o->env : "");
    }
}

/* ---- Unknown KWQ_* variables ------------------------------------------------------- */

extern char **environ;

/*
 * Every KWQ_* variable a kwq program reads, whichever program: kwq run passes
 * its environment to the workers it starts, and a pod or shell often sets the
 * variables of both, so neither program warns about the other's. The first
 * group is read outside the option tables.
 */
static const char *const known_env[] = {
    "KWQ_REDIS_PASSWORD",
    "KWQ_REDIS_PASSWORD_FILE",
    "KWQ_TASK_ID",
    "KWQ_ATTEMPT",
    "KWQ_MAX_ATTEMPTS",
    "KWQ_WORKER_BIN",
    "KWQ_REDIS_SERVER",
    "KWQ_STATE_DIR",
    "KWQ_KUBE_SA_DIR",
    /* kwq-worker's options */
    "KWQ_REDIS_URL",
    "KWQ_QUEUE",
    "KWQ_CONCURRENCY",
    "KWQ_LEASE",
    "KWQ_TIMEOUT",
    "KWQ_GRACE",
    "KWQ_KILL_GRACE",
    "KWQ_MAX_TASKS",
    "KWQ_IDLE_EXIT",
    "KWQ_REDIS_RETRY",
    "KWQ_MAX_RESULT",
    "KWQ_RESULT_TTL",
    "KWQ_NO_RESULT",
    "KWQ_STREAM",
    "KWQ_READY_FILE",
    "KWQ_LOG_FORMAT",
    "KWQ_LOG_LEVEL",
    /* kwq's options */
    "KWQ_QUIET",
    "KWQ_WAIT_TIMEOUT",
    "KWQ_MAX_WORKERS",
    "KWQ_MIN_WORKERS",
    "KWQ_TASKS_PER_WORKER",
    "KWQ_KUBE_API",
    "KWQ_NAMESPACE",
    "KWQ_KUBE_RETRY",
    "KWQ_JOB",
    "KWQ_IMAGE",
    "KWQ_REDIS_SECRET",
    "KWQ_SCALE_HOLD",
    /* kwq-broker's options */
    "KWQ_BROKER_READ_REDIS",
    "KWQ_BROKER_QUEUES",
    "KWQ_BROKER_LISTEN",
    "KWQ_BROKER_REAP_INTERVAL",
    "KWQ_BROKER_REAP_BATCH",
    "KWQ_BROKER_REGISTRY_INTERVAL",
    "KWQ_BROKER_SAMPLE_INTERVAL",
    "KWQ_BROKER_LEADER",
    "KWQ_BROKER_LEADER_NAME",
    "KWQ_BROKER_LEADER_LEASE",
    "KWQ_BROKER_IDENTITY",
    "KWQ_BROKER_NO_DASHBOARD",
    "KWQ_BROKER_DASHBOARD_WRITE",
    "KWQ_BROKER_AUTH_TOKEN_FILE",
    "KWQ_BROKER_BASIC_AUTH_FILE",
    "KWQ_BROKER_KUBE",
};

#define KNOWN_N      (sizeof(known_env) / sizeof(known_env[0]))
#define NAME_MAX_LEN 64

/* The project's own build, test and benchmark scripts (dev.sh, bench/) read these. */
static const char *const known_prefixes[] = {"KWQ_BUILD_", "KWQ_TEST_", "KWQ_BENCH_"};

bool kwq_opt_env_known(const struct kwq_opt_set *sets, size_t nsets, const char *name)
{
    for (size_t i = 0; i < sizeof(known_prefixes) / sizeof(known_prefixes[0]); i++) {
        if (strncmp(known_prefixes[i], name, strlen(known_prefixes[i])) == 0)
            return true;
    }
    for (size_t i = 0; i < KNOWN_N; i++) {
        if (strcmp(known_env[i], name) == 0)
            return true;
    }
    for (size_t k = 0; k < nsets; k++) {
        for (size_t i = 0; i < sets[k].n; i++) {
            if (sets[k].opts[i].env && strcmp(sets[k].opts[i].env, name) == 0)
                return true;
        }
    }
    return false;
}

/* Edit distance (insertions, deletions, substitutions) of two short names. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[NAME_MAX_LEN + 1];

    if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known name nearest to name, when it is a plausible typo of it (3 edits at most). */
static const char *closest_known(const struct kwq_opt_set *sets, size_t nsets, const char *name)
{
    const char *best = NULL;
    size_t best_d = 4;

    for (size_t i = 0; i < KNOWN_N; i++) {
        size_t d = distance(name, known_env[i]);

        if (d < best_d) {
            best = known_env[i];
            best_d = d;
        }
    }
    for (size_t k = 0; k < nsets; k++) {
        for (size_t i = 0; i < sets[k].n; i++) {
            const char *env = sets[k].opts[i].env;
            size_t d = env ? distance(name, env) : SIZE_MAX;

            if (d < best_d) {
                best = env;
                best_d = d;
            }
        }
    }
    return best;
}

size_t kwq_opt_env_check(const struct kwq_opt_set *sets, size_t nsets,
                         void (*unknown)(const char *name, const char *closest, void *arg),
                         void *arg)
{
    size_t found = 0;

    for (char **e = environ; e && *e; e++) {
        char name[256]; /* a longer name is cut: it is unknown all the same */
        size_t len = strcspn(*e, "=");

        if (strncmp(*e, "KWQ_", 4) != 0)
            continue;
        (void)snprintf(name, sizeof(name), "%.*s", (int)len, *e);
        if (kwq_opt_env_known(sets, nsets, name))
            continue;
        unknown(name, closest_known(sets, nsets, name), arg);
        found++;
    }
    return found;
}

/* ---- Help ------------------------------------------------------------------------ */

void kwq_opt_print_help(FILE *f, const struct kwq_opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct kwq_opt *o = &opts[i];
        char flag[64];
        int len;

        if (o->type == KWQ_OPT_SECRET)
            continue;
        if (o->short_name)
            len = snprintf(flag, sizeof(flag), "-%c, --%s", o->short_name, o->name);
        else
            len = snprintf(flag, sizeof(flag), "    --%s", o->name);
        if (o->metavar && len > 0 && (size_t)len < sizeof(flag))
            (void)snprintf(flag + len, sizeof(flag) - (size_t)len, " %s", o->metavar);
        (void)fprintf(f, "  %-30s %s", flag, o->help);
        if (o->def && takes_value(o))
            (void)fprintf(f, " [default: %s]", o->def);
        if (o->env)
            (void)fprintf(f, " [env: %s]", o->env);
        (void)fputc('\n', f);
    }
}
