# Run as `cmake -DOUT=file.c -P EmbedLua.cmake script.lua...`:
# writes every script into a C array, so the library carries its scripts
# and loads them on connect. The table's order is the order given.
#
# Shared Lua lives in lua/lib/<name>.lua. A script line that is exactly
# `-- kwq:include <name>` is replaced by that file's text, so each embedded
# script is self-contained (EVALSHA runs one script text, nothing else).
set(c "/* Generated from proto/lua by cmake/EmbedLua.cmake. Do not edit. */\n")
string(APPEND c "#include \"lua_scripts.h\"\n\n")
set(table "const struct kwq__script kwq__scripts[] = {\n")
set(i 0)
while(i LESS CMAKE_ARGC)
  set(arg "${CMAKE_ARGV${i}}")
  math(EXPR i "${i} + 1")
  if(NOT arg MATCHES "\\.lua$")
    continue()
  endif()
  get_filename_component(name "${arg}" NAME_WE)
  get_filename_component(dir "${arg}" DIRECTORY)
  file(READ "${arg}" text)
  string(REGEX MATCHALL "-- kwq:include [a-z_]+\n" includes "${text}")
  foreach(inc IN LISTS includes)
    string(REGEX REPLACE "-- kwq:include ([a-z_]+)\n" "\\1" lib "${inc}")
    if(NOT EXISTS "${dir}/lib/${lib}.lua")
      message(FATAL_ERROR "${arg}: no such include lib/${lib}.lua")
    endif()
    file(READ "${dir}/lib/${lib}.lua" libtext)
    string(REPLACE "${inc}" "${libtext}" text "${text}")
  endforeach()
  # Whole-line comments are for readers of proto/lua, not for Redis: dropped,
  # so that every script stays under 16 KiB, the largest bulk string Redis
  # accepts from a connection before its AUTH has answered (a client that
  # pipelines SCRIPT LOAD behind AUTH would otherwise be disconnected).
  string(REGEX REPLACE "\n[ \t]*--[^\n]*" "" text "${text}")
  string(LENGTH "${text}" len)
  if(len GREATER 16384)
    message(FATAL_ERROR "${arg}: ${len} bytes composed; a script must stay within 16384")
  endif()
  string(HEX "${text}" hex)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND c "static const char lua_${name}[] = {${hex}0x00};\n")
  string(APPEND table "    {\"${name}\", lua_${name}, sizeof(lua_${name}) - 1},\n")
endwhile()
string(APPEND table "};\nconst unsigned kwq__script_count = sizeof(kwq__scripts) / sizeof(kwq__scripts[0]);\n")
file(WRITE "${OUT}" "${c}\n${table}")
