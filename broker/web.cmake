# kwq_broker_web: the dashboard's files (broker/web/*) compiled in, with
# web_asset_find() (web_assets.h). Included from broker/CMakeLists.txt. Every
# file in broker/web is embedded: a new file needs a content type in
# cmake/EmbedFiles.cmake and nothing here.
file(GLOB kwq_web_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/web/*)
set(kwq_web_c ${CMAKE_CURRENT_BINARY_DIR}/web_assets_data.c)
add_custom_command(
  OUTPUT ${kwq_web_c}
  COMMAND ${CMAKE_COMMAND} -DOUT=${kwq_web_c} -DHEADER=web_assets.h -DSTRUCT=web_asset
          -DPREFIX=/assets/ -DINDEX=index.html
          -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake ${kwq_web_files}
  DEPENDS ${kwq_web_files} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
  COMMENT "Embedding the dashboard's files")

add_library(kwq_broker_web STATIC ${CMAKE_CURRENT_LIST_DIR}/web_assets.c ${kwq_web_c})
target_include_directories(kwq_broker_web PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(kwq_broker_web PRIVATE kwq_build_flags)
