#!/bin/sh
# demo.sh - kwq's main job, run on this machine with no cluster.
#
#   examples/demo.sh [BUILD_DIR]        (default BUILD_DIR: build)
#
# Counts the primes below 10^8 as 2,000 tasks of 50,000 numbers each: kwq
# starts a private redis-server, enqueues the ranges, seals the queue, runs
# kwq-worker processes (the program the Kubernetes pods run) with the
# examples/primes.c handler, shows the progress bar and a summary, and writes
# each task's result ("LO HI COUNT") as it is gathered. The script then checks
# that every range came back exactly once and that the counts add up to
# pi(10^8) = 5,761,455. Exit 0 when they do.
#
# TASKS and WIDTH change the split; the expected total must then be given as
# EXPECT. STREAM=1 runs the handler in kwq-worker's stream mode (one handler
# process per worker, tasks as NDJSON lines). Set KWQ_REDIS_URL (or run
# 'kwq local-redis start') to use another Redis.
set -eu

build=${1:-build}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
kwq=$build/submitter/kwq
handler=$build/examples/kwq-example-primes
tasks=${TASKS:-2000}
width=${WIDTH:-50000}
expect=${EXPECT:-5761455}
mode=
[ "${STREAM:-0}" = 1 ] && mode=--stream

for f in "$kwq" "$handler"; do
    if [ ! -x "$f" ]; then
        echo "demo: $f is missing; build first (./dev.sh build, or cmake --build $build)" >&2
        exit 66
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kwq-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

awk -v n="$tasks" -v w="$width" 'BEGIN { for (i = 0; i < n; i++) print i * w, (i + 1) * w }' \
    >"$work/ranges.txt"

echo "demo: counting the primes below $((tasks * width)) as $tasks tasks" >&2
# The queue name is unique so that a shared Redis (KWQ_REDIS_URL) is never mixed up.
# shellcheck disable=SC2086 # $mode is empty or one word
"$kwq" run --local --queue "primes-demo-$$" --input "$work/ranges.txt" $mode \
    -- "$handler" $mode >"$work/results.txt"

# Every range exactly once, nothing else, and the total.
sort -n "$work/results.txt" | awk -v n="$tasks" -v w="$width" -v expect="$expect" '
    { if ($1 != (NR - 1) * w || $2 != NR * w) { printf "demo: unexpected result line %d: %s\n", NR, $0; bad = 1 }
      total += $3 }
    END {
        if (NR != n) { printf "demo: %d results for %d tasks\n", NR, n; bad = 1 }
        if (total != expect) { printf "demo: total %d, expected %d\n", total, expect; bad = 1 }
        if (bad) exit 1
        printf "demo: OK: %d results, one per range; %d primes below %d (expected %d)\n",
               NR, total, n * w, expect
    }' >&2
