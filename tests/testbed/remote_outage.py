"""A remote cluster whose API server hangs while imports of it sync: shared by the e2e test and `make bench`."""

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from .bed import Bed
from .metacontroller import CompositeControllerDriver
from .scenario import enable_namespace, pod_lister, service_account_import


@contextmanager
def syncing_imports(
    bed: Bed, namespace: str, imports: int, workers: int, hang: bool
) -> Iterator[CompositeControllerDriver]:
    """imports new imports of cluster2 (i0, i1, ...) in namespace, synced by a driver with workers workers
    (Metacontroller's --workers) and no client rate limit, started on entry. With hang, cluster2's API
    server is stopped (SIGSTOP: the kernel still accepts connections, nothing answers, so calls time out)
    until the block ends."""
    pod_lister(bed.api2, namespace)
    enable_namespace(bed.api1, namespace)
    for i in range(imports):
        service_account_import(bed.api1, namespace, f"i{i}", "cluster2", namespace, "pod-lister")
    apiserver = bed.cluster2.processes["kube-apiserver"].popen
    assert apiserver is not None, "cluster2's API server is not running"
    # No client-side rate limit (as a Metacontroller with a high --client-go-qps): the point is the most
    # syncs the hooks can be sent at once.
    driver = bed.driver(workers=workers, qps=None)
    if hang:
        os.kill(apiserver.pid, signal.SIGSTOP)
    try:
        yield driver.start()
    finally:
        if hang:
            os.kill(apiserver.pid, signal.SIGCONT)
        driver.stop()


def busy_refusals(driver: CompositeControllerDriver) -> int:
    """How many of the driver's syncs the hooks refused as busy (429)."""
    return driver.refused


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * 0.99) - 1)]
