#!/usr/bin/env bash
# rig.sh up|down BUILD_DIR - the test suite's private Kubernetes control plane.
#
# `up` starts ../shared/k8s (kube-apiserver, kube-controller-manager and etcd
# from up.sh, and pod_runner.py as the node, mapping the image kwq-worker to
# this build's kwq-worker) on free loopback ports, in BUILD_DIR/tests/k8s-rig,
# and writes what the tests need into its file `env`. `down` stops exactly
# what `up` started and wipes its data. Where ../shared/k8s is absent (a
# user's clone), `up` writes the file `absent` with the reason instead, and
# the Kubernetes tests skip with that line; a control plane that is present
# but does not start fails the fixture, and with it every Kubernetes test.
# The checks use curl, not kubectl, which Debian does not package.
#
# For the benchmarks (bench/run.sh): KWQ_TEST_RIG_DIR puts the rig elsewhere than
# BUILD_DIR/tests/k8s-rig, so that it never meets the test suite's, and
# KWQ_TEST_RIG_RUNNER=0 starts no node agent (the Job's pods then stay Pending and
# never run).
set -euo pipefail
cmd=${1:?usage: rig.sh up|down BUILD_DIR}
build=$(cd "${2:?usage: rig.sh up|down BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=${KWQ_TEST_K8S_DIR:-$src/../shared/k8s}
export RIG_DIR=${KWQ_TEST_RIG_DIR:-$build/tests/k8s-rig}

free_ports() { # N: N distinct free TCP ports on 127.0.0.1
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

down() {
    [ -f "$RIG_DIR/ports" ] || return 0
    # shellcheck disable=SC1091
    . "$RIG_DIR/ports"
    export ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT
    "$shared/down.sh" --wipe
    rm -f "$RIG_DIR/ports" "$RIG_DIR/env"
}

case $cmd in
down)
    [ -d "$shared" ] || exit 0
    down
    ;;
up)
    mkdir -p "$RIG_DIR"
    rm -f "$RIG_DIR/absent" "$RIG_DIR/env"
    if [ ! -x "$shared/up.sh" ]; then
        echo "no Kubernetes control plane at $shared (shared/k8s is not in this checkout)" \
            >"$RIG_DIR/absent"
        echo "kwq: $(cat "$RIG_DIR/absent"): the Kubernetes tests will be skipped"
        exit 0
    fi
    down # a rig left behind by an interrupted run
    read -r ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT <<<"$(free_ports 4)"
    export ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT
    printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nKCM_PORT=%s\n' \
        "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" >"$RIG_DIR/ports"
    if ! "$shared/up.sh"; then
        tail -n 20 "$RIG_DIR"/logs/*.log >&2 || true
        exit 1
    fi
    token=$(head -1 "$RIG_DIR/pki/tokens.csv" | cut -d, -f1)
    (umask 077 && printf '%s\n' "$token" >"$RIG_DIR/admin.token")
    server=https://127.0.0.1:$APISERVER_PORT
    write_env() {
        cat >"$RIG_DIR/env" <<ENV
server=$server
ca_file=$RIG_DIR/pki/ca.crt
token_file=$RIG_DIR/admin.token
kubeconfig=$RIG_DIR/admin.kubeconfig
ENV
    }
    if [ "${KWQ_TEST_RIG_RUNNER:-1}" = 0 ]; then
        write_env
        echo "kwq: control plane up at $server without a node (RIG_DIR=$RIG_DIR)"
        exit 0
    fi
    # The node agent, started as runner_up.sh does (same pid file, so down.sh stops it),
    # but waited for with curl.
    # shellcheck disable=SC1091
    . "$shared/common.sh"
    mkdir -p "$RIG_DIR/pods"
    start_bg runner pod_runner.py python3 -u "$shared/pod_runner.py" \
        --kubeconfig "$RIG_DIR/admin.kubeconfig" --workdir "$RIG_DIR/pods" \
        --image-entrypoint "kwq-worker=$build/worker/kwq-worker"
    for ((i = 0; ; i++)); do
        if curl -fsS --cacert "$RIG_DIR/pki/ca.crt" -H "Authorization: Bearer $token" \
            "$server/api/v1/nodes/rig-node" >/dev/null 2>&1; then
            break
        fi
        # pid_alive matches the command line, which is still this shell's until the
        # background child has exec'd: on a loaded host that takes a moment.
        if ((i >= 300)) || { ((i >= 25)) && ! pid_alive runner; }; then
            tail -n 20 "$RIG_DIR/logs/runner.log" >&2 || true
            echo "rig.sh: the pod runner's node did not register" >&2
            exit 1
        fi
        sleep 0.2
    done
    write_env
    echo "kwq: test control plane up at $server (RIG_DIR=$RIG_DIR)"
    ;;
*)
    echo "usage: rig.sh up|down BUILD_DIR" >&2
    exit 2
    ;;
esac
