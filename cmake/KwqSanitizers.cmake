# kwq_sanitizers: -fsanitize=${KWQ_SANITIZE} on compile and link, with
# no recovery so that the first report fails the test that caused it.
add_library(kwq_sanitizers INTERFACE)
if(KWQ_SANITIZE)
  set(san -fsanitize=${KWQ_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_compile_options(kwq_sanitizers INTERFACE ${san})
  target_link_options(kwq_sanitizers INTERFACE ${san})
endif()
