/*
 * test_images_oci.c - reading and checking what images/build-oci.sh wrote:
 * an OCI image layout (index, manifest, config, layer, each blob's size and
 * sha256), a docker-archive, and running programs of the unpacked root
 * filesystem with its own dynamic loader and libraries only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test_images.h"
#include "test_worker_support.h" /* SAFETY_S */

bool image_tool_found(const char *tool)
{
    const char *path = getenv("PATH");
    char buf[1024];

    while (path && *path) {
        size_t n = strcspn(path, ":");
        (void)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, tool);
        if (n > 0 && access(buf, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

int image_run(const char *const *argv, const char *out, const char *err)
{
    int fds[3] = {open("/dev/null", O_RDONLY | O_CLOEXEC), -1, -1};
    const char *files[2] = {out, err};

    for (int i = 0; i < 2; i++) {
        if (!files[i])
            continue;
        fds[i + 1] = open(test_path(files[i]), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        cr_assert(fds[i + 1] >= 0, "%s: %s", test_path(files[i]), strerror(errno));
    }
    pid_t pid = test_proc_start(argv, fds);
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0)
            (void)close(fds[i]);
    }
    int code = test_proc_wait(pid, time(NULL) + SAFETY_S);
    cr_assert(code >= 0, "%s ran past %d s", argv[0], SAFETY_S);
    return code;
}

char *image_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap + 1);
            cr_assert(buf != NULL);
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    (void)fclose(f);
    buf[len] = '\0';
    return buf;
}

cJSON *image_json(const char *path)
{
    char *text = image_slurp(path);
    cr_assert(text != NULL, "cannot read %s", path);
    cJSON *j = cJSON_Parse(text);
    cr_assert(j != NULL, "%s is not JSON: %.200s", path, text);
    free(text);
    return j;
}

const char *image_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The sha256 of path's bytes (of its gunzipped bytes with gunzip), as 64 hex digits. */
static void sha256_of(const char *path, bool gunzip, char hex[65])
{
    const char *argv[] = {
        "/bin/sh", "-c", gunzip ? "gzip -dc < \"$1\" | sha256sum" : "sha256sum < \"$1\"",
        "sh",      path, NULL};

    cr_assert_eq(image_run(argv, "sha256.out", NULL), 0, "sha256 of %s failed", path);
    char *out = image_slurp(test_path("sha256.out"));
    cr_assert(out && strlen(out) >= 64, "sha256sum printed %s", out ? out : "nothing");
    memcpy(hex, out, 64);
    hex[64] = '\0';
    free(out);
}

/* A sha256 digest's 64 hex digits (asserts the form "sha256:" + 64 lower-case hex). */
static const char *digest_hex(const char *digest)
{
    cr_assert(digest && strncmp(digest, "sha256:", 7) == 0, "digest %s",
              digest ? digest : "(none)");
    cr_assert_eq(strlen(digest + 7), 64, "digest %s", digest);
    cr_assert_eq(strspn(digest + 7, "0123456789abcdef"), 64, "digest %s", digest);
    return digest + 7;
}

/*
 * Check a descriptor: its media type, and that the blob it names exists with
 * exactly its size and digest. Returns the blob's path (malloc'd).
 */
static char *check_blob(const char *layout, const cJSON *desc, const char *media_type)
{
    const char *hex = digest_hex(image_str(desc, "digest"));
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");
    char *path = NULL, got[65];
    struct stat st;

    cr_assert_str_eq(image_str(desc, "mediaType"), media_type);
    cr_assert(asprintf(&path, "%s/blobs/sha256/%s", layout, hex) > 0);
    cr_assert(stat(path, &st) == 0, "blob %s missing", path);
    cr_assert(cJSON_IsNumber(size) && size->valuedouble == (double)st.st_size,
              "blob %s: %lld bytes, its descriptor says %g", path, (long long)st.st_size,
              cJSON_IsNumber(size) ? size->valuedouble : -1.0);
    sha256_of(path, false, got);
    cr_assert_str_eq(got, hex, "blob %s does not match its digest", path);
    return path;
}

/* Entries of dir (dot files aside). */
static size_t count_entries(const char *dir)
{
    size_t n = 0;
    struct dirent *e;
    DIR *d = opendir(dir);

    cr_assert(d != NULL, "%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    (void)closedir(d);
    return n;
}

void image_open(const char *layout, const char *tag, struct image *img)
{
    char path[600], diff[65];

    memset(img, 0, sizeof(*img));
    (void)snprintf(path, sizeof(path), "%s/oci-layout", layout);
    cJSON *ol = image_json(path);
    cr_assert_str_eq(image_str(ol, "imageLayoutVersion"), "1.0.0");
    cJSON_Delete(ol);

    (void)snprintf(path, sizeof(path), "%s/index.json", layout);
    cJSON *index = image_json(path);
    cJSON *mans = cJSON_GetObjectItemCaseSensitive(index, "manifests");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(index, "schemaVersion")->valueint, 2);
    cr_assert_eq(cJSON_GetArraySize(mans), 1, "index.json: want one image");
    cJSON *desc = cJSON_GetArrayItem(mans, 0);
    cJSON *ann = cJSON_GetObjectItemCaseSensitive(desc, "annotations");
    cr_assert_str_eq(image_str(ann, "org.opencontainers.image.ref.name"), tag);
    char *blob = check_blob(layout, desc, "application/vnd.oci.image.manifest.v1+json");
    img->manifest = image_json(blob);
    free(blob);
    cJSON_Delete(index);

    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(img->manifest, "schemaVersion")->valueint, 2);
    desc = cJSON_GetObjectItemCaseSensitive(img->manifest, "config");
    blob = check_blob(layout, desc, "application/vnd.oci.image.config.v1+json");
    img->config = image_json(blob);
    (void)snprintf(img->config_hex, sizeof(img->config_hex), "%s",
                   digest_hex(image_str(desc, "digest")));
    free(blob);

    cJSON *layers = cJSON_GetObjectItemCaseSensitive(img->manifest, "layers");
    cr_assert_eq(cJSON_GetArraySize(layers), 1, "want the one layer build-oci.sh makes");
    blob = check_blob(layout, cJSON_GetArrayItem(layers, 0),
                      "application/vnd.oci.image.layer.v1.tar+gzip");
    (void)snprintf(img->layer, sizeof(img->layer), "%s", blob);
    free(blob);

    /* The config names the layer by the digest of its uncompressed tar. */
    cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(img->config, "rootfs");
    cJSON *diffs = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids");
    cr_assert_str_eq(image_str(rootfs, "type"), "layers");
    cr_assert_eq(cJSON_GetArraySize(diffs), 1);
    sha256_of(img->layer, true, diff);
    cr_assert_str_eq(digest_hex(cJSON_GetArrayItem(diffs, 0)->valuestring), diff,
                     "diff_id is not the sha256 of the uncompressed layer");
    (void)snprintf(img->diff_hex, sizeof(img->diff_hex), "%s", diff);

    /* Manifest, config, layer: nothing unreferenced is left in the layout. */
    (void)snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
    cr_assert_eq(count_entries(path), 3, "%s holds unreferenced blobs", layout);
}

void image_close(struct image *img)
{
    cJSON_Delete(img->manifest);
    cJSON_Delete(img->config);
    memset(img, 0, sizeof(*img));
}

void image_check_config(const struct image *img, const char *entrypoint, const char *title)
{
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(img->config, "config");
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(cfg, "Env");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cfg, "Labels");

    cr_assert_str_eq(image_str(img->config, "os"), "linux");
    cr_assert_str_eq(image_str(img->config, "architecture"), IMAGE_ARCH);
    cr_assert_str_eq(image_str(cfg, "User"), "65532:65532");
    cr_assert_eq(cJSON_GetArraySize(entry), 1, "Entrypoint must be exactly [%s]", entrypoint);
    cr_assert_str_eq(cJSON_GetArrayItem(entry, 0)->valuestring, entrypoint);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(cfg, "Cmd"), "no Cmd: the Job gives the args");
    cr_assert_eq(cJSON_GetArraySize(env), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(env, 0)->valuestring, "PATH=/usr/local/bin:/usr/bin:/bin");
    cr_assert_str_eq(image_str(labels, "org.opencontainers.image.title"), title);
    cr_assert_str_eq(image_str(labels, "org.opencontainers.image.version"), KWQ_TEST_VERSION);
    cr_assert_not_null(image_str(labels, "org.opencontainers.image.created"));
    cr_assert_not_null(image_str(labels, "org.opencontainers.image.description"));
}

void image_check_layer_owners(const struct image *img)
{
    const char *argv[] = {"/bin/tar", "--numeric-owner", "-tvzf", img->layer, NULL};
    char owner[64];
    size_t entries = 0;

    cr_assert_eq(image_run(argv, "layer.list", NULL), 0, "tar cannot list %s", img->layer);
    char *list = image_slurp(test_path("layer.list"));
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        cr_assert_eq(sscanf(line, "%*s %63s", owner), 1, "layer entry %s", line);
        cr_assert_str_eq(owner, "0/0", "not owned by root in the image: %s", line);
        entries++;
    }
    cr_assert_gt(entries, 10, "the layer lists only %zu entries", entries);
    free(list);
}

void image_check_archive(const char *tar, const char *name, const struct image *img)
{
    const char *argv[] = {"/bin/tar", "-xOf", tar, "manifest.json", NULL};
    char want[128];

    cr_assert_eq(image_run(argv, "archive-manifest.json", NULL), 0, "no manifest.json in %s", tar);
    cJSON *m = image_json(test_path("archive-manifest.json"));
    cr_assert_eq(cJSON_GetArraySize(m), 1);
    cJSON *e = cJSON_GetArrayItem(m, 0);
    cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "RepoTags");
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(e, "Layers");
    (void)snprintf(want, sizeof(want), "docker.io/library/%s:%s", name, KWQ_TEST_VERSION);
    cr_assert_eq(cJSON_GetArraySize(tags), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(tags, 0)->valuestring, want);
    (void)snprintf(want, sizeof(want), "%s.json", img->config_hex);
    cr_assert_str_eq(image_str(e, "Config"), want, "the archive's config is another image's");
    (void)snprintf(want, sizeof(want), "%s.tar", img->diff_hex);
    cr_assert_eq(cJSON_GetArraySize(layers), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(layers, 0)->valuestring, want);
    cJSON_Delete(m);
}

void image_unpack(const char *layout, const char *bundle, char *root, size_t len)
{
    char ref[600];

    (void)snprintf(ref, sizeof(ref), "%s:%s", layout, KWQ_TEST_VERSION);
    const char *argv[] = {"/usr/bin/env", "umoci", "unpack", "--rootless",
                          "--image",      ref,     bundle,   NULL};
    cr_assert_eq(image_run(argv, "unpack.out", "unpack.err"), 0, "umoci unpack failed; see %s",
                 test_path("unpack.err"));
    (void)snprintf(root, len, "%s/rootfs", bundle);
}

void image_check_rootfs(const char *root, const char *const *packages)
{
    char path[700];
    struct stat st;

    /* No shell: the entrypoint is exec'd, and a handler image adds only files. */
    (void)snprintf(path, sizeof(path), "%s/bin/sh", root);
    cr_assert(lstat(path, &st) != 0, "%s exists: the image should hold no shell", path);
    (void)snprintf(path, sizeof(path), "%s/tmp", root);
    cr_assert(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "no /tmp");
    cr_assert_eq(st.st_mode & 07777, 01777, "/tmp mode %o", (unsigned)(st.st_mode & 07777));

    (void)snprintf(path, sizeof(path), "%s/etc/passwd", root);
    char *text = image_slurp(path);
    cr_assert(text && strstr(text, "\nkwq:x:65532:65532:"), "no user 65532 in /etc/passwd: %s",
              text ? text : "(missing)");
    free(text);
    (void)snprintf(path, sizeof(path), "%s/etc/group", root);
    text = image_slurp(path);
    cr_assert(text && strstr(text, "\nkwq:x:65532:"), "no group 65532 in /etc/group");
    free(text);

    for (size_t i = 0; packages[i]; i++) {
        (void)snprintf(path, sizeof(path), "%s/usr/share/doc/%s/copyright", root, packages[i]);
        cr_assert(stat(path, &st) == 0 && st.st_size > 0, "no copyright file %s", path);
    }
}

size_t image_doc_dirs(const char *root)
{
    char path[700];

    (void)snprintf(path, sizeof(path), "%s/usr/share/doc", root);
    return count_entries(path);
}

/* argv: the rootfs's loader with only the rootfs's library dir, then bin and args. */
static void loader_argv(const char *root, const char *bin, const char *const *args, bool list,
                        const char **argv, char (*bufs)[700])
{
    size_t n = 0;

    (void)snprintf(bufs[0], 700, "%s%s", root, IMAGE_LOADER);
    (void)snprintf(bufs[1], 700, "%s/usr/lib/%s", root, IMAGE_TRIPLET);
    (void)snprintf(bufs[2], 700, "%s%s", root, bin);
    argv[n++] = bufs[0];
    argv[n++] = "--inhibit-cache";
    argv[n++] = "--library-path";
    argv[n++] = bufs[1];
    if (list)
        argv[n++] = "--list";
    argv[n++] = bufs[2];
    for (size_t i = 0; args && args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
}

size_t image_check_closure(const char *root, const char *bin)
{
    const char *argv[32];
    char bufs[3][700];
    size_t n = 0;

    loader_argv(root, bin, NULL, true, argv, bufs);
    cr_assert_eq(image_run(argv, "closure.out", "closure.err"), 0, "%s --list %s failed", argv[0],
                 bin);
    char *out = image_slurp(test_path("closure.out"));
    cr_assert(strstr(out, "not found") == NULL, "%s lacks a library:\n%s", bin, out);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *to = strstr(line, "=> ");
        if (!to)
            continue; /* the vDSO: the kernel's, in no file */
        to += 3;
        cr_assert(strncmp(to, root, strlen(root)) == 0 && to[strlen(root)] == '/',
                  "%s loads a library from outside the image: %s", bin, line);
        n++;
    }
    free(out);
    return n;
}

int image_exec(const char *root, const char *bin, const char *const *args, const char *out)
{
    const char *argv[32];
    char bufs[3][700];

    loader_argv(root, bin, args, false, argv, bufs);
    return image_run(argv, out, "exec.err");
}

void image_assert_output(const char *file, const char *want)
{
    char *got = image_slurp(test_path(file));
    cr_assert(got != NULL, "no %s", file);
    cr_assert_str_eq(got, want);
    free(got);
}
