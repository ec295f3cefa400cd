#!/usr/bin/env bash
# Builds actionlint (github.com/rhysd/actionlint/cmd/actionlint, pinned below), the linter of GitHub Actions
# workflows, from the Go module proxy, once per version, into the user's cache directory, and prints the
# binary's path. Used by `make lint` and tests/unit/test_workflows.py to check .github/workflows/.
#
# A pure-Go build (CGO_ENABLED=0) with the version ldflag of actionlint's own release builds, so that
# `actionlint -version` says 1.7.12. actionlint runs shellcheck on each `run:` script when shellcheck is on
# PATH (Debian: apt-get install shellcheck), and skips that check otherwise.
set -euo pipefail
actionlint_version=v1.7.12

cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account
out="$cache/bin/actionlint-${actionlint_version}"
if [ -x "$out/actionlint" ]; then
  echo "$out/actionlint"
  exit 0
fi

command -v go >/dev/null || { echo "error: build-actionlint.sh: go is missing (actionlint is built from the Go module proxy)" >&2; exit 1; }
mkdir -p "$out"
echo "building actionlint ${actionlint_version} (first time only; about a minute on 2 cores) ..." >&2
start=$(date +%s)
# go install PKG@VERSION builds the module as released (its own go.mod and go.sum, checked against the
# checksum database), outside any module of ours. GOBIN is a directory of this build's own, then the
# binary moves into place, so that a build that fails or is killed never leaves a half-written actionlint.
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly GOBIN="$tmp" \
  go install -trimpath -ldflags "-s -w -X github.com/rhysd/actionlint.version=${actionlint_version#v}" \
  "github.com/rhysd/actionlint/cmd/actionlint@${actionlint_version}"
mv "$tmp/actionlint" "$out/actionlint"
echo "built actionlint ${actionlint_version} in $(($(date +%s) - start))s into $out" >&2
echo "$out/actionlint"
