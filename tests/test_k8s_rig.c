/*
 * test_k8s_rig.c - the suite's control plane is the real thing: RBAC is
 * enforced for a limited ServiceAccount, and a Job's pod really runs
 * (pod_runner maps the image kwq-worker to this build's kwq-worker).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "k8s_rig.h"

Test(k8s_rig, rbac_is_enforced_for_a_limited_service_account)
{
    struct k8s_rig rig;
    char ns[64], token[2048], path[256];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "rig", ns, sizeof(ns));
    k8s_rig_service_account(&rig, ns, "reader",
                            "[{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\"],"
                            "\"verbs\":[\"get\",\"list\"]}]",
                            token, sizeof(token));
    (void)snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", ns);
    {
        struct k8s_rig as = rig;
        char *out = NULL;

        (void)snprintf(as.token, sizeof(as.token), "%s", token);
        cr_expect_eq(k8s_rig_request(&as, "GET", path, NULL, NULL, NULL), 200);
        cr_expect_eq(k8s_rig_request(&as, "POST", path, NULL, "{}", &out), 403);
        cr_expect(out && strstr(out, "cannot create resource \\\"jobs\\\""), "%s", out);
        free(out);
    }
}

Test(k8s_rig, a_secret_and_a_namespace_of_our_own)
{
    struct k8s_rig rig;
    char ns[64], path[256], *out;

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "rig", ns, sizeof(ns));
    k8s_rig_secret(&rig, ns, "kwq-redis", "url", "unix:///tmp/x.sock", NULL);
    (void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/kwq-redis", ns);
    out = k8s_rig_must(&rig, "GET", path, NULL);
    cr_expect(strstr(out, "\"url\": \"dW5peDovLy90bXAveC5zb2Nr\"") ||
                  strstr(out, "\"url\":\"dW5peDovLy90bXAveC5zb2Nr\""),
              "%s", out);
    free(out);
}
