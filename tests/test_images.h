/*
 * test_images.h - what the image tests share (test_images_oci.c): reading
 * and checking an OCI image layout that images/build-oci.sh wrote, and
 * running programs of its unpacked root filesystem with nothing of this
 * machine's but the kernel.
 */
#ifndef KWQ_TEST_IMAGES_H
#define KWQ_TEST_IMAGES_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* The dynamic loader and library dir of a Debian image of this machine's architecture. */
#if defined(__x86_64__)
#define IMAGE_ARCH    "amd64"
#define IMAGE_LOADER  "/lib64/ld-linux-x86-64.so.2"
#define IMAGE_TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define IMAGE_ARCH    "arm64"
#define IMAGE_LOADER  "/lib/ld-linux-aarch64.so.1"
#define IMAGE_TRIPLET "aarch64-linux-gnu"
#else
#error "the image tests know the loader of x86_64 and aarch64 only"
#endif

/* One image of a layout: its manifest and config, parsed; its layer's blob and digests. */
struct image {
    cJSON *manifest;
    cJSON *config;
    char layer[700];     /* path of the layer's blob (tar+gzip) */
    char config_hex[65]; /* sha256 of the config blob */
    char diff_hex[65];   /* sha256 of the uncompressed layer (the config's diff_id) */
};

/* True when tool is an executable file in a directory of $PATH. */
bool image_tool_found(const char *tool);

/*
 * Run argv (argv[0] a path), stdin from /dev/null, stdout and stderr into the
 * test's files out and err (NULL: the test's own); wait under the safety
 * limit. Returns the exit code.
 */
int image_run(const char *const *argv, const char *out, const char *err);

/* The whole of file path, NUL-terminated (malloc'd), or NULL when unreadable. */
char *image_slurp(const char *path);

/* File path parsed as JSON (asserts). */
cJSON *image_json(const char *path);

/* obj[key] when it is a string, else NULL. */
const char *image_str(const cJSON *obj, const char *key);

/*
 * Open the image tagged tag in the OCI layout dir and check it whole: the
 * layout version, index.json, and every blob (manifest, config, the one
 * layer) against its descriptor's media type, size and sha256; the config's
 * diff_id against the uncompressed layer; no unreferenced blob.
 */
void image_open(const char *layout, const char *tag, struct image *img);
void image_close(struct image *img);

/*
 * The config build-oci.sh writes: linux on this architecture, User
 * 65532:65532, Entrypoint exactly [entrypoint], no Cmd, one PATH, the OCI
 * labels (title, the release version).
 */
void image_check_config(const struct image *img, const char *entrypoint, const char *title);

/* Every entry of the layer is owned by 0:0. */
void image_check_layer_owners(const struct image *img);

/* The docker-archive tar holds img as name:release (manifest.json). */
void image_check_archive(const char *tar, const char *name, const struct image *img);

/* umoci unpack --rootless the release tag of layout into bundle; root gets bundle/rootfs. */
void image_unpack(const char *layout, const char *bundle, char *root, size_t len);

/*
 * No shell, /tmp 1777, user and group 65532 named kwq, and the copyright file
 * of each of packages (NULL-terminated).
 */
void image_check_rootfs(const char *root, const char *const *packages);

/* Number of package dirs under root/usr/share/doc. */
size_t image_doc_dirs(const char *root);

/*
 * Resolve bin's libraries with root's loader and root's library dir only
 * (ld.so --list): asserts that every one resolves, inside root. Returns how
 * many (the loader included).
 */
size_t image_check_closure(const char *root, const char *bin);

/* Run root's bin (args NULL-terminated, may be NULL) with root's loader and libraries only. */
int image_exec(const char *root, const char *bin, const char *const *args, const char *out);

/* The test's file is exactly want. */
void image_assert_output(const char *file, const char *want);

#endif /* KWQ_TEST_IMAGES_H */
