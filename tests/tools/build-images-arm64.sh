#!/usr/bin/env bash
# Builds the hooks image (./Dockerfile) for linux/arm64 on this amd64 machine, as tests/tools/build-images.sh
# builds it for amd64: buildah from Debian's packages, vfs storage, no Docker engine, no registry. The
# Dockerfile's RUN steps (pip install, compileall) run arm64 binaries under QEMU (Debian's
# qemu-user-static, registered with binfmt_misc with the F flag, so that it also works inside the build's
# containers). Writes the image as an OCI archive and prints the directory of the archive. Needs root.
# Installs qemu-user-static and binfmt-support if missing, and leaves binfmt_misc mounted and qemu-aarch64
# registered (machine-wide: arm64 programs then run under QEMU).
#
# The base image is a local stand-in for python:3.11-slim-bookworm's arm64 variant: a Debian bookworm arm64
# root filesystem (debootstrap, minbase, with the libraries CPython's modules load) with CPython 3.11 in
# /usr/local, as the official image has it. No arm64 CPython of python.org's is reachable, so the
# interpreter, its C modules and standard library are Debian's own arm64 build (python3.11-minimal,
# libpython3.11-minimal, libpython3.11-stdlib), laid out under /usr/local; Debian's changes to where
# packages go (sysconfig.py's posix_local scheme, EXTERNALLY-MANAGED) are undone with CPython's own
# sysconfig.py of this machine's CPython 3.11, whose ensurepip (pip) and lib2to3, which Debian ships
# apart, it takes too. Built once per STANDIN_VERSION (the label names the Debian version it holds).
#
# Its own storage (containers-arm64/ in the cache directory) and run root, so that it never touches the
# test bed's image store. Timing on 2 cores: 8 minutes the first time (the stand-in 3.5, the hooks image
# 4.5: pip under QEMU), seconds when nothing changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"

if [ "$(id -u)" != 0 ]; then
  echo "error: building the arm64 image (buildah, binfmt_misc) needs root" >&2
  exit 1
fi
# What it needs from Debian: buildah and debootstrap (as build-node.sh installs them), and QEMU.
packages=(buildah debootstrap qemu-user-static binfmt-support)
commands=(buildah debootstrap qemu-aarch64-static update-binfmts)
missing=()
for i in "${!commands[@]}"; do
  command -v "${commands[$i]}" >/dev/null || missing+=("${packages[$i]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's packages ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
    || { echo "error: cannot install ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2; exit 1; }
fi
# arm64 binaries run through binfmt_misc: mounted, qemu-aarch64 registered and enabled, with the F flag
# (the interpreter opened at registration, so that it runs in the build's containers, which do not have it).
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
binfmt=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [ ! -e "$binfmt" ] || ! grep -qx enabled "$binfmt"; then
  update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true  # known already, once the package is installed
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true  # checked below
fi
if ! grep -qx enabled "$binfmt" || ! grep -q '^flags: .*F' "$binfmt"; then
  echo "error: qemu-aarch64 is not registered with binfmt_misc, enabled, with the F flag ($binfmt)" >&2
  exit 1
fi

python=${PYTHON:-python3}
py_version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
py_prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
case $py_version in
  3.11.*) ;;
  *) echo "error: the stand-in takes CPython 3.11's pure-Python sysconfig, ensurepip and lib2to3 from $python, which is $py_version (set PYTHON=/path/to/python3.11)" >&2; exit 1 ;;
esac
stdlib=$py_prefix/lib/python3.11
for module in sysconfig.py ensurepip lib2to3; do
  [ -e "$stdlib/$module" ] || { echo "error: $python has no $stdlib/$module (use a CPython 3.11 with its own prefix via PYTHON=)" >&2; exit 1; }
done

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/images-arm64"
mkdir -p "$out"
buildah=(buildah --root "$cache/containers-arm64/storage" --runroot /run/multicluster-service-account/containers-arm64 --storage-driver vfs)
bundle=/etc/ssl/certs/ca-certificates.crt
start=$(date +%s)

exists() { "${buildah[@]}" inspect --type image "$1" >/dev/null 2>&1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# -- the stand-in for python:3.11-slim-bookworm, linux/arm64 ----------------------------------------------
base=docker.io/library/python:3.11-slim-bookworm
rootfs="$work/rootfs"
# The libraries of build-images.sh's stand-in, and those Debian's C modules load besides (_dbm, _crypt, nis).
include=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libncursesw6,libreadline8,libuuid1,libgdbm6,libexpat1,libdb5.3,libnsl2,libtirpc3,libcrypt1
standin_key="localhost/multicluster-service-account-standin:${STANDIN_VERSION}-arm64-cpython-3.11"
if ! exists "$standin_key"; then
  echo "building the stand-in base image $base (linux/arm64, Debian's CPython 3.11; first time only) ..." >&2
  debootstrap --arch=arm64 --variant=minbase --include="$include" bookworm "$rootfs" http://deb.debian.org/debian \
    >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; echo "error: debootstrap of bookworm (arm64) failed (log above)" >&2; exit 1; }
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  chroot "$rootfs" apt-get update -qq >/dev/null
  deb_version=$(chroot "$rootfs" apt-cache show --no-all-versions python3.11-minimal | awk '/^Version:/ {print $2}')
  mkdir -p "$rootfs/tmp/debs"
  chmod 777 "$rootfs/tmp/debs"  # apt downloads as its user _apt
  chroot "$rootfs" sh -c 'cd /tmp/debs && apt-get download -qq python3.11-minimal libpython3.11-minimal libpython3.11-stdlib' >/dev/null
  mkdir -p "$work/debian-python"
  for deb in "$rootfs"/tmp/debs/*.deb; do dpkg-deb -x "$deb" "$work/debian-python"; done
  rm -rf "$rootfs/tmp/debs"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib"
  cp -a "$work/debian-python/usr/bin/python3.11" "$rootfs/usr/local/bin/"
  cp -a "$work/debian-python/usr/lib/python3.11" "$rootfs/usr/local/lib/"
  local_stdlib="$rootfs/usr/local/lib/python3.11"
  # Debian's own: its install layout (sysconfig's posix_local scheme: local/lib/python3.11/dist-packages),
  # PEP 668's marker, its sitecustomize. CPython's own sysconfig.py puts packages where the official image
  # has them. site.py is frozen into Debian's interpreter (as CPython 3.11 freezes it): it looks in
  # lib/python3.11/dist-packages of the prefix, not site-packages, so that is a link to site-packages.
  rm -f "$local_stdlib/EXTERNALLY-MANAGED" "$local_stdlib/sitecustomize.py" "$local_stdlib/_distutils_system_mod.py"
  cp "$stdlib/sysconfig.py" "$local_stdlib/"
  tar -C "$stdlib" -c --exclude='lib2to3/tests' --exclude='*/__pycache__' ensurepip lib2to3 | tar -C "$local_stdlib" -x
  find "$local_stdlib" -name __pycache__ -type d -prune -exec rm -rf {} +
  mkdir -p "$local_stdlib/site-packages"
  ln -s site-packages "$local_stdlib/dist-packages"
  ln -s python3.11 "$rootfs/usr/local/bin/python3"
  ln -s python3 "$rootfs/usr/local/bin/python"
  chroot "$rootfs" /sbin/ldconfig
  # The interpreter finds its prefix from where it is (lib/python3.11/os.py next to bin/): /usr/local.
  prefix=$(chroot "$rootfs" /usr/local/bin/python3.11 -c 'import sys, sysconfig; print(sys.prefix, sysconfig.get_path("purelib"))')
  [ "$prefix" = "/usr/local /usr/local/lib/python3.11/site-packages" ] \
    || { echo "error: the stand-in's CPython says prefix and purelib are '$prefix', not /usr/local and its site-packages" >&2; exit 1; }
  chroot "$rootfs" /usr/local/bin/python3.11 -m ensurepip --default-pip >"$work/ensurepip.log" 2>&1 \
    || { cat "$work/ensurepip.log" >&2; echo "error: ensurepip failed in the stand-in (log above)" >&2; exit 1; }
  found=$(chroot "$rootfs" /usr/local/bin/python3 -c 'import os, pip; print(os.path.realpath(pip.__file__))')
  [ "$found" = /usr/local/lib/python3.11/site-packages/pip/__init__.py ] \
    || { echo "error: the stand-in's CPython imports pip from $found, not from /usr/local/lib/python3.11/site-packages" >&2; exit 1; }
  ln -sf pip3 "$rootfs/usr/local/bin/pip"
  rm -rf "$rootfs"/root/.cache "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs/etc/resolv.conf"
  touch "$rootfs/etc/resolv.conf"
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  cat >"$work/Containerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHON_VERSION=3.11
LABEL org.opencontainers.image.description="Local stand-in for $base (linux/arm64): debootstrap'd bookworm with Debian's CPython $deb_version in /usr/local (tests/tools/build-images-arm64.sh)"
CMD ["python3"]
EOF
  "${buildah[@]}" bud --quiet --pull=never --isolation oci --network host --platform linux/arm64 \
    -t "$standin_key" -f "$work/Containerfile" "$work" >/dev/null
  rm -rf "$rootfs" "$work/rootfs.tar"
fi
"${buildah[@]}" tag "$standin_key" "$base"

# -- the hooks image, linux/arm64, and its OCI archive ----------------------------------------------------
version=$(cat "$repo/VERSION")
name=ghcr.io/admiraltyio/multicluster-service-account:$version
certifi=/usr/local/lib/python3.11/site-packages/pip/_vendor/certifi/cacert.pem
file="$out/$(echo "$name" | tr '/:' '__')-linux-arm64.tar"
inputs="$("${buildah[@]}" inspect --type image --format '{{.FromImageID}}' "$base") $("$python" "$here/context_digest.py" "$repo" "$repo/Dockerfile" "$repo/.dockerignore")"
if [ ! -f "$file" ] || [ "$(cat "$file.inputs" 2>/dev/null)" != "$inputs" ]; then
  echo "building $name for linux/arm64 from Dockerfile (RUN steps under QEMU) ..." >&2
  "${buildah[@]}" bud --quiet --layers --pull=never --isolation oci --network host --platform linux/arm64 \
    -v "$bundle:$bundle:ro" -v "$bundle:$certifi:ro" \
    --ignorefile "$repo/.dockerignore" -f "$repo/Dockerfile" -t "$name" "$repo" >/dev/null
  arch=$("${buildah[@]}" inspect --type image --format '{{.OCIv1.Architecture}}' "$name")
  [ "$arch" = arm64 ] || { echo "error: $name was built for $arch, not arm64" >&2; exit 1; }
  rm -f "$file" "$file.inputs"
  "${buildah[@]}" push --quiet "$name" "oci-archive:$file:$name" >/dev/null
  echo "$inputs" >"$file.inputs"
fi
"${buildah[@]}" rmi --prune >/dev/null 2>&1 || true
echo "built the arm64 image in $(($(date +%s) - start))s into $out" >&2
echo "$out"
