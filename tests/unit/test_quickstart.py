"""hack/kind-quickstart.sh, run by bash against stub docker, kind, kubectl, kubemcsa and git.

No Docker engine runs here, so the script's logic is what is tested: which commands it runs, in which
order, and above all which kind clusters it deletes. Each stub appends its arguments to a log (one line
a call, tab-separated) and behaves as the scenario's STUB_* variables say; the stub kind keeps the list
of clusters in a file. PATH holds the stubs and links to the few real tools the script needs (bash and
coreutils), nothing else: a command the script calls without a stub here fails the run.

The script runs from a copy of the repository holding only what it reads (hack/kind-quickstart.sh,
VERSION, README.md): it never reaches this checkout's .venv/bin/kubemcsa.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "kind-quickstart.sh"
METACONTROLLER = "https://github.com/metacontroller/metacontroller/manifests/production?ref=v4.17.2"
REGISTRY = "ghcr.io/admiraltyio"
#: The real commands the script (and the stubs, which use bash's builtins only) may run.
REAL_TOOLS = ("bash", "cat", "dirname", "mkdir", "mktemp", "rm")
USER_CONTEXT = "my-own-context"

PRELUDE = """#!{bash}
set -euo pipefail
log() {{ local IFS=$'\\t'; printf '%s\\n' "$*" >>"$STUB_LOG"; }}
log "${{0##*/}}" "$@"
"""

KIND = """
state=$STUB_STATE/clusters
has() {
  local n
  while IFS= read -r n; do [ "$n" != "$1" ] || return 0; done <"$state"
  return 1
}
case "${1:-} ${2:-}" in
  "get clusters")
    if [ "${STUB_KIND_GET_FAIL:-}" = 1 ]; then echo "ERROR: failed to list clusters: stub failure" >&2; exit 1; fi
    if [ -s "$state" ]; then
      while IFS= read -r n; do printf '%s\\n' "$n"; done <"$state"
    else
      echo "No kind clusters found." >&2
    fi
    ;;
  "create cluster")
    if [ "$3" != --name ] || [ $# != 4 ]; then echo "stub kind: expected create cluster --name NAME" >&2; exit 2; fi
    for f in ${STUB_FAIL_CREATE:-}; do
      if [ "$f" = "$4" ]; then echo "ERROR: failed to create cluster: stub failure" >&2; exit 1; fi
    done
    if has "$4"; then echo "ERROR: node(s) already exist for a cluster with the name \\"$4\\"" >&2; exit 1; fi
    printf '%s\\n' "$4" >>"$state"
    log kind-created "$4"
    ;;
  "delete cluster")
    if [ "$3" != --name ] || [ $# != 4 ]; then echo "stub kind: expected delete cluster --name NAME" >&2; exit 2; fi
    rest=
    while IFS= read -r n; do [ "$n" = "$4" ] || rest+=$n$'\\n'; done <"$state"
    printf '%s' "$rest" >"$state"
    ;;
  "load image-archive")
    [ -f "$3" ] || { echo "ERROR: stub kind: no archive at $3" >&2; exit 1; }
    if [ "${4:-}" != --name ] || ! has "${5:-}"; then echo "ERROR: stub kind: no cluster ${5:-}" >&2; exit 1; fi
    while IFS= read -r line; do log kind-archive-content "$line"; done <"$3"
    ;;
  *) echo "stub kind: not expected: $*" >&2; exit 2 ;;
esac
"""

DOCKER = """
case "${1:-}" in
  info)
    if [ "${STUB_DOCKER_DOWN:-}" = 1 ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    if [ "${2:-}" = --format ] && [ "${3:-}" = '{{.DriverStatus}}' ]; then
      if [ "${STUB_CONTAINERD_STORE:-}" = 1 ]; then
        echo '[[driver-type io.containerd.snapshotter.v1]]'
      else
        echo '[[Backing Filesystem extfs] [Supports d_type true] [Using metacopy false]]'
      fi
    elif [ $# = 1 ]; then
      echo "Server: stub"
    else
      echo "stub docker: not expected: $*" >&2; exit 2
    fi
    ;;
  version)
    if [ "${2:-}" != --format ] || [ "${3:-}" != '{{.Server.Os}}/{{.Server.Arch}}' ]; then
      echo "stub docker: not expected: $*" >&2; exit 2
    fi
    echo linux/amd64
    ;;
  buildx)
    if [ "${STUB_NO_BUILDX:-}" = 1 ]; then echo "docker: 'buildx' is not a docker command." >&2; exit 1; fi
    case "${2:-}" in
      version) echo "github.com/docker/buildx v0.0.0-stub" ;;
      build) ;;
      *) echo "stub docker: not expected: $*" >&2; exit 2 ;;
    esac
    ;;
  save)
    if [ "${2:-}" = --help ]; then
      echo "Usage:  docker image save [OPTIONS] IMAGE [IMAGE...]"
      echo "  -o, --output string     Write to a file, instead of STDOUT"
      if [ "${STUB_SAVE_PLATFORM:-1}" = 1 ]; then echo "      --platform string   Save only the given platform"; fi
      exit 0
    fi
    shift
    out=''
    images=''
    while [ $# -gt 0 ]; do
      case $1 in
        -o) out=$2; shift 2 ;;
        --platform) shift 2 ;;
        *) images+=$1$'\\n'; shift ;;
      esac
    done
    [ -n "$out" ] || { echo "stub docker: save without -o" >&2; exit 2; }
    printf '%s' "$images" >"$out"
    ;;
  *) echo "stub docker: not expected: $*" >&2; exit 2 ;;
esac
"""

KUBECTL = """
case " $* " in
  *" config current-context "*)
    if [ -z "${STUB_CONTEXT:-}" ]; then echo "error: current-context is not set" >&2; exit 1; fi
    echo "$STUB_CONTEXT"
    exit 0
    ;;
esac
for f in ${STUB_KUBECTL_FAIL:-}; do
  case " $* " in *" $f "*) echo "error: stub failure of kubectl $f" >&2; exit 1 ;; esac
done
# The kustomization of a local directory applied with -k, line by line.
prev=
for a; do
  if [ "$prev" = -k ] && [ -f "$a/kustomization.yaml" ]; then
    while IFS= read -r line; do log kubectl-kustomization "$line"; done <"$a/kustomization.yaml"
  fi
  prev=$a
done
case " $* " in
  *" logs "*) printf '%s\n' "NAME    READY   STATUS    RESTARTS   AGE" "nginx   1/1     Running   0          1m" ;;
esac
"""

KUBEMCSA = """
if [ "${STUB_KUBEMCSA_FAIL:-}" = 1 ]; then echo "error: cannot bootstrap: stub failure" >&2; exit 1; fi
"""

GIT = """
echo "stub git: not expected (kubectl is a stub too)" >&2
exit 2
"""

STUBS = {"kind": KIND, "docker": DOCKER, "kubectl": KUBECTL, "kubemcsa": KUBEMCSA, "git": GIT}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]  #: every stub call: [command, arg, ...], in order
    clusters: list[str]  #: the kind clusters at the end
    leftovers: list[str]  #: what the run left in its TMPDIR

    def commands(self, *prefix: str) -> list[list[str]]:
        """The calls that start with prefix."""
        return [c for c in self.calls if c[: len(prefix)] == list(prefix)]

    def index(self, *prefix: str) -> int:
        """The position of the first call that starts with prefix."""
        return next(i for i, c in enumerate(self.calls) if c[: len(prefix)] == list(prefix))

    def created(self) -> list[str]:
        return [c[1] for c in self.commands("kind-created")]

    def deleted(self) -> list[str]:
        return [c[4] for c in self.commands("kind", "delete", "cluster")]

    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run_script(
    tmp_path: Path,
    *,
    existing: tuple[str, ...] = ("dev",),
    env: dict[str, str] | None = None,
    without: tuple[str, ...] = (),
    version: str | None = "0.1.0\n",
    readme: str | None = None,
) -> Run:
    """Runs a copy of the script with the stubs (less those in without), the user's kind clusters existing."""
    bash = shutil.which("bash")
    assert bash is not None, "bash is needed to run hack/kind-quickstart.sh"
    repo, stubs, real, state, tmp = (tmp_path / d for d in ("repo", "stubs", "real", "state", "tmp"))
    for directory in (repo / "hack", stubs, real, state, tmp):
        directory.mkdir(parents=True)
    shutil.copy2(SCRIPT, repo / "hack" / SCRIPT.name)
    (repo / "README.md").write_text((REPO / "README.md").read_text() if readme is None else readme)
    if version is not None:
        (repo / "VERSION").write_text(version)
    for tool in REAL_TOOLS:
        found = shutil.which(tool)
        assert found is not None, f"{tool} is needed to run hack/kind-quickstart.sh"
        (real / tool).symlink_to(found)
    for name, body in STUBS.items():
        if name not in without:
            (stubs / name).write_text(PRELUDE.format(bash=bash) + body)
            (stubs / name).chmod(0o755)
    (state / "clusters").write_text("".join(f"{name}\n" for name in existing))
    log = state / "calls.log"
    log.touch()
    run_env = {
        "PATH": f"{stubs}:{real}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp),
        "STUB_LOG": str(log),
        "STUB_STATE": str(state),
        "STUB_CONTEXT": USER_CONTEXT,
        **(env or {}),
    }
    done = subprocess.run(
        [bash, str(repo / "hack" / SCRIPT.name)], env=run_env, capture_output=True, text=True, timeout=30, check=False
    )
    run = Run(
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        calls=[line.split("\t") for line in log.read_text().splitlines()],
        clusters=(state / "clusters").read_text().split(),
        leftovers=sorted(p.name for p in tmp.iterdir()),
    )
    assert "command not found" not in run.stderr, run.stderr
    assert not any(line.startswith("stub ") for line in run.stderr.splitlines()), run.stderr
    # Whatever happened: it deletes only clusters that this run created, and every cluster of the user's
    # is still there.
    assert set(run.deleted()) <= set(run.created()), (run.deleted(), run.created())
    assert set(existing) <= set(run.clusters)
    assert run.leftovers == []
    return run


def images(version: str = "0.1.0") -> list[str]:
    return [
        f"{REGISTRY}/multicluster-service-account:{version}",
        f"{REGISTRY}/multicluster-service-account-credential-plugin:{version}",
        f"{REGISTRY}/multicluster-service-account-example-multicluster-client:{version}",
    ]


def assert_created_nothing(run: Run) -> None:
    assert run.commands("kind", "create") == []
    assert run.commands("kind", "delete") == []
    assert run.commands("docker", "buildx", "build") == []
    assert run.commands("docker", "save") == []
    assert run.commands("kubemcsa") == []
    assert [c for c in run.commands("kubectl") if c[1:3] != ["config", "current-context"]] == []


# -- it refuses to start beside a cluster of its names --------------------------------------------------


@pytest.mark.parametrize("taken", ["cluster1", "cluster2"])
def test_an_existing_cluster_of_its_names_stops_it_before_it_creates_or_deletes_anything(
    tmp_path: Path, taken: str
) -> None:
    run = run_script(tmp_path, existing=("dev", taken))
    assert run.returncode == 1
    assert_created_nothing(run)
    assert run.clusters == ["dev", taken]
    [line] = run.errors()
    assert f"a kind cluster named {taken} exists already" in line
    assert "CLUSTER1=... CLUSTER2=..." in line
    assert f"kind delete cluster --name {taken}" in line


def test_both_existing_are_each_said(tmp_path: Path) -> None:
    run = run_script(tmp_path, existing=("cluster2", "cluster1"))
    assert run.returncode == 1
    assert_created_nothing(run)
    assert [line.split("named ")[1].split()[0] for line in run.errors()] == ["cluster2", "cluster1"]


def test_other_names_run_beside_the_users_clusters_and_delete_only_theirs(tmp_path: Path) -> None:
    run = run_script(tmp_path, existing=("cluster1", "cluster2"), env={"CLUSTER1": "mcsa-a", "CLUSTER2": "mcsa-b"})
    assert run.returncode == 0, run.stderr
    assert run.created() == ["mcsa-a", "mcsa-b"]
    assert sorted(run.deleted()) == ["mcsa-a", "mcsa-b"]
    assert run.clusters == ["cluster1", "cluster2"]
    [load] = run.commands("kind", "load")
    assert load[4:] == ["--name", "mcsa-a"]
    [bootstrap] = run.commands("kubemcsa")
    assert bootstrap[1:] == [
        "bootstrap", "kind-mcsa-a", "kind-mcsa-b", "--target-name", "cluster1", "--source-name", "cluster2",
        "--source-server", "https://mcsa-b-control-plane:6443",
    ]  # fmt: skip
    contexts = {c[2] for c in run.commands("kubectl", "--context")}
    assert contexts == {"kind-mcsa-a", "kind-mcsa-b"}


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"CLUSTER1": "same", "CLUSTER2": "same"}, "CLUSTER1 and CLUSTER2 are both 'same'"),
        ({"CLUSTER2": "Not_A_Name"}, "'Not_A_Name' cannot be a kind cluster name"),
    ],
)
def test_names_it_cannot_use_are_refused(tmp_path: Path, env: dict[str, str], said: str) -> None:
    run = run_script(tmp_path, env=env)
    assert run.returncode == 1
    assert_created_nothing(run)
    assert run.commands("kind") == []
    [line] = run.errors()
    assert said in line


def test_a_failure_to_list_kind_clusters_stops_it(tmp_path: Path) -> None:
    run = run_script(tmp_path, env={"STUB_KIND_GET_FAIL": "1"})
    assert run.returncode == 1
    assert_created_nothing(run)
    assert "cannot list kind clusters" in run.stderr
    assert "stub failure" in run.stderr  # kind's own reason, passed on


# -- every prerequisite first, one line each -------------------------------------------------------------


@pytest.mark.parametrize(
    ("without", "env", "version", "readme", "said"),
    [
        (("kubemcsa",), {}, "0.1.0\n", None, "kubemcsa is missing: run 'make venv'"),
        (("kind",), {}, "0.1.0\n", None, "kind is missing"),
        (("kubectl",), {}, "0.1.0\n", None, "kubectl is missing"),
        (("git",), {}, "0.1.0\n", None, "git is missing"),
        (("docker",), {}, "0.1.0\n", None, "docker is missing"),
        ((), {"STUB_DOCKER_DOWN": "1"}, "0.1.0\n", None, "docker cannot reach a Docker engine ('docker info' failed)"),
        ((), {"STUB_NO_BUILDX": "1"}, "0.1.0\n", None, "docker buildx is missing"),
        ((), {"KUBEMCSA": "/nowhere/kubemcsa"}, "0.1.0\n", None, "KUBEMCSA=/nowhere/kubemcsa is not a command"),
        ((), {}, None, None, "VERSION is missing"),
        ((), {}, "0.1.0\n", "# No overlay here\n", "README.md has no Metacontroller overlay"),
    ],
    ids=["kubemcsa", "kind", "kubectl", "git", "docker", "docker-engine", "buildx", "KUBEMCSA", "VERSION", "README"],
)
def test_a_missing_prerequisite_is_one_line_before_anything_is_created(
    tmp_path: Path,
    without: tuple[str, ...],
    env: dict[str, str],
    version: str | None,
    readme: str | None,
    said: str,
) -> None:
    run = run_script(tmp_path, without=without, env=env, version=version, readme=readme)
    assert run.returncode == 1
    assert_created_nothing(run)
    assert run.commands("kind") == []  # not even `kind get clusters`
    assert run.stderr.splitlines() == run.errors()  # nothing but the error lines
    [line] = run.errors()
    assert said in line


def test_every_missing_prerequisite_has_its_own_line(tmp_path: Path) -> None:
    run = run_script(tmp_path, without=("kind", "kubemcsa"), env={"STUB_DOCKER_DOWN": "1"})
    assert run.returncode == 1
    assert_created_nothing(run)
    errors = run.errors()
    assert len(errors) == 3
    assert any("docker cannot reach" in line for line in errors)
    assert any("kind is missing" in line for line in errors)
    assert any("kubemcsa is missing" in line for line in errors)


# -- the whole run ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("containerd_store", "save_has_platform", "platform_flag"),
    [("", "1", False), ("1", "1", True), ("1", "0", False)],
    ids=["classic-store", "containerd-store", "containerd-store-old-cli"],
)
def test_the_happy_path_installs_runs_the_walkthrough_and_deletes_exactly_its_clusters(
    tmp_path: Path, containerd_store: str, save_has_platform: str, platform_flag: bool
) -> None:
    run = run_script(tmp_path, env={"STUB_CONTAINERD_STORE": containerd_store, "STUB_SAVE_PLATFORM": save_has_platform})
    assert run.returncode == 0, run.stderr
    assert run.created() == ["cluster1", "cluster2"]
    assert run.deleted() == ["cluster1", "cluster2"]
    assert run.clusters == ["dev"]

    # The images: built with BuildKit from the repository's Dockerfiles, under the release's names.
    builds = run.commands("docker", "buildx", "build")
    assert [b[b.index("-t") + 1] for b in builds] == images()
    assert [b[b.index("-f") + 1] if "-f" in b else "Dockerfile" for b in builds] == [
        "Dockerfile", "credential-plugin/Dockerfile", "examples/multicluster-client/Dockerfile",
    ]  # fmt: skip
    for build in builds:
        assert build[3:6] == ["--load", "--platform", "linux/amd64"]
        assert build[-1] == "."  # the repository's root is the context
        dockerfile = REPO / (build[build.index("-f") + 1] if "-f" in build else "Dockerfile")
        assert dockerfile.is_file()
        ignore = REPO / ".dockerignore" if "-f" not in build else dockerfile.with_name("Dockerfile.dockerignore")
        assert ignore.is_file()
    assert "VERSION=0.1.0" in builds[1]

    # Loaded into cluster1 from one archive, never with `kind load docker-image`.
    [save] = run.commands("docker", "save", "-o") + run.commands("docker", "save", "--platform")
    assert save[-3:] == images()
    assert ("--platform" in save) == platform_flag
    if platform_flag:
        assert save[save.index("--platform") + 1] == "linux/amd64"
    archive = save[save.index("-o") + 1]
    assert run.commands("kind", "load") == [["kind", "load", "image-archive", archive, "--name", "cluster1"]]
    assert [c[1] for c in run.commands("kind-archive-content")] == images()

    # Metacontroller at the pinned release with the README's flags, then the README's install.
    kustomization = [c[1] for c in run.commands("kubectl-kustomization")]
    assert f"  - {METACONTROLLER}" in kustomization
    assert any("--workers=16" in line for line in kustomization)
    remote = [c for c in run.commands("kubectl") if any("github.com" in a for a in c)]
    assert remote == []  # only through the overlay, which pins it
    c1 = ["kubectl", "--context", "kind-cluster1"]
    overlay = run.index(*c1, "apply", "-k")
    assert run.calls[overlay][-1] != "manifests/"
    order = [
        run.index("kind", "create", "cluster", "--name", "cluster2"),
        run.index("docker", "buildx", "build"),
        run.calls.index(save),
        run.index("kind", "load", "image-archive"),
        overlay,
        run.index(*c1, "apply", "-k", "manifests/"),
        run.index(*c1, "-n", "multicluster-service-account", "wait"),
        run.index(*c1, "-n", "multicluster-service-account", "rollout", "status"),
        run.index(*c1, "-n", "metacontroller", "rollout", "status", "statefulset/metacontroller"),
        run.index(*c1, "apply", "-k", "metacontroller/"),
        run.index("kubemcsa", "bootstrap"),
        run.index("kubectl", "--context", "kind-cluster2", "create", "serviceaccount", "pod-lister"),
        run.index(*c1, "apply", "-f", "examples/multicluster-client/import.yaml"),
        run.index(*c1, "apply", "-f", "examples/multicluster-client/job.yaml"),
        run.index(*c1, "logs", "job/multicluster-client"),
        run.index("kind", "delete", "cluster", "--name", "cluster1"),
    ]
    assert order == sorted(order)
    assert run.commands("kubemcsa") == [[
        "kubemcsa", "bootstrap", "kind-cluster1", "kind-cluster2", "--target-name", "cluster1",
        "--source-name", "cluster2", "--source-server", "https://cluster2-control-plane:6443",
    ]]  # fmt: skip
    assert run.stdout.rstrip().endswith("nginx   1/1     Running   0          1m")

    # kind's switch of the current context is undone after each cluster (and after the deletions).
    use = run.commands("kubectl", "config", "use-context")
    assert use and all(c[3:] == [USER_CONTEXT] for c in use)
    assert run.index("kubectl", "config", "use-context") > run.index("kind", "create", "cluster", "--name", "cluster1")
    assert run.calls[-1] == ["kubectl", "config", "use-context", USER_CONTEXT]


def test_keep_1_keeps_the_clusters(tmp_path: Path) -> None:
    run = run_script(tmp_path, env={"KEEP": "1"})
    assert run.returncode == 0, run.stderr
    assert run.created() == ["cluster1", "cluster2"]
    assert run.commands("kind", "delete") == []
    assert run.clusters == ["dev", "cluster1", "cluster2"]
    assert "KEEP=1: kept the kind clusters cluster1 cluster2" in run.stderr


def test_the_images_carry_the_version_of_the_version_file(tmp_path: Path) -> None:
    run = run_script(tmp_path, version="1.2.3-rc.1\n")
    assert run.returncode == 0, run.stderr
    assert [b[b.index("-t") + 1] for b in run.commands("docker", "buildx", "build")] == images("1.2.3-rc.1")
    assert "VERSION=1.2.3-rc.1" in run.commands("docker", "buildx", "build")[1]
    assert [c[1] for c in run.commands("kind-archive-content")] == images("1.2.3-rc.1")


def test_without_a_current_context_there_is_none_to_give_back(tmp_path: Path) -> None:
    run = run_script(tmp_path, env={"STUB_CONTEXT": ""})
    assert run.returncode == 0, run.stderr
    assert run.commands("kubectl", "config", "use-context") == []


# -- failures delete what this run created, and only that ----------------------------------------------


@pytest.mark.parametrize(
    ("failing", "deleted"), [("cluster1", []), ("cluster2", ["cluster1"])], ids=["first", "second"]
)
def test_a_failed_creation_deletes_only_the_clusters_created_before_it(
    tmp_path: Path, failing: str, deleted: list[str]
) -> None:
    run = run_script(tmp_path, env={"STUB_FAIL_CREATE": failing})
    assert run.returncode != 0
    assert run.deleted() == deleted
    assert run.clusters == ["dev"]
    assert run.commands("docker", "buildx", "build") == []
    assert f"'kind create cluster --name {failing}' did not finish" in run.stderr


def test_a_creation_refused_because_the_name_appeared_meanwhile_deletes_nothing_of_it(tmp_path: Path) -> None:
    # `kind get clusters` said nothing of cluster2, yet kind refuses to create it: someone made it meanwhile.
    run = run_script(tmp_path, env={"STUB_FAIL_CREATE": "cluster2"}, existing=())
    assert run.returncode != 0
    assert run.deleted() == ["cluster1"]


def test_a_failed_creation_with_keep_1_deletes_nothing(tmp_path: Path) -> None:
    run = run_script(tmp_path, env={"STUB_FAIL_CREATE": "cluster2", "KEEP": "1"})
    assert run.returncode != 0
    assert run.commands("kind", "delete") == []
    assert run.clusters == ["dev", "cluster1"]


@pytest.mark.parametrize(
    "env", [{"STUB_KUBECTL_FAIL": "wait"}, {"STUB_KUBEMCSA_FAIL": "1"}], ids=["kubectl-wait", "kubemcsa"]
)
def test_a_later_failure_deletes_both_clusters_and_keeps_the_exit_status(tmp_path: Path, env: dict[str, str]) -> None:
    run = run_script(tmp_path, env=env)
    assert run.returncode == 1
    assert run.deleted() == ["cluster1", "cluster2"]
    assert run.clusters == ["dev"]
    assert run.commands("kubectl", "--context", "kind-cluster1", "logs") == []


def test_the_script_is_bash_with_strict_mode() -> None:
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(SCRIPT, os.X_OK)
