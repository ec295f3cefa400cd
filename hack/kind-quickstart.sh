#!/usr/bin/env bash
# The README's install and the seed's walkthrough on two kind clusters of its own, then their deletion
# (KEEP=1 keeps them). It cannot run in this project's CI (no Docker there): `make demo` runs the same
# walkthrough on loopback control planes, and tests/unit/test_quickstart.py runs this script against stub
# docker, kind, kubectl and kubemcsa commands.
#
#   hack/kind-quickstart.sh                                # kind clusters cluster1 and cluster2
#   CLUSTER1=mcsa-a CLUSTER2=mcsa-b hack/kind-quickstart.sh  # other names
#   KEEP=1 hack/kind-quickstart.sh                         # keep the clusters (contexts kind-<name>)
#
# Needs Docker (with the buildx plugin: BuildKit builds the images), kind, kubectl, git (kubectl's
# kustomize fetches Metacontroller's manifests with it), and kubemcsa (`make venv` puts it in .venv/bin;
# else the one on PATH; or KUBEMCSA=/path/to/kubemcsa). Every one of them is checked before anything is
# created.
#
# It never touches a cluster it did not create: it refuses to start if a kind cluster of either name
# exists, and on exit deletes only the clusters this run created. kind's own change of the kubeconfig's
# current context is undone. Written for bash 3.2 too (macOS's /bin/bash).
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER1=${CLUSTER1:-cluster1}
CLUSTER2=${CLUSTER2:-cluster2}
KEEP=${KEEP:-}
# The Metacontroller release the README pins (its overlay, below, names this URL).
METACONTROLLER="https://github.com/metacontroller/metacontroller/manifests/production?ref=v4.17.2"
REGISTRY=ghcr.io/admiraltyio

# -- 1. Prerequisites, all of them, before anything is created: one line for each that is missing. ------
missing=
need() {
  echo "error: $*" >&2
  missing=1
}

for name in "$CLUSTER1" "$CLUSTER2"; do
  # kind's own rule for cluster names; the name is also part of cluster2's server URL below.
  [[ $name =~ ^[a-z0-9.-]+$ ]] || need "'$name' cannot be a kind cluster name (lowercase letters, digits, '.' and '-'): set CLUSTER1 and CLUSTER2"
done
[ "$CLUSTER1" != "$CLUSTER2" ] || need "CLUSTER1 and CLUSTER2 are both '$CLUSTER1': the walkthrough needs two clusters"

if ! command -v docker >/dev/null; then
  need "docker is missing: install Docker (https://docs.docker.com/get-docker/)"
else
  if ! docker info >/dev/null 2>&1; then
    need "docker cannot reach a Docker engine ('docker info' failed): start Docker, or check DOCKER_HOST and 'docker context ls'"
  fi
  # credential-plugin/Dockerfile needs BuildKit ($BUILDPLATFORM), and BuildKit reads the Dockerfile.dockerignore
  # beside each Dockerfile (the repository's .dockerignore is the hooks image's alone).
  if ! docker buildx version >/dev/null 2>&1; then
    need "docker buildx is missing: the images are built with BuildKit; install Docker's buildx plugin (https://github.com/docker/buildx#installing)"
  fi
fi
command -v kind >/dev/null || need "kind is missing: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
command -v kubectl >/dev/null || need "kubectl is missing: install it (https://kubernetes.io/docs/tasks/tools/)"
command -v git >/dev/null || need "git is missing: kubectl fetches Metacontroller's manifests (a kustomize remote base) with it"
if [ -n "${KUBEMCSA:-}" ]; then
  kubemcsa=$(command -v "$KUBEMCSA") || need "KUBEMCSA=$KUBEMCSA is not a command"
elif [ -x .venv/bin/kubemcsa ]; then
  kubemcsa=.venv/bin/kubemcsa
else
  kubemcsa=$(command -v kubemcsa) || need "kubemcsa is missing: run 'make venv' (it installs .venv/bin/kubemcsa) or 'pip install .', or set KUBEMCSA=/path/to/kubemcsa"
fi

version=
if [ -r VERSION ]; then read -r version <VERSION || true; fi
[[ $version =~ ^[0-9A-Za-z.+_-]+$ ]] || need "VERSION is missing or not one version (run this script from a checkout of the repository)"

# The README's Metacontroller overlay (its recommended flags, on the pinned release), taken from README.md
# so that this script installs exactly what the README says.
overlay=""
in_block=0
if [ -r README.md ]; then
  while IFS= read -r line; do
    case $in_block,$line in
      0,"<!-- metacontroller-flags:"*) in_block=1 ;;
      1,'```yaml') in_block=2 ;;
      2,'```') break ;;
      2,*) overlay+=$line$'\n' ;;
    esac
  done <README.md
fi
[[ $overlay == *"- $METACONTROLLER"$'\n'* ]] \
  || need "README.md has no Metacontroller overlay (after <!-- metacontroller-flags: -->) with resource $METACONTROLLER"

[ -z "$missing" ] || exit 1

# The platform the kind nodes run (the Docker engine's), and whether Docker keeps its images in
# containerd's image store (Docker 29's default for new installs, and Docker Desktop's).
platform=$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}')
save_platform=
case $(docker info --format '{{.DriverStatus}}') in
  *io.containerd.snapshotter*)
    # Where the docker CLI can (28.0 and later), the archive holds this platform's image alone.
    case $(docker save --help 2>&1) in *--platform*) save_platform=$platform ;; esac
    ;;
esac

# -- 2. Refuse to start if a kind cluster of either name exists: it is not this script's to delete. ------
clusters_err=$(mktemp)
if ! clusters=$(kind get clusters 2>"$clusters_err"); then
  echo "error: cannot list kind clusters ('kind get clusters' failed):" >&2
  cat "$clusters_err" >&2
  rm -f "$clusters_err"
  exit 1
fi
rm -f "$clusters_err"
while IFS= read -r existing; do
  case $existing in
    "$CLUSTER1" | "$CLUSTER2")
      need "a kind cluster named $existing exists already, and this script deletes the clusters it creates: pick other names (CLUSTER1=... CLUSTER2=... hack/kind-quickstart.sh) or delete it yourself (kind delete cluster --name $existing)"
      ;;
  esac
done <<<"$clusters"
[ -z "$missing" ] || exit 1

# -- From here on, the exit trap deletes what this run created (unless KEEP=1), and only that. ----------
work=$(mktemp -d)
created=  # the clusters this run created, in order
creating= # the cluster `kind create cluster` is making (its outcome unknown until it returns)
# kind makes each cluster it creates the kubeconfig's current context (and its deletion leaves none):
# the user's own is given back after each.
previous_context=$(kubectl config current-context 2>/dev/null) || previous_context=
restore_context() {
  [ -z "$previous_context" ] || kubectl config use-context "$previous_context" >/dev/null
}

cleanup() {
  local status=$? name
  trap - EXIT INT TERM
  if [ -n "$creating" ]; then
    echo "note: 'kind create cluster --name $creating' did not finish; if 'kind get clusters' lists it, delete it yourself" >&2
  fi
  if [ "$KEEP" = 1 ]; then
    [ -z "$created" ] || echo "KEEP=1: kept the kind clusters$created (contexts kind-<name>; delete each with 'kind delete cluster --name <name>')" >&2
  else
    for name in $created; do
      kind delete cluster --name "$name" || { echo "error: could not delete kind cluster $name" >&2; status=1; }
    done
  fi
  [ -z "$created$creating" ] || restore_context || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -- 3. The two clusters. -----------------------------------------------------------------------------
for name in "$CLUSTER1" "$CLUSTER2"; do
  creating=$name
  kind create cluster --name "$name"
  creating=
  created="$created $name"
  restore_context
done
context1=kind-$CLUSTER1
context2=kind-$CLUSTER2

# -- 4. The images, under the release's names, loaded into cluster1 (the hooks, the credential plugin
# that the webhook injects into every pod that mounts imports, and the walkthrough's client). -----------
hooks_image=$REGISTRY/multicluster-service-account:$version
plugin_image=$REGISTRY/multicluster-service-account-credential-plugin:$version
client_image=$REGISTRY/multicluster-service-account-example-multicluster-client:$version
docker buildx build --load --platform "$platform" -t "$hooks_image" .
docker buildx build --load --platform "$platform" --build-arg VERSION="$version" \
  -f credential-plugin/Dockerfile -t "$plugin_image" .
docker buildx build --load --platform "$platform" \
  -f examples/multicluster-client/Dockerfile -t "$client_image" .
# Not `kind load docker-image`: with Docker's containerd image store its import fails with
# `ctr: content digest sha256:...: not found` (https://github.com/kubernetes-sigs/kind/issues/3795, open).
# The workaround kind documents (https://github.com/kubernetes-sigs/kind/pull/4247) is an archive of one
# platform, `docker save --platform`, loaded with `kind load image-archive`; the classic image store
# writes one platform anyway.
docker save ${save_platform:+--platform "$save_platform"} -o "$work/images.tar" \
  "$hooks_image" "$plugin_image" "$client_image"
kind load image-archive "$work/images.tar" --name "$CLUSTER1"

# -- 5. The install in cluster1: Metacontroller (pinned, with the README's flags), the README's commands. -
mkdir "$work/metacontroller-tuned"
printf '%s' "$overlay" >"$work/metacontroller-tuned/kustomization.yaml"
kubectl --context "$context1" apply -k "$work/metacontroller-tuned"
kubectl --context "$context1" apply -k manifests/
kubectl --context "$context1" -n multicluster-service-account wait --for=condition=complete --timeout=180s \
  job/multicluster-service-account-certificates
kubectl --context "$context1" -n multicluster-service-account rollout status deploy/multicluster-service-account-hooks
# metacontroller/ is a CompositeController: Metacontroller's CRD and controller must be up first.
kubectl --context "$context1" -n metacontroller rollout status statefulset/metacontroller --timeout=180s
kubectl --context "$context1" apply -k metacontroller/
# Pods of cluster1 reach cluster2's API server on kind's Docker network, not at your 127.0.0.1 port.
# The names in the imports stay cluster1 and cluster2 (examples/multicluster-client/import.yaml's).
"$kubemcsa" bootstrap "$context1" "$context2" --target-name cluster1 --source-name cluster2 \
  --source-server "https://$CLUSTER2-control-plane:6443"

# -- 6. The seed's walkthrough. -----------------------------------------------------------------------
kubectl --context "$context2" create serviceaccount pod-lister
kubectl --context "$context2" create role pod-lister --verb=list --resource=pods
kubectl --context "$context2" create rolebinding pod-lister --role=pod-lister --serviceaccount=default:pod-lister
kubectl --context "$context2" run nginx --image nginx
kubectl --context "$context1" label namespace default multicluster-service-account=enabled
kubectl --context "$context1" apply -f examples/multicluster-client/import.yaml
kubectl --context "$context1" wait sai/cluster2-default-pod-lister --for=condition=Ready --timeout=120s
kubectl --context "$context1" apply -f examples/multicluster-client/job.yaml
kubectl --context "$context1" wait job/multicluster-client --for=condition=complete --timeout=180s
kubectl --context "$context1" logs job/multicluster-client
