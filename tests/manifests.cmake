# Tests of manifests/ against the real control plane (k8s.cmake): the kustomize
# builds and every object under strict server-side dry run, the worker CronJob
# run for real through `kubectl create job --from=cronjob/...`, and the Roles
# of the submitter and the broker used by their own ServiceAccounts' tokens.
# kubectl is not a Debian package: where it is absent (or older than 1.25) the
# kustomize test skips with one line and the others use the API instead.
find_program(KWQ_KUBECTL kubectl)
set(kwq_kubectl "")
if(KWQ_KUBECTL)
  set(kwq_kubectl "${KWQ_KUBECTL}")
endif()
kwq_k8s_test(NAME test_manifests SOURCES test_manifests.c test_manifests_cron.c
  test_manifests_rbac.c test_manifests_submit.c test_manifests_support.c test_k8s_exec.c test_cli_exec.c broker_proc.c
  TIMEOUT 240)
add_dependencies(test_manifests kwq kwq-worker kwq-broker helper_gate helper_echo)
target_compile_definitions(test_manifests PRIVATE KWQ_TEST_KUBECTL="${kwq_kubectl}"
  KWQ_TEST_BROKER_BIN="$<TARGET_FILE:kwq-broker>")
target_link_libraries(test_manifests PRIVATE kwq::kube PkgConfig::CJSON CURL::libcurl)
