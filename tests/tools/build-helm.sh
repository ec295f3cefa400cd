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

ldflags="-X helm.sh/helm/v4/internal/version.version=${helm_version}"
ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
exec "$(dirname "$0")/go-install.sh" helm helm.sh/helm/v4/cmd/helm "$helm_version" "$ldflags"
