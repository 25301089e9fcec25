/*
 * test_redis_tls_support.c - see test_redis_tls_support.h. Every wait polls
 * with a safety limit (SAFETY_S): it bounds a broken test, it measures
 * nothing.
 */
#include "test_redis_tls_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "redis_fixture.h"
#include "test_proc.h"
#include "test_worker_support.h"

#define COMPONENT_CONF KWQ_TEST_SOURCE_DIR "/manifests/components/redis-tls/stunnel.conf"
#define AMBASSADOR     KWQ_TEST_SOURCE_DIR "/images/kwq-tls-ambassador"

/* What tls_teardown stops: at most one ambassador and a few workers per test. */
static struct tls_ambassador *live_ambassador;
#define WORKERS_MAX 4
static pid_t live_workers[WORKERS_MAX];

void tls_setup(void)
{
    if (!KWQ_TEST_STUNNEL[0])
        cr_skip_test("stunnel is not installed (Debian package stunnel4): TLS tests skipped");
    if (!KWQ_TEST_OPENSSL[0])
        cr_skip_test("openssl is not installed (Debian package openssl): TLS tests skipped");
    if (!KWQ_TEST_REDIS_TLS)
        cr_skip_test("%s is built without TLS: TLS tests skipped", KWQ_TEST_REDIS_SERVER);
    redis_setup();
}

static void stop(pid_t pid, int sig)
{
    if (pid > 0 && kill(pid, sig) == 0)
        (void)test_proc_wait(pid, time(NULL) + SAFETY_S);
}

void tls_teardown(void)
{
    for (size_t i = 0; i < WORKERS_MAX; i++)
        stop(live_workers[i], SIGKILL);
    /* SIGTERM, not SIGKILL: the script stops its stunnel, which SIGKILL would orphan. */
    if (live_ambassador)
        stop(live_ambassador->pid, SIGTERM);
    redis_teardown();
}

/* Run argv (a path first) with its output in test_path("openssl.log"); assert exit 0. */
static void run(const char *const *argv)
{
    const char *log = test_path("openssl.log");
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int fds[3] = {-1, fd, fd};

    cr_assert(fd >= 0, "cannot open %s: %s", log, strerror(errno));
    cr_assert_eq(test_proc_wait(test_proc_start(argv, fds), time(NULL) + SAFETY_S), 0,
                 "%s failed: see %s", argv[0], log);
    (void)close(fd);
}

/* The openssl configuration: a CA's extensions, and a TLS server's for host. */
static const char *pki_conf(const char *host)
{
    const char *path = test_path("pki.cnf");
    FILE *f = fopen(path, "w");

    cr_assert(f, "cannot write %s", path);
    (void)fprintf(f,
                  "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n"
                  "[ca]\nbasicConstraints = critical,CA:TRUE\n"
                  "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
                  "[server]\nbasicConstraints = critical,CA:FALSE\n"
                  "keyUsage = critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:%s\n",
                  host, host);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static void file_of(char *buf, size_t len, const char *name, const char *ext)
{
    (void)snprintf(buf, len, "%s.%s", test_path(name), ext);
}

void tls_make_ca(const char *name)
{
    char crt[600], key[600], cn[128];
    const char *conf;

    (void)snprintf(cn, sizeof(cn), "kwq test CA %s", name);
    conf = pki_conf(cn);
    file_of(crt, sizeof(crt), name, "crt");
    file_of(key, sizeof(key), name, "key");
    run((const char *[]){KWQ_TEST_OPENSSL, "req", "-x509", "-config", conf, "-extensions", "ca",
                         "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", key, "-out", crt, "-days", "1", NULL});
}

void tls_make_server(const char *name, const char *ca, const char *host)
{
    char crt[600], key[600], csr[600], ca_crt[600], ca_key[600], conf[600];

    (void)snprintf(conf, sizeof(conf), "%s", pki_conf(host));
    file_of(crt, sizeof(crt), name, "crt");
    file_of(key, sizeof(key), name, "key");
    file_of(csr, sizeof(csr), name, "csr");
    file_of(ca_crt, sizeof(ca_crt), ca, "crt");
    file_of(ca_key, sizeof(ca_key), ca, "key");
    run((const char *[]){KWQ_TEST_OPENSSL, "req", "-new", "-config", conf, "-newkey", "ec",
                         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                         "-out", csr, NULL});
    run((const char *[]){
        KWQ_TEST_OPENSSL, "x509",        "-req", "-in",   csr, "-CA",      ca_crt, "-CAkey",
        ca_key,           "-set_serial", "1",    "-days", "1", "-extfile", conf,   "-extensions",
        "server",         "-out",        crt,    NULL});
}

void tls_redis_listen(const char *cert, const char *ca, char *port, size_t len)
{
    char crt[600], key[600], ca_crt[600];

    file_of(crt, sizeof(crt), cert, "crt");
    file_of(key, sizeof(key), cert, "key");
    file_of(ca_crt, sizeof(ca_crt), ca, "crt");
    free_port(port, len);
    /* Redis 7 takes its TLS settings at run time; the port last, once they are all in. */
    redis_do(&test_redis,
             (const char *[]){"CONFIG", "SET", "tls-cert-file", crt, "tls-key-file", key,
                              "tls-ca-cert-file", ca_crt, "tls-auth-clients", "no", NULL});
    redis_do(&test_redis, (const char *[]){"CONFIG", "SET", "tls-port", port, NULL});
}

/* Replace the value of the line "<key> = ..." of conf (a NUL-terminated buffer); assert one. */
static void set_conf(char *conf, size_t cap, const char *key, const char *value)
{
    char head[64], *at, *eol, rest[8192];
    int n;

    n = snprintf(head, sizeof(head), "\n%s = ", key);
    at = strstr(conf, head);
    cr_assert(at, "the component's stunnel.conf has no '%s = ' line", key);
    cr_assert_null(strstr(at + 1, head), "the component's stunnel.conf has two '%s' lines", key);
    eol = strchr(at + n, '\n');
    (void)snprintf(rest, sizeof(rest), "%s", eol ? eol : "");
    cr_assert((size_t)(at + n - conf) + strlen(value) + strlen(rest) < cap);
    (void)snprintf(at + n, cap - (size_t)(at + n - conf), "%s%s", value, rest);
}

/* The component's stunnel.conf for this test's ports and CA, at test_path("stunnel.conf"). */
static const char *test_conf(const char *accept_port, const char *redis_port, const char *ca)
{
    static char path[512];
    char conf[8192] = "\n", accept[64], connect[64], ca_file[600];
    FILE *f = fopen(COMPONENT_CONF, "r");
    size_t n;

    cr_assert(f, "cannot read %s", COMPONENT_CONF);
    n = fread(conf + 1, 1, sizeof(conf) - 2, f);
    conf[n + 1] = '\0';
    (void)fclose(f);
    (void)snprintf(accept, sizeof(accept), "127.0.0.1:%s", accept_port);
    (void)snprintf(connect, sizeof(connect), "127.0.0.1:%s", redis_port);
    if (ca[0] == '/')
        (void)snprintf(ca_file, sizeof(ca_file), "%s", ca);
    else
        file_of(ca_file, sizeof(ca_file), ca, "crt");
    set_conf(conf, sizeof(conf), "accept", accept);
    set_conf(conf, sizeof(conf), "connect", connect);
    set_conf(conf, sizeof(conf), "CAfile", ca_file);
    (void)snprintf(path, sizeof(path), "%s", test_path("stunnel.conf"));
    write_file(path, conf + 1);
    return path;
}

static bool accepts(const char *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    cr_assert(fd >= 0);
    sa.sin_port = htons((uint16_t)strtoul(port, NULL, 10));
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    (void)close(fd);
    return ok;
}

static void set_env(const char *const *env, bool on)
{
    for (size_t i = 0; env && env[i]; i++) {
        char name[64];
        const char *eq = strchr(env[i], '=');

        cr_assert(eq && (size_t)(eq - env[i]) < sizeof(name));
        (void)snprintf(name, sizeof(name), "%.*s", (int)(eq - env[i]), env[i]);
        cr_assert_eq(on ? setenv(name, eq + 1, 1) : unsetenv(name), 0);
    }
}

void tls_ambassador_spawn(struct tls_ambassador *a, const char *redis_port, const char *ca,
                          const char *const *env)
{
    char parent[48];
    const char *argv[3];
    int fd;

    memset(a, 0, sizeof(*a));
    free_port(a->port, sizeof(a->port));
    (void)snprintf(a->url, sizeof(a->url), "redis://127.0.0.1:%s/0", a->port);
    (void)snprintf(a->log, sizeof(a->log), "%s", test_path("ambassador.log"));
    argv[0] = AMBASSADOR;
    argv[1] = test_conf(a->port, redis_port, ca);
    argv[2] = NULL;
    (void)snprintf(parent, sizeof(parent), "KWQ_TLS_WATCH_PARENT=%ld", (long)getpid());
    fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "cannot open %s: %s", a->log, strerror(errno));
    set_env((const char *[]){parent, NULL}, true);
    set_env(env, true);
    a->pid = test_proc_start(argv, (int[3]){-1, fd, fd});
    set_env(env, false);
    (void)close(fd);
    live_ambassador = a;
}

void tls_ambassador_start(struct tls_ambassador *a, const char *redis_port, const char *ca,
                          const char *const *env)
{
    time_t deadline = time(NULL) + SAFETY_S;
    int code = 0;

    tls_ambassador_spawn(a, redis_port, ca, env);
    while (!accepts(a->port)) {
        cr_assert_not(test_proc_exited(a->pid, &code), "the ambassador exited %d: see %s", code,
                      a->log);
        cr_assert(time(NULL) <= deadline, "the ambassador does not listen: see %s", a->log);
        (void)nanosleep(&(struct timespec){0, 10L * 1000 * 1000}, NULL);
    }
}

int tls_ambassador_wait(struct tls_ambassador *a)
{
    int code = test_proc_wait(a->pid, time(NULL) + SAFETY_S);

    cr_assert_neq(code, -1, "the ambassador did not exit: see %s", a->log);
    a->pid = 0;
    return code;
}

pid_t tls_worker_start(const char *url, const char *log, const char *const *extra)
{
    const char *argv[32];
    size_t n = 0, slot = 0;
    int fd;
    pid_t pid;

    argv[n++] = KWQ_TEST_WORKER_BIN;
    argv[n++] = "--redis";
    argv[n++] = url;
    argv[n++] = "--queue";
    argv[n++] = TEST_QUEUE;
    argv[n++] = "--log-format";
    argv[n++] = "json";
    for (size_t i = 0; extra && extra[i] && n < 28; i++)
        argv[n++] = extra[i];
    argv[n++] = "--";
    argv[n++] = helper_path("helper_echo");
    argv[n] = NULL;
    fd = open(test_path(log), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "cannot open %s: %s", test_path(log), strerror(errno));
    pid = test_proc_start(argv, (int[3]){-1, fd, fd});
    (void)close(fd);
    while (slot < WORKERS_MAX - 1 && live_workers[slot] > 0)
        slot++;
    live_workers[slot] = pid;
    return pid;
}

int tls_worker_wait(pid_t pid)
{
    int code = test_proc_wait(pid, time(NULL) + SAFETY_S);

    for (size_t i = 0; i < WORKERS_MAX; i++) {
        if (live_workers[i] == pid)
            live_workers[i] = 0;
    }
    cr_assert_neq(code, -1, "kwq-worker did not exit");
    return code;
}
