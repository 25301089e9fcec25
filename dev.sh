#!/usr/bin/env bash
# dev.sh - one entry point for a fresh Debian 12 machine.
#
#   ./dev.sh demo    install what is missing, build, run the main job locally
#   ./dev.sh test    install what is missing, check the format of the C
#                    sources, build, run every test: a normal build and an
#                    AddressSanitizer + UBSan build
#   ./dev.sh build   install what is missing and build (build/)
#   ./dev.sh deps    only install what is missing
#   ./dev.sh bench   build (release) and run the benchmarks (bench/run.sh)
#
# Builds go to build/ (RelWithDebInfo, -Werror) and build-asan/ (Debug,
# -fsanitize=address,undefined). JOBS sets the build parallelism;
# KWQ_BUILD_DIR puts the demo's build elsewhere (the tests use it to run the
# demo from a clean build).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config clang-format libhiredis-dev libev-dev libcjson-dev
          libcriterion-dev libcurl4-openssl-dev libyaml-dev redis-server redis-tools
          etcd-server openssl curl xz-utils python3 # this line: the tests' control plane
          chromium chromium-driver # the dashboard's browser test (tests/helpers/browser.py)
          prometheus # promtool and a real Prometheus for kwq-broker's /metrics tests
          stunnel4 # the Redis TLS ambassador's tests (tests/tls.cmake)
          umoci skopeo) # images/build-oci.sh and its test (tests/images.cmake)
JOBS=${JOBS:-$(nproc)}

say() { printf '==> %s\n' "$*" >&2; }

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    say "installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

build() { # build DIR [cmake args...]
    local dir=$1
    shift
    say "building in $dir"
    cmake -S . -B "$dir" -DKWQ_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

format_check() { # every C file as .clang-format wants it
    say "checking the format of the C sources"
    git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror
}

run_tests() { # run_tests DIR
    say "testing in $1"
    ctest --test-dir "$1" --output-on-failure -j 2
}

case "${1:-}" in
deps)
    deps
    ;;
build)
    deps
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
demo)
    deps
    dir=${KWQ_BUILD_DIR:-build}
    build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKWQ_BUILD_TESTS=OFF -DKWQ_BUILD_BENCH=OFF
    exec examples/demo.sh "$dir"
    ;;
test)
    deps
    format_check
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_tests build
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DKWQ_SANITIZE=address,undefined \
        -DKWQ_BUILD_BENCH=OFF
    ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_tests build-asan
    ;;
bench)
    deps
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKWQ_BUILD_TESTS=OFF
    exec bench/run.sh build
    ;;
*)
    echo "usage: ./dev.sh demo|test|build|deps|bench" >&2
    exit 2
    ;;
esac
