/*
 * job_shape.c - the Job shape options into a kube_job_spec: see job_shape.h.
 */
#include "job_shape.h"

#include <stdlib.h>
#include <string.h>

#include "kwq/error.h"
#include "kwq/exit.h"

#include "cli.h"
#include "kube/http.h"
#include "kube_cli.h"

int job_shape_spec(struct job_shape *sh, struct kube_job_spec *s, struct kwq_error *err)
{
    size_t n = 0;

    s->image = sh->image;
    s->grace_ms = sh->grace_ms;
    s->kill_grace_ms = sh->kill_grace_ms;
    s->redis_secret = sh->redis_secret;
    s->ready_file = sh->ready_file;
    s->res.cpu_request = sh->cpu;
    s->res.cpu_limit = sh->cpu_limit;
    s->res.memory_request = sh->memory;
    s->res.memory_limit = sh->memory_limit;
    s->backoff_limit = (uint32_t)sh->backoff_limit;
    s->ttl_s = sh->ttl_ms / 1000;
    s->active_deadline_s = (sh->active_deadline_ms + 999) / 1000;
    s->labels = NULL;
    s->nlabels = 0;
    if (!sh->labels)
        return 0;
    free(sh->label_buf);
    sh->label_buf = strdup(sh->labels);
    if (!sh->label_buf)
        return kwq_error_set(err, KWQ_ENOMEM, "out of memory");
    for (char *save = NULL, *p = strtok_r(sh->label_buf, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        if (n == JOB_SHAPE_LABELS_MAX)
            return kwq_error_set(err, KWQ_EINVAL, "more than %d labels given",
                                 JOB_SHAPE_LABELS_MAX);
        sh->label_list[n++] = p;
    }
    s->labels = sh->label_list;
    s->nlabels = n;
    return 0;
}

void job_shape_done(struct job_shape *sh)
{
    free(sh->label_buf);
    sh->label_buf = NULL;
}

int job_shape_check_secret(struct kube_client *k, const char *secret)
{
    struct kwq_error err = {0};
    int rc = kube_job_secret_check(k, secret, &err);

    if (rc == KWQ_ENOTFOUND)
        return cli_error(
            KWQ_EXIT_CONFIG,
            "no Secret %s in namespace %s, so the pods could not start: create it "
            "(kubectl create secret generic %s --from-literal=url=redis://HOST:6379/0) "
            "or name another with --redis-secret",
            secret, kube_client_namespace(k), secret);
    return rc < 0 ? kube_cli_fail(&err, "reading the Secret") : 0;
}
