#!/usr/bin/env bash
# Builds one Go command from the Go module proxy, once per version, into the user's cache directory
# ($cache/bin/NAME-VERSION/NAME), and prints the binary's path. The tools' own scripts (build-helm.sh,
# build-actionlint.sh) call it with their pinned version and release ldflags.
#
#   go-install.sh NAME PACKAGE VERSION LDFLAGS
#
# A pure-Go build (CGO_ENABLED=0). `go install PACKAGE@VERSION` builds the module as released (its own
# go.mod and go.sum, checked against the checksum database), outside any module of ours. GOBIN is a
# directory of this build's own, then the binary moves into place, so that a build that fails or is killed
# never leaves a half-written binary.
set -euo pipefail
name=$1 package=$2 version=$3 ldflags=$4

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/bin/${name}-${version}"
if [ -x "$out/$name" ]; then
  echo "$out/$name"
  exit 0
fi

command -v go >/dev/null || { echo "error: $name is built from the Go module proxy, and go is missing" >&2; exit 1; }
mkdir -p "$out"
echo "building $name ${version} (first time only) ..." >&2
start=$(date +%s)
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly GOBIN="$tmp" \
  go install -trimpath -ldflags "-s -w $ldflags" "${package}@${version}"
mv "$tmp/$(basename "$package")" "$out/$name"
echo "built $name ${version} in $(($(date +%s) - start))s into $out" >&2
echo "$out/$name"
