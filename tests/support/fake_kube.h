/*
 * fake_kube.h - the fake Kubernetes API server (tests/helpers/fake_kube_api.py)
 * for the tests of the HTTP client: what the real API server cannot do on
 * demand (429 with Retry-After, 500s, slow answers, a token refused until a
 * file changes). Each test starts its own, on a port the kernel picks.
 */
#ifndef KWQ_FAKE_KUBE_H
#define KWQ_FAKE_KUBE_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "kube/config.h"

struct fake_kube {
    char dir[64];      /* private temp dir: the script, token files */
    char url[64];      /* http://127.0.0.1:PORT */
    char ns[16];       /* "default", for kube_config.namespace */
    char path[8][128]; /* fake_kube_file's names */
    unsigned npath;
    pid_t pid;
    int stdin_fd;           /* closing it stops the fake */
    struct kube_config cfg; /* server = url, namespace = ns; the rest NULL */
};

/*
 * Start the fake with script, the JSON text the helper's docstring
 * describes (a map from path to steps), "@DIR@" in it standing for f->dir
 * (where fake_kube_file puts files). Asserts it listens.
 */
void fake_kube_start(struct fake_kube *f, const char *script);

/* Stop it and remove its dir. */
void fake_kube_stop(struct fake_kube *f);

/* Path of name in f's dir (kept in f, up to 8 names); the file is written with text unless NULL. */
char *fake_kube_file(struct fake_kube *f, const char *name, const char *text);

/* Replace the file at path with text, atomically (rename), as the kubelet does. */
void fake_kube_write(const char *path, const char *text);

/* Every request the fake saw, in arrival order (a JSON array; cJSON_Delete it). */
cJSON *fake_kube_log(struct fake_kube *f);

/* How many requests to path (query excluded) the fake saw. */
size_t fake_kube_count(struct fake_kube *f, const char *path);

#endif /* KWQ_FAKE_KUBE_H */
