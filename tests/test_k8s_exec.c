/*
 * test_k8s_exec.c - kwq against the test control plane: see test_k8s_exec.h.
 */
#include "test_k8s_exec.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#define ARGS_MAX 64

/* argv of kwq with args, the kubeconfig and namespace before any "--". */
static void kube_argv(const struct k8s_rig *rig, const char *ns, const char *const *args,
                      const char *argv[ARGS_MAX])
{
    size_t n = 1;

    argv[0] = KWQ_TEST_KWQ_BIN;

    for (; *args && strcmp(*args, "--") != 0; args++) {
        cr_assert(n < 58);
        argv[n++] = *args;
    }
    argv[n++] = "--kubeconfig";
    argv[n++] = rig->kubeconfig;
    argv[n++] = "--namespace";
    argv[n++] = ns;
    for (; *args; args++) {
        cr_assert(n < 63);
        argv[n++] = *args;
    }
    argv[n] = NULL;
}

void kwq_kube(struct cli_out *r, const struct k8s_rig *rig, const char *ns, const char *const *args)
{
    const char *argv[ARGS_MAX];

    kube_argv(rig, ns, args, argv);
    cli_exec_prog(r, NULL, 0, argv);
}

pid_t kwq_kube_start(const struct k8s_rig *rig, const char *ns, const char *out_path,
                     const char *err_path, const char *const *args)
{
    const char *argv[ARGS_MAX];
    int fds[3] = {open("/dev/null", O_RDONLY | O_CLOEXEC),
                  open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                  open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    pid_t pid;

    cr_assert(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0);
    kube_argv(rig, ns, args, argv);
    pid = test_proc_start(argv, fds);
    for (int i = 0; i < 3; i++)
        (void)close(fds[i]);
    return pid;
}

cJSON *k8s_wait_state(const struct k8s_rig *rig, const char *ns, const char *name, const char *want)
{
    time_t end = time(NULL) + K8S_WAIT_S;

    for (;;) {
        struct cli_out r;
        cJSON *st;

        KWQ_KUBE(&r, rig, ns, "job", "status", name, "--json");
        expect(&r, 0, NULL, "");
        st = cJSON_Parse(r.out);
        cr_assert_not_null(st, "%s", r.out);
        cli_out_free(&r);
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(st, "state")), want) == 0)
            return st;
        cJSON_Delete(st);
        cr_assert(time(NULL) < end, "Job %s not %s after %d s", name, want, K8S_WAIT_S);
        (void)nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
    }
}

double k8s_num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    cr_assert(cJSON_IsNumber(v), "%s is not a number", key);
    return v->valuedouble;
}

const char *k8s_str_of(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

    cr_assert_not_null(s, "%s is not a string", key);
    return s;
}
