# Sourced by build.sh and build-node.sh: the -ldflags that stamp KUBE_VERSION into a Kubernetes binary
# (what `kubectl version` and the API server's /version report), as the release build does.
kube_ldflags() {
  local minor=${KUBE_VERSION#v1.} pkg flags="-s -w"
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=${KUBE_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}
