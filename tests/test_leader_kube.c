/*
 * test_leader_kube.c - the election of broker/leader.h on its Kubernetes
 * backend against the real control plane (tests/k8s/rig.sh): two brokers,
 * each with its own client as a ServiceAccount that may only get, create
 * and update leases. One leads (it created the Lease: term 1); a stop
 * hands over at once (term 2); a broker gone without a stop is replaced
 * once its Lease stayed unchanged for leaseDurationSeconds as the other saw
 * it (term 3). The term is always the Lease's leaseTransitions, and the
 * Lease names the leader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ev.h>

#include "kwq/error.h"

#include "k8s_rig.h"
#include "kube/config.h"
#include "kube/http.h"
#include "leader.h"
#include "test_leader_support.h"

#define NAME     "kwq-broker"
#define LEASE_MS 3000

static struct k8s_rig rig;
static char ns[64], kubeconfig[600];

/* String equality for const strings (Criterion's str tag is a char *). */
#define str_is(a, b) cr_assert(eq(str, (char *)(a), (char *)(b)))

/* A ServiceAccount with only what the election needs, and a kubeconfig for it. */
static void setup(void)
{
    char token[2048];

    k8s_rig_get(&rig);
    k8s_rig_namespace(&rig, "leader", ns, sizeof(ns));
    k8s_rig_service_account(&rig, ns, "broker",
                            "[{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],"
                            "\"verbs\":[\"get\",\"create\",\"update\"]}]",
                            token, sizeof(token));
    (void)snprintf(kubeconfig, sizeof(kubeconfig), "%s/leader-%s.kubeconfig", rig.dir, ns);
    k8s_rig_write_kubeconfig(&rig, kubeconfig, token, NULL, ns);
    lt_loop = ev_default_loop(EVFLAG_AUTO);
}

static void teardown(void)
{
    (void)remove(kubeconfig);
}

TestSuite(elect_kube, .init = setup, .fini = teardown, .timeout = 120);

static void broker_start(struct lt_broker *b)
{
    struct kube_config_opts co = {.kubeconfig = kubeconfig, .namespace = ns};
    struct kube_client_opts ko = {.timeout_ms = 5000, .retry_ms = 0, .quiet = true};
    struct leader_opts o = {.name = NAME, .identity = b->id, .lease_ms = LEASE_MS};
    struct kube_config cfg;
    struct kwq_error err = {0};

    cr_assert(eq(int, kube_config_load(&co, &cfg, &err), 0), "%s", err.msg);
    cr_assert(eq(int, kube_client_new(lt_loop, &cfg, &ko, &b->k, &err), 0), "%s", err.msg);
    kube_config_free(&cfg);
    b->l = leader_new_kube(lt_loop, b->k, ns, &o, lt_on_change, b);
    cr_assert(b->l != NULL);
    str_is(leader_backend_name(b->l), "kubernetes");
    leader_start(b->l);
}

static void broker_free(struct lt_broker *b)
{
    leader_free(b->l);
    kube_client_free(b->k);
    b->l = NULL;
    b->k = NULL;
    b->leading = false;
}

/* The Lease as the admin reads it: its holder into holder, its leaseTransitions returned. */
static uint64_t lease_read(char *holder, size_t len)
{
    char path[256], *out;
    cJSON *j, *spec, *h, *t;
    uint64_t transitions;

    (void)snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns,
                   NAME);
    out = k8s_rig_must(&rig, "GET", path, NULL);
    j = cJSON_Parse(out);
    cr_assert(j != NULL, "%s", out);
    spec = cJSON_GetObjectItemCaseSensitive(j, "spec");
    h = cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity");
    t = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    (void)snprintf(holder, len, "%s", cJSON_IsString(h) ? h->valuestring : "");
    cr_assert(cJSON_IsNumber(t), "%s", out);
    transitions = (uint64_t)t->valuedouble;
    cJSON_Delete(j);
    free(out);
    return transitions;
}

Test(elect_kube, one_leads_a_stop_hands_over_at_once_and_a_vanished_leader_is_replaced)
{
    char holder[256];

    /* a creates the Lease and leads in term 1; b waits. */
    broker_start(&lt_a);
    cr_assert(lt_run_until(lt_a_leads, 30), "a never led");
    cr_assert(eq(u64, lt_a.term, 1));
    broker_start(&lt_b);
    (void)lt_run_until(NULL, 2.5 * LEASE_MS / 1000.0); /* longer than the lease: a renews */
    cr_assert(lt_a.leading);
    cr_assert(eq(int, lt_a.changes, 1));
    cr_assert(eq(int, lt_b.changes, 0));
    str_is(leader_holder(lt_b.l), "broker-a");
    cr_assert(eq(u64, leader_term(lt_b.l), 1));
    cr_assert(eq(u64, lease_read(holder, sizeof(holder)), 1));
    str_is(holder, "broker-a");

    /* a stops: it steps down at once, clears the holder, and b takes over (term 2). */
    leader_stop(lt_a.l, lt_on_stopped, NULL);
    cr_assert(not(lt_a.leading));
    cr_assert(lt_run_until(lt_stop_done, 30), "the stop never finished");
    cr_assert(eq(int, lt_stopped_err, 0));
    cr_assert(lt_run_until(lt_b_leads, 30), "b never led");
    cr_assert(eq(u64, lt_b.term, 2));
    cr_assert(eq(u64, lease_read(holder, sizeof(holder)), 2));
    str_is(holder, "broker-b");
    cr_assert(eq(int, lt_a.changes, 2));
    broker_free(&lt_a);

    /* a comes back; b vanishes without a stop: a takes over after the lease (term 3). */
    lt_a.changes = 0;
    broker_start(&lt_a);
    (void)lt_run_until(NULL, 1.0);
    cr_assert(not(lt_a.leading));
    broker_free(&lt_b);
    cr_assert(lt_run_until(lt_a_leads, 30), "a never took over");
    cr_assert(eq(u64, lt_a.term, 3));
    cr_assert(eq(u64, lease_read(holder, sizeof(holder)), 3));
    str_is(holder, "broker-a");
    broker_free(&lt_a);
}

/* Without update on leases the election cannot renew: it never leads, and says why. */
Test(elect_kube, a_service_account_without_update_never_leads)
{
    char token[2048], kc[700];
    struct kube_config_opts co = {.kubeconfig = kc, .namespace = ns};
    struct kube_client_opts ko = {.timeout_ms = 5000, .quiet = true};
    struct leader_opts o = {.name = NAME, .identity = "broker-c", .lease_ms = LEASE_MS};
    struct kube_config cfg;
    struct kwq_error err = {0};
    char holder[256];

    /* Someone else holds the Lease; c can read it but not take it over. */
    broker_start(&lt_a);
    cr_assert(lt_run_until(lt_a_leads, 30), "a never led");
    broker_free(&lt_a); /* vanished: the Lease goes stale */
    k8s_rig_service_account(&rig, ns, "reader",
                            "[{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],"
                            "\"verbs\":[\"get\"]}]",
                            token, sizeof(token));
    (void)snprintf(kc, sizeof(kc), "%s.reader", kubeconfig);
    k8s_rig_write_kubeconfig(&rig, kc, token, NULL, ns);
    cr_assert(eq(int, kube_config_load(&co, &cfg, &err), 0), "%s", err.msg);
    cr_assert(eq(int, kube_client_new(lt_loop, &cfg, &ko, &lt_b.k, &err), 0), "%s", err.msg);
    kube_config_free(&cfg);
    lt_b.l = leader_new_kube(lt_loop, lt_b.k, ns, &o, lt_on_change, &lt_b);
    leader_start(lt_b.l);
    (void)lt_run_until(NULL, 3.0 * LEASE_MS / 1000.0);
    cr_assert(eq(int, lt_b.changes, 0));
    cr_assert(eq(u64, lease_read(holder, sizeof(holder)), 1));
    str_is(holder, "broker-a");
    broker_free(&lt_b);
    (void)remove(kc);
}

static bool someone_leads(void)
{
    return lt_a.leading || lt_b.leading;
}

/*
 * Two brokers that start together both find no Lease and both create it:
 * the API server accepts one create (term 1) and answers the other 409
 * AlreadyExists, and that one follows.
 */
Test(elect_kube, two_brokers_started_together_elect_one)
{
    struct lt_broker *leader, *follower;
    char holder[256];

    broker_start(&lt_a);
    broker_start(&lt_b);
    cr_assert(lt_run_until(someone_leads, 30), "nobody led");
    (void)lt_run_until(NULL, 2.5 * LEASE_MS / 1000.0);
    leader = lt_a.leading ? &lt_a : &lt_b;
    follower = lt_a.leading ? &lt_b : &lt_a;
    cr_assert(leader->leading);
    cr_assert(eq(int, leader->changes, 1));
    cr_assert(eq(u64, leader->term, 1));
    cr_assert(eq(int, follower->changes, 0));
    str_is(leader_holder(follower->l), leader->id);
    cr_assert(eq(u64, lease_read(holder, sizeof(holder)), 1));
    str_is(holder, leader->id);
    broker_free(&lt_a);
    broker_free(&lt_b);
}
