#!/usr/bin/env bash
# test_images_containerfiles.sh SRC_DIR BUILD_DIR VERSION - what can be checked
# of the images built from kwq's sources (images/Containerfile.worker and
# Containerfile.kwq; the TLS ambassador's has no kwq binary) without a
# container runtime or a registry:
#   - every COPY from the build context exists, and those sources alone
#     configure with the build stage's cmake options;
#   - every COPY --from=build names a file this build made;
#   - every apt package exists (apt-cache), the build stage's are in dev.sh;
#   - the runtime stage installs exactly the packages of the libraries the
#     copied binaries need (readelf NEEDED -> ldd -> dpkg), libc6 aside;
#   - USER 65532:65532, the exec-form ENTRYPOINT, ARG VERSION is the release.
# Exit 0 all hold, 1 one does not (each failure on one line), 77 skipped.
set -uo pipefail

src=$1 build=$2 version=$3
fail=0

bad() {
    printf 'FAIL %s\n' "$*"
    fail=1
}

for t in readelf dpkg-query ldd cmake; do
    command -v "$t" >/dev/null || {
        echo "SKIP: $t not found (./dev.sh deps)"
        exit 77
    }
done
have_apt=1
if ! apt-cache show --no-all-versions libc6 >/dev/null 2>&1; then
    echo "note: apt-cache knows no packages here (apt-get update): package names not checked"
    have_apt=0
fi

# The instructions of a Containerfile, continuation lines joined, comments dropped.
instructions() {
    sed -e '/^[[:space:]]*#/d' "$1" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | sed -e 's/[[:space:]]\+/ /g'
}

# The packages of the apt-get install in stage N (0: build, 1: runtime) of file.
stage_packages() {
    instructions "$1" | awk -v want="$2" '
        /^FROM / { stage++ }
        stage == want + 1 && /^RUN / && /apt-get install/ {
            sub(/.*apt-get install/, "")
            sub(/&&.*/, "")
            for (i = 1; i <= NF; i++) if ($i !~ /^-/) print $i
        }'
}

# The Debian packages of the libraries the binaries name in DT_NEEDED: one
# dpkg-query for all (each reads the whole file database), under every name
# dpkg may list a library by (/usr-merged aliases, the symlink's target).
needed_packages() {
    local bin so path
    local -a paths=()
    for bin in "$@"; do
        for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            path=$(ldd "$bin" | awk -v so="$so" '$1 == so { print $3 }')
            if [ -z "$path" ]; then
                bad "$bin: $so does not resolve here"
                continue
            fi
            paths+=("$path" "/usr$path" "$(readlink -f "$path")")
        done
    done
    [ ${#paths[@]} -gt 0 ] || return 0
    dpkg-query -S "${paths[@]}" 2>/dev/null | sed -e 's/: \/.*//' -e 's/:.*//' | sort -u
}

dev_packages=" $(sed -n '/^PACKAGES=(/,/^[^#]*)/p' "$src/dev.sh" | sed -e 's/#.*//' -e 's/PACKAGES=(//' -e 's/)//' | tr '\n' ' ') "

configured=""
for cf in "$src"/images/Containerfile.worker "$src"/images/Containerfile.kwq; do
    name=${cf##*/}
    ins=$(instructions "$cf")

    # COPY sources from the context, and a configure of only those.
    copies=$(grep '^COPY ' <<<"$ins" | grep -v -- '--from=' | awk '{ for (i = 2; i < NF; i++) print $i }')
    for s in $copies; do
        [ -e "$src/$s" ] || bad "$name: COPY source $s does not exist in the source tree"
    done
    if [ "$configured" != "$copies" ]; then
        ctx=$(mktemp -d "${TMPDIR:-/tmp}/kwq-ctx.XXXXXX")
        for s in $copies; do
            [ ! -e "$src/$s" ] || { mkdir -p "$ctx/$(dirname "$s")" && cp -r "$src/${s%/}" "$ctx/$(dirname "$s")/"; }
        done
        opts=$(grep -o -- '-DKWQ_[A-Z_]*=[A-Z]*' <<<"$ins" | sort -u | tr '\n' ' ')
        # shellcheck disable=SC2086
        cmake -S "$ctx" -B "$ctx/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo $opts >"$ctx.log" 2>&1 ||
            bad "$name: the COPY'd sources do not configure with $opts: $(tail -n 3 "$ctx.log" | tr '\n' ' ')"
        rm -rf "$ctx" "$ctx.log"
        configured=$copies
    fi

    # COPY --from=build /src/build/X: X is what this build makes.
    bins=()
    while read -r from dest; do
        rel=${from#/src/build/}
        [ "$rel" != "$from" ] || {
            bad "$name: COPY --from=build $from is not under /src/build"
            continue
        }
        [ -x "$build/$rel" ] || bad "$name: COPY --from=build $from: no $build/$rel in this build"
        bins+=("$build/$rel")
        case "$dest" in /usr/local/bin/*) ;; *) bad "$name: $from is copied to $dest, not /usr/local/bin" ;; esac
    done < <(grep '^COPY --from=build ' <<<"$ins" | awk '{ print $3, $4 }')
    [ ${#bins[@]} -gt 0 ] || bad "$name: the runtime stage copies no binary"

    # Packages: they exist; the build stage's are dev.sh's; the runtime's are the binaries'.
    build_pkgs=$(stage_packages "$cf" 0)
    run_pkgs=$(stage_packages "$cf" 1)
    if [ "$have_apt" -eq 1 ]; then
        # One apt-cache for all: each call loads the whole package cache.
        # shellcheck disable=SC2086 # word lists
        known=" $(apt-cache show --no-all-versions $build_pkgs $run_pkgs 2>/dev/null |
            sed -n 's/^Package: //p' | tr '\n' ' ') "
        for p in $build_pkgs $run_pkgs; do
            [[ "$known" == *" $p "* ]] || bad "$name: no Debian package $p"
        done
    fi
    for p in $build_pkgs; do
        [[ "$dev_packages" == *" $p "* ]] || bad "$name: build-stage package $p is not in dev.sh's PACKAGES"
    done
    want=$(needed_packages "${bins[@]}" | grep -vx libc6)
    # shellcheck disable=SC2086 # a word list
    got=$(printf '%s\n' $run_pkgs | grep -vx ca-certificates | sort -u)
    [ "$want" = "$got" ] ||
        bad "$name: the runtime stage installs [$(tr '\n' ' ' <<<"$got")], the binaries need [$(tr '\n' ' ' <<<"$want")]"

    # What the manifests rely on (manifests/README.md): numeric user, the entrypoint, the release.
    last=$(awk '/^FROM /{ s = "" } { s = s $0 "\n" } END { printf "%s", s }' <<<"$ins")
    grep -qx 'USER 65532:65532' <<<"$last" || bad "$name: the runtime stage's USER is not 65532:65532"
    entry=/usr/local/bin/$(basename "${bins[0]:-none}")
    grep -qx "ENTRYPOINT \[\"$entry\"\]" <<<"$last" ||
        bad "$name: the ENTRYPOINT is not exactly [\"$entry\"]"
    grep -qx "ARG VERSION=$version" <<<"$last" ||
        bad "$name: ARG VERSION is not the release $version (CMakeLists.txt project VERSION)"
done

[ "$fail" -eq 0 ] && echo "images/Containerfile.worker and .kwq: consistent with the sources, this build and dev.sh"
exit "$fail"
