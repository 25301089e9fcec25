# docs/quickstart.md: every block marked (no cluster needed), and the tested
# blocks run against the real control plane (tests/docs/quickstart_check.sh).
add_test(NAME docs_quickstart_marks
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/docs/quickstart_check.sh marks ${PROJECT_SOURCE_DIR})
set_tests_properties(docs_quickstart_marks PROPERTIES LABELS docs TIMEOUT 30)
add_test(NAME docs_quickstart
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/docs/quickstart_check.sh run ${PROJECT_SOURCE_DIR}
          ${PROJECT_BINARY_DIR} ${KWQ_REDIS_SERVER})
set_tests_properties(docs_quickstart PROPERTIES FIXTURES_REQUIRED k8s LABELS "k8s;docs"
  SKIP_RETURN_CODE 77 TIMEOUT 600)
