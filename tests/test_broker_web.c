/*
 * test_broker_web.c - the dashboard's files compiled into the broker
 * (broker/web_assets.h): every file of broker/web is found at its path with
 * the content type a browser needs and exactly the bytes of the file, and no
 * other path finds anything.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "web_assets.h"

#define WEB_DIR KWQ_TEST_SOURCE_DIR "/broker/web"

/* The whole file; *len its size. Malloc'd. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    cr_assert(f != NULL, "cannot open %s", path);
    cr_assert(eq(int, fseek(f, 0, SEEK_END), 0));
    n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert(buf != NULL);
    cr_assert(eq(sz, fread(buf, 1, (size_t)n, f), (size_t)n));
    (void)fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The content type a browser needs for a file name, NULL when the test knows none. */
static const char *type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* The asset of broker/web/<name> is served at its path with its type and bytes. */
static void check_file(const char *name)
{
    char path[512], url[512];
    const struct web_asset *a;
    unsigned char *want;
    size_t len;

    (void)snprintf(path, sizeof(path), "%s/%s", WEB_DIR, name);
    (void)snprintf(url, sizeof(url), "%s%s", strcmp(name, "index.html") == 0 ? "/" : "/assets/",
                   strcmp(name, "index.html") == 0 ? "" : name);
    a = web_asset_find(url);
    cr_assert(a != NULL, "broker/web/%s is not served at %s", name, url);
    cr_assert(eq(str, (char *)a->path, url));
    cr_assert(type_of(name) != NULL, "broker/web/%s: the test knows no content type", name);
    cr_assert(eq(str, (char *)a->content_type, (char *)type_of(name)));
    want = read_file(path, &len);
    cr_assert(eq(sz, a->len, len), "%s: %zu bytes embedded, the file has %zu", name, a->len, len);
    cr_assert(memcmp(a->bytes, want, len) == 0, "%s: the embedded bytes differ from the file",
              name);
    cr_assert(eq(u8, a->bytes[len], 0), "%s: no NUL after the bytes", name);
    free(want);
}

Test(broker_web, every_file_is_served_with_its_type_and_bytes)
{
    DIR *d = opendir(WEB_DIR);
    struct dirent *e;
    size_t files = 0;

    cr_assert(d != NULL, "cannot open %s", WEB_DIR);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        check_file(e->d_name);
        files++;
    }
    (void)closedir(d);
    cr_assert(eq(sz, files, 3), "broker/web has %zu files; update this count with them", files);
    cr_assert(eq(sz, web_asset_count, files));
}

Test(broker_web, the_page_is_at_the_root)
{
    const struct web_asset *a = web_asset_find("/");

    cr_assert(a != NULL);
    cr_assert(eq(str, (char *)a->content_type, (char *)"text/html; charset=utf-8"));
    cr_assert(strstr((const char *)a->bytes, "<script src=\"/assets/app.js\" defer></script>") !=
              NULL);
    cr_assert(strstr((const char *)a->bytes, "href=\"/assets/style.css\"") != NULL);
}

Test(broker_web, nothing_else_is_found)
{
    static const char *const misses[] = {
        "",
        "/index.html",
        "/assets/",
        "/assets",
        "/assets/index.html",
        "/assets/nope.js",
        "/assets/app.js/",
        "/assets//app.js",
        "/assets/../app.js",
        "/ASSETS/app.js",
        "/assets/app.js?x=1",
        "assets/app.js",
        "/app.js",
        "/api/overview",
    };

    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
        cr_assert(eq(ptr, (void *)web_asset_find(misses[i]), NULL), "found %s", misses[i]);
    cr_assert(eq(ptr, (void *)web_asset_find(NULL), NULL));
}
