#!/usr/bin/env bash
# build-oci.sh - the kwq-worker and kwq images as OCI image layouts, made from
# a build directory's binaries and the Debian libraries they load, without a
# container runtime or a registry (docs/images.md).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: images/build-oci.sh [options] BUILD_DIR OUT_DIR

Builds, from the binaries in BUILD_DIR (a kwq cmake build) and the Debian
libraries they load, one OCI image layout per image in OUT_DIR:

  OUT_DIR/kwq-worker   entrypoint /usr/local/bin/kwq-worker
  OUT_DIR/kwq          kwq and kwq-broker, CA certificates; entrypoint /usr/local/bin/kwq

Each image is one layer: the binaries, their shared libraries and the dynamic
loader (the worker's also /usr/bin/test, for the Job's readiness probe
`test -e FILE`), /etc/passwd and /etc/group with the user kwq (65532:65532), /tmp, and
the copyright files of the Debian packages the libraries come from. No shell.
The config runs as user 65532:65532. The tag is the release (kwq-worker --version).

options:
  --image NAME     worker, kwq or all (default all)
  --tag TAG        the image tag (default: the version the binaries print)
  --source URL     the org.opencontainers.image.source label (default: the
                   source tree's git remote "origin", if any)
  --archive        also write OUT_DIR/NAME.tar (docker-archive, tagged NAME:TAG)
                   with skopeo, for `docker load` or `kind load image-archive`
  -h, --help       this text

needs: umoci (Debian package umoci), dpkg, ldd; skopeo for --archive.
exit codes: 0 built; 2 bad command line; 66 BUILD_DIR or a binary in it
missing; 69 a needed tool missing; 1 any other failure (the message says which).
SOURCE_DATE_EPOCH, when set, is every file's time and the image's creation time.
EOF
}

die() { # die CODE MESSAGE
    printf 'build-oci.sh: %s\n' "$2" >&2
    exit "$1"
}

need() { # need TOOL DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 ||
        die 69 "$1 not found: install the Debian package $2 (apt-get install $2)"
}

image_opt=all
tag=
source_url=
archive=0
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --image | --tag | --source)
        [ $# -ge 2 ] || die 2 "$1 needs a value (see --help)"
        case "$1" in
        --image) image_opt=$2 ;;
        --tag) tag=$2 ;;
        --source) source_url=$2 ;;
        esac
        shift 2
        ;;
    --archive)
        archive=1
        shift
        ;;
    --)
        shift
        break
        ;;
    -*) die 2 "unknown option $1 (see --help)" ;;
    *) break ;;
    esac
done
[ $# -eq 2 ] || die 2 "expected BUILD_DIR and OUT_DIR (see --help)"
build=$1
out=$2
case "$image_opt" in
worker) images=(kwq-worker) ;;
kwq) images=(kwq) ;;
all) images=(kwq-worker kwq) ;;
*) die 2 "--image must be worker, kwq or all, not '$image_opt'" ;;
esac
[ -z "$tag" ] || [[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die 2 "--tag '$tag' is not an image tag: letters, digits, _ . - (not first . or -), at most 128"

[ -d "$build" ] || die 66 "no build directory $build: build kwq first (./dev.sh build)"
[ -f "$build/CMakeCache.txt" ] || die 66 "$build is not a cmake build directory (no CMakeCache.txt)"
need umoci umoci
need dpkg-query dpkg
need ldd libc-bin
[ "$archive" -eq 0 ] || need skopeo skopeo

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
mkdir -p "$out" || die 1 "cannot create $out"
out=$(cd "$out" && pwd)

# The binaries of each image (the first is its entrypoint), by build path.
binaries_of() {
    case "$1" in
    kwq-worker) echo worker/kwq-worker ;;
    kwq) echo submitter/kwq broker/kwq-broker ;;
    esac
}
# Programs of this machine an image needs beside them: the worker Job's
# readiness probe execs `test -e FILE` in the container (docs/kwq-worker.md).
system_programs_of() {
    case "$1" in
    kwq-worker) echo /usr/bin/test ;;
    esac
}
for name in "${images[@]}"; do
    for p in $(system_programs_of "$name"); do
        [ -x "$p" ] || die 69 "$p missing: install the Debian package coreutils"
    done
    for b in $(binaries_of "$name"); do
        [ -x "$build/$b" ] || die 66 "$build/$b missing: build it first (cmake --build $build)"
    done
done

if [ -z "$tag" ]; then
    tag=$("$build/worker/kwq-worker" --version 2>/dev/null | awk 'NR == 1 { print $2 }') || true
    [ -n "$tag" ] || die 1 "$build/worker/kwq-worker --version printed no version; pass --tag"
fi
version=$tag
if [ -z "$source_url" ]; then
    source_url=$(git -C "$src" remote get-url origin 2>/dev/null) || source_url=
fi
revision=$(git -C "$src" rev-parse HEAD 2>/dev/null) || revision=
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ) ||
        die 2 "SOURCE_DATE_EPOCH '$SOURCE_DATE_EPOCH' is not a number of seconds"
else
    created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
case "$(dpkg --print-architecture)" in
amd64) arch=amd64 ;;
arm64) arch=arm64 ;;
armhf) arch=arm ;;
i386) arch=386 ;;
ppc64el) arch=ppc64le ;;
s390x) arch=s390x ;;
*) die 1 "Debian architecture $(dpkg --print-architecture) has no OCI name here" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kwq-oci.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# The libraries the binaries load, the dynamic loader included, as the paths
# ldd resolves them to; one per line, maybe repeated.
closure() {
    local b out line
    for b in "$@"; do
        out=$(ldd "$b" 2>&1) || die 1 "ldd $b failed: is it a dynamically linked program of this machine?"
        while read -r line; do
            case "$line" in
            *"not found"*) die 1 "$b needs a library this machine lacks: $line" ;;
            *"=> /"*) line=${line#*=> } && echo "${line%% (*}" ;;
            /*) echo "${line%% (*}" ;;
            esac
        done <<<"$out"
    done
}

# The path inside the image: /usr-merged like Debian 12 itself, so that the
# program's interpreter (/lib64/...) and the loader's default library
# directories (/lib/<triplet>) resolve through the top-level symlinks.
image_path() {
    case "$1" in
    /usr/*) echo "$1" ;;
    *) echo "/usr$1" ;;
    esac
}

# The names under which dpkg may list path: it lists a file under one of its
# /usr-merged aliases, sometimes only under the name a symlink points to.
aliases_of() {
    printf '%s\n' "$1" "$(image_path "$1")" "${1#/usr}" "$(readlink -f "$1")"
}

# Fill owner[PATH]=PACKAGE for every alias of the given paths: one dpkg-query
# for them all (each call reads the whole file database, seconds on a big machine).
declare -A owner=()
find_owners() {
    local -a names=()
    local p line pkg
    for p in "$@"; do
        mapfile -t -O "${#names[@]}" names < <(aliases_of "$p")
    done
    while IFS= read -r line; do
        pkg=${line%%: /*}
        owner[${line#*: }]=${pkg%%:*}
    done < <(dpkg-query -S "${names[@]}" 2>/dev/null || true)
}

package_of() { # the Debian package of path, from find_owners
    local a
    while read -r a; do
        [ -z "${owner[$a]:-}" ] || {
            echo "${owner[$a]}"
            return 0
        }
    done < <(aliases_of "$1")
    return 1
}

# The copyright file of a package (its doc dir may be a symlink to another's).
add_copyright() { # add_copyright ROOTFS PACKAGE
    local f=/usr/share/doc/$2/copyright
    [ -r "$f" ] || die 1 "$f missing: the licence of $2 cannot be shipped (reinstall $2)"
    mkdir -p "$1/usr/share/doc/$2"
    cp -L "$f" "$1/usr/share/doc/$2/copyright"
}

populate() { # populate ROOTFS NAME: write the image's files into ROOTFS
    local root=$1 name=$2 lib dest pkg
    local -a bins=() pkgs=()
    for b in $(binaries_of "$name"); do bins+=("$build/$b"); done

    mkdir -p "$root/usr/local/bin" "$root/usr/lib" "$root/etc" "$root/tmp"
    chmod 1777 "$root/tmp"
    ln -s usr/lib "$root/lib"
    for b in "${bins[@]}"; do
        install -m 0755 "$b" "$root/usr/local/bin/"
    done
    local -a progs
    mapfile -t progs < <(system_programs_of "$name")
    for p in "${progs[@]}"; do
        mkdir -p "$root$(dirname "$p")"
        install -m 0755 "$p" "$root$p"
    done
    closure "${bins[@]}" "${progs[@]}" >"$work/$name.libs"
    local -a libs
    mapfile -t libs < <(sort -u "$work/$name.libs")
    find_owners "${libs[@]}" "${progs[@]}"
    for p in "${progs[@]}"; do
        pkg=$(package_of "$p") || die 1 "$p belongs to no Debian package: its licence is unknown"
        pkgs+=("$pkg")
    done
    for lib in "${libs[@]}"; do
        dest=$root$(image_path "$lib")
        mkdir -p "$(dirname "$dest")"
        cp -L "$lib" "$dest"
        chmod 0755 "$dest"
        pkg=$(package_of "$lib") ||
            die 1 "$lib belongs to no Debian package: its licence is unknown, it cannot be shipped"
        pkgs+=("$pkg")
    done
    [ ! -d "$root/usr/lib64" ] || ln -s usr/lib64 "$root/lib64"

    if [ "$name" = kwq ]; then
        [ -r /etc/ssl/certs/ca-certificates.crt ] ||
            die 69 "/etc/ssl/certs/ca-certificates.crt missing: install the Debian package ca-certificates"
        mkdir -p "$root/etc/ssl/certs"
        install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
        pkgs+=(ca-certificates)
    fi
    for pkg in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
        add_copyright "$root" "$pkg"
    done

    # A name for uid 65532, for the programs that look one up; no home, no shell.
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nkwq:x:65532:65532:kwq:/nonexistent:/usr/sbin/nologin\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nkwq:x:65532:\n' >"$root/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"

    if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
        find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    fi
}

build_image() { # build_image NAME
    local name=$1 layout=$out/$1 bundle=$work/$1
    local entry
    entry=/usr/local/bin/$(basename "$(binaries_of "$name" | awk '{ print $1 }')")
    local ref=$layout:$tag

    rm -rf "$layout"
    umoci init --layout "$layout" || die 1 "umoci init --layout $layout failed"
    umoci new --image "$ref" || die 1 "umoci new --image $ref failed"
    # --rootless: the same on a CI machine without root; files go in as 0:0.
    umoci unpack --rootless --image "$ref" "$bundle" >/dev/null || die 1 "umoci unpack of $ref failed"
    populate "$bundle/rootfs" "$name"
    umoci repack --image "$ref" --history.created "$created" \
        --history.created_by "images/build-oci.sh $name" "$bundle" ||
        die 1 "umoci repack of $ref failed"

    local -a labels=(
        --config.label "org.opencontainers.image.title=$name"
        --config.label "org.opencontainers.image.version=$version"
        --config.label "org.opencontainers.image.created=$created"
        --config.label "org.opencontainers.image.description=kwq $name: a work queue whose workers are the pods of a Kubernetes Job"
    )
    [ -z "$source_url" ] || labels+=(--config.label "org.opencontainers.image.source=$source_url")
    [ -z "$revision" ] || labels+=(--config.label "org.opencontainers.image.revision=$revision")
    umoci config --image "$ref" --no-history \
        --os linux --architecture "$arch" --created "$created" \
        --config.user 65532:65532 \
        --config.entrypoint "$entry" \
        --config.env PATH=/usr/local/bin:/usr/bin:/bin \
        --config.workingdir / \
        "${labels[@]}" || die 1 "umoci config of $ref failed"
    umoci gc --layout "$layout" || die 1 "umoci gc --layout $layout failed"

    if [ "$archive" -eq 1 ]; then
        rm -f "$out/$name.tar"
        # A local copy from a layout this script just wrote: no signature to
        # check, and no policy.json needed on the machine.
        skopeo --insecure-policy copy --quiet "oci:$layout:$tag" \
            "docker-archive:$out/$name.tar:$name:$tag" ||
            die 1 "skopeo copy of $ref to $out/$name.tar failed"
    fi
    printf '%s:%s -> %s%s\n' "$name" "$tag" "$layout" \
        "$([ "$archive" -eq 0 ] || echo " and $out/$name.tar")"
}

for name in "${images[@]}"; do
    build_image "$name"
done
