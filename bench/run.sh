#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - kwq's benchmarks, each beside redis-benchmark's limit
# on the same private redis-server in the same run. See docs/PERFORMANCE.md.
#
# Builds nothing: first `cmake --build BUILD_DIR --target kwq-bench`.
# Starts its own redis-server (unix socket in a temp dir, no persistence),
# stops it at the end. Prints one line per metric on stdout:
#   <metric>=<value> target_min|target_max|target=... redis_benchmark=<value>
#   redis_benchmark_test=<what> ratio=<value/denominator> ratio_of=<denominator>
# then '#' lines with the machine and every raw figure. Progress goes to stderr.
# Exit 0 when everything was measured, 1 when a step broke (the other steps still
# run), 2 on bad usage. No figure is judged: a missed target is not a failure.
#
# Sizes can be changed through the environment:
#   KWQ_BENCH_TASKS (200000)  tasks for enqueue, memory and lease + ack
#   KWQ_BENCH_DRAIN (200000)  no-op tasks drained in stream mode
#   KWQ_BENCH_EXEC (3000)     tasks drained in exec mode, and fork+exec runs
#   KWQ_BENCH_SAMPLES (1000)  pickup-latency samples per mode
#   KWQ_BENCH_STREAM_CONCURRENCY (256)  --concurrency of each stream-mode worker
#   KWQ_BENCH_RB_N (1000000)  requests per pipelined redis-benchmark test
#   KWQ_BENCH_RB_RTT_N (100000)  requests per round-trip redis-benchmark test
#   KWQ_BENCH_SCALE_JUMPS (50)  depth jumps the scaler answers (0 skips the control plane)
#   KWQ_BENCH_SCALE_RATE_S (10) seconds of each API request-rate window
#   KWQ_BENCH_BROKER_QUEUES (100), KWQ_BENCH_BROKER_TASKS (1000000),
#   KWQ_BENCH_BROKER_WINDOW_S (10)  kwq-broker's queues, tasks and housekeeping window
#   KWQ_BENCH_KEEP=1          keep the temp dir (Redis and worker logs)
#
# The scale step starts a private Kubernetes control plane (tests/k8s/rig.sh,
# ../shared/k8s) without a node in BUILD_DIR/bench/k8s-rig, after the other
# steps, and stops it at the end; without ../shared/k8s it is skipped with one line.
set -euo pipefail

usage() {
    echo "usage: bench/run.sh BUILD_DIR   (build first: cmake --build BUILD_DIR --target kwq-bench)" >&2
    exit 2
}
[ $# -eq 1 ] || usage
[ -d "$1" ] || { echo "run.sh: build dir '$1' does not exist" >&2; exit 2; }
build=$(cd "$1" && pwd)

tasks=${KWQ_BENCH_TASKS:-200000}
drain_n=${KWQ_BENCH_DRAIN:-200000}
exec_n=${KWQ_BENCH_EXEC:-3000}
samples=${KWQ_BENCH_SAMPLES:-1000}
stream_conc=${KWQ_BENCH_STREAM_CONCURRENCY:-256}
rb_n=${KWQ_BENCH_RB_N:-1000000}
rb_rtt_n=${KWQ_BENCH_RB_RTT_N:-100000}
scale_jumps=${KWQ_BENCH_SCALE_JUMPS:-50}
scale_rate_s=${KWQ_BENCH_SCALE_RATE_S:-10}
broker_queues=${KWQ_BENCH_BROKER_QUEUES:-100}
broker_tasks=${KWQ_BENCH_BROKER_TASKS:-1000000}
broker_window=${KWQ_BENCH_BROKER_WINDOW_S:-10}
workers=2
src=$(cd "$(dirname "$0")/.." && pwd)
rig_dir=$build/bench/k8s-rig
rig_up=0

proto=$build/bench/kwq-bench-proto
wbench=$build/bench/kwq-bench-worker
handler=$build/bench/kwq-bench-handler
scale=$build/bench/kwq-bench-scale
bbench=$build/bench/kwq-bench-broker
broker=$build/broker/kwq-broker
worker=$build/worker/kwq-worker
for b in "$proto" "$wbench" "$handler" "$scale" "$bbench" "$broker" "$worker"; do
    if [ ! -x "$b" ]; then
        echo "run.sh: $b is missing; build it first: cmake --build $build --target kwq-bench" >&2
        exit 2
    fi
done
redis_server=$(command -v redis-server) || { echo "run.sh: redis-server not found in PATH" >&2; exit 2; }
redis_benchmark=$(command -v redis-benchmark) || { echo "run.sh: redis-benchmark not found in PATH" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kwq-bench-XXXXXX")
sock=$tmp/redis.sock
url=unix://$sock
redis_pid=
failed=()

# rig up|down: the scale step's control plane, no node agent (its pods stay Pending).
rig() { KWQ_TEST_RIG_DIR=$rig_dir KWQ_TEST_RIG_RUNNER=0 bash "$src/tests/k8s/rig.sh" "$1" "$build"; }

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [ "$rig_up" = 1 ]; then
        rig down >>"$tmp/rig.log" 2>&1 || say "stopping the control plane failed: see $tmp/rig.log"
    fi
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    if [ "${KWQ_BENCH_KEEP:-0}" = 1 ]; then
        echo "run.sh: logs kept in $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "run.sh: $*" >&2; }

# ---- figures -----------------------------------------------------------------
declare -A R

# Read name=value lines into R.
collect() {
    local k v
    while IFS='=' read -r k v; do
        [ -n "$k" ] && R[$k]=$v
    done <"$1"
}

# step NAME COMMAND...: run a measuring program; its name=value lines go to R.
# A failing step is recorded and the run goes on.
step() {
    local name=$1
    shift
    say "$name ..."
    if "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
        collect "$tmp/$name.out"
    else
        failed+=("$name")
        say "$name FAILED:"
        sed 's/^/    /' "$tmp/$name.err" >&2
        collect "$tmp/$name.out"
    fi
}

used_memory() { "$proto" "$url" info memory used_memory; }

# rb PREFIX ARGS...: one redis-benchmark run in CSV; for each test T it
# sets R[PREFIX_T_rps], R[PREFIX_T_p50_ms] and R[PREFIX_T_p99_ms] (T lowercased).
rb() {
    local prefix=$1 line t rps p50 p99
    shift
    if ! "$redis_benchmark" -s "$sock" --csv "$@" >"$tmp/rb.out" 2>"$tmp/rb.err"; then
        failed+=("redis-benchmark:$prefix")
        say "redis-benchmark $* FAILED:"
        sed 's/^/    /' "$tmp/rb.err" >&2
        return 0
    fi
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    while IFS= read -r line; do
        line=${line//\"/}
        IFS=',' read -r t rps _ _ p50 _ p99 _ <<<"$line"
        [ "$t" = test ] && continue
        t=${t,,}
        R[${prefix}_${t}_rps]=$rps
        R[${prefix}_${t}_p50_ms]=$p50
        R[${prefix}_${t}_p99_ms]=$p99
    done <"$tmp/rb.out"
}

# div A B [DECIMALS]: A / B, or "na".
div() {
    awk -v a="${1:-na}" -v b="${2:-na}" -v d="${3:-3}" 'BEGIN {
        if (a == "na" || b == "na" || a == "" || b == "" || b + 0 == 0) { print "na"; exit }
        printf "%.*f\n", d, a / b }'
}

# ---- the server ------------------------------------------------------------------
say "starting redis-server in $tmp"
"$redis_server" --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$tmp" \
    --save '' --appendonly no --slowlog-log-slower-than -1 --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 1 500); do
    used_memory >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || { say "redis-server exited; see $tmp/redis.log"; exit 1; }
    sleep 0.02
done
used_memory >/dev/null || { say "redis-server did not answer"; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- redis-benchmark: the limits ----------------------------------------------------
say "redis-benchmark: pipelined LPUSH/LPOP (-P 64, 50 clients, $rb_n requests)"
m0=$(used_memory)
rb rb_p64_d100 -t lpush -n "$rb_n" -P 64 -d 100
m1=$(used_memory)
R[rb_list_bytes_per_100b_elem]=$(div $((m1 - m0)) "$rb_n" 1)
rb rb_p64_d100 -t lpop -n "$rb_n" -P 64 -d 100
rb rb_p64_d3 -t lpush,lpop -n "$rb_n" -P 64
say "redis-benchmark: round trips (1 client, unpipelined)"
rb rb_c1 -t ping,lpush,lpop -n "$rb_rtt_n" -c 1
"$redis_benchmark" -s "$sock" -n 1 -c 1 flushall >/dev/null 2>&1 || failed+=("flushall")

# ---- kwq -------------------------------------------------------------------------------
step proto "$proto" "$url" run --tasks "$tasks"
wargs=(--worker "$worker" --handler "$handler" --dir "$tmp" --workers "$workers")
step drain_stream "$wbench" "$url" drain-stream "${wargs[@]}" --tasks "$drain_n" \
    --concurrency "$stream_conc"
step drain_exec "$wbench" "$url" drain-exec "${wargs[@]}" --tasks "$exec_n" --cmd /bin/true
step pickup_stream "$wbench" "$url" pickup-stream "${wargs[@]}" --samples "$samples"
step pickup_exec "$wbench" "$url" pickup-exec "${wargs[@]}" --samples "$samples"
"$redis_benchmark" -s "$sock" -n 1 -c 1 flushall >/dev/null 2>&1 || failed+=("flushall")
step broker "$bbench" "$url" --broker "$broker" --queues "$broker_queues" --tasks "$broker_tasks" \
    --window "$broker_window" --scrapes 100 --dir "$tmp"

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the scaler against a real API server (after the rest: the control plane is heavy) ------
scale_note=measured
if [ "$scale_jumps" = 0 ]; then
    scale_note="skipped (KWQ_BENCH_SCALE_JUMPS=0)"
else
    say "scale: starting a private control plane without a node in $rig_dir ..."
    rig_up=1
    if ! rig up >"$tmp/rig.log" 2>&1; then
        failed+=("k8s_rig")
        scale_note="the control plane did not start"
        say "scale: the control plane did not start:"
        tail -n 20 "$tmp/rig.log" | sed 's/^/    /' >&2
    elif [ -f "$rig_dir/absent" ]; then
        scale_note="skipped: $(cat "$rig_dir/absent")"
        say "scale: $scale_note"
    else
        step scale "$scale" "$url" --kubeconfig "$rig_dir/admin.kubeconfig" \
            --jumps "$scale_jumps" --rate-s "$scale_rate_s"
    fi
    say "scale: stopping the control plane"
    rig down >>"$tmp/rig.log" 2>&1 || failed+=("k8s_rig_down")
    rig_up=0
fi
load_after_scale=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ------------------------------------------------------------------------------
v() { echo "${R[$1]:-na}"; }
max2() { awk -v a="${1:-na}" -v b="${2:-na}" 'BEGIN {
    if (a == "na") print b; else if (b == "na") print a; else print (a + 0 > b + 0 ? a : b) }'; }

# metric NAME VALUE TARGET RB RB_TEST [RATIO_OF DENOMINATOR]
metric() {
    local name=$1 val=$2 target=$3 rbv=$4 rbt=$5 of=${6:-redis_benchmark} den=${7:-$4}
    echo "$name=$val $target redis_benchmark=$rbv redis_benchmark_test=$rbt" \
        "ratio=$(div "$val" "$den" 3) ratio_of=$of"
}

rss_idle=$(max2 "$(v worker_rss_idle_stream_kib)" "$(v worker_rss_idle_exec_kib)")

metric enqueue_tasks_per_s "$(v enqueue_tasks_per_s)" target_min=500000 \
    "$(v rb_p64_d100_lpush_rps)" lpush_100B_P64_c50_rps
metric lease_ack_cmds_per_task "$(v lease_ack_cmds_per_task)" target_max=3 na none none na
metric lease_ack_tasks_per_s "$(v lease_ack_tasks_per_s)" target=none \
    "$(v rb_p64_d100_lpop_rps)" lpop_100B_P64_c50_rps
metric mem_per_queued_task_bytes "$(v mem_per_queued_task_bytes)" target_max=200 \
    "$(v rb_list_bytes_per_100b_elem)" list_bytes_per_lpushed_100B_elem
metric mem_per_finished_task_bytes "$(v mem_per_finished_task_bytes)" target_max=0 na none \
    none na
metric mem_residual_after_drain_bytes "$(v mem_residual_bytes)" target_max=0 na none none na
metric drain_stream_tasks_per_s "$(v drain_stream_tasks_per_s)" target_min=100000 \
    "$(v rb_p64_d100_lpop_rps)" lpop_100B_P64_c50_rps
metric drain_exec_tasks_per_s "$(v drain_exec_tasks_per_s)" target=fork_exec_bound na none \
    fork_exec_per_s "$(v fork_exec_per_s)"
metric fork_exec_per_s "$(v fork_exec_per_s)" target=none na none none na
metric pickup_stream_p50_ms "$(v pickup_stream_p50_ms)" target_max=0.3 \
    "$(v rb_c1_ping_mbulk_p50_ms)" ping_c1_p50_ms
metric pickup_stream_p99_ms "$(v pickup_stream_p99_ms)" target_max=0.8 \
    "$(v rb_c1_ping_mbulk_p99_ms)" ping_c1_p99_ms
metric pickup_exec_p50_ms "$(v pickup_exec_p50_ms)" target=none \
    "$(v rb_c1_ping_mbulk_p50_ms)" ping_c1_p50_ms
metric pickup_exec_p99_ms "$(v pickup_exec_p99_ms)" target=none \
    "$(v rb_c1_ping_mbulk_p99_ms)" ping_c1_p99_ms
metric worker_rss_idle_kib "$rss_idle" target_max=8192 na none none na
metric worker_rss_drain_stream_kib "$(v worker_rss_drain_stream_kib)" target_max=8192 na none \
    none na
metric worker_rss_drain_exec_kib "$(v worker_rss_drain_exec_kib)" target_max=8192 na none \
    none na
# kwq-broker with many queues: a scrape beside 100 unpipelined PING round trips (one
# read per queue), housekeeping's Redis time beside one PING round trip.
metric broker_metrics_p50_ms "$(v broker_metrics_p50_ms)" target_max=50 \
    "$(v rb_c1_ping_mbulk_p50_ms)" ping_c1_p50_ms ping_c1_p50_ms_x_queues \
    "$(awk -v p="$(v rb_c1_ping_mbulk_p50_ms)" -v q="$broker_queues" 'BEGIN {
        if (p == "na") print "na"; else print p * q }')"
metric broker_metrics_p99_ms "$(v broker_metrics_p99_ms)" target_max=50 \
    "$(v rb_c1_ping_mbulk_p99_ms)" ping_c1_p99_ms
metric broker_housekeeping_us_per_queue_s "$(v broker_housekeeping_us_per_queue_s)" \
    target_max=1000 "$(div 1000000 "$(v rb_c1_ping_mbulk_rps)" 1)" ping_c1_us_per_call
# The scale figures are compared with KEDA's default polling interval (30 s) and with one
# bare GET of the Job on the same API server in the same run.
keda_ms=30000
for q in p50 p99 max; do
    t=target=none
    [ $q = p99 ] && t=target_max=1000
    metric scale_up_${q}_ms "$(v scale_apply_${q}_ms)" $t na none keda_polling_ms $keda_ms
    metric scale_up_watch_${q}_ms "$(v scale_watch_${q}_ms)" $t na none keda_polling_ms $keda_ms
done
metric scale_up_p50_in_get_rtts "$(div "$(v scale_apply_p50_ms)" "$(v scale_api_get_rtt_p50_ms)" 1)" \
    target=none na none none na
metric scale_api_req_per_s_pending "$(awk -v g="$(v scale_pending_get_per_s)" \
    -v p="$(v scale_pending_patch_per_s)" 'BEGIN { if (g == "na") print "na"; else print g + p }')" \
    target=none na none none na
metric scale_api_req_per_s_idle "$(awk -v g="$(v scale_idle_get_per_s)" \
    -v p="$(v scale_idle_patch_per_s)" 'BEGIN { if (g == "na") print "na"; else print g + p }')" \
    target=none na none none na

echo "# machine: nproc=$(nproc) cpu=\"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)\"" \
    "mem_total_kib=$(awk '/^MemTotal/ {print $2}' /proc/meminfo) kernel=$(uname -r)"
echo "# redis: $("$redis_server" --version)"
echo "# run: date=$(date -u +%Y-%m-%dT%H:%M:%SZ) loadavg_before=\"$load_before\"" \
    "loadavg_after=\"$load_after\" tasks=$tasks drain=$drain_n exec=$exec_n samples=$samples" \
    "stream_concurrency=$stream_conc workers=$workers broker_queues=$broker_queues" \
    "broker_tasks=$broker_tasks broker_window_s=$broker_window"
echo "# scale: $scale_note jumps=$scale_jumps rate_s=$scale_rate_s" \
    "loadavg_after_scale=\"$load_after_scale\""
for k in $(printf '%s\n' "${!R[@]}" | sort); do
    echo "# raw $k=${R[$k]}"
done

if [ ${#failed[@]} -gt 0 ]; then
    say "steps that broke: ${failed[*]} (logs: rerun with KWQ_BENCH_KEEP=1)"
    exit 1
fi
exit 0
