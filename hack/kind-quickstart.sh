#!/usr/bin/env bash
# The README's install and the seed's walkthrough on two kind clusters, then cleanup (KEEP=1 keeps them).
# Needs docker, kind and kubectl, and kubemcsa (`make venv` puts it in .venv/bin). It cannot run in this
# project's CI (no Docker there); `make demo` runs the same walkthrough on loopback control planes.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBEMCSA=${KUBEMCSA:-.venv/bin/kubemcsa}
METACONTROLLER=https://github.com/metacontroller/metacontroller/manifests/production

cleanup() { kind delete cluster --name cluster1; kind delete cluster --name cluster2; }
[ "${KEEP:-}" = 1 ] || trap cleanup EXIT

kind create cluster --name cluster1
kind create cluster --name cluster2
docker build -t multicluster-service-account:0.1.0 .
docker build -t multicluster-service-account-example-multicluster-client:latest -f examples/multicluster-client/Dockerfile .
kind load docker-image multicluster-service-account:0.1.0 multicluster-service-account-example-multicluster-client:latest \
    --name cluster1

# Install in cluster1 (the README's commands; kind names the contexts kind-cluster1, kind-cluster2).
kubectl --context kind-cluster1 apply -k "$METACONTROLLER"
kubectl --context kind-cluster1 apply -k manifests/
kubectl --context kind-cluster1 -n multicluster-service-account wait --for=condition=complete --timeout=180s \
    job/multicluster-service-account-certificates
kubectl --context kind-cluster1 -n multicluster-service-account rollout status deploy/multicluster-service-account-hooks
kubectl --context kind-cluster1 apply -k metacontroller/
# Pods of cluster1 reach cluster2's API server on kind's Docker network, not at your 127.0.0.1 port.
"$KUBEMCSA" bootstrap kind-cluster1 kind-cluster2 --target-name cluster1 --source-name cluster2 \
    --source-server https://cluster2-control-plane:6443

# The seed's walkthrough.
kubectl --context kind-cluster2 create serviceaccount pod-lister
kubectl --context kind-cluster2 create role pod-lister --verb=list --resource=pods
kubectl --context kind-cluster2 create rolebinding pod-lister --role=pod-lister --serviceaccount=default:pod-lister
kubectl --context kind-cluster2 run nginx --image nginx
kubectl --context kind-cluster1 label namespace default multicluster-service-account=enabled
kubectl --context kind-cluster1 apply -f examples/multicluster-client/import.yaml
kubectl --context kind-cluster1 wait sai/cluster2-default-pod-lister --for=condition=Ready --timeout=120s
kubectl --context kind-cluster1 apply -f examples/multicluster-client/job.yaml
kubectl --context kind-cluster1 wait job/multicluster-client --for=condition=complete --timeout=180s
kubectl --context kind-cluster1 logs job/multicluster-client
