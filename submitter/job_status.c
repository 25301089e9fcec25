/*
 * job_status.c - `kwq job status NAME [--json]`: reads the Job and its pods
 * (kube/job.h) and prints the counts (parallelism, active, ready,
 * succeeded, failed, terminating and uncounted when the server gives them),
 * the conditions with their reasons, and each pod's phase, readiness and
 * exit code. Text for people, or the same as one JSON object.
 */
#include "job_status.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <ev.h>

#include "kwq/error.h"
#include "kwq/exit.h"

#include "cli.h"
#include "kube/http.h"
#include "kube/job.h"
#include "kube_cli.h"

struct status_cfg {
    bool json;                 /* --json */
    struct kube_cli_opts kube; /* API server and namespace */
};

static const struct kwq_opt opts[] = {
    {"json", 0, NULL, KWQ_OPT_BOOL, NULL, 0, 0, NULL, "print one JSON object",
     offsetof(struct status_cfg, json)},
    KUBE_CLI_OPTS(struct status_cfg, kube),
};

static const struct cli_spec spec = {
    .name = "job status",
    .usage = "NAME [options]",
    .description =
        "Show the Job NAME: its parallelism and its active, ready, succeeded and failed pods,\n"
        "its conditions (Complete, Failed with the reason and the controller's message), and\n"
        "each pod with its phase, readiness and the worker's exit code once it stopped, and\n"
        "the chain of successors it belongs to (NAME, NAME-2, ...), when it has one.",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* ---- The chain of successors ----------------------------------------------------------- */

#define CHAIN_MAX 64 /* Jobs shown of one chain */

/* A Job's chain of successors (kwq scale made NAME-2, ...): names borrowed from the links. */
struct chain {
    const char *names[CHAIN_MAX];
    size_t n;    /* entries in names */
    size_t self; /* the Job shown */
};

static const struct kube_job_link *link_of(const struct kube_job_link *l, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, name) == 0)
            return &l[i];
    return NULL;
}

static bool in_chain(const struct chain *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0)
            return true;
    return false;
}

/*
 * Walk from st back through the predecessors (a deleted one ends the walk
 * after its name) and forward through the Jobs that name it as theirs.
 */
static void chain_build(const struct kube_job_status *st, const struct kube_job_link *l, size_t n,
                        struct chain *c)
{
    const struct kube_job_link *me = link_of(l, n, st->name), *cur = me;
    const char *back[CHAIN_MAX];
    size_t nb = 0;

    memset(c, 0, sizeof(*c));
    for (const char *p = st->predecessor; p && nb < CHAIN_MAX / 2;
         p = cur ? cur->predecessor : NULL) {
        bool seen = strcmp(p, st->name) == 0;

        for (size_t i = 0; i < nb && !seen; i++)
            seen = strcmp(back[i], p) == 0;
        if (seen)
            break; /* a loop someone wrote by hand */
        back[nb++] = p;
        cur = link_of(l, n, p);
    }
    while (nb > 0)
        c->names[c->n++] = back[--nb];
    c->self = c->n;
    c->names[c->n++] = me ? me->name : st->name;
    for (bool more = true; more && c->n < CHAIN_MAX;) {
        more = false;
        for (size_t i = 0; i < n; i++) {
            if (l[i].predecessor && strcmp(l[i].predecessor, c->names[c->n - 1]) == 0 &&
                !in_chain(c, l[i].name)) {
                c->names[c->n++] = l[i].name;
                more = true;
                break;
            }
        }
    }
}

/* ---- Text ------------------------------------------------------------------------------- */

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

static const char *state_of(const struct kube_job_status *st)
{
    if (st->complete)
        return "complete";
    if (st->failed_job)
        return "failed";
    if (st->success_criteria_met || st->failure_target)
        return "finishing";
    return st->parallelism == 0 ? "paused" : "running";
}

static void print_counts(const struct kube_job_status *st)
{
    char ready[24] = "-";

    if (st->ready >= 0)
        (void)snprintf(ready, sizeof(ready), "%lld", (long long)st->ready);
    (void)printf("parallelism %lld  active %lld  ready %s  succeeded %lld  failed %lld",
                 (long long)st->parallelism, (long long)st->active, ready, (long long)st->succeeded,
                 (long long)st->failed);
    if (st->terminating >= 0)
        (void)printf("  terminating %lld", (long long)st->terminating);
    if (st->uncounted_succeeded + st->uncounted_failed > 0)
        (void)printf("  (not yet counted: %zu succeeded, %zu failed)", st->uncounted_succeeded,
                     st->uncounted_failed);
    (void)printf("\n");
}

static void print_text(const struct kube_job_status *st, const struct kube_pod_list *pods,
                       const struct chain *chain, const char *ns)
{
    (void)printf("job %s  namespace %s  queue %s  %s\n", st->name, ns, or_dash(st->queue),
                 state_of(st));
    (void)printf("created %s", or_dash(st->created));
    if (st->completed)
        (void)printf("  completed %s", st->completed);
    if (st->predecessor)
        (void)printf("  follows job %s", st->predecessor);
    (void)printf("\n");
    if (chain->n > 1) {
        (void)printf("chain");
        for (size_t i = 0; i < chain->n; i++)
            (void)printf("%s %s%s", i ? " ->" : "", chain->names[i],
                         i == chain->self ? " (this one)" : "");
        (void)printf("\n");
    }
    print_counts(st);
    for (size_t i = 0; i < st->nconds; i++) {
        const struct kube_job_condition *c = &st->conds[i];

        (void)printf("condition %s=%s%s%s%s%s\n", or_dash(c->type), or_dash(c->status),
                     c->reason ? " " : "", c->reason ? c->reason : "", c->message ? ": " : "",
                     c->message ? c->message : "");
    }
    if (pods->n == 0) {
        (void)printf("no pods\n");
        return;
    }
    (void)printf("%-40s %-10s %-5s %4s  %-12s %s\n", "POD", "PHASE", "READY", "EXIT", "REASON",
                 "NODE");
    for (size_t i = 0; i < pods->n; i++) {
        const struct kube_pod *p = &pods->pods[i];
        char code[16] = "-";

        if (p->terminated)
            (void)snprintf(code, sizeof(code), "%d", p->exit_code);
        (void)printf("%-40s %-10s %-5s %4s  %-12s %s%s\n", or_dash(p->name), or_dash(p->phase),
                     p->ready ? "yes" : "no", code, or_dash(p->reason), or_dash(p->node),
                     p->deleting ? "  (being deleted)" : "");
    }
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v)
        (void)cJSON_AddStringToObject(o, key, v);
    else
        (void)cJSON_AddNullToObject(o, key);
}

static cJSON *conditions_json(const struct kube_job_status *st)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a && i < st->nconds; i++) {
        cJSON *c = cJSON_CreateObject();

        if (!c || !cJSON_AddItemToArray(a, c)) {
            cJSON_Delete(c);
            break;
        }
        add_str(c, "type", st->conds[i].type);
        add_str(c, "status", st->conds[i].status);
        add_str(c, "reason", st->conds[i].reason);
        add_str(c, "message", st->conds[i].message);
    }
    return a;
}

static cJSON *pods_json(const struct kube_pod_list *pods)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a && i < pods->n; i++) {
        const struct kube_pod *p = &pods->pods[i];
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            break;
        }
        add_str(o, "name", p->name);
        add_str(o, "phase", p->phase);
        (void)cJSON_AddBoolToObject(o, "ready", p->ready);
        (void)cJSON_AddBoolToObject(o, "deleting", p->deleting);
        if (p->terminated)
            (void)cJSON_AddNumberToObject(o, "exit_code", p->exit_code);
        else
            (void)cJSON_AddNullToObject(o, "exit_code");
        add_str(o, "reason", p->reason);
        add_str(o, "node", p->node);
    }
    return a;
}

/* A count the server may leave out (-1): null then. */
static void add_count(cJSON *o, const char *key, int64_t v)
{
    if (v < 0)
        (void)cJSON_AddNullToObject(o, key);
    else
        (void)cJSON_AddNumberToObject(o, key, (double)v);
}

static int print_json(const struct kube_job_status *st, const struct kube_pod_list *pods,
                      const struct chain *chain, const char *ns)
{
    cJSON *o = cJSON_CreateObject(), *unc, *names;

    if (!o)
        return cli_error(KWQ_EXIT_SOFTWARE, "out of memory");
    add_str(o, "name", st->name);
    add_str(o, "namespace", ns);
    add_str(o, "uid", st->uid);
    add_str(o, "queue", st->queue);
    add_str(o, "predecessor", st->predecessor);
    add_str(o, "successor", chain->self + 1 < chain->n ? chain->names[chain->self + 1] : NULL);
    names = cJSON_AddArrayToObject(o, "chain");
    for (size_t i = 0; names && i < chain->n; i++)
        (void)cJSON_AddItemToArray(names, cJSON_CreateString(chain->names[i]));
    add_str(o, "state", state_of(st));
    add_str(o, "created", st->created);
    add_str(o, "completed", st->completed);
    add_count(o, "parallelism", st->parallelism);
    add_count(o, "active", st->active);
    add_count(o, "ready", st->ready);
    add_count(o, "succeeded", st->succeeded);
    add_count(o, "failed", st->failed);
    add_count(o, "terminating", st->terminating);
    unc = cJSON_AddObjectToObject(o, "uncounted");
    (void)cJSON_AddNumberToObject(unc, "succeeded", (double)st->uncounted_succeeded);
    (void)cJSON_AddNumberToObject(unc, "failed", (double)st->uncounted_failed);
    (void)cJSON_AddBoolToObject(o, "finished", kube_job_finished(st));
    (void)cJSON_AddBoolToObject(o, "scalable", kube_job_scalable(st));
    (void)cJSON_AddItemToObject(o, "conditions", conditions_json(st));
    (void)cJSON_AddItemToObject(o, "pods", pods_json(pods));
    return cli_json_print(o);
}

/* ---- The subcommand ------------------------------------------------------------------------ */

static int show(struct kube_client *k, const char *name, bool json)
{
    struct kube_job_status st;
    struct kube_pod_list pods = {0};
    struct kube_job_link *links = NULL;
    struct chain chain;
    struct kwq_error err = {0};
    size_t nlinks = 0;
    int rc = kube_job_get(k, name, &st, &err);

    if (rc == KWQ_ENOTFOUND)
        return cli_error(KWQ_EXIT_NOTFOUND, "no Job %s in namespace %s", name,
                         kube_client_namespace(k));
    if (rc < 0)
        return kube_cli_fail(&err, "reading the Job");
    /* The successors need `list` on jobs, which a Role may not grant: then the chain stops here. */
    if (kube_job_links(k, &links, &nlinks, &err) < 0 && err.code != KWQ_ENOPERM) {
        kube_job_status_done(&st);
        return kube_cli_fail(&err, "listing the Jobs of the namespace");
    }
    chain_build(&st, links, nlinks, &chain);
    rc = kube_job_pods(k, &st, &pods, &err);
    if (rc < 0)
        rc = kube_cli_fail(&err, "listing the Job's pods");
    else if (json)
        rc = print_json(&st, &pods, &chain, kube_client_namespace(k));
    else
        print_text(&st, &pods, &chain, kube_client_namespace(k));
    kube_job_links_free(links, nlinks);
    kube_pod_list_done(&pods);
    kube_job_status_done(&st);
    return rc;
}

int job_status_run(int argc, char **argv)
{
    struct status_cfg cfg = {0};
    struct kube_client *k = NULL;
    struct kwq_error err = {0};
    bool stop;
    int ind, rc = cli_parse(&spec, &cfg, argc, argv, &ind, &stop);

    if (stop)
        return rc;
    if (ind >= argc)
        return cli_usage_error(spec.name, "give the name of the Job");
    if (argc - ind > 1)
        return cli_usage_error(spec.name, "unexpected argument '%s'", argv[ind + 1]);
    if (kube_job_check_name(argv[ind], &err) < 0)
        return cli_usage_error(spec.name, "%s", err.msg);
    rc = kube_cli_open(&cfg.kube, ev_default_loop(EVFLAG_AUTO), &k);
    if (rc != 0)
        return rc;
    rc = show(k, argv[ind], cfg.json);
    kube_client_free(k);
    return rc;
}
