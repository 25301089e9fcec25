# kwq-broker as a process against private redis-servers (tests/broker_proc.c
# starts it on a free loopback port): housekeeping, /metrics against
# `kwq status --json` and promtool, readiness, auth, the dashboard's API,
# bad configurations; leader election between brokers; a real Prometheus
# scraping it.
foreach(t daemon election prometheus)
  kwq_test(NAME test_broker_${t} SOURCES test_broker_${t}.c broker_proc.c test_cli_exec.c
    LABELS redis broker TIMEOUT 600)
  add_dependencies(test_broker_${t} kwq-broker kwq)
  target_compile_definitions(test_broker_${t} PRIVATE
    KWQ_TEST_BROKER_BIN="$<TARGET_FILE:kwq-broker>")
  target_link_libraries(test_broker_${t} PRIVATE kwq_proto_test_support)
endforeach()
# The Prometheus text from fixed values, and promtool on it.
kwq_test(NAME test_broker_metrics SOURCES test_broker_metrics.c test_cli_exec.c LABELS unit broker)
target_link_libraries(test_broker_metrics PRIVATE kwq_broker_metrics)
# The dashboard in headless Chromium against a live broker (label browser).
kwq_test(NAME test_broker_dashboard SOURCES test_broker_dashboard.c broker_proc.c test_cli_exec.c
  LABELS redis broker browser TIMEOUT 600)
add_dependencies(test_broker_dashboard kwq-broker)
target_compile_definitions(test_broker_dashboard PRIVATE
  KWQ_TEST_BROKER_BIN="$<TARGET_FILE:kwq-broker>")
target_link_libraries(test_broker_dashboard PRIVATE kwq_browser_support)
# kwq-broker --kube against the real control plane: a Lease, the Jobs of a queue.
kwq_k8s_test(NAME test_broker_kube SOURCES test_broker_kube.c broker_proc.c test_cli_exec.c)
add_dependencies(test_broker_kube kwq-broker)
target_compile_definitions(test_broker_kube PRIVATE
  KWQ_TEST_BROKER_BIN="$<TARGET_FILE:kwq-broker>")
target_link_libraries(test_broker_kube PRIVATE PkgConfig::CJSON)
