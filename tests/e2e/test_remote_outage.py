"""A remote outage does not spill into pod creation: with cluster2's API server hanging (stopped, so
calls time out rather than being refused) while a few hundred imports of it retry through the hooks,
pods that ask for imports are still admitted at once. The driver runs 32 sync workers (Metacontroller's
default is 5), more than the hooks' 2 replicas x 2 workers x 7 sync threads can hold waiting: the hooks
refuse the rest (429), keeping a thread for the webhook in every worker."""

import statistics
import time

import pytest

from tests.testbed.bed import Bed
from tests.testbed.remote_outage import busy_refusals, p99, syncing_imports
from tests.testbed.scenario import admission_loop

pytestmark = pytest.mark.node
IMPORTS = 200
#: Metacontroller's --workers for this test: above what the hooks can hold waiting (28).
DRIVER_WORKERS = 32


def test_pod_creation_does_not_wait_for_a_hanging_remote_cluster(testbed: Bed) -> None:
    with syncing_imports(testbed, "hanging", IMPORTS, DRIVER_WORKERS, hang=True) as driver:
        time.sleep(10)  # every import has synced and waits, or was refused and retries
        latencies, failures = admission_loop(testbed.api1, "hanging", "i0", 30)
    busy = busy_refusals(driver)
    print(
        f"pod creation during the outage: {len(latencies)} pods, median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {p99(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; {driver.syncs} syncs, "
        f"{busy} refused busy"
    )
    assert driver.syncs >= 20, f"only {driver.syncs} syncs ran: the outage was not exercised"
    assert busy > 0, "the hooks never refused a sync: the test did not fill their sync threads"
    assert not failures, failures[:3]
    # The webhook's timeout is 5 s: no creation may come near it.
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
