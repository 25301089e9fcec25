/*
 * test_k8s_exec.h - driving the kwq binary against the test control plane
 * (k8s_rig.h): kwq with the rig's admin kubeconfig and a test's namespace,
 * and reading back what `kwq job status --json` prints.
 */
#ifndef KWQ_TEST_K8S_EXEC_H
#define KWQ_TEST_K8S_EXEC_H

#include <cjson/cJSON.h>

#include "k8s_rig.h"
#include "test_cli_exec.h"

#define K8S_WAIT_S 180 /* safety limit of waiting for a Job; never a timing assertion */

/* Run kwq with args, the rig's kubeconfig and namespace ns added before any "--". */
void kwq_kube(struct cli_out *r, const struct k8s_rig *rig, const char *ns,
              const char *const *args);

/*
 * The same in the background: stdout to out_path, stderr to err_path
 * (test_proc_start); wait for it with test_proc_wait.
 */
pid_t kwq_kube_start(const struct k8s_rig *rig, const char *ns, const char *out_path,
                     const char *err_path, const char *const *args);

#define KWQ_KUBE(r, rig, ns, ...)                                                                  \
    kwq_kube((r), (rig), (ns), (const char *const[]){__VA_ARGS__, NULL})

/* `kwq job status NAME --json` until its state is want (the safety limit fails the test). */
cJSON *k8s_wait_state(const struct k8s_rig *rig, const char *ns, const char *name,
                      const char *want);

/* o[key], which must be a number / a string (else the test fails). */
double k8s_num_of(const cJSON *o, const char *key);
const char *k8s_str_of(const cJSON *o, const char *key);

#endif /* KWQ_TEST_K8S_EXEC_H */
