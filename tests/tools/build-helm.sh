#!/usr/bin/env bash
# Builds the real Helm (helm.sh/helm/v4/cmd/helm, pinned below) from the Go module proxy, once per version,
# into the user's cache directory, and prints the binary's path. Used by the chart's tests
# (tests/unit/test_chart.py, tests/e2e/test_helm.py) and by `make dist` (helm package).
#
# A pure-Go build (CGO_ENABLED=0), with the version ldflags of Helm's own Makefile, so that `helm version`
# says v4.3.2. Its default Kubernetes version (for `helm template` and lint) comes from the client-go module
# it is built with, as in Helm's release builds.
set -euo pipefail
helm_version=v4.3.2

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/bin/helm-${helm_version}"
if [ -x "$out/helm" ]; then
  echo "$out/helm"
  exit 0
fi

command -v go >/dev/null || { echo "error: build-helm.sh: go is missing (Helm is built from the Go module proxy)" >&2; exit 1; }
mkdir -p "$out"
echo "building helm ${helm_version} (first time only; a few minutes on 2 cores) ..." >&2
start=$(date +%s)
# go install PKG@VERSION builds the module as released (its own go.mod and go.sum, checked against the
# checksum database), outside any module of ours. GOBIN is a directory of this build's own, then the
# binary moves into place, so that a build that fails or is killed never leaves a half-written helm.
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${helm_version}"
ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly GOBIN="$tmp" \
  go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v4/cmd/helm@${helm_version}"
mv "$tmp/helm" "$out/helm"
echo "built helm ${helm_version} in $(($(date +%s) - start))s into $out" >&2
echo "$out/helm"
