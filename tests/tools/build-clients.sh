#!/usr/bin/env bash
# Builds the real Kubernetes client libraries of the client test (tests/e2e/test_clients.py) as their users
# install them, pinned, from the package registries: client-go (Go module proxy), the official Python client
# (already in the project's virtualenv), @kubernetes/client-node (npm), kube-rs (crates.io), and the official
# Java client and fabric8 (Maven Central); and the consumers of the integrations, from the Go module proxy: a
# ClusterProfile consumer of SIG Multicluster's sigs.k8s.io/cluster-inventory-api (whose ClusterProfile CRD,
# from the same module's config/, the test installs) and Argo CD's own cluster-Secret code (argo-cd/v3's
# util/db). Each client's program is in tests/clients/.
#
# Builds go to the user's cache directory, one directory per client named after a short hash of its input
# files (and of this script and the toolchain that builds it), so a change of any of them builds it again and
# a second run takes seconds; builds of older inputs are removed a day later. Prints, as its last line, the
# path of a JSON file naming each client's command (an argv prefix; every client then takes
# --kubeconfig PATH --namespace NS --label VALUE --interval SECONDS; the consumers take more, see their
# main.go), and, as "clusterprofile-crd", the ClusterProfile CRD's file.
#
# PYTHON names the interpreter with `kubernetes` installed (default: python3).
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sources=$(cd "$here/../clients" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-service-account/clients
python_client_version=37.0.2

step="starting"
trap 'echo "error: build-clients.sh: $step failed" >&2; exit 1' ERR
fail() {
  echo "error: build-clients.sh: $*" >&2
  exit 1
}
need() {
  command -v "$1" >/dev/null || fail "$1 is missing: the $2 client needs it"
}

# A short hash of a client's input files (paths and contents), this script, and $1 (a toolchain's version).
key() {
  local toolchain=$1 client=$2
  {
    echo "$toolchain"
    sha256sum "$here/build-clients.sh" | cut -d' ' -f1
    cd "$sources/$client"
    find . -type f -not -path '*/node_modules/*' -not -path '*/target/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
}

# Runs build_<function> into $cache/<client>-<key> unless that directory is complete already; sets $dir.
build() {
  local name=$1 function=$2 toolchain=$3 client=$4 start
  step="hashing the inputs of $name"
  dir="$cache/$name-$(key "$toolchain" "$client")"
  if [ -e "$dir/.complete" ]; then
    return
  fi
  echo "building $name (first time only) ..." >&2
  start=$(date +%s)
  rm -rf "$dir"
  mkdir -p "$dir"
  step="building $name"
  "build_$function" "$dir" "$sources/$client"
  touch "$dir/.complete"
  # Older builds of this client, unless recent: another checkout's test may be running one.
  find "$cache" -mindepth 1 -maxdepth 1 -name "$name-*" -not -path "$dir" -mtime +1 -exec rm -rf {} +
  echo "built $name in $(($(date +%s) - start))s" >&2
}

build_go() { # static: the test also runs it in an image without libc or shell
  CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly \
    go -C "$2" build -trimpath -buildvcs=false -ldflags "-s -w" -o "$1/client-go" . >&2
}

# The consumers of the integrations: static Go programs, like client-go's.
build_gomod() {
  build_go "$@"
  mv "$1/client-go" "$1/consumer"
}

# The ClusterProfile consumer, and the ClusterProfile CRD of the module it is built from.
build_clusterprofile() {
  build_gomod "$@"
  local module
  module=$(GOWORK=off GOFLAGS=-mod=readonly go -C "$2" list -m -f '{{.Dir}}' sigs.k8s.io/cluster-inventory-api)
  cp "$module/config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml" "$1/clusterprofiles-crd.yaml"
}

build_python() {
  cp "$2/sync_client.py" "$2/aio_client.py" "$1/"
}

build_node() {
  cp "$2/package.json" "$2/package-lock.json" "$2/client.mjs" "$1/"
  npm ci --prefix "$1" --no-audit --no-fund --no-update-notifier --loglevel=error >&2
}

build_rust() { # one cargo target directory for every build: a change of main.rs rebuilds only it
  cp -r "$2/Cargo.toml" "$2/Cargo.lock" "$2/src" "$1/"
  CARGO_TARGET_DIR="$cache/cargo-target" cargo build --manifest-path "$1/Cargo.toml" --release --locked --quiet >&2
  cp "$cache/cargo-target/release/mcsa-client-kube-rs" "$1/kube-rs"
}

build_java() { # Maven's repository in our cache too; the jar, then its dependencies, on the classpath
  cp -r "$2/pom.xml" "$2/src" "$1/"
  mvn -f "$1/pom.xml" -q -B -Dstyle.color=never -Dmaven.repo.local="$cache/m2" package dependency:build-classpath \
    -Dmdep.outputFile="$1/classpath" >&2
  local jar
  jar=$(find "$1/target" -maxdepth 1 -name '*.jar')
  printf '%s:%s' "$jar" "$(cat "$1/classpath")" >"$1/classpath"
}

mkdir -p "$cache"

# -- the official Python client: nothing to build, only to check ----------------------------------------
step="checking the Python client"
python=$(command -v "${PYTHON:-python3}") || fail "no Python interpreter ${PYTHON:-python3} (set PYTHON)"
case $python in /*) ;; *) python="$PWD/$python" ;; esac # a relative path would break in another directory
found=$("$python" -c 'import kubernetes, kubernetes.aio.config; print(kubernetes.__version__)' 2>/dev/null) ||
  fail "$python cannot import kubernetes and kubernetes.aio (run make venv, or set PYTHON)"
[ "$found" = "$python_client_version" ] ||
  fail "$python has kubernetes $found, not $python_client_version (see requirements.txt)"
build python python "$("$python" -V)" python
python_dir=$dir

need go client-go
build client-go go "$(go version)" go
go_dir=$dir

build clusterprofile clusterprofile "$(go version)" clusterprofile
clusterprofile_dir=$dir
build argocd gomod "$(go version)" argocd
argocd_dir=$dir

need node client-node
need npm client-node
build client-node node "node $(node --version)" node
node_dir=$dir

need cargo kube-rs
build kube-rs rust "$(rustc --version)" rust
rust_dir=$dir

need java "Java (official and fabric8)"
need mvn "Java (official and fabric8)"
build java-official java "" java-official
official_dir=$dir
build fabric8 java "" java-fabric8
fabric8_dir=$dir

# -- the commands -----------------------------------------------------------------------------------------
step="writing the clients' commands"
java=$(command -v java)
node=$(command -v node)
commands=$(mktemp "$cache/clients.json.XXXXXX")
"$python" - "$commands" "$python" "$java" "$node" "$go_dir" "$python_dir" "$node_dir" "$rust_dir" \
  "$official_dir" "$fabric8_dir" "$clusterprofile_dir" "$argocd_dir" <<'EOF'
import json, sys
out, python, java, node, go, py, js, rust, official, fabric8, clusterprofile, argocd = sys.argv[1:]
commands = {
    "client-go": [f"{go}/client-go"],
    "python": [python, f"{py}/sync_client.py"],
    "python-aio": [python, f"{py}/aio_client.py"],
    "client-node": [node, f"{js}/client.mjs"],
    "kube-rs": [f"{rust}/kube-rs"],
    "java-official": [java, "-cp", open(f"{official}/classpath").read(), "mcsa.Main"],
    "fabric8": [java, "-cp", open(f"{fabric8}/classpath").read(), "mcsa.Main"],
    "clusterprofile": [f"{clusterprofile}/consumer"],
    "clusterprofile-crd": [f"{clusterprofile}/clusterprofiles-crd.yaml"],
    "argocd": [f"{argocd}/consumer"],
}
with open(out, "w") as file:
    json.dump(commands, file, indent=2)
EOF
# Named after its content: a concurrent run with other inputs writes another file.
named="$cache/clients-$(sha256sum "$commands" | cut -c1-12).json"
chmod 644 "$commands"
mv "$commands" "$named"
echo "$named"
