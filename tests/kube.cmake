# Tests of kube/, the Kubernetes API client library.
# Configuration: kubeconfig files, $KUBECONFIG, in-cluster, --kube-api, written
# into a temporary directory per test; no network (label unit).
kwq_test(NAME test_kube_config SOURCES test_kube_config.c LABELS unit kube)
target_link_libraries(test_kube_config PRIVATE kwq::kube)
# The base64 fields, through kube/src/b64.h.
kwq_test(NAME test_kube_b64 SOURCES test_kube_b64.c LABELS unit kube)
target_link_libraries(test_kube_b64 PRIVATE kwq::kube)
target_include_directories(test_kube_b64 PRIVATE ${PROJECT_SOURCE_DIR}/kube/src)
