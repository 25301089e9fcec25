# Tests of kube/, the Kubernetes API client library.
# Configuration: kubeconfig files, $KUBECONFIG, in-cluster, --kube-api, written
# into a temporary directory per test; no network (label unit).
kwq_test(NAME test_kube_config SOURCES test_kube_config.c LABELS unit kube)
target_link_libraries(test_kube_config PRIVATE kwq::kube)
# The base64 fields, through kube/src/b64.h.
kwq_test(NAME test_kube_b64 SOURCES test_kube_b64.c LABELS unit kube)
target_link_libraries(test_kube_b64 PRIVATE kwq::kube)
target_include_directories(test_kube_b64 PRIVATE ${PROJECT_SOURCE_DIR}/kube/src)

# The HTTP client against the fake API server (tests/helpers/fake_kube_api.py,
# one per test, on a port the kernel picks), for what the real one cannot do
# on demand: 429, 5xx, slow answers, a token refused until a file changes.
find_program(KWQ_PYTHON3 python3 REQUIRED)
add_library(kwq_fake_kube STATIC support/fake_kube.c)
target_include_directories(kwq_fake_kube PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_compile_definitions(kwq_fake_kube PUBLIC
  KWQ_TEST_PYTHON3="${KWQ_PYTHON3}"
  KWQ_TEST_FAKE_KUBE_API="${CMAKE_CURRENT_SOURCE_DIR}/helpers/fake_kube_api.py")
target_link_libraries(kwq_fake_kube PUBLIC kwq_test_support kwq::kube)

kwq_test(NAME test_kube_http SOURCES test_kube_http.c LABELS kube)
target_link_libraries(test_kube_http PRIVATE kwq_fake_kube)

# The HTTP client against the real API server of the suite's control plane
# (tests/k8s.cmake): CRUD of a Job and every refusal (401, 403, 404, 409 both
# kinds, 422, a CA that did not issue the server's certificate, made with
# openssl in the test).
find_program(KWQ_OPENSSL openssl REQUIRED)
kwq_k8s_test(NAME test_kube_api SOURCES test_kube_api.c)
target_link_libraries(test_kube_api PRIVATE kwq::kube)
target_compile_definitions(test_kube_api PRIVATE KWQ_TEST_OPENSSL="${KWQ_OPENSSL}")

# The token cache, through kube/src/http_int.h (label unit).
kwq_test(NAME test_kube_token SOURCES test_kube_token.c LABELS unit kube)
target_link_libraries(test_kube_token PRIVATE kwq::kube)
target_include_directories(test_kube_token PRIVATE ${PROJECT_SOURCE_DIR}/kube/src)

# Every way kwq finds the API server, against the real control plane (the
# kwq binary: --kubeconfig, $KUBECONFIG, ~/.kube/config, in cluster).
kwq_k8s_test(NAME test_k8s_config SOURCES test_k8s_config.c test_cli_exec.c)
add_dependencies(test_k8s_config kwq)
