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

exec "$(dirname "$0")/go-install.sh" actionlint github.com/rhysd/actionlint/cmd/actionlint "$actionlint_version" \
  "-X github.com/rhysd/actionlint.version=${actionlint_version#v}"
