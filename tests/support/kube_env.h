/*
 * kube_env.h - a clean slate for tests of how kwq finds the Kubernetes API
 * server: a fresh directory that is also $HOME, no Kubernetes variable
 * inherited from whoever runs the tests (KUBECONFIG, KUBERNETES_SERVICE_*,
 * KWQ_KUBE_*, KWQ_NAMESPACE), and files written into that directory.
 */
#ifndef KWQ_TEST_KUBE_ENV_H
#define KWQ_TEST_KUBE_ENV_H

/* Suite .init / .fini: make the directory and clear the variables; remove it. */
void kube_env_setup(void);
void kube_env_teardown(void);

/* The directory (also $HOME). */
const char *kube_env_dir(void);

/* dir/name, in one of 8 static buffers used in turn. */
const char *kube_env_path(const char *name);

/* Write text to dir/name, making its directory; returns kube_env_path(name). */
const char *kube_env_write(const char *name, const char *text);

#endif /* KWQ_TEST_KUBE_ENV_H */
