/* web_assets.c - the lookup of the dashboard's embedded files. */
#include "web_assets.h"

#include <string.h>

const struct web_asset *web_asset_find(const char *path)
{
    if (!path)
        return NULL;
    /* A handful of files: a scan costs less than any index would. */
    for (size_t i = 0; i < web_asset_count; i++)
        if (strcmp(web_assets[i].path, path) == 0)
            return &web_assets[i];
    return NULL;
}
