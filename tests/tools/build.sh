#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module proxy, once per pinned
# version, into the user's cache directory, and prints the directory that holds the three binaries.
#
# If KUBEBUILDER_ASSETS names a directory that already holds all three, that directory is used as is.
# MCSA_KUBE_VERSION builds another Kubernetes version of the matrix (versions.env) instead of KUBE_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"

binaries=(etcd kube-apiserver kube-controller-manager)

# MCSA_KUBE_VERSION: another version of the matrix (KUBE_MATRIX_VERSIONS), from its own tools module.
module=kube
if [ -n "${MCSA_KUBE_VERSION:-}" ] && [ "$MCSA_KUBE_VERSION" != "$KUBE_VERSION" ]; then
  module="kube-$MCSA_KUBE_VERSION"
  if [ ! -f "$here/$module/go.mod" ]; then
    echo "error: no tools module for Kubernetes $MCSA_KUBE_VERSION (tests/tools/$module); the versions are $KUBE_VERSION $KUBE_MATRIX_VERSIONS" >&2
    exit 1
  fi
  KUBE_VERSION=$MCSA_KUBE_VERSION
fi

have_all() {
  local d=$1 b
  for b in "${binaries[@]}"; do [ -x "$d/$b" ] || return 1; done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/bin/kubernetes-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
if have_all "$out"; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)

if [ ! -x "$out/etcd" ]; then
  echo "building etcd ${ETCD_VERSION} (first time only) ..." >&2
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp" "$out/etcd"
fi

# shellcheck source=/dev/null
. "$here/kube-ldflags.sh"
ldflags=$(kube_ldflags)
for b in kube-apiserver kube-controller-manager; do
  if [ ! -x "$out/$b" ]; then
    echo "building $b ${KUBE_VERSION} (first time only; tens of minutes on 2 cores) ..." >&2
    (cd "$here/$module" && go build -trimpath -tags notest,grpcnotrace -ldflags "$ldflags" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$out/$b.tmp" "$out/$b"
  fi
done
echo "built the control plane in $(( $(date +%s) - start ))s into $out" >&2
echo "$out"
