# The dashboard's embedded files (broker/web.cmake): no server needed (label unit).
if(TARGET kwq_broker_web)
  kwq_test(NAME test_broker_web SOURCES test_broker_web.c LABELS unit)
  target_link_libraries(test_broker_web PRIVATE kwq_broker_web)
endif()
