# Leader election of kwq-broker (broker/leader.h): the state machine and its
# Redis (kwq/leader.h) and Kubernetes Lease backends, a library of its own so
# that the daemon and the tests link the same code. Included by
# broker/CMakeLists.txt.
add_library(kwq_broker_leader STATIC ${CMAKE_CURRENT_LIST_DIR}/leader.c
  ${CMAKE_CURRENT_LIST_DIR}/leader_redis.c ${CMAKE_CURRENT_LIST_DIR}/leader_kube.c)
target_include_directories(kwq_broker_leader PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(kwq_broker_leader PUBLIC kwq::proto kwq::kube PRIVATE kwq_build_flags)
