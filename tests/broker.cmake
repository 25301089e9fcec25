# Tests of broker/, the kwq-broker daemon.
# The HTTP server against a small server program of its own (routes, a
# deferred reply, limits from its options), built with the sanitizers of the
# build so that a crash or leak fails its exit code.
add_executable(broker_http_server helpers/broker_http_server.c)
target_link_libraries(broker_http_server PRIVATE kwq_broker_http kwq_build_flags)
kwq_test(NAME test_broker_http SOURCES test_broker_http.c LABELS unit broker TIMEOUT 120)
target_compile_definitions(test_broker_http PRIVATE
  KWQ_TEST_BROKER_HTTP_SERVER="$<TARGET_FILE:broker_http_server>")
add_dependencies(test_broker_http broker_http_server)
# The request-head parser alone (a pure function): tricky inputs, every split.
kwq_test(NAME test_broker_http_parse SOURCES test_broker_http_parse.c LABELS unit broker)
target_link_libraries(test_broker_http_parse PRIVATE kwq_broker_http)
