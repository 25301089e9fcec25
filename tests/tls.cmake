# Redis over TLS through the stunnel ambassador (manifests/components/redis-tls,
# images/kwq-tls-ambassador, docs/redis-tls.md): a real TLS-only redis-server,
# the real script and stunnel, real kwq-worker processes. Where stunnel or a
# TLS-capable redis-server is missing, each test says so and skips.
find_program(KWQ_STUNNEL stunnel)
find_program(KWQ_OPENSSL openssl)
if(NOT KWQ_STUNNEL)
  set(KWQ_STUNNEL "")
endif()
if(NOT KWQ_OPENSSL)
  set(KWQ_OPENSSL "")
endif()
# Debian builds redis-server with TLS linked in (BUILD_TLS=yes): a build
# without libssl has none (a TLS module build would be skipped too).
execute_process(COMMAND ldd ${KWQ_REDIS_SERVER} OUTPUT_VARIABLE kwq_redis_libs ERROR_QUIET)
if(kwq_redis_libs MATCHES "libssl")
  set(kwq_redis_tls 1)
else()
  set(kwq_redis_tls 0)
endif()

foreach(t redis_tls redis_tls_exit)
  kwq_test(NAME test_${t} SOURCES test_${t}.c test_redis_tls_support.c test_worker_support.c
    LABELS tls TIMEOUT 120)
  add_dependencies(test_${t} kwq-worker helper_echo)
  target_compile_definitions(test_${t} PRIVATE KWQ_TEST_STUNNEL="${KWQ_STUNNEL}"
    KWQ_TEST_OPENSSL="${KWQ_OPENSSL}" KWQ_TEST_REDIS_TLS=${kwq_redis_tls})
endforeach()

# The component rendered by kubectl kustomize and taken by the rig's API
# server (server-side dry run, strict validation). kubectl is not a Debian
# package of a recent enough version: where it is missing, the test skips.
find_program(KWQ_KUBECTL kubectl)
if(NOT KWQ_KUBECTL)
  set(KWQ_KUBECTL "")
endif()
kwq_k8s_test(NAME test_redis_tls_render SOURCES test_redis_tls_render.c TIMEOUT 120)
target_compile_definitions(test_redis_tls_render PRIVATE KWQ_TEST_KUBECTL="${KWQ_KUBECTL}")
