#!/usr/bin/env bash
# Builds SIG Network's NetworkPolicy implementation, kube-network-policies (sigs.k8s.io/kube-network-policies,
# pinned below), from the Go module proxy, once per version, into the user's cache directory, and prints the
# binary's path. The test bed runs it on cluster1's node (tests/testbed/netpol.py).
set -euo pipefail
version=v0.8.0
exec "$(dirname "$0")/go-install.sh" kube-network-policies sigs.k8s.io/kube-network-policies/cmd "$version" ""
