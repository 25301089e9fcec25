/*
 * lua_scripts.h - the scripts of proto/lua, embedded at build time by
 * cmake/EmbedLua.cmake into lua_scripts.c (in the build tree).
 */
#ifndef KWQ_LUA_SCRIPTS_H
#define KWQ_LUA_SCRIPTS_H

#include <stddef.h>

struct kwq__script {
    const char *name; /* file name without .lua, e.g. "lease" */
    const char *src;  /* script text, NUL-terminated */
    size_t len;       /* bytes in src */
};

extern const struct kwq__script kwq__scripts[];
extern const unsigned kwq__script_count;

#endif /* KWQ_LUA_SCRIPTS_H */
