# Tests of libkwq (proto/): every operation against a private redis-server.
# One test program per area; each test starts its own server (label redis).
# test_util and test_proto_envelope need no server (label unit).
# test_proto_support.c: shared steps of the redis tests, compiled once.
add_library(kwq_proto_test_support STATIC test_proto_support.c)
target_link_libraries(kwq_proto_test_support PUBLIC kwq_test_support)

kwq_test(NAME test_util SOURCES test_util.c LABELS unit)
# Also the I/O-free reply and INFO checks of proto/src/client_int.h.
target_include_directories(test_util PRIVATE ${PROJECT_SOURCE_DIR}/proto/src)
kwq_test(NAME test_proto_envelope SOURCES test_proto_envelope.c LABELS unit)
target_link_libraries(test_proto_envelope PRIVATE PkgConfig::CJSON)
foreach(area enqueue lease fail admin results conn async rollback memory readonly registry)
  kwq_test(NAME test_proto_${area} SOURCES test_proto_${area}.c LABELS redis)
  target_link_libraries(test_proto_${area} PRIVATE kwq_proto_test_support PkgConfig::CJSON)
endforeach()
# Hardening: also calls the embedded scripts raw (proto/src/lua_scripts.h), as a
# client in another language would, to check what the scripts refuse.
kwq_test(NAME test_proto_hardening SOURCES test_proto_hardening.c LABELS redis)
target_link_libraries(test_proto_hardening PRIVATE kwq_proto_test_support PkgConfig::CJSON)
target_include_directories(test_proto_hardening PRIVATE ${PROJECT_SOURCE_DIR}/proto/src)
