# Tests of the worker Job (kube/job.h): the builder, its checks, the readers
# of recorded API answers (tests/data/k8s/); `kwq job` through the CLI.
kwq_test(NAME test_kube_job SOURCES test_kube_job.c LABELS unit kube)
target_link_libraries(test_kube_job PRIVATE kwq::kube)

kwq_test(NAME test_cli_job SOURCES test_cli_job.c test_cli_exec.c LABELS cli kube)
add_dependencies(test_cli_job kwq)
target_link_libraries(test_cli_job PRIVATE PkgConfig::CJSON)

# Against the real control plane (tests/k8s.cmake): the Job as the server sees it.
kwq_k8s_test(NAME test_k8s_job SOURCES test_k8s_job.c test_k8s_exec.c test_cli_exec.c TIMEOUT 400)
add_dependencies(test_k8s_job kwq kwq-worker)
target_link_libraries(test_k8s_job PRIVATE kwq::kube PkgConfig::CJSON)

# The worker Job of manifests/ has one source: the files are what `kwq job create` prints.
add_test(NAME manifests_generated
  COMMAND sh ${PROJECT_SOURCE_DIR}/manifests/generate.sh --check ${PROJECT_BINARY_DIR})
set_tests_properties(manifests_generated PROPERTIES LABELS "cli;kube" TIMEOUT 30)
