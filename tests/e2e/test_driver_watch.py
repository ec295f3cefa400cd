"""The Metacontroller double reacts to what its watches see, as Metacontroller's informers do: an import
created while it runs is synced, and imports that are current are not synced again and again."""

import time

from tests.testbed.bed import Bed
from tests.testbed.scenario import enable_namespace, eventually, imported_secret, pod_lister, service_account_import

NS = "watched"


def test_new_imports_are_synced_and_current_ones_left_alone(testbed: Bed) -> None:
    pod_lister(testbed.api2, NS)
    enable_namespace(testbed.api1, NS)
    driver = testbed.driver().start()
    try:
        time.sleep(1)  # the driver has listed and watches
        for i in range(3):
            service_account_import(testbed.api1, NS, f"w{i}", "cluster2", NS, "pod-lister")
        for name in ("w0", "w1", "w2"):
            eventually(lambda: imported_secret(testbed.api1, NS, name), f"the Secret of {name}")  # noqa: B023
        time.sleep(3)  # the syncs that the driver's own writes cause
        settled = driver.syncs
        time.sleep(6)  # more than the watches' 2 s timeout: a watch begun anew must not replay every import
        assert driver.syncs == settled, f"{driver.syncs - settled} syncs of imports that were current"
    finally:
        driver.stop()
