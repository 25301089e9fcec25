# Tests against the real Kubernetes control plane (tests/k8s/rig.sh): one
# private control plane per build dir, started by the fixture "k8s" before
# the first such test and stopped after the last. Where ../shared/k8s is
# absent, the fixture says so and these tests skip.
add_test(NAME k8s_rig_up COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/k8s/rig.sh up ${PROJECT_BINARY_DIR})
set_tests_properties(k8s_rig_up PROPERTIES FIXTURES_SETUP k8s LABELS k8s TIMEOUT 180)
add_test(NAME k8s_rig_down
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/k8s/rig.sh down ${PROJECT_BINARY_DIR})
set_tests_properties(k8s_rig_down PROPERTIES FIXTURES_CLEANUP k8s LABELS k8s TIMEOUT 120)

# kwq_k8s_test(NAME <name> SOURCES <files...> [TIMEOUT <s>]): a kwq_test that needs the control plane.
function(kwq_k8s_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  kwq_test(NAME ${T_NAME} SOURCES ${T_SOURCES} LABELS k8s TIMEOUT ${T_TIMEOUT})
  set_tests_properties(${T_NAME} PROPERTIES FIXTURES_REQUIRED k8s)
endfunction()

kwq_k8s_test(NAME test_k8s_rig SOURCES test_k8s_rig.c)

# kwq run --kube, kwq scale and kwq autoscale end to end (test_k8s_run.c).
find_package(Threads REQUIRED)
kwq_k8s_test(NAME test_k8s_run SOURCES test_k8s_run.c test_k8s_exec.c test_k8s_watch.c
  test_cli_exec.c TIMEOUT 600)
add_dependencies(test_k8s_run kwq kwq-worker helper_gate helper_echo)
target_link_libraries(test_k8s_run PRIVATE kwq::kube PkgConfig::CJSON CURL::libcurl
  Threads::Threads)
