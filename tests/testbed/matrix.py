"""`python -m tests.testbed.matrix [VERSION...]`: the core subset of the end-to-end tests (`pytest -m core`)
on each other Kubernetes version of the matrix (KUBE_MATRIX_VERSIONS in tests/tools/versions.env; or the
versions given), one bed each, after `make test` has run every test on KUBE_VERSION.

Each version's control plane (etcd, kube-apiserver, kube-controller-manager) is built once and cached
(tests/tools/build.sh with MCSA_KUBE_VERSION). The node is built once, of KUBE_VERSION: a version its
kubelet may serve (the kubelet at most 3 minors older than the API server, never newer: Kubernetes'
version skew policy) runs the subset with the node, as a cluster whose control plane was upgraded before
its nodes; an older version runs it on the kubelet-less bed (MCSA_KUBELET_LESS=1), leaving out the tests
that need the node (`-m "core and not node"`), whose behaviour is the kubelet's rather than the API
server's.
"""

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from .bed import ENV_KUBELET_LESS
from .cluster import BUILD_SCRIPT, ENV_KUBE_VERSION, REPO, pinned_versions

#: The oldest API server a kubelet may serve is of its own minor; the newest, 3 minors newer than the kubelet.
KUBELET_SKEW_MINORS = 3


def minor(version: str) -> tuple[int, int]:
    """(major, minor) of "v1.37.2"."""
    parts = version.removeprefix("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a Kubernetes version: {version!r} (expected vMAJOR.MINOR.PATCH)")
    return int(parts[0]), int(parts[1])


def kubelet_may_serve(kubelet: str, api_server: str) -> bool:
    """Whether the version skew policy lets a kubelet of that version join an API server of this one."""
    (kubelet_major, kubelet_minor), (server_major, server_minor) = minor(kubelet), minor(api_server)
    return kubelet_major == server_major and 0 <= server_minor - kubelet_minor <= KUBELET_SKEW_MINORS


@dataclass(frozen=True)
class Run:
    version: str
    #: With the node (whose kubelet is the default version's), or kubelet-less.
    node: bool

    @property
    def marker(self) -> str:
        return "core" if self.node else "core and not node"

    def describe(self, kubelet: str) -> str:
        where = f"with the node (kubelet {kubelet})" if self.node else f"kubelet-less (no kubelet {kubelet} with it)"
        return f"Kubernetes {self.version}, {where}: pytest -m {self.marker!r}"


def plan(versions: list[str], kubelet: str) -> list[Run]:
    return [Run(version, kubelet_may_serve(kubelet, version)) for version in versions]


def command(run: Run, python: str = sys.executable) -> list[str]:
    pytest = [python, "-m", "pytest", "-m", run.marker]
    return [python, "-m", "tests.testbed.isolated", "--", *pytest] if run.node else pytest


def environment(run: Run) -> dict[str, str]:
    env = {**os.environ, ENV_KUBE_VERSION: run.version}
    if not run.node:
        env[ENV_KUBELET_LESS] = "1"
    return env


def main() -> int:
    pinned = pinned_versions()
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.matrix", description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", default=pinned["KUBE_MATRIX_VERSIONS"].split(), metavar="VERSION")
    args = parser.parse_args()
    kubelet = pinned["KUBE_VERSION"]
    try:
        runs = plan(args.versions, kubelet)
    except ValueError as err:
        parser.error(str(err))
    results: list[tuple[Run, int, float]] = []
    for run in runs:
        print(f"\n== {run.describe(kubelet)}", flush=True)
        start = time.monotonic()
        env = environment(run)
        built = subprocess.run([str(BUILD_SCRIPT)], env=env, stdout=subprocess.DEVNULL, check=False)
        code = built.returncode or subprocess.call(command(run), env=env, cwd=REPO)
        results.append((run, code, time.monotonic() - start))
    print("\n== the version matrix")
    for run, code, seconds in results:
        print(f"  {run.version}: {'passed' if code == 0 else f'FAILED (exit code {code})'} in {seconds:.0f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
