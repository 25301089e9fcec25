/*
 * test_k8s_watch.h - a watch on the test control plane, recorded: every
 * event of a list path (?watch=1) as the API server streamed it, kept in
 * order. Tests read what happened between two polls, which a poll misses:
 * each value spec.parallelism took, each pod's exit code before the pod
 * object was deleted.
 */
#ifndef KWQ_TEST_K8S_WATCH_H
#define KWQ_TEST_K8S_WATCH_H

#include <cjson/cJSON.h>

#include "k8s_rig.h"

struct k8s_watch;

/*
 * Watch path (from the server root, e.g. "/api/v1/namespaces/NS/pods") as the
 * admin, from now on: the objects that exist come first as ADDED events.
 * Returns once the watch is open.
 */
struct k8s_watch *k8s_watch_start(const struct k8s_rig *rig, const char *path);

/* A copy of the events so far: an array of {"type": ..., "object": {...}} (cJSON_Delete it). */
cJSON *k8s_watch_events(struct k8s_watch *w);

/* End the watch and free w. */
void k8s_watch_stop(struct k8s_watch *w);

#endif /* KWQ_TEST_K8S_WATCH_H */
