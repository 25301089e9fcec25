/*
 * web_assets.h - the dashboard's files (broker/web/), compiled into the
 * broker by cmake/EmbedFiles.cmake: kwq-broker serves its page with nothing
 * installed beside the binary and fetches nothing from elsewhere.
 *
 * index.html is served at "/", every other file at "/assets/<name>".
 */
#ifndef KWQ_BROKER_WEB_ASSETS_H
#define KWQ_BROKER_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *path;           /* "/" or "/assets/app.js" */
    const char *content_type;   /* for the Content-Type header, with a charset for text */
    const unsigned char *bytes; /* the file as it is; a NUL follows, not counted in len */
    size_t len;
};

/* Every asset, sorted by file name (generated into web_assets_data.c). */
extern const struct web_asset web_assets[];
extern const size_t web_asset_count;

/*
 * The asset served at path (a request's decoded path without its query), or
 * NULL: the answer is then 404. Only exact matches: "/index.html",
 * "/assets/" and "/assets/../x" find nothing.
 */
const struct web_asset *web_asset_find(const char *path);

#endif /* KWQ_BROKER_WEB_ASSETS_H */
