# kwq_warnings: the warning set every kwq target compiles with; -Werror
# under KWQ_WERROR. Each flag is checked, so an older compiler still builds.
include(CheckCCompilerFlag)
add_library(kwq_warnings INTERFACE)
foreach(flag -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
             -Wwrite-strings -Wundef -Wvla -Wno-format-nonliteral)
  string(MAKE_C_IDENTIFIER "HAVE${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    target_compile_options(kwq_warnings INTERFACE ${flag})
  endif()
endforeach()
if(KWQ_WERROR)
  target_compile_options(kwq_warnings INTERFACE -Werror)
endif()
