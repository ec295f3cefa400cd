"""`python -m tests.testbed up|down [--dir DIR]`: start cluster1 and cluster2, or stop them.

`up` leaves the processes running and writes DIR/kubeconfig (contexts cluster1 and cluster2). Run
inside the test bed's network namespace (`make testbed-up`, as root) cluster1 gets its node; else both
are on loopback, without a node. `down` stops what `up` started in DIR (and its network namespace)
and removes DIR.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from .bed import NodeEnvironment
from .cluster import ControlPlaneError, start_clusters
from .isolated import NETNS_DIR, delete
from .node import unmount_under

STATE = "testbed.json"


def up(directory: Path) -> int:
    if (directory / STATE).exists():
        print(f"a test bed already runs in {directory}; run `make testbed-down` first", file=sys.stderr)
        return 1
    environment = NodeEnvironment.from_env()
    directory = directory.resolve()  # the kubelet reads paths relative to its config file
    try:
        planes = start_clusters(directory, address=environment.node_ip if environment else "127.0.0.1")
    except ControlPlaneError as err:
        print(f"error: {err}", file=sys.stderr)
        if environment is not None:
            print("then: make testbed-down", file=sys.stderr)
        return 1
    node = None
    if environment is not None:
        try:
            node = environment.node(planes[0], directory / "node").start()
        except ControlPlaneError as err:
            for plane in planes:
                plane.stop()
            print(f"error: {err}\nthen: make testbed-down", file=sys.stderr)
            return 1
    state: dict[str, object] = {plane.name: {"server": plane.server, "pids": plane.pids()} for plane in planes}
    if node is not None and environment is not None:
        state["node"] = {"name": node.name, "netns": environment.netns, "pids": node.pids()}
    (directory / STATE).write_text(json.dumps(state, indent=2))
    kubeconfig = (directory / "kubeconfig").resolve()
    for plane in planes:
        print(f"{plane.name}: {plane.server} (logs in {plane.directory})")
    if node is not None and environment is not None:
        enter = f"nsenter --net={NETNS_DIR / environment.netns}"
        kubectl = "kubectl" if shutil.which("kubectl") else str(Path(sys.executable).parent / "kubectl")
        print(f"node {node.name} of cluster1 (logs in {node.directory})")
        print(f"\nThe clusters live in network namespace {environment.netns}: run kubectl there (as root):")
        print(f"export KUBECONFIG={kubeconfig}\n{enter} {kubectl} --context cluster1 get nodes")
        print(f"{enter} bash   # a shell in the namespace")
    else:
        print(f"\nexport KUBECONFIG={kubeconfig}\nkubectl --context cluster1 get namespaces")
    return 0


def _is_ours(pid: int) -> bool:
    """pid runs one of the binaries built for the test bed (in the cache's bin directory)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return False
    return "/multicluster-service-account/bin/" in argv0


def down(directory: Path, netns: str) -> int:
    state_file = directory / STATE
    if not state_file.exists():
        if (NETNS_DIR / netns).exists():  # an `up` that failed half-way
            delete(netns)
            unmount_under(directory)
            shutil.rmtree(directory, ignore_errors=True)
            print(f"removed network namespace {netns} and what ran in it")
            return 0
        print(f"no test bed runs in {directory}")
        return 0
    state = json.loads(state_file.read_text())
    # Only processes that are still the bed's (the state file may be older than a reboot).
    pids = [pid for part in state.values() for pid in reversed(part["pids"]) if _is_ours(pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if "node" in state or (NETNS_DIR / netns).exists():
        delete(state.get("node", {}).get("netns", netns))  # the pods, their cgroups, the namespace
        unmount_under(directory)
    shutil.rmtree(directory)
    print(f"stopped the test bed in {directory}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=Path(".testbed"))
    parser.add_argument("--netns", default="mcsa-testbed", help="the network namespace `make testbed-up` made")
    args = parser.parse_args()
    return up(args.dir) if args.command == "up" else down(args.dir, args.netns)


if __name__ == "__main__":
    sys.exit(main())
