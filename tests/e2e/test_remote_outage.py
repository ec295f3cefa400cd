"""A remote outage does not spill into pod creation: with cluster2's API server hanging (stopped, so
calls time out rather than being refused) while a few hundred imports of it retry through the hooks,
pods that ask for imports are still admitted at once. The driver runs 32 sync workers (Metacontroller's
default is 5), more than the hooks' 2 replicas x 2 workers x 7 sync threads can hold waiting: the hooks
refuse the rest (429), keeping a thread for the webhook in every worker."""

import os
import signal
import statistics
import time

import pytest

from tests.testbed.bed import Bed
from tests.testbed.scenario import admission_loop, enable_namespace, pod_lister, service_account_import

pytestmark = pytest.mark.node
NS = "hanging"
IMPORTS = 200
#: Metacontroller's --workers for this test: above what the hooks can hold waiting (28).
DRIVER_WORKERS = 32


def test_pod_creation_does_not_wait_for_a_hanging_remote_cluster(testbed: Bed) -> None:
    pod_lister(testbed.api2, NS)
    enable_namespace(testbed.api1, NS)
    for i in range(IMPORTS):
        service_account_import(testbed.api1, NS, f"i{i}", "cluster2", NS, "pod-lister")
    apiserver = testbed.cluster2.processes["kube-apiserver"].popen
    assert apiserver is not None
    driver = testbed.driver(workers=DRIVER_WORKERS)
    os.kill(apiserver.pid, signal.SIGSTOP)  # accepts connections (the kernel does), answers nothing
    try:
        driver.start()  # every import syncs, and each sync's TokenRequest hangs until the hooks give up
        time.sleep(10)
        latencies, failures = admission_loop(testbed.api1, NS, "i0", 30)
    finally:
        os.kill(apiserver.pid, signal.SIGCONT)
        driver.stop()
    assert driver.syncs >= 20, f"only {driver.syncs} syncs ran: the outage was not exercised"
    busy = sum("answered 429" in e for e in driver.errors)
    assert not failures, failures[:3]
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"pod creation during the outage: {len(latencies)} pods, median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; {driver.syncs} syncs, {busy} refused busy"
    )
    # The webhook's timeout is 5 s: no creation may come near it.
    assert latencies[-1] < 1.0, latencies[-5:]
