/*
 * test_images.c - images/build-oci.sh builds the kwq-worker and kwq images
 * from this build's binaries: valid OCI layouts (every blob checked), the
 * config a hardened pod needs (User 65532:65532, the entrypoint), a root
 * filesystem that carries every library it loads and the licences of their
 * Debian packages, and programs that work from it: kwq from the kwq image
 * enqueues, kwq-worker from the worker image drains the queue (in a chroot
 * as user 65532 where the test may chroot). Bad command lines get one line
 * and their exit code. Needs umoci (skopeo for the docker-archive), else skips.
 */
#include "test_images.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kwq/client.h"

#include "redis_fixture.h"
#include "test_worker_support.h"

#define SCRIPT KWQ_TEST_SOURCE_DIR "/images/build-oci.sh"

static char redis_port[16];

/* The fixture's Redis also on TCP: a worker chrooted into the image cannot reach its socket. */
static void tcp_redis_setup(void)
{
    static const char *extra[] = {"--port", redis_port, "--bind", "127.0.0.1", NULL};

    free_port(redis_port, sizeof(redis_port));
    redis_fixture_start(&test_redis, extra);
}

/* One suite: Criterion 2.4.1's runner leaks a little per extra suite (LSan fails the binary). */
TestSuite(images, .init = tcp_redis_setup, .fini = redis_teardown, .timeout = 120);

/* A line on stderr about how the test ran (cr_log_info leaks in Criterion 2.4.1: LSan). */
static void note(const char *line)
{
    (void)fprintf(stderr, "test_images: %s\n", line);
}

static void need_umoci(void)
{
    if (!image_tool_found("umoci"))
        cr_skip_test("umoci is not installed (Debian package umoci): ./dev.sh deps");
}

static bool want_archive(void)
{
    if (image_tool_found("skopeo"))
        return true;
    note("skopeo is not installed (Debian package skopeo): no docker-archive checked");
    return false;
}

/* build-oci.sh --image image [--archive] BUILD_DIR <test dir>/out; asserts exit 0. */
static void build_image(const char *image, bool archive)
{
    char out[512];
    const char *argv[] = {
        "/bin/bash",        SCRIPT, "--image", image, archive ? "--archive" : "--",
        KWQ_TEST_BUILD_DIR, out,    NULL};

    (void)snprintf(out, sizeof(out), "%s", test_path("out"));
    int code = image_run(argv, "build.out", "build.err");
    char *err = image_slurp(test_path("build.err"));
    cr_assert_eq(code, 0, "build-oci.sh --image %s exited %d: %s", image, code, err);
    free(err);
}

/* The layout dir of image name in the test's out dir. */
static const char *layout_of(const char *name)
{
    static char buf[512];
    (void)snprintf(buf, sizeof(buf), "%s/%s", test_path("out"), name);
    return buf;
}

/*
 * Build image opt (worker, kwq) named name, check its layout, config, layer
 * and (with skopeo) docker-archive, unpack it and check its rootfs for
 * packages' copyrights; root gets the unpacked rootfs.
 */
static void build_and_check(const char *opt, const char *name, const char *const *packages,
                            char *root, size_t len)
{
    struct image img;
    char layout[512], entry[128], tar[600];

    need_umoci();
    bool archive = want_archive();
    build_image(opt, archive);
    (void)snprintf(layout, sizeof(layout), "%s", layout_of(name));
    (void)snprintf(entry, sizeof(entry), "/usr/local/bin/%s", name);
    image_open(layout, KWQ_TEST_VERSION, &img);
    image_check_config(&img, entry, name);
    image_check_layer_owners(&img);
    if (archive) {
        (void)snprintf(tar, sizeof(tar), "%s/%s.tar", test_path("out"), name);
        image_check_archive(tar, name, &img);
    }
    image_close(&img);
    image_unpack(layout, test_path("bundle"), root, len);
    image_check_rootfs(root, packages);
}

Test(images, worker_image_is_an_oci_layout_of_kwq_worker_run_as_65532)
{
    static const char *const pkgs[] = {"libc6",     "libhiredis0.14", "libev4",
                                       "libcjson1", "coreutils",      NULL};
    static const char *const version[] = {"--version", NULL};
    char root[600];

    build_and_check("worker", "kwq-worker", pkgs, root, sizeof(root));
    size_t libs = image_check_closure(root, "/usr/local/bin/kwq-worker");
#ifndef KWQ_TEST_SANITIZED
    /* The five packages above and nothing else; four libraries and the loader. */
    cr_assert_eq(image_doc_dirs(root), 5);
    cr_assert_eq(libs, 5);
#else
    cr_assert_geq(libs, 5);
#endif
    cr_assert_eq(image_exec(root, "/usr/local/bin/kwq-worker", version, "version.out"), 0);
    image_assert_output("version.out", "kwq-worker " KWQ_TEST_VERSION "\n");

    /* The Job's readiness probe execs `test -e FILE` in the container: it is there and works. */
    char there[700], absent[700];
    (void)snprintf(there, sizeof(there), "%s/tmp", root);
    (void)snprintf(absent, sizeof(absent), "%s/var/run/kwq/busy", root);
    const char *probe_there[] = {"-e", there, NULL};
    const char *probe_absent[] = {"-e", absent, NULL};
    image_check_closure(root, "/usr/bin/test");
    cr_assert_eq(image_exec(root, "/usr/bin/test", probe_there, "probe.out"), 0);
    cr_assert_eq(image_exec(root, "/usr/bin/test", probe_absent, "probe.out"), 1);
}

Test(images, kwq_image_holds_kwq_kwq_broker_and_the_ca_certificates)
{
    static const char *const pkgs[] = {"libc6",    "libhiredis0.14", "libev4",          "libcjson1",
                                       "libcurl4", "libyaml-0-2",    "ca-certificates", NULL};
    static const char *const version[] = {"--version", NULL};
    char root[600], path[700];

    build_and_check("kwq", "kwq", pkgs, root, sizeof(root));
    (void)snprintf(path, sizeof(path), "%s/etc/ssl/certs/ca-certificates.crt", root);
    char *ours = image_slurp(path);
    char *host = image_slurp("/etc/ssl/certs/ca-certificates.crt");
    cr_assert(ours && host && strstr(ours, "-----BEGIN CERTIFICATE-----"), "no CA bundle in %s",
              path);
    cr_assert_str_eq(ours, host, "the image's CA bundle is not this machine's");
    free(ours);
    free(host);

    cr_assert_geq(image_check_closure(root, "/usr/local/bin/kwq"), 7);
    cr_assert_geq(image_check_closure(root, "/usr/local/bin/kwq-broker"), 7);
    cr_assert_eq(image_exec(root, "/usr/local/bin/kwq-broker", version, "broker.out"), 0);
    image_assert_output("broker.out", "kwq-broker " KWQ_TEST_VERSION "\n");

    /* The image's kwq, every library of libcurl's loaded, fills a queue. */
    const char *enqueue[] = {"--redis", test_redis.url, "--queue", TEST_QUEUE, "--quiet",
                             "enqueue", "--seal",       "a",       "b",        "c",
                             NULL};
    int code = image_exec(root, "/usr/local/bin/kwq", enqueue, "enqueue.out");
    char *err = image_slurp(test_path("exec.err"));
    cr_assert_eq(code, 0, "the image's kwq enqueue exited %d: %s", code, err);
    free(err);
    struct kwq_client *c = test_client();
    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.enqueued, 3);
    cr_assert_eq(st.pending, 3);
    cr_assert(st.sealed);
    kwq_client_free(c);
}

/* Copy the test handler into the image as the convention's /usr/local/bin/kwq-handler. */
static void add_handler(const char *root)
{
    char dest[700];
    char *bytes;
    size_t len;
    struct stat st;
    const char *src = helper_path("helper_echo");

    cr_assert(stat(src, &st) == 0, "%s: %s", src, strerror(errno));
    len = (size_t)st.st_size;
    bytes = malloc(len);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    cr_assert(bytes && in >= 0 && read(in, bytes, len) == (ssize_t)len, "cannot read %s", src);
    (void)close(in);
    (void)snprintf(dest, sizeof(dest), "%s/usr/local/bin/kwq-handler", root);
    int out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    cr_assert(out >= 0 && write(out, bytes, len) == (ssize_t)len, "cannot write %s", dest);
    (void)close(out);
    free(bytes);
}

/*
 * Can this test chroot into root and become 65532 (root, not a sanitizer
 * build: the sanitizers read /proc, which the image does not mount)?
 */
static bool can_chroot(const char *root)
{
#ifdef KWQ_TEST_SANITIZED
    (void)root;
    note("sanitizer build: the worker runs with the image's loader, not chrooted");
    return false;
#else
    const char *argv[] = {"/usr/sbin/chroot",
                          "--userspec=65532:65532",
                          root,
                          "/usr/local/bin/kwq-worker",
                          "--version",
                          NULL};
    if (geteuid() != 0 || access(argv[0], X_OK) != 0) {
        note("not root: the worker runs with the image's loader, not chrooted");
        return false;
    }
    /* chroot(1) exits 125 when it may not chroot; anything else is the image's doing. */
    int code = image_run(argv, "chroot.out", "chroot.err");
    if (code == 125) {
        note("chroot refused here: the worker runs with the image's loader");
        return false;
    }
    char *err = image_slurp(test_path("chroot.err"));
    cr_assert_eq(code, 0, "kwq-worker --version in the image exited %d: %s", code, err);
    free(err);
    image_assert_output("chroot.out", "kwq-worker " KWQ_TEST_VERSION "\n");
    note("the worker runs chrooted into the image as 65532:65532");
    return true;
#endif
}

Test(images, the_worker_image_with_a_handler_added_drains_a_queue)
{
    enum { NTASKS = 5 };
    struct kwq_enqueued ids[NTASKS];
    struct kwq_result *res = NULL;
    size_t n = 0;
    char root[600], url[64], handler[700];

    need_umoci();
    build_image("worker", false);
    image_unpack(layout_of("kwq-worker"), test_path("bundle"), root, sizeof(root));
    add_handler(root);

    struct kwq_client *c = test_client();
    enqueue_n(c, NTASKS, "t", ids);
    cr_assert(kwq_seal(c, TEST_QUEUE) == 0);
    (void)snprintf(url, sizeof(url), "redis://127.0.0.1:%s/0", redis_port);

    int code;
    if (can_chroot(root)) {
        /* As a pod runs it: the image's files only, user 65532, Redis over TCP. */
        const char *argv[] = {"/usr/sbin/chroot",
                              "--userspec=65532:65532",
                              root,
                              "/usr/local/bin/kwq-worker",
                              "--redis",
                              url,
                              "--queue",
                              TEST_QUEUE,
                              "--",
                              "/usr/local/bin/kwq-handler",
                              NULL};
        code = image_run(argv, "worker.log", "worker.log");
    } else {
        /* The loader falls back on this machine's library dirs: first prove it need not. */
        image_check_closure(root, "/usr/local/bin/kwq-worker");
        image_check_closure(root, "/usr/local/bin/kwq-handler");
        (void)snprintf(handler, sizeof(handler), "%s/usr/local/bin/kwq-handler", root);
        const char *args[] = {"--redis", url, "--queue", TEST_QUEUE, "--", handler, NULL};
        code = image_exec(root, "/usr/local/bin/kwq-worker", args, "worker.log");
    }
    cr_assert_eq(code, 0, "the image's worker exited %d; log %s", code, test_path("worker.log"));

    struct kwq_stats st = stats_of(c);
    cr_assert_eq(st.done, NTASKS);
    cr_assert(st.drained);
    cr_assert(kwq_results_read(c, TEST_QUEUE, "0", NTASKS + 1, 0, &res, &n) == 0);
    cr_assert_eq(n, NTASKS);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < NTASKS && strcmp(ids[k].id, res[i].id) != 0)
            k++;
        cr_assert_lt(k, NTASKS, "a result for a task never enqueued: %s", res[i].id);
        char want[16];
        (void)snprintf(want, sizeof(want), "t%zu", k);
        cr_assert_str_eq(res[i].data, want, "the handler in the image echoes its payload");
    }
    kwq_results_free(res, n);
    kwq_client_free(c);
}

Test(images, help_prints_the_usage_and_exits_0)
{
    const char *argv[] = {"/bin/bash", SCRIPT, "--help", NULL};

    cr_assert_eq(image_run(argv, "help.out", "help.err"), 0);
    char *out = image_slurp(test_path("help.out"));
    cr_assert(strncmp(out, "usage: images/build-oci.sh [options] BUILD_DIR OUT_DIR\n", 55) == 0,
              "%s", out);
    cr_assert(strstr(out, "exit codes:") != NULL);
    free(out);
    image_assert_output("help.err", "");
}

/* Run the script on argv; assert exit code want, stderr exactly line, and no OUT_DIR made. */
static void refused(const char *const *argv, int want, const char *line)
{
    struct stat st;

    cr_assert_eq(image_run(argv, "cli.out", "cli.err"), want);
    image_assert_output("cli.err", line);
    image_assert_output("cli.out", "");
    cr_assert(stat(test_path("out"), &st) != 0, "OUT_DIR was created for a refused command");
}

Test(images, a_missing_build_dir_is_one_line_and_exit_66)
{
    char out[512];
    const char *argv[] = {"/bin/bash", SCRIPT, "/nonexistent/build", out, NULL};

    (void)snprintf(out, sizeof(out), "%s", test_path("out"));
    refused(argv, 66,
            "build-oci.sh: no build directory /nonexistent/build: build kwq first (./dev.sh "
            "build)\n");
}

Test(images, bad_command_lines_are_one_line_and_exit_2)
{
    char out[512];
    const char *unknown[] = {"/bin/bash", SCRIPT, "--push", KWQ_TEST_BUILD_DIR, out, NULL};
    const char *image[] = {"/bin/bash", SCRIPT, "--image", "broker", KWQ_TEST_BUILD_DIR, out, NULL};
    const char *one[] = {"/bin/bash", SCRIPT, KWQ_TEST_BUILD_DIR, NULL};
    const char *tag[] = {"/bin/bash", SCRIPT, "--tag", "-x", KWQ_TEST_BUILD_DIR, out, NULL};

    (void)snprintf(out, sizeof(out), "%s", test_path("out"));
    refused(unknown, 2, "build-oci.sh: unknown option --push (see --help)\n");
    refused(image, 2, "build-oci.sh: --image must be worker, kwq or all, not 'broker'\n");
    refused(one, 2, "build-oci.sh: expected BUILD_DIR and OUT_DIR (see --help)\n");
    refused(tag, 2,
            "build-oci.sh: --tag '-x' is not an image tag: letters, digits, _ . - (not first . "
            "or -), at most 128\n");
}

Test(images, a_missing_umoci_names_its_debian_package_and_exits_69)
{
    char out[512];
    /* A PATH without umoci; bash finds nothing else before it checks. */
    const char *argv[] = {
        "/usr/bin/env", "PATH=/nonexistent", "/bin/bash", SCRIPT, KWQ_TEST_BUILD_DIR, out, NULL};

    (void)snprintf(out, sizeof(out), "%s", test_path("out"));
    refused(argv, 69,
            "build-oci.sh: umoci not found: install the Debian package umoci (apt-get install "
            "umoci)\n");
}
