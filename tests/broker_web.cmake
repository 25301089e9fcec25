# The dashboard: its embedded files (broker/web.cmake; label unit) and the
# browser its tests drive (tests/helpers/browser.py; label browser).
if(TARGET kwq_broker_web)
  kwq_test(NAME test_broker_web SOURCES test_broker_web.c LABELS unit)
  target_link_libraries(test_broker_web PRIVATE kwq_broker_web)
endif()

# browser_run(): browser.py from a Criterion test. Screenshots go to
# <build>/tests/artifacts, kept after the run.
find_program(KWQ_PYTHON3 python3 REQUIRED)
add_library(kwq_browser_support STATIC support/browser_run.c)
target_link_libraries(kwq_browser_support PUBLIC kwq_test_support)
target_compile_definitions(kwq_browser_support PRIVATE
  KWQ_TEST_PYTHON3="${KWQ_PYTHON3}"
  KWQ_TEST_BROWSER_PY="${CMAKE_CURRENT_SOURCE_DIR}/helpers/browser.py"
  KWQ_TEST_ARTIFACTS_DIR="${CMAKE_CURRENT_BINARY_DIR}/artifacts")

kwq_test(NAME test_browser_harness SOURCES test_browser_harness.c LABELS browser TIMEOUT 600)
target_link_libraries(test_browser_harness PRIVATE kwq_browser_support)
