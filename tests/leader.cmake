# Leader election: the Redis leader lease of libkwq (kwq/leader.h) and the
# broker's election state machine (broker/leader.h) on both backends.
kwq_test(NAME test_leader_lease SOURCES test_leader_lease.c LABELS redis)
target_link_libraries(test_leader_lease PRIVATE kwq_proto_test_support)
# Also the embedded scripts raw (proto/src/lua_scripts.h), as another client would send them.
target_include_directories(test_leader_lease PRIVATE ${PROJECT_SOURCE_DIR}/proto/src)
