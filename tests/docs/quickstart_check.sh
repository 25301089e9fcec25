#!/usr/bin/env bash
# quickstart_check.sh - docs/quickstart.md, checked.
#
#   quickstart_check.sh marks SRC
#       every fenced block of the quickstart carries a mark (the HTML comment
#       just before it): "tested ID", "output of ID", "example output" or
#       "needs a real cluster (WHY)". Exit 1 naming the line of a block without.
#   quickstart_check.sh run SRC BUILD REDIS_SERVER
#       runs the "tested" blocks in order, in one bash, against the suite's
#       real control plane (the k8s fixture, tests/k8s/rig.sh) in a namespace
#       of this test's own, and compares each "output of ID" block with what
#       block ID printed. Exit 77 (skip) with one line when the rig or kubectl
#       (>= 1.25) is absent.
#
# What the rig cannot have, and what stands in for it (each a plain text
# substitution in the tested blocks, or a step between them):
#   - no StatefulSet runs there (no controller, no kubelet), so Redis is a
#     private redis-server on a free loopback port with the password the
#     quickstart made, and the Secret's url is repointed at it after the
#     "secret" block; KWQ_REDIS_URL is set as the port-forward block would;
#   - pods are host processes and images are not pulled: $IMAGE is
#     "kwq-worker:quickstart" (the rig maps kwq-worker to this build's
#     kwq-worker), /usr/local/bin/kwq-handler is this build's
#     kwq-example-primes, and the ready file's emptyDir cannot be mounted at
#     /var/run/kwq, so it is the pod directory's "busy" (kwq run --kube
#     --ready-file busy; KWQ_READY_FILE=busy in the CronJob);
#   - the namespace kwq-demo is kwq-qs-RANDOM, in the blocks and in a copy of
#     the overlay, so that runs in parallel never meet.
set -euo pipefail

mode=${1:?usage: quickstart_check.sh marks SRC | run SRC BUILD REDIS_SERVER}
src=$(cd "${2:?missing SRC}" && pwd)
doc=$src/docs/quickstart.md

# Prints "LINE<TAB>MARK" for each fenced block's opening line; MARK is empty when unmarked.
blocks() {
    awk '
        /^```/ {
            if (inblock) { inblock = 0; next }
            inblock = 1
            printf "%d\t%s\n", NR, mark
            mark = ""; next
        }
        inblock { next }
        /^<!-- quickstart: .* -->$/ { m = $0; sub(/^<!-- quickstart: /, "", m); sub(/ -->$/, "", m); mark = m; next }
        /^[[:space:]]*$/ { next }
        { mark = "" }
    ' "$doc"
}

check_marks() {
    local bad=0 line mark
    while IFS=$'\t' read -r line mark; do
        case $mark in
        "tested "[a-z]* | "output of "[a-z]* | "example output" | "needs a real cluster ("*")") ;;
        "")
            echo "docs/quickstart.md:$line: a command block without a mark; put <!-- quickstart: tested ID --> or <!-- quickstart: needs a real cluster (WHY) --> before it" >&2
            bad=1
            ;;
        *)
            echo "docs/quickstart.md:$line: unknown mark '$mark'" >&2
            bad=1
            ;;
        esac
    done < <(blocks)
    return $bad
}

# The text of the block whose opening fence is on line $1.
block_text() {
    awk -v start="$1" 'NR > start && /^```/ { exit } NR > start { print }' "$doc"
}

if [ "$mode" = marks ]; then
    [ -f "$doc" ] || { echo "no docs/quickstart.md in $src" >&2; exit 1; }
    check_marks
    echo "docs/quickstart.md: $(blocks | wc -l) blocks, every one marked"
    exit 0
fi

if [ ! -f "$src/manifests/examples/overlay/kustomization.yaml" ]; then
    echo "quickstart_check: $src/manifests/examples/overlay is missing: the quickstart applies it" >&2
    exit 1
fi
build=$(cd "${3:?missing BUILD}" && pwd)
redis_server=${4:?missing REDIS_SERVER}
check_marks

rig=$build/tests/k8s-rig
if [ -f "$rig/absent" ]; then
    echo "SKIP: $(cat "$rig/absent")"
    exit 77
fi
[ -f "$rig/env" ] || { echo "the k8s fixture did not run: ctest -R 'docs_quickstart|k8s_rig'" >&2; exit 1; }
if ! command -v kubectl >/dev/null; then
    echo "SKIP: no kubectl in PATH (the quickstart's commands need kubectl >= 1.25)"
    exit 77
fi
minor=$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(int("".join(c for c in json.load(sys.stdin)["clientVersion"]["minor"] if c.isdigit())))')
if [ "$minor" -lt 25 ]; then
    echo "SKIP: kubectl 1.$minor is older than 1.25"
    exit 77
fi
# shellcheck disable=SC1091
. "$rig/env"

ns=kwq-qs-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
work=$(mktemp -d "${TMPDIR:-/tmp}/kwq-quickstart-XXXXXX")
cleanup() {
    # The stand-in Redis was started by the blocks' shell: stop it by its pid file.
    if [ -f "$work/redis.pid" ]; then kill "$(cat "$work/redis.pid")" 2>/dev/null || true; fi
    KUBECONFIG=$kubeconfig kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
export KUBECONFIG=$kubeconfig

# The working tree the blocks see: build/ is this build, manifests/ a copy in our namespace.
ln -s "$build" "$work/build"
cp -r "$src/manifests" "$work/manifests"
sed -i "s/^namespace: kwq-demo$/namespace: $ns/" "$work/manifests/examples/overlay/kustomization.yaml"
handler=$build/examples/kwq-example-primes
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# Hooks run between blocks, in the blocks' shell: the stand-ins above.
cat >"$work/hooks.sh" <<HOOKS
after_secret() {
    (umask 077 && printf 'port $port\nbind 127.0.0.1\nsave ""\nappendonly no\nmaxmemory-policy noeviction\ndir $work\nrequirepass %s\n' "\$(cat redis-password)" > "$work/redis.conf")
    "$redis_server" "$work/redis.conf" > "$work/redis.log" 2>&1 &
    echo \$! > "$work/redis.pid"
    kubectl -n $ns patch secret kwq-redis --type merge \
        -p "{\"stringData\":{\"url\":\"redis://127.0.0.1:$port/0\"}}" >/dev/null
    export KWQ_REDIS_URL=redis://127.0.0.1:$port/0
}
after_apply() {
    kubectl -n $ns set image cronjob/kwq-worker worker=kwq-worker:quickstart >/dev/null
    kubectl -n $ns set env cronjob/kwq-worker KWQ_READY_FILE=busy >/dev/null
    kubectl -n $ns patch cronjob kwq-worker --type json -p \
        '[{"op":"replace","path":"/spec/jobTemplate/spec/template/spec/containers/0/args","value":["--","$handler"]}]' >/dev/null
}
before_env() {
    for i in \$(seq 1 100); do
        kwq --redis "\$KWQ_REDIS_URL" --redis-password-file redis-password status --sample 0 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "quickstart_check: the stand-in redis-server did not start:" >&2; cat "$work/redis.log" >&2; return 1
}
after_cron_run() {
    local got
    got=\$(kubectl -n $ns get job my-run -o jsonpath='{.metadata.annotations.kwq\\.dev/queue} {.status.conditions[?(@.type=="Complete")].status}')
    [ "\$got" = "more-primes True" ] || { echo "Job my-run: queue and Complete are '\$got', not 'more-primes True'" >&2; return 1; }
}
after_dlq() {
    kwq status --json --sample 0 | grep -q '"dead":0,' || { echo "dead letters left after purge" >&2; return 1; }
}
HOOKS

# One script: each tested block with its substitutions, its output kept for the checks.
script=$work/quickstart.sh
{
    echo "set -eo pipefail"
    echo "cd '$work'"
    echo "export IMAGE=kwq-worker:quickstart PATH='$build/submitter:$build/worker':\$PATH"
    echo ". '$work/hooks.sh'"
    echo "trap 'echo \"quickstart_check: block \$qs_block failed (exit \$?)\" >&2' ERR"
    while IFS=$'\t' read -r line mark; do
        case $mark in "tested "*) ;; *) continue ;; esac
        id=${mark#tested }
        echo "qs_block='$id (docs/quickstart.md:$line)'"
        hook=${id//-/_}
        echo "declare -F before_$hook >/dev/null && before_$hook"
        echo "{"
        block_text "$line" | sed -e "s/kwq-demo/$ns/g" \
            -e "s#/usr/local/bin/kwq-handler#$handler#g" \
            -e "s/kwq run --kube /kwq run --kube --ready-file busy /"
        echo "} > >(tee '$work/out.$id')"
        echo "wait \$! 2>/dev/null || true"
        echo "declare -F after_$hook >/dev/null && after_$hook"
    done < <(blocks)
    echo "echo 'quickstart_check: every tested block ran'"
} >"$script"

if ! bash "$script"; then
    echo "quickstart_check: the quickstart failed in namespace $ns" >&2
    exit 1
fi

# Each "output of ID" block against what block ID printed.
fail=0
while IFS=$'\t' read -r line mark; do
    case $mark in "output of "*) ;; *) continue ;; esac
    id=${mark#output of }
    if ! diff <(block_text "$line") "$work/out.$id" >&2; then
        echo "docs/quickstart.md:$line: block '$id' printed something else (above: < the doc, > the run)" >&2
        fail=1
    fi
done < <(blocks)
[ "$fail" = 0 ] || exit 1
echo "docs/quickstart.md: every tested block ran in $ns and printed what the page shows"
