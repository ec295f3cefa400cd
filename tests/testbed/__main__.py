"""`python -m tests.testbed up|down [--dir DIR]`: start cluster1 and cluster2 on loopback, or stop them.

`up` leaves the processes running and writes DIR/kubeconfig (contexts cluster1 and cluster2);
`down` stops what `up` started in DIR and removes DIR.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from .cluster import ControlPlaneError, start_clusters

STATE = "testbed.json"


def up(directory: Path) -> int:
    if (directory / STATE).exists():
        print(f"a test bed already runs in {directory}; run `make testbed-down` first", file=sys.stderr)
        return 1
    try:
        planes = start_clusters(directory)
    except ControlPlaneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    state = {plane.name: {"server": plane.server, "pids": plane.pids()} for plane in planes}
    (directory / STATE).write_text(json.dumps(state, indent=2))
    kubeconfig = (directory / "kubeconfig").resolve()
    for plane in planes:
        print(f"{plane.name}: {plane.server} (logs in {plane.directory})")
    print(f"\nexport KUBECONFIG={kubeconfig}\nkubectl --context cluster1 get namespaces")
    return 0


def down(directory: Path) -> int:
    state_file = directory / STATE
    if not state_file.exists():
        print(f"no test bed runs in {directory}")
        return 0
    pids = [pid for plane in json.loads(state_file.read_text()).values() for pid in reversed(plane["pids"])]
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
    shutil.rmtree(directory)
    print(f"stopped the test bed in {directory}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=Path(".testbed"))
    args = parser.parse_args()
    return up(args.dir) if args.command == "up" else down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
