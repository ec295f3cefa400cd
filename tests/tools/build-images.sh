#!/usr/bin/env bash
# Builds the test bed's container images from the repository's own Dockerfiles, without a Docker
# engine (none runs on these machines): buildah from Debian's packages, vfs storage in the user's
# cache directory. Writes each image as an OCI archive that the node's containerd imports, and prints
# the directory of the archives. Needs root.
#
# No registry is reachable, so the base images are local stand-ins, tagged with the official names, on
# one Debian bookworm root filesystem (debootstrap, minbase, with the libraries CPython links against):
# python:3.11-slim-bookworm, with CPython 3.11 in /usr/local, as the official image has it, copied from
# this machine's own CPython 3.11 (the interpreter this script runs with) with pip from its ensurepip;
# golang:1.26-bookworm (the credential plugin's build stage), with this machine's Go 1.26 toolchain in
# /usr/local/go. Each built once per STANDIN_VERSION and CPython or Go version. The sandbox ("pause")
# image is Kubernetes' own pause.c, from the k8s.io/kubernetes module of KUBE_VERSION, linked statically.
#
# The Dockerfiles are built as users build them; the one difference is a build-time mount of this
# machine's CA bundle over the image's, so that `pip install` reaches PyPI through this machine's
# TLS-intercepting egress (the bundle is never part of an image).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"

if [ "$(id -u)" != 0 ]; then
  echo "error: building the test bed's images (buildah) needs root" >&2
  exit 1
fi
for c in buildah debootstrap gcc go; do
  command -v "$c" >/dev/null || { echo "error: $c is missing (run tests/tools/build-node.sh first, which installs buildah and debootstrap)" >&2; exit 1; }
done

python=${PYTHON:-python3}
py_version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
py_prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
case $py_version in
  3.11.*) ;;
  *) echo "error: the stand-in base image needs CPython 3.11 (as python:3.11-slim-bookworm has); $python is $py_version (set PYTHON=/path/to/python3.11)" >&2; exit 1 ;;
esac
if [ "$py_prefix" = /usr ] || [ ! -f "$py_prefix/lib/python3.11/os.py" ] || [ ! -x "$py_prefix/bin/python3.11" ]; then
  echo "error: $python's prefix $py_prefix does not hold a CPython 3.11 of its own (bin/python3.11, lib/python3.11); use one built with its own prefix (pyenv, or ./configure --prefix) via PYTHON=" >&2
  exit 1
fi
go_version=$(go env GOVERSION)
go_root=$(go env GOROOT)
case $go_version in
  go1.26 | go1.26.*) ;;
  *) echo "error: the stand-in base image golang:1.26-bookworm needs Go 1.26; this machine's go is $go_version" >&2; exit 1 ;;
esac

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/images"
mkdir -p "$out"
buildah=(buildah --root "$cache/containers/storage" --runroot /run/multicluster-service-account/containers --storage-driver vfs)
bundle=/etc/ssl/certs/ca-certificates.crt
start=$(date +%s)

exists() { "${buildah[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# A scratch directory for the stand-ins, removed on exit.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bookworm_rootfs() {  # dir: a fresh copy of the stand-ins' bookworm root filesystem (debootstrap'd once a run)
  local bookworm="$work/bookworm"
  if [ ! -d "$bookworm" ]; then
    # What python:3.11-slim-bookworm installs besides the interpreter: CA certificates, netbase, tzdata,
    # and the shared libraries CPython's modules load. (golang:1.26-bookworm has them too.)
    local include=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libncursesw6,libreadline8,libuuid1,libgdbm6,libexpat1
    debootstrap --variant=minbase --include="$include" bookworm "$bookworm.tmp" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; echo "error: debootstrap of bookworm failed (log above)" >&2; exit 1; }
    rm -rf "$bookworm.tmp"/var/cache/apt/archives/*.deb "$bookworm.tmp"/var/lib/apt/lists/*
    mv "$bookworm.tmp" "$bookworm"
  fi
  rm -rf "$1"
  cp -a "$bookworm" "$1"
}

# -- the stand-in for python:3.11-slim-bookworm --------------------------------------------------------
base=docker.io/library/python:3.11-slim-bookworm
standin_key="localhost/multicluster-service-account-standin:${STANDIN_VERSION}-cpython-${py_version}"
if ! exists "$standin_key"; then
  echo "building the stand-in base image $base (bookworm, CPython $py_version; first time only) ..." >&2
  rootfs="$work/python"
  bookworm_rootfs "$rootfs"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib"
  cp -a "$py_prefix/bin/python3.11" "$rootfs/usr/local/bin/"
  if compgen -G "$py_prefix/lib/libpython3.11.so*" >/dev/null; then  # a shared build (pyenv's)
    cp -a "$py_prefix"/lib/libpython3.11.so* "$rootfs/usr/local/lib/"
  fi
  tar -C "$py_prefix/lib" -c \
    --exclude='python3.11/site-packages/*' --exclude='python3.11/test' --exclude='python3.11/idlelib' \
    --exclude='python3.11/tkinter' --exclude='python3.11/turtledemo' --exclude='python3.11/config-3.11-*' \
    --exclude='python3.11/lib2to3/tests' --exclude='*/__pycache__' python3.11 | tar -C "$rootfs/usr/local/lib" -x
  ln -s python3.11 "$rootfs/usr/local/bin/python3"
  ln -s python3 "$rootfs/usr/local/bin/python"
  chroot "$rootfs" /sbin/ldconfig
  chroot "$rootfs" /usr/local/bin/python3.11 -m ensurepip --default-pip >/dev/null
  ln -sf pip3 "$rootfs/usr/local/bin/pip"
  rm -rf "$rootfs"/root/.cache
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  cat >"$work/Containerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHON_VERSION=$py_version
LABEL org.opencontainers.image.description="Local stand-in for $base: debootstrap'd bookworm with CPython $py_version in /usr/local (tests/tools/build-images.sh)"
CMD ["python3"]
EOF
  "${buildah[@]}" bud --quiet --pull=never --isolation oci --network host -t "$standin_key" -f "$work/Containerfile" "$work" >/dev/null
  "${buildah[@]}" tag "$standin_key" "$base"
  rm -rf "$rootfs" "$work/rootfs.tar"
fi
exists "$base" || "${buildah[@]}" tag "$standin_key" "$base"

# -- the stand-in for golang:1.26-bookworm: the same bookworm, this machine's Go in /usr/local/go ---------
go_base=docker.io/library/golang:1.26-bookworm
go_standin_key="localhost/multicluster-service-account-standin:${STANDIN_VERSION}-go-${go_version#go}"
if ! exists "$go_standin_key"; then
  echo "building the stand-in base image $go_base (bookworm, $go_version; first time only) ..." >&2
  rootfs="$work/golang"
  bookworm_rootfs "$rootfs"
  mkdir -p "$rootfs/usr/local/go" "$rootfs/go/bin" "$rootfs/go/src"
  chmod 1777 "$rootfs/go" "$rootfs/go/bin" "$rootfs/go/src"  # as the official image: any user may build
  # The toolchain, without what no build reads (its own tests, the API lists, the docs).
  tar -C "$go_root" -c --anchored --exclude=./test --exclude=./api --exclude=./doc . | tar -C "$rootfs/usr/local/go" -x --no-same-owner
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  cat >"$work/Containerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOLANG_VERSION=${go_version#go} GOTOOLCHAIN=local GOPATH=/go
WORKDIR /go
LABEL org.opencontainers.image.description="Local stand-in for $go_base: debootstrap'd bookworm with $go_version in /usr/local/go (tests/tools/build-images.sh)"
CMD ["bash"]
EOF
  "${buildah[@]}" bud --quiet --pull=never --isolation oci --network host -t "$go_standin_key" -f "$work/Containerfile" "$work" >/dev/null
  "${buildah[@]}" tag "$go_standin_key" "$go_base"
  rm -rf "$rootfs" "$work/rootfs.tar"
fi
exists "$go_base" || "${buildah[@]}" tag "$go_standin_key" "$go_base"

# -- the sandbox image: Kubernetes' pause.c ------------------------------------------------------------
pause=registry.k8s.io/pause:${PAUSE_VERSION}
if ! exists "$pause"; then
  echo "building the sandbox image $pause from k8s.io/kubernetes@${KUBE_VERSION}'s pause.c ..." >&2
  module=$(cd "$here/kube" && go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  src=$module/build/pause/linux/pause.c
  gcc -Os -static -DVERSION="${PAUSE_VERSION}" -o "$work/pause" "$src"
  strip "$work/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$work/Containerfile"
  "${buildah[@]}" bud --quiet --pull=never --isolation oci -t "$pause" -f "$work/Containerfile" "$work" >/dev/null
  rm -f "$work/pause" "$work/Containerfile"
fi

# -- the project's images, from its Dockerfiles, and their OCI archives for containerd ------------------
# name|Dockerfile|ignore file (the BuildKit convention <Dockerfile>.dockerignore, else .dockerignore)|base image
# The release's names (VERSION is the one source of the version), so that the manifests, the chart and
# install.yaml name exactly what the node runs.
version=$(cat "$repo/VERSION")
registry=ghcr.io/admiraltyio
images=(
  "$registry/multicluster-service-account:$version|Dockerfile|.dockerignore|$base"
  "$registry/multicluster-service-account-example-multicluster-client:$version|examples/multicluster-client/Dockerfile|examples/multicluster-client/Dockerfile.dockerignore|$base"
  "$registry/multicluster-service-account-example-generic-client:$version|examples/generic-client/Dockerfile|examples/generic-client/Dockerfile.dockerignore|$base"
  "$registry/multicluster-service-account-credential-plugin:$version|credential-plugin/Dockerfile|credential-plugin/Dockerfile.dockerignore|$go_base"
)
certifi=/usr/local/lib/python3.11/site-packages/pip/_vendor/certifi/cacert.pem
platform=$(go env GOOS)/$(go env GOARCH)
image_id() { "${buildah[@]}" inspect --type image --format '{{.FromImageID}}' "$1"; }
archive() {  # the OCI archive of an image name
  local full=$1
  case $full in */*) ;; *) full=docker.io/library/$full ;; esac
  echo "$out/$(echo "$full" | tr '/:' '__').tar"
}
push() {  # name full-name digest: write the archive
  local file
  file=$(archive "$1")
  rm -f "$file" "$file.inputs"
  "${buildah[@]}" push --quiet "$1" "oci-archive:$file:$2" >/dev/null
  echo "$3" >"$file.inputs"
}
pause_file=$(archive "$pause")
pause_id=$("${buildah[@]}" inspect --type image --format '{{.FromImageID}}' "$pause")
if [ ! -f "$pause_file" ] || [ "$(cat "$pause_file.inputs" 2>/dev/null)" != "$pause_id" ]; then
  push "$pause" "$pause" "$pause_id"
fi
for entry in "${images[@]}"; do
  IFS='|' read -r name dockerfile ignore from <<<"$entry"
  # Built again only when what the build reads changed, its base image included (buildah's vfs storage
  # makes even a fully cached build take a minute).
  inputs="$(image_id "$from") $("$python" "$here/context_digest.py" "$repo" "$repo/$dockerfile" "$repo/$ignore")"
  file=$(archive "$name")
  if [ -f "$file" ] && [ "$(cat "$file.inputs" 2>/dev/null)" = "$inputs" ]; then
    continue
  fi
  echo "building $name from $dockerfile ..." >&2
  # --platform: this machine's, buildah's default, said explicitly; else buildah 1.28 warns that TARGETOS
  # and TARGETARCH (credential-plugin/Dockerfile's) are missing, and sets them all the same.
  "${buildah[@]}" bud --quiet --layers --pull=never --isolation oci --network host --platform "$platform" \
    -v "$bundle:$bundle:ro" -v "$bundle:$certifi:ro" \
    --ignorefile "$repo/$ignore" -f "$repo/$dockerfile" -t "$name" "$repo" >/dev/null
  push "$name" "$name" "$inputs"
done
# Archives of names no longer built (an older version or name) would be imported into the node too.
keep=("$pause_file")
for entry in "${images[@]}"; do keep+=("$(archive "${entry%%|*}")"); done
for file in "$out"/*.tar; do
  case " ${keep[*]} " in *" $file "*) ;; *) rm -f "$file" "$file.inputs" ;; esac
done
# vfs keeps a full copy of every layer: drop the ones no tag uses any more (older builds, stages).
"${buildah[@]}" rmi --prune >/dev/null 2>&1 || true
echo "built the images in $(( $(date +%s) - start ))s into $out" >&2
echo "$out"
