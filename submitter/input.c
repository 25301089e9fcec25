/*
 * input.c - split input into items (lines, NUL records, NDJSON objects) and
 * check each against its limits before anything is enqueued, so that bad
 * input is refused whole: one message naming the record, nothing added.
 */
#include "input.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kwq/error.h"
#include "kwq/util.h"

#define ARENA_BLOCK   ((size_t)256 * 1024)
#define IDEM_KEY_MAX  512u
#define MS_PER_DAY    86400000ULL
#define JSON_LINE_PAD 4096u

struct input_arena {
    struct input_arena *next; /* older block */
    size_t used;              /* bytes used in data */
    size_t cap;               /* bytes in data */
    char data[];              /* strings, each NUL-terminated */
};

/* ---- Memory ------------------------------------------------------------------------ */

static char *arena_copy(struct input_set *set, const char *s, size_t n)
{
    struct input_arena *a = set->arena;
    char *p;

    if (!a || a->cap - a->used < n + 1) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        a = malloc(sizeof(*a) + cap);
        if (!a)
            return NULL;
        a->next = set->arena;
        a->used = 0;
        a->cap = cap;
        set->arena = a;
    }
    p = a->data + a->used;
    memcpy(p, s, n);
    p[n] = '\0';
    a->used += n + 1;
    return p;
}

static int push_item(struct input_set *set, const char *p, size_t n, uint32_t opts)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 1024;
        struct input_item *items = realloc(set->items, cap * sizeof(*items));
        if (!items)
            return KWQ_ENOMEM;
        set->items = items;
        set->cap = cap;
    }
    set->items[set->n++] = (struct input_item){.payload = p, .len = (uint32_t)n, .opts = opts};
    return 0;
}

static int push_opts(struct input_set *set, const struct input_opts *o, uint32_t *ret_index)
{
    if (set->nopts == set->capopts) {
        size_t cap = set->capopts ? set->capopts * 2 : 64;
        struct input_opts *opts = realloc(set->opts, cap * sizeof(*opts));
        if (!opts)
            return KWQ_ENOMEM;
        set->opts = opts;
        set->capopts = cap;
    }
    set->opts[set->nopts++] = *o;
    *ret_index = (uint32_t)set->nopts;
    return 0;
}

static const char *fmt_size(uint64_t n, char *buf, size_t len)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        (void)snprintf(buf, len, "%lluMiB", (unsigned long long)(n >> 20));
    else if (n >= 1024 && n % 1024 == 0)
        (void)snprintf(buf, len, "%lluKiB", (unsigned long long)(n >> 10));
    else
        (void)snprintf(buf, len, "%llu-byte", (unsigned long long)n);
    return buf;
}

static int too_big(const char *where, const char *what, size_t n, size_t max, struct kwq_error *err)
{
    char lim[32];

    return kwq_error_set(err, KWQ_ETOOBIG,
                         "%s%s is %zu bytes, over the %s item limit; split it or raise --max-item",
                         where, what, n, fmt_size(max, lim, sizeof(lim)));
}

/* ---- NDJSON ------------------------------------------------------------------------ */

enum field_kind {
    FIELD_DURATION, /* string with a unit: "30s" */
    FIELD_MS,       /* integer ms */
    FIELD_UINT,     /* integer */
    FIELD_KEY,      /* string: the idempotency key */
};

static const struct field {
    const char *name;     /* JSON member name */
    enum field_kind kind; /* accepted JSON type and meaning */
    unsigned bit;         /* INPUT_HAS_* set when present (0: key) */
    uint64_t min;         /* accepted range (ms or count) */
    uint64_t max;         /* accepted range (ms or count) */
} fields[] = {
    {"delay", FIELD_DURATION, INPUT_HAS_DELAY, 0, 365 * MS_PER_DAY},
    {"delay_ms", FIELD_MS, INPUT_HAS_DELAY, 0, 365 * MS_PER_DAY},
    {"timeout", FIELD_DURATION, INPUT_HAS_TIMEOUT, 100, 7 * MS_PER_DAY},
    {"timeout_ms", FIELD_MS, INPUT_HAS_TIMEOUT, 100, 7 * MS_PER_DAY},
    {"max_attempts", FIELD_UINT, INPUT_HAS_MAX_ATTEMPTS, 1, 1000},
    {"idempotency_key", FIELD_KEY, 0, 1, IDEM_KEY_MAX},
    {"idempotency_ttl", FIELD_DURATION, INPUT_HAS_IDEM_TTL, 1000, 3650 * MS_PER_DAY},
    {"idempotency_ttl_ms", FIELD_MS, INPUT_HAS_IDEM_TTL, 1000, 3650 * MS_PER_DAY},
};

static void field_store(struct input_opts *o, const struct field *f, uint64_t v)
{
    o->has |= f->bit;
    switch (f->bit) {
    case INPUT_HAS_DELAY:
        o->delay_ms = v;
        break;
    case INPUT_HAS_TIMEOUT:
        o->timeout_ms = v;
        break;
    case INPUT_HAS_MAX_ATTEMPTS:
        o->max_attempts = (uint32_t)v;
        break;
    case INPUT_HAS_IDEM_TTL:
        o->idem_ttl_ms = v;
        break;
    default:
        break;
    }
}

static int field_parse(struct input_set *set, struct input_opts *o, const struct field *f,
                       const cJSON *v, const char *where, struct kwq_error *err)
{
    char what[160];

    (void)snprintf(what, sizeof(what), "%s: \"%s\"", where, f->name);
    if (f->kind == FIELD_DURATION) {
        uint64_t ms;
        if (!cJSON_IsString(v))
            return kwq_error_set(err, KWQ_EINVAL, "%s must be a string such as \"30s\"", what);
        if (kwq_parse_duration_ms(v->valuestring, f->min, f->max, what, &ms, err) < 0)
            return KWQ_EINVAL;
        field_store(o, f, ms);
        return 0;
    }
    if (f->kind == FIELD_KEY) {
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        if (n < f->min || n > f->max)
            return kwq_error_set(err, KWQ_EINVAL, "%s must be a string of 1 to %llu bytes", what,
                                 (unsigned long long)f->max);
        o->idem_key = arena_copy(set, v->valuestring, n);
        return o->idem_key ? 0 : KWQ_ENOMEM;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)f->min || v->valuedouble > (double)f->max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return kwq_error_set(err, KWQ_EINVAL, "%s must be a whole number from %llu to %llu", what,
                             (unsigned long long)f->min, (unsigned long long)f->max);
    field_store(o, f, (uint64_t)v->valuedouble);
    return 0;
}

/* The payload bytes of a "payload" member: a string's bytes, else compact JSON text. */
static int payload_of(struct input_set *set, const cJSON *v, const char **ret, size_t *ret_len)
{
    char *text;

    if (cJSON_IsString(v)) {
        *ret_len = strlen(v->valuestring);
        *ret = arena_copy(set, v->valuestring, *ret_len);
        return *ret ? 0 : KWQ_ENOMEM;
    }
    text = cJSON_PrintUnformatted(v);
    if (!text)
        return KWQ_ENOMEM;
    *ret_len = strlen(text);
    *ret = arena_copy(set, text, *ret_len);
    cJSON_free(text);
    return *ret ? 0 : KWQ_ENOMEM;
}

static int object_parse(struct input_set *set, const cJSON *root, const struct input_rules *rules,
                        size_t rec, const char *where, struct kwq_error *err)
{
    struct input_opts o = {.rec = rec};
    const cJSON *payload = NULL, *m;
    const char *p = NULL;
    size_t n = 0;
    uint32_t index = 0;
    int r;

    cJSON_ArrayForEach(m, root)
    {
        size_t i = 0;
        if (strcmp(m->string, "payload") == 0) {
            payload = m;
            continue;
        }
        while (i < sizeof(fields) / sizeof(fields[0]) && strcmp(m->string, fields[i].name) != 0)
            i++;
        if (i == sizeof(fields) / sizeof(fields[0]))
            return kwq_error_set(err, KWQ_EINVAL,
                                 "%s: unknown field \"%.40s\"; known: payload, delay, timeout, "
                                 "max_attempts, idempotency_key, idempotency_ttl (and *_ms forms)",
                                 where, m->string);
        r = field_parse(set, &o, &fields[i], m, where, err);
        if (r < 0)
            return r;
    }
    if (!payload)
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s has no \"payload\"; give e.g. {\"payload\":\"x\"}", where);
    r = payload_of(set, payload, &p, &n);
    if (r < 0)
        return r;
    if (n > rules->max_item)
        return too_big(where, ": payload", n, rules->max_item, err);
    if (o.has || o.idem_key) {
        r = push_opts(set, &o, &index);
        if (r < 0)
            return r;
    }
    return push_item(set, p, n, index);
}

/*
 * True when the JSON text holds the escape \u0000 (a backslash that is not
 * itself escaped, then u0000). cJSON decodes it into a NUL byte that ends its
 * C string, so the rest of that string would be lost without a word.
 */
static bool has_nul_escape(const char *s, size_t n)
{
    const char *p = s;

    while ((p = memmem(p, n - (size_t)(p - s), "\\u0000", 6)) != NULL) {
        size_t before = 0;

        while (p - before > s && p[-1 - (ptrdiff_t)before] == '\\')
            before++;
        if (before % 2 == 0)
            return true;
        p++;
    }
    return false;
}

/* Parse one NUL-terminated NDJSON line of n bytes, record rec. Blank lines are skipped. */
static int json_line(struct input_set *set, const char *line, size_t n,
                     const struct input_rules *rules, size_t rec, const char *where,
                     struct kwq_error *err)
{
    const char *end = NULL;
    cJSON *root;
    int r;

    if (strspn(line, " \t\r") == n)
        return 0;
    if (strlen(line) != n)
        return kwq_error_set(err, KWQ_EINVAL, "%s holds a NUL byte; NDJSON must be text", where);
    if (!kwq_utf8_valid(line, n)) /* cJSON would pass the bytes through into the payload */
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s is not valid UTF-8; NDJSON must be UTF-8 text (give binary "
                             "items as lines or --null records, without --json)",
                             where);
    if (has_nul_escape(line, n))
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s holds \\u0000 (a NUL character), which JSON input cannot carry "
                             "(give items with NUL bytes as lines, without --json)",
                             where);
    root = cJSON_ParseWithOpts(line, &end, 1);
    if (!root)
        return kwq_error_set(err, KWQ_EINVAL,
                             "%s is not valid JSON (near byte %zu); give one JSON object per line",
                             where, end ? (size_t)(end - line) + 1 : (size_t)1);
    if (!cJSON_IsObject(root))
        r = kwq_error_set(err, KWQ_EINVAL,
                          "%s is not a JSON object; give one object per line, e.g. "
                          "{\"payload\":\"x\"}",
                          where);
    else
        r = object_parse(set, root, rules, rec, where, err);
    cJSON_Delete(root);
    return r;
}

/* ---- Records ------------------------------------------------------------------------ */

static int record(struct input_set *set, char *p, size_t n, const struct input_rules *rules,
                  size_t rec, const char *where, struct kwq_error *err)
{
    size_t json_max = rules->max_item * 6 + JSON_LINE_PAD;
    char lim_text[32];

    if (rules->format == INPUT_JSON) {
        if (n > json_max)
            return kwq_error_set(err, KWQ_ETOOBIG,
                                 "%s is %zu bytes, over the %s limit for an NDJSON line; split it "
                                 "or raise --max-item",
                                 where, n, fmt_size(json_max, lim_text, sizeof(lim_text)));
        return json_line(set, p, n, rules, rec, where, err);
    }
    if (n == 0)
        return 0;
    if (n > rules->max_item)
        return too_big(where, "", n, rules->max_item, err);
    return push_item(set, p, n, 0);
}

static int keep_buf(struct input_set *set, char *buf)
{
    char **bufs = realloc(set->bufs, (set->nbufs + 1) * sizeof(*bufs));

    if (!bufs)
        return KWQ_ENOMEM;
    set->bufs = bufs;
    set->bufs[set->nbufs++] = buf;
    return 0;
}

int input_parse(struct input_set *set, char *buf, size_t len, const struct input_rules *rules,
                const char *name, struct kwq_error *err)
{
    const char sep = rules->format == INPUT_NUL ? '\0' : '\n';
    size_t n0 = set->n, nopts0 = set->nopts, start = 0, rec = 0;
    char where[256];
    int r = keep_buf(set, buf);

    if (r < 0) {
        free(buf);
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading %s", name);
    }
    buf[len] = '\0';
    while (start < len && r == 0) {
        char *p = memchr(buf + start, sep, len - start);
        size_t end = p ? (size_t)(p - buf) : len;

        rec++;
        buf[end] = '\0';
        (void)snprintf(where, sizeof(where), "%s %zu of %s",
                       rules->format == INPUT_NUL ? "item" : "line", rec, name);
        r = record(set, buf + start, end - start, rules, rec, where, err);
        start = end + 1;
    }
    if (r == KWQ_ENOMEM)
        (void)kwq_error_set(err, r, "out of memory reading %s", name);
    if (r < 0) {
        set->n = n0;
        set->nopts = nopts0;
    }
    return r;
}

int input_add_arg(struct input_set *set, const char *arg, size_t argno,
                  const struct input_rules *rules, struct kwq_error *err)
{
    char where[64];
    size_t n = strlen(arg);
    int r;

    (void)snprintf(where, sizeof(where), "argument %zu", argno);
    if (rules->format == INPUT_JSON)
        r = json_line(set, arg, n, rules, argno, where, err);
    else if (n > rules->max_item)
        r = too_big(where, "", n, rules->max_item, err);
    else if (n == 0)
        r = kwq_error_set(err, KWQ_EINVAL, "%s is empty; an item needs at least one byte", where);
    else
        r = push_item(set, arg, n, 0);
    if (r == KWQ_ENOMEM)
        (void)kwq_error_set(err, r, "out of memory");
    return r;
}

/* ---- Reading ------------------------------------------------------------------------ */

int input_read_fd(int fd, const char *name, size_t max_input, char **ret_buf, size_t *ret_len,
                  struct kwq_error *err)
{
    size_t len = 0, cap = (size_t)64 * 1024;
    char *buf;

    if (cap > max_input) /* the limit holds below the first block's size too */
        cap = max_input;
    buf = malloc(cap + 1);
    if (!buf)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading %s", name);
    for (;;) {
        /* At the limit, read into the spare byte: only a byte beyond it is too much. */
        size_t room = len == cap && cap >= max_input ? 1 : cap - len;
        ssize_t n;

        if (len == cap && cap < max_input) {
            char *nb;
            cap = cap * 2 > max_input ? max_input : cap * 2;
            nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                return kwq_error_set(err, KWQ_ENOMEM, "out of memory reading %s", name);
            }
            buf = nb;
            room = cap - len;
        }
        n = read(fd, buf + len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return kwq_error_set(err, -e, "cannot read %s: %s; check the file or device", name,
                                 strerror(e));
        }
        if (n == 0)
            break;
        if (len + (size_t)n > max_input) {
            free(buf);
            return kwq_error_set(err, KWQ_ETOOBIG,
                                 "%s is larger than the --max-input limit of %zu bytes; split "
                                 "it or raise --max-input",
                                 name, max_input);
        }
        len += (size_t)n;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/* ---- Idempotency keys ---------------------------------------------------------------------- */

struct keyed {
    const struct input_item *item; /* the item */
    const struct input_opts *o;    /* its options, idem_key set */
};

static int key_cmp(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcmp(x->o->idem_key, y->o->idem_key);

    if (c != 0)
        return c;
    return x->o->rec < y->o->rec ? -1 : (x->o->rec > y->o->rec);
}

/* Same payload and options: a repeat of the item, harmless. */
static bool same_item(const struct keyed *x, const struct keyed *y)
{
    const struct input_opts *a = x->o, *b = y->o;

    return x->item->len == y->item->len &&
           memcmp(x->item->payload, y->item->payload, x->item->len) == 0 && a->has == b->has &&
           a->delay_ms == b->delay_ms && a->timeout_ms == b->timeout_ms &&
           a->max_attempts == b->max_attempts && a->idem_ttl_ms == b->idem_ttl_ms;
}

int input_check_keys(const struct input_set *set, const char *what, const char *name,
                     struct kwq_error *err)
{
    struct keyed *k = malloc((set->nopts ? set->nopts : 1) * sizeof(*k));
    const struct keyed *first = NULL, *again = NULL;
    size_t n = 0, group = 0;
    char of[280] = "";

    if (!k)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < set->n; i++) {
        const struct input_opts *o = input_item_opts(set, i);
        if (o && o->idem_key)
            k[n++] = (struct keyed){.item = &set->items[i], .o = o};
    }
    qsort(k, n, sizeof(*k), key_cmp);
    /* Against the first of each key; report the earliest conflict in input order. */
    for (size_t i = 1; i < n; i++) {
        if (strcmp(k[i].o->idem_key, k[group].o->idem_key) != 0) {
            group = i;
            continue;
        }
        if (!same_item(&k[i], &k[group]) && (!again || k[i].o->rec < again->o->rec)) {
            first = &k[group];
            again = &k[i];
        }
    }
    if (!again) {
        free(k);
        return 0;
    }
    if (name)
        (void)snprintf(of, sizeof(of), " of %s", name);
    (void)kwq_error_set(err, KWQ_EINVAL,
                        "%s %zu%s reuses the idempotency key \"%.60s\" of %s %zu for a different "
                        "item, which would be dropped; give each item its own key",
                        what, again->o->rec, of, again->o->idem_key, what, first->o->rec);
    free(k);
    return KWQ_EINVAL;
}

/* ---- Access and cleanup ----------------------------------------------------------------- */

const struct input_opts *input_item_opts(const struct input_set *set, size_t i)
{
    uint32_t k = set->items[i].opts;

    return k ? &set->opts[k - 1] : NULL;
}

void input_set_done(struct input_set *set)
{
    while (set->arena) {
        struct input_arena *next = set->arena->next;
        free(set->arena);
        set->arena = next;
    }
    for (size_t i = 0; i < set->nbufs; i++)
        free(set->bufs[i]);
    free(set->bufs);
    free(set->items);
    free(set->opts);
    memset(set, 0, sizeof(*set));
}
