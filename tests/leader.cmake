# Leader election: the Redis leader lease of libkwq (kwq/leader.h) and the
# broker's election state machine (broker/leader.h) on both backends.
kwq_test(NAME test_leader_lease SOURCES test_leader_lease.c LABELS redis)
target_link_libraries(test_leader_lease PRIVATE kwq_proto_test_support)
# Also the embedded scripts raw (proto/src/lua_scripts.h), as another client would send them.
target_include_directories(test_leader_lease PRIVATE ${PROJECT_SOURCE_DIR}/proto/src)

# The election state machine (broker/leader.h), once broker/ builds kwq_broker_leader.
if(TARGET kwq_broker_leader)
  # Two brokers in one loop, shared by both backends' tests.
  add_library(kwq_leader_test_support STATIC test_leader_support.c)
  target_link_libraries(kwq_leader_test_support PUBLIC kwq_test_support kwq_broker_leader)
  kwq_test(NAME test_leader_elect SOURCES test_leader_elect.c LABELS redis)
  target_link_libraries(test_leader_elect PRIVATE kwq_proto_test_support kwq_leader_test_support)
  # The Kubernetes Lease backend against the real control plane (tests/k8s.cmake).
  kwq_k8s_test(NAME test_leader_kube SOURCES test_leader_kube.c TIMEOUT 300)
  target_link_libraries(test_leader_kube PRIVATE kwq_leader_test_support kwq::kube PkgConfig::CJSON)
endif()
