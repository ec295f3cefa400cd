#!/usr/bin/env bash
# Builds the test bed's node from the Go module proxy, once per pinned version, into the user's cache
# directory, and prints the directory that holds it: kubelet, kube-proxy and kube-scheduler (of the
# control plane's release), containerd with its runc shim and ctr, and the CNI plugins in cni/; and
# kubectl of the same release, a static binary that test pods mount to run it inside a container.
#
# Installs, from Debian's packages, what the node runs but does not build: runc, iptables and
# conntrack (for kube-proxy), and buildah and debootstrap (for the images). Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"

if [ "$(id -u)" != 0 ]; then
  echo "error: the test bed's node (kubelet, containerd) needs root; run as root, or without the node: make demo/test fall back to the kubelet-less bed" >&2
  exit 1
fi

packages=(runc iptables conntrack buildah debootstrap)
commands=(runc iptables conntrack buildah debootstrap)
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

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/bin/node-kubernetes-${KUBE_VERSION}-containerd-${CONTAINERD_VERSION}-cni-${CNI_PLUGINS_VERSION}"
kube=(kubelet kube-proxy kube-scheduler kubectl)
containerd=(containerd containerd-shim-runc-v2 ctr)
cni=(bridge host-local loopback portmap)

have_all() {
  local b
  for b in "${kube[@]}" "${containerd[@]}"; do [ -x "$out/$b" ] || return 1; done
  for b in "${cni[@]}"; do [ -x "$out/cni/$b" ] || return 1; done
}
if have_all; then
  echo "$out"
  exit 0
fi

mkdir -p "$out/cni"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
start=$(date +%s)

# shellcheck source=/dev/null
. "$here/kube-ldflags.sh"
ldflags=$(kube_ldflags)
for b in "${kube[@]}"; do
  if [ ! -x "$out/$b" ]; then
    echo "building $b ${KUBE_VERSION} (first time only) ..." >&2
    (cd "$here/kube" && go build -trimpath -tags notest,grpcnotrace -ldflags "$ldflags" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$out/$b.tmp" "$out/$b"
  fi
done

for b in "${containerd[@]}"; do
  if [ ! -x "$out/$b" ]; then
    echo "building $b ${CONTAINERD_VERSION} (first time only) ..." >&2
    (cd "$here/containerd" && go build -trimpath -tags no_btrfs,no_devmapper,no_zfs \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}" \
      -o "$out/$b.tmp" "github.com/containerd/containerd/v2/cmd/$b")
    mv "$out/$b.tmp" "$out/$b"
  fi
done

for b in "${cni[@]}"; do
  if [ ! -x "$out/cni/$b" ]; then
    case $b in host-local) pkg=ipam/$b ;; portmap) pkg=meta/$b ;; *) pkg=main/$b ;; esac
    echo "building the CNI plugin $b ${CNI_PLUGINS_VERSION} (first time only) ..." >&2
    (cd "$here/cni" && go build -trimpath -ldflags "-s -w" -o "$out/cni/$b.tmp" "github.com/containernetworking/plugins/plugins/$pkg")
    mv "$out/cni/$b.tmp" "$out/cni/$b"
  fi
done
echo "built the node in $(( $(date +%s) - start ))s into $out" >&2
echo "$out"
