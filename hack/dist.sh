#!/usr/bin/env bash
# Builds into dist/ (or $1) everything a release publishes, at the version in VERSION:
#   install.yaml                    the hooks, the webhook and the CompositeController (kubectl kustomize
#                                   manifests/ and metacontroller/), images pinned to the version
#   install-cert-manager.yaml       the same, with cert-manager issuing the hooks' certificate
#   clusterprofile-provider-file.json
#                                   the ClusterProfile consumers' provider file (docs/clusterprofile.md)
#   multicluster-service-account-VERSION.tgz
#                                   the Helm chart (helm package)
#   python/                         the sdists and wheels of kubemcsa and multicluster-service-account
#   images/                         the OCI archives of the hooks, credential-plugin and example images
#                                   (this machine's architecture; the release workflow builds amd64 and arm64)
#   SHA256SUMS
# DIST_IMAGES=no leaves the images out.
# The images are built with buildah, which needs root: without root, everything else is built and the
# script says so and fails at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)
version=$(cat "$repo/VERSION")
bin=${VENV:-$repo/.venv}/bin
for tool in "$bin/python" "$bin/kubectl"; do
  [ -x "$tool" ] || { echo "error: $tool is missing (run make venv)" >&2; exit 1; }
done
cd "$repo"
rm -rf "${out:?}"/*

echo "dist: install.yaml ..." >&2
{ "$bin/kubectl" kustomize manifests/; echo "---"; "$bin/kubectl" kustomize metacontroller/; } >"$out/install.yaml"
{ "$bin/kubectl" kustomize manifests/cert-manager/; echo "---"; "$bin/kubectl" kustomize metacontroller/; } \
  >"$out/install-cert-manager.yaml"
cp examples/clusterprofile/clusterprofile-provider-file.json "$out/"

echo "dist: the Helm chart ..." >&2
helm=$(tests/tools/build-helm.sh)
"$helm" package charts/multicluster-service-account --destination "$out" >/dev/null

echo "dist: the Python packages ..." >&2
"$bin/python" -m distributions.build --out "$out/python" >/dev/null

sums() { (cd "$out" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS); }
# DIST_IMAGES=no: no image archives (the release workflow builds the images for both platforms with BuildKit).
if [ "${DIST_IMAGES:-yes}" = no ]; then
  sums
  echo "dist: $out (version $version; no images: DIST_IMAGES=no)" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  sums
  echo "error: the images need root (buildah); everything else is in $out (DIST_IMAGES=no leaves them out)" >&2
  exit 1
fi
echo "dist: the images ..." >&2
images=$(PYTHON="$bin/python" tests/tools/build-images.sh)
mkdir -p "$out/images"
for name in multicluster-service-account multicluster-service-account-credential-plugin \
  multicluster-service-account-example-multicluster-client multicluster-service-account-example-generic-client; do
  cp "$images/ghcr.io_admiraltyio_${name}_${version}.tar" "$out/images/${name}-${version}.oci.tar"
done
sums
echo "dist: $out (version $version)" >&2
