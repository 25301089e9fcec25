# Tests of kwq, the CLI (submitter/): its pure parts (scaling rule, input,
# options, progress), the scaler, and the kwq binary itself driven against a private
# redis-server: every command, every error with its message and exit code,
# `kwq run --local` end to end, and the README's demo job.
kwq_test(NAME test_cli_units SOURCES test_cli_units.c LABELS unit)
target_link_libraries(test_cli_units PRIVATE kwq_cli_core)
# The scaler shared with the Kubernetes backend: its decision table, and its
# libev driver against a private redis-server with a recording backend.
kwq_test(NAME test_cli_scaler SOURCES test_cli_scaler.c LABELS redis cli)
target_link_libraries(test_cli_scaler PRIVATE kwq_cli_core kwq_proto_test_support)

foreach(t commands run checks)
  kwq_test(NAME test_cli_${t} SOURCES test_cli_${t}.c test_cli_exec.c LABELS redis cli TIMEOUT 900)
  add_dependencies(test_cli_${t} kwq kwq-worker kwq-example-primes)
  target_compile_definitions(test_cli_${t} PRIVATE
    KWQ_TEST_BUILD_DIR="${PROJECT_BINARY_DIR}"
    KWQ_TEST_DEMO="${PROJECT_SOURCE_DIR}/examples/demo.sh")
endforeach()
# The Kubernetes connection of the kwq binary without a control plane:
# configuration errors (exact line, 78), an unreachable server (69).
kwq_test(NAME test_cli_kube SOURCES test_cli_kube.c test_cli_exec.c LABELS cli kube)
add_dependencies(test_cli_kube kwq)
