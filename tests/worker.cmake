# Tests of kwq-worker: real worker processes against a private redis-server,
# running the helper handlers of tests/helpers/.
set(kwq_worker_tests drain crash sigterm fail config stream examples stream_probe errors stall results
  spawn prefetch wake answers outage oom failover gone)
foreach(t ${kwq_worker_tests})
  kwq_test(NAME test_worker_${t}
    SOURCES test_worker_${t}.c test_worker_support.c
    LABELS worker)
  add_dependencies(test_worker_${t} kwq-worker
    helper_exit helper_echo helper_sleep helper_wait_go helper_once_hang helper_ignore_term
    helper_crash helper_orphan helper_stream
    helper_fds helper_nofile helper_gate helper_stream_odd helper_stream_rev)
endforeach()

# The table of held jobs by task ID, on its own: worker/jobmap.c compiled into the test.
kwq_test(NAME test_worker_jobmap
  SOURCES test_worker_jobmap.c ${PROJECT_SOURCE_DIR}/worker/jobmap.c
  LABELS worker)
target_include_directories(test_worker_jobmap PRIVATE ${PROJECT_SOURCE_DIR}/worker)

# Starting one handler process, on its own: worker/handler.c compiled into the test.
kwq_test(NAME test_worker_handler
  SOURCES test_worker_handler.c ${PROJECT_SOURCE_DIR}/worker/handler.c
  LABELS worker)
target_include_directories(test_worker_handler PRIVATE ${PROJECT_SOURCE_DIR}/worker)
