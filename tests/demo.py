"""`make demo`: the seed's two-cluster walkthrough on the test bed, step by step.

Starts cluster1 and cluster2 (real etcd, kube-apiserver and kube-controller-manager) and, as root,
cluster1's node; installs the project in cluster1 as the README does (with the node: the hooks and the
certificate Job as pods; without: the hooks under gunicorn on loopback), with the Metacontroller test
driver; runs `kubemcsa bootstrap cluster1 cluster2`, runs the walkthrough, and stops everything.
"""

import sys
import tempfile
import time
from pathlib import Path

from tests.testbed import walkthrough
from tests.testbed.bed import running_bed
from tests.testbed.cluster import ControlPlaneError


def say(text: str) -> None:
    print(text, flush=True)


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mcsa-demo-") as tmp:
        directory = Path(tmp)
        say("Starting cluster1 and cluster2, then installing the project in cluster1 ...")
        try:
            with running_bed(directory, say) as bed:
                say(f"  cluster1 at {bed.cluster1.server}, cluster2 at {bed.cluster2.server}, hooks at {bed.hooks.url}")
                walkthrough.run(bed, directory, say)
                leaked = bed.leaked_tokens()
                assert not leaked, "a token appears in the hooks' log"
        except (ControlPlaneError, AssertionError) as err:
            say(f"\nFAILED: {err}")
            return 1
    say(f"\nThe walkthrough passed in {time.monotonic() - started:.0f}s; everything is stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
