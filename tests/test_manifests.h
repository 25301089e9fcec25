/*
 * test_manifests.h - what the tests of manifests/ share: the manifests'
 * files, kubectl where this machine has one recent enough, and applying a
 * manifest file to the test control plane through the API (server-side
 * apply, which takes YAML as it is), with or without a dry run.
 */
#ifndef KWQ_TEST_MANIFESTS_H
#define KWQ_TEST_MANIFESTS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s_rig.h"
#include "test_cli_exec.h"

#define MANIFESTS_DIR    KWQ_TEST_SOURCE_DIR "/manifests"
#define MANIFESTS_FIELDS "kwq-test" /* the fieldManager of the tests' applies */

/*
 * The path of kubectl when it is there and at least 1.25 (batch/v1
 * CronJob, --validate=strict), else NULL and *why says what is missing in
 * one line (static storage).
 */
const char *manifests_kubectl(const char **why);

/* Run kubectl (path) with args (NULL-terminated) and input on stdin (may be NULL). */
void manifests_kubectl_run(struct cli_out *r, const char *kubectl, const char *input,
                           const char *const *args);

/*
 * The files a kustomization.yaml lists under `resources:` (the base's are
 * plain files, one object each), as paths relative to its directory, in
 * order; returns how many (at most max). Strings are malloc'd.
 */
size_t manifests_resources(const char *kustomization, char **ret, size_t max);

/*
 * Server-side apply of the one object in the YAML file path to namespace ns
 * (its namespace, if any, is not read: the path decides), with strict field
 * validation, as a dry run when dry_run. Returns the HTTP status; *out gets
 * the answer (malloc, free it) when out is not NULL. The object's kind must
 * be one manifests/ uses.
 */
long manifests_apply_file(const struct k8s_rig *rig, const char *ns, const char *path, bool dry_run,
                          char **out);

/* manifests_apply_file that must succeed for real (else the test fails with the answer). */
void manifests_apply(const struct k8s_rig *rig, const char *ns, const char *path);

/* GET /apis/batch/v1/namespaces/NS/RESOURCE/NAME (jobs, cronjobs), parsed; must answer 200. */
cJSON *manifests_get(const struct k8s_rig *rig, const char *ns, const char *resource,
                     const char *name);

/* A strategic merge patch (JSON) of the CronJob name in ns; must answer 200. */
void manifests_patch_cronjob(const struct k8s_rig *rig, const char *ns, const char *name,
                             const char *patch);

/*
 * The Job name from the CronJob cronjob, as `kubectl create job NAME
 * --from=cronjob/CRONJOB` makes it: with kubectl where manifests_kubectl
 * finds one, else built here as kubectl builds it (createJobFromCronJob:
 * the jobTemplate's spec, labels and annotations, plus the annotation
 * cronjob.kubernetes.io/instantiate=manual, owned by the CronJob).
 */
void manifests_job_from_cronjob(const struct k8s_rig *rig, const char *ns, const char *cronjob,
                                const char *name);

/* Each of the two ways, for a test that compares them. */
void manifests_job_from_cronjob_api(const struct k8s_rig *rig, const char *ns, const char *cronjob,
                                    const char *name);
void manifests_job_from_cronjob_kubectl(const char *kubectl, const struct k8s_rig *rig,
                                        const char *ns, const char *cronjob, const char *name);

#endif /* KWQ_TEST_MANIFESTS_H */
