/*
 * opts.c - table-driven option parsing for kwq (getopt_long underneath).
 * The same table row parses "--lease 30s", KWQ_LEASE=30s and prints the
 * help line, so the three never disagree.
 */
#include "opts.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/util.h"

#define OPTS_MAX 64

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

/* Store s into the field of o; what names the source in errors ("--lease", "KWQ_LEASE"). */
static int store(const struct opt *o, void *base, const char *s, const char *what,
                 struct kwq_error *err)
{
    char *field = (char *)base + o->offset;

    switch (o->type) {
    case OPT_BOOL:
        if (parse_bool(s, (bool *)field) < 0)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be 1/true/yes or 0/false/no, got '%s'",
                                 what, s);
        return 0;
    case OPT_STR:
        *(const char **)field = s;
        return 0;
    case OPT_UINT:
        return kwq_parse_uint(s, o->min, o->max, what, (uint64_t *)field, err);
    case OPT_DURATION:
        return kwq_parse_duration_ms(s, o->min, o->max, what, (uint64_t *)field, err);
    case OPT_SIZE:
        return kwq_parse_size(s, o->min, o->max, what, (uint64_t *)field, err);
    }
    return kwq_error_set(err, KWQ_EINVAL, "%s: unknown option type", what);
}

int opts_load_defaults(const struct opt_set *set, struct kwq_error *err)
{
    char what[80];

    for (size_t i = 0; i < set->n; i++) {
        const struct opt *o = &set->opts[i];
        const char *env = o->env ? getenv(o->env) : NULL;
        int r;

        if (o->def) {
            (void)snprintf(what, sizeof(what), "--%s", o->name);
            r = store(o, set->base, o->def, what, err);
            if (r < 0)
                return r;
            if (set->sources)
                set->sources[i] = OPT_SRC_DEFAULT;
        }
        if (env && (*env || o->type == OPT_BOOL)) {
            r = store(o, set->base, env, o->env, err);
            if (r < 0)
                return r;
            if (set->sources)
                set->sources[i] = OPT_SRC_ENV;
        }
    }
    return 0;
}

/* ---- Parsing argv ----------------------------------------------------------- */

struct opts_index {
    struct option longopts[OPTS_MAX + 1]; /* getopt_long table, NULL-terminated */
    const struct opt *rows[OPTS_MAX];     /* row for each longopts entry */
    void *bases[OPTS_MAX];                /* struct for each row */
    enum opt_source *srcs[OPTS_MAX];      /* source slot for each row, or NULL */
    char shortopts[2 * OPTS_MAX + 4];     /* "+:" prefix, then letters */
    size_t n;                             /* entries used */
};

static void index_build(struct opts_index *ix, const struct opt_set *sets, size_t nsets,
                        bool stop_at_arg)
{
    size_t s = 0;

    memset(ix, 0, sizeof(*ix));
    if (stop_at_arg)
        ix->shortopts[s++] = '+';
    ix->shortopts[s++] = ':';
    for (size_t k = 0; k < nsets; k++) {
        for (size_t i = 0; i < sets[k].n && ix->n < OPTS_MAX; i++) {
            const struct opt *o = &sets[k].opts[i];
            struct option *lo = &ix->longopts[ix->n];

            lo->name = o->name;
            lo->has_arg = o->type == OPT_BOOL ? no_argument : required_argument;
            lo->flag = NULL;
            lo->val = o->short_name ? o->short_name : 256 + (int)ix->n;
            ix->rows[ix->n] = o;
            ix->bases[ix->n] = sets[k].base;
            ix->srcs[ix->n] = sets[k].sources ? &sets[k].sources[i] : NULL;
            if (o->short_name) {
                ix->shortopts[s++] = (char)o->short_name;
                if (o->type != OPT_BOOL)
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

static int bad_option(char **argv, int at, int c, struct kwq_error *err)
{
    const char *arg = at > 0 ? argv[at - 1] : "";

    if (strncmp(arg, "--redis-password", 16) == 0 && strncmp(arg, "--redis-password-file", 21) != 0)
        return kwq_error_set(err, KWQ_EINVAL,
                             "passwords are never taken on the command line (other users can "
                             "read it); set KWQ_REDIS_PASSWORD or use --redis-password-file");
    if (strncmp(arg, "--", 2) == 0) {
        size_t len = strcspn(arg, "=");
        return kwq_error_set(err, KWQ_EINVAL, "unknown option '%.*s'", (int)len, arg);
    }
    return kwq_error_set(err, KWQ_EINVAL, "unknown option '-%c'", c > 0 ? c : '?');
}

/* The row whose long name is exactly the n bytes at name, or NULL. */
static const struct opt *index_exact(const struct opts_index *ix, const char *name, size_t n)
{
    for (size_t i = 0; i < ix->n; i++) {
        if (strlen(ix->rows[i]->name) == n && memcmp(ix->rows[i]->name, name, n) == 0)
            return ix->rows[i];
    }
    return NULL;
}

/*
 * getopt_long accepts any unambiguous prefix of a long option. kwq does not:
 * "--redis-password" must not quietly mean "--redis-password-file", and a
 * script must not break when a new option makes its abbreviation ambiguous.
 */
static int check_exact(const struct opts_index *ix, int argc, char **argv, bool stop_at_arg,
                       struct kwq_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct opt *o;
        size_t n;

        if (strcmp(a, "--") == 0 || (stop_at_arg && a[0] != '-'))
            return 0;
        if (strncmp(a, "--", 2) != 0)
            continue;
        n = strcspn(a + 2, "=");
        o = index_exact(ix, a + 2, n);
        if (!o)
            return bad_option(argv, i + 1, 0, err);
        if (o->type != OPT_BOOL && a[2 + n] == '\0')
            i++; /* its value */
    }
    return 0;
}

int opts_parse(const struct opt_set *sets, size_t nsets, int argc, char **argv, bool stop_at_arg,
               struct kwq_error *err)
{
    struct opts_index ix;
    char what[80];

    index_build(&ix, sets, nsets, stop_at_arg);
    if (check_exact(&ix, argc, argv, stop_at_arg, err) < 0)
        return KWQ_EINVAL;
    optind = 0; /* glibc: full re-initialisation, argv may differ from the last call */
    opterr = 0;
    for (;;) {
        int longindex = -1;
        int c = getopt_long(argc, argv, ix.shortopts, ix.longopts, &longindex);
        size_t i;

        if (c == -1)
            break;
        if (c == '?')
            return bad_option(argv, optind, optopt, err);
        if (c == ':') {
            const char *arg = argv[optind - 1];
            return kwq_error_set(err, KWQ_EINVAL, "option '%.*s' needs a value",
                                 (int)strcspn(arg, "="), arg);
        }
        i = index_find(&ix, c, longindex);
        if (i >= ix.n)
            return kwq_error_set(err, KWQ_EINVAL, "unknown option");
        (void)snprintf(what, sizeof(what), "--%s", ix.rows[i]->name);
        if (store(ix.rows[i], ix.bases[i], ix.rows[i]->type == OPT_BOOL ? "1" : optarg, what, err) <
            0)
            return KWQ_EINVAL;
        if (ix.srcs[i])
            *ix.srcs[i] = OPT_SRC_FLAG;
    }
    return optind;
}

/* ---- --print-config ---------------------------------------------------------------- */

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

void opts_print_config(FILE *f, const struct opt_set *set)
{
    static const char *const src[] = {"unset", "default", "env", "flag"};

    for (size_t i = 0; i < set->n; i++) {
        const struct opt *o = &set->opts[i];
        const char *field = (const char *)set->base + o->offset;
        enum opt_source from = set->sources ? set->sources[i] : OPT_SRC_UNSET;
        char val[512];
        uint64_t v = 0;

        if (o->type != OPT_BOOL && o->type != OPT_STR)
            memcpy(&v, field, sizeof(v));
        switch (o->type) {
        case OPT_BOOL:
            (void)snprintf(val, sizeof(val), "%s", *(const bool *)field ? "true" : "false");
            break;
        case OPT_STR:
            redacted(*(const char *const *)field ? *(const char *const *)field : "", val,
                     sizeof(val));
            break;
        case OPT_DURATION:
            kwq_format_duration(v, val, sizeof(val));
            break;
        case OPT_UINT:
        case OPT_SIZE:
            (void)snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
            break;
        }
        if (strcmp(o->name, "help") == 0 || strcmp(o->name, "version") == 0 ||
            strcmp(o->name, "print-config") == 0)
            continue;
        (void)fprintf(f, "%-22s = %-30s (%s%s%s)\n", o->name, val, src[from],
                      from == OPT_SRC_ENV ? " " : "", from == OPT_SRC_ENV ? o->env : "");
    }
}

/* ---- Help ------------------------------------------------------------------------ */

void opts_print_help(FILE *f, const struct opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct opt *o = &opts[i];
        char flag[64];
        int len;

        if (o->short_name)
            len = snprintf(flag, sizeof(flag), "-%c, --%s", o->short_name, o->name);
        else
            len = snprintf(flag, sizeof(flag), "    --%s", o->name);
        if (o->metavar && len > 0 && (size_t)len < sizeof(flag))
            (void)snprintf(flag + len, sizeof(flag) - (size_t)len, " %s", o->metavar);
        (void)fprintf(f, "  %-30s %s", flag, o->help);
        if (o->def && o->type != OPT_BOOL)
            (void)fprintf(f, " [default: %s]", o->def);
        if (o->env)
            (void)fprintf(f, " [env: %s]", o->env);
        (void)fputc('\n', f);
    }
}
