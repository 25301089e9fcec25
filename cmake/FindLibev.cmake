# FindLibev: upstream libev ships no pkg-config file, so try pkg-config
# first and fall back to the header and library. Defines Libev::libev.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LIBEV QUIET libev)
endif()
find_path(LIBEV_INCLUDE_DIR ev.h HINTS ${PC_LIBEV_INCLUDE_DIRS})
find_library(LIBEV_LIBRARY NAMES ev HINTS ${PC_LIBEV_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libev REQUIRED_VARS LIBEV_LIBRARY LIBEV_INCLUDE_DIR)
if(Libev_FOUND AND NOT TARGET Libev::libev)
  add_library(Libev::libev UNKNOWN IMPORTED)
  set_target_properties(Libev::libev PROPERTIES IMPORTED_LOCATION ${LIBEV_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${LIBEV_INCLUDE_DIR})
endif()
