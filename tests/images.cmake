# The container images: images/build-oci.sh builds them from this build's
# binaries (umoci, skopeo), test_images checks the OCI layouts and runs the
# unpacked images; test_images_containerfiles checks images/Containerfile.*
# against the sources and the binaries (no container runtime runs here).
kwq_test(NAME test_images
  SOURCES test_images.c test_images_oci.c test_worker_support.c
  LABELS images
  TIMEOUT 180)
target_compile_definitions(test_images PRIVATE
  KWQ_TEST_BUILD_DIR="${PROJECT_BINARY_DIR}"
  KWQ_TEST_VERSION="${PROJECT_VERSION}")
if(KWQ_SANITIZE)
  target_compile_definitions(test_images PRIVATE KWQ_TEST_SANITIZED)
endif()
add_dependencies(test_images kwq-worker kwq kwq-broker helper_echo)

# The Containerfiles describe the release build: a sanitizer build's binaries
# load other libraries.
if(NOT KWQ_SANITIZE)
  add_test(NAME test_images_containerfiles
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_images_containerfiles.sh
      ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} ${PROJECT_VERSION})
  set_tests_properties(test_images_containerfiles PROPERTIES LABELS images TIMEOUT 120
    SKIP_RETURN_CODE 77)
endif()
