/*
 * job_check.c - the rules the API server applies to what kwq puts in a Job
 * (its name, labels, resource quantities), checked before anything is sent,
 * so that a typo gets one line naming it instead of a 422 after a round
 * trip; and the names of the Jobs of a chain.
 */
#include <stdio.h>
#include <string.h>

#include "kwq/error.h"

#include "job_int.h"
#include "kube/job.h"

#define LABEL_PART_MAX   63  /* a label name or value */
#define LABEL_PREFIX_MAX 253 /* a label key's DNS-subdomain prefix */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A DNS-1123 label of n bytes: [a-z0-9-], alphanumeric at both ends. */
static bool dns_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > LABEL_PART_MAX || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

/* A DNS-1123 subdomain: dot-separated labels, 253 bytes at most. */
static bool dns_subdomain_ok(const char *s, size_t n)
{
    size_t start = 0;

    if (n == 0 || n > LABEL_PREFIX_MAX)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!dns_label_ok(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* A label name or value: [A-Za-z0-9._-], alphanumeric at both ends (empty when allowed). */
static bool label_part_ok(const char *s, size_t n, bool empty_ok)
{
    if (n == 0)
        return empty_ok;
    if (n > LABEL_PART_MAX || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    }
    return true;
}

int kube_job_check_name(const char *name, struct kwq_error *err)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0)
        return kwq_error_set(err, KWQ_EINVAL, "the Job name is empty: give one, e.g. resize");
    if (n > KUBE_JOB_NAME_MAX)
        return kwq_error_set(err, KWQ_EINVAL,
                             "Job name '%.80s%s' has %zu characters: at most %d are allowed (it "
                             "becomes the job-name label of its pods)",
                             name, n > 80 ? "..." : "", n, KUBE_JOB_NAME_MAX);
    if (!dns_label_ok(name, n))
        return kwq_error_set(err, KWQ_EINVAL,
                             "Job name '%s' is not a DNS label: use lower-case letters, digits "
                             "and '-', starting and ending with a letter or digit",
                             name);
    return 0;
}

int kube_job_check_label(const char *kv, struct kwq_error *err)
{
    const char *eq = strchr(kv, '=');
    const char *slash;
    size_t klen;

    if (!eq || eq == kv)
        return kwq_error_set(err, KWQ_EINVAL, "label '%.100s' is not KEY=VALUE, e.g. team=vision",
                             kv);
    klen = (size_t)(eq - kv);
    slash = memchr(kv, '/', klen);
    if (slash && !dns_subdomain_ok(kv, (size_t)(slash - kv)))
        return kwq_error_set(err, KWQ_EINVAL,
                             "label '%.100s': the key's prefix before '/' must be a DNS "
                             "subdomain (lower-case, e.g. example.com)",
                             kv);
    if (!label_part_ok(slash ? slash + 1 : kv, slash ? (size_t)(eq - slash - 1) : klen, false))
        return kwq_error_set(err, KWQ_EINVAL,
                             "label '%.100s': the key's name must be 1 to 63 characters of "
                             "A-Z a-z 0-9 . _ -, starting and ending with a letter or digit",
                             kv);
    if (!label_part_ok(eq + 1, strlen(eq + 1), true))
        return kwq_error_set(err, KWQ_EINVAL,
                             "label '%.100s': the value must be at most 63 characters of A-Z a-z "
                             "0-9 . _ -, starting and ending with a letter or digit",
                             kv);
    if ((klen == strlen(KUBE_JOB_LABEL_NAME) && strncmp(kv, KUBE_JOB_LABEL_NAME, klen) == 0) ||
        (klen == strlen(KUBE_JOB_LABEL_MANAGED) && strncmp(kv, KUBE_JOB_LABEL_MANAGED, klen) == 0))
        return kwq_error_set(err, KWQ_EINVAL, "label '%.100s': kwq sets %.*s itself; drop it", kv,
                             (int)klen, kv);
    return 0;
}

/*
 * A quantity as Kubernetes writes one: a decimal number, then an optional
 * suffix (m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent e3/E3).
 */
static bool quantity_ok(const char *q)
{
    static const char *const sfx[] = {"",  "m",  "k",  "M",  "G",  "T",  "P",
                                      "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    const char *p = q;
    size_t digits = 0;

    if (*p == '+')
        p++;
    while (*p >= '0' && *p <= '9' && ++digits)
        p++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && ++digits)
            p++;
    }
    if (digits == 0)
        return false;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if (strcmp(p, sfx[i]) == 0)
            return true;
    }
    if (*p != 'e' && *p != 'E') /* else a decimal exponent: 1e3, 2E-2 */
        return false;
    p++;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '\0';
}

int kube__check_quantity(const char *what, const char *q, struct kwq_error *err)
{
    if (!q || quantity_ok(q))
        return 0;
    return kwq_error_set(err, KWQ_EINVAL,
                         "%s '%.60s' is not a Kubernetes quantity: write e.g. 500m or 2 (CPU), "
                         "256Mi or 1G (memory)",
                         what, q);
}

/* The N of a trailing "-N" (N >= 2, no leading zero), else 0; *base_len is what precedes it. */
static unsigned long chain_index(const char *name, size_t *base_len)
{
    const char *dash = strrchr(name, '-');
    unsigned long n = 0;

    *base_len = strlen(name);
    if (!dash || dash == name || dash[1] < '1' || dash[1] > '9' || strlen(dash + 1) > 6)
        return 0;
    for (const char *p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (unsigned long)(*p - '0');
    }
    if (n < 2)
        return 0;
    *base_len = (size_t)(dash - name);
    return n;
}

int kube_job_successor_name(const char *name, char *buf, size_t len, struct kwq_error *err)
{
    char sfx[16], out[KUBE_JOB_NAME_MAX + 1];
    size_t base_len, keep;
    unsigned long n;
    int r = kube_job_check_name(name, err);

    if (r < 0)
        return r;
    n = chain_index(name, &base_len);
    (void)snprintf(sfx, sizeof(sfx), "-%lu", n ? n + 1 : 2UL);
    keep = base_len;
    if (keep + strlen(sfx) > KUBE_JOB_NAME_MAX)
        keep = KUBE_JOB_NAME_MAX - strlen(sfx);
    while (keep > 1 && name[keep - 1] == '-') /* a cut must not leave "--" */
        keep--;
    if (len < keep + strlen(sfx) + 1)
        return kwq_error_set(err, KWQ_EINVAL, "no room for the successor of Job '%s'", name);
    /* Built apart first: buf may be name itself (the next name after one that is taken). */
    (void)snprintf(out, sizeof(out), "%.*s%s", (int)keep, name, sfx);
    (void)snprintf(buf, len, "%s", out);
    return 0;
}

uint64_t kube_job_grace_period_s(uint64_t grace_ms, uint64_t kill_grace_ms)
{
    uint64_t ms = grace_ms + kill_grace_ms;

    return (ms + 999) / 1000 + KUBE_JOB_GRACE_MARGIN_S;
}
