#!/usr/bin/env bash
# The README's first command, run as a user would on a fresh checkout: it must
# install nothing more here, build kwq from scratch, run the main job and
# finish with the demo's check. The build goes to a temp dir so that the
# tree under test is not touched.
set -euo pipefail
src=$1
first=$(awk '/^```/ { inblock = !inblock; next } inblock { print; exit }' "$src/README.md")
cmd=${first%%#*}
cmd=$(echo "$cmd" | sed 's/[[:space:]]*$//')
if [ "$cmd" != "./dev.sh demo" ]; then
    echo "README's first command is '$cmd'; this test knows how to run './dev.sh demo'" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kwq-readme-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$src"
JOBS=2 KWQ_BUILD_DIR="$tmp/build" $cmd >"$tmp/out.txt" 2>&1 || {
    cat "$tmp/out.txt" >&2
    echo "README's first command failed" >&2
    exit 1
}
grep -q '^demo: OK: 2000 results, one per range; 5761455 primes below 100000000' "$tmp/out.txt" || {
    cat "$tmp/out.txt" >&2
    echo "README's first command did not end with the demo's check" >&2
    exit 1
}
echo "README's first command: OK"
