"""The parts of `make bench` that need cluster1's real node (root, inside the test bed's network namespace):
pod start latency, and pod creation while a remote cluster hangs. The hooks run as the install makes
them: two replicas behind their Service, called by the API server and by the Metacontroller test double.
"""

import statistics
import threading
import time
from dataclasses import dataclass, field

from kubernetes import client as k8s
from kubernetes import watch

from hooks import contract
from tests.testbed.bed import Bed
from tests.testbed.metacontroller import CompositeControllerDriver
from tests.testbed.remote_outage import busy_refusals, p99, syncing_imports
from tests.testbed.scenario import admission_loop, enable_namespace, pod_lister, service_account_import

from .rows import QUICK, Row

#: Pods started per case (with the import annotation, and without), interleaved.
POD_STARTS = 10 if QUICK else 40
#: Imports of cluster2 syncing while pods are created, and the driver's workers (Metacontroller's
#: --workers): the test's figures (tests/e2e/test_remote_outage.py).
OUTAGE_IMPORTS, OUTAGE_WORKERS = 200, 32
OUTAGE_SECONDS = 10 if QUICK else 30
#: With cluster2 hanging, pods are created from this long after the imports start syncing (the hooks'
#: sync threads are all taken by then).
OUTAGE_WARMUP_SECONDS = 10


@dataclass
class RunningTimes:
    """When each pod of a namespace was first seen Running, from a watch in a thread."""

    api: k8s.ApiClient
    namespace: str
    seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "RunningTimes":
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def wait_for(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"pod {self.namespace}/{name} was not Running within {timeout:g} s")
            time.sleep(0.01)

    def _record(self, pod: k8s.V1Pod) -> None:
        if pod.status and pod.status.phase == "Running" and pod.metadata.name not in self.seen:
            self.seen[pod.metadata.name] = time.perf_counter()

    def _watch(self) -> None:
        """A list, then a watch resumed from the last version seen (a list again only on errors)."""
        core = k8s.CoreV1Api(self.api)
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    listed = core.list_namespaced_pod(self.namespace)
                    for pod in listed.items:
                        self._record(pod)
                    version = listed.metadata.resource_version
                    self._ready.set()
                stream = watch.Watch()
                for event in stream.stream(
                    core.list_namespaced_pod, self.namespace, resource_version=version, timeout_seconds=5
                ):
                    self._record(event["object"])
                    version = stream.resource_version or version
                    if self._stop.is_set():
                        return
            except Exception:  # a 410 or a dropped connection: list again
                version = None
                self._stop.wait(0.2)


def bench_pod_start(bed: Bed, rows: list[Row]) -> None:
    """Time from CREATE to Running on the node, for a pod that mounts an import and one that does not:
    the webhook's call, the kubelet's reading of the Secret, and its volume mount are the difference."""
    assert bed.node is not None
    namespace = "bench-start"
    pod_lister(bed.api2, namespace)
    enable_namespace(bed.api1, namespace)
    service_account_import(bed.api1, namespace, "a", "cluster2", namespace, "pod-lister")
    bed.driver().sync_parent(namespace, "a")  # the import's Secret exists before the first pod
    core = k8s.CoreV1Api(bed.api1)
    container = {"name": "c", "image": bed.node.sandbox_image(), "imagePullPolicy": "Never"}
    spec = {"containers": [container], "terminationGracePeriodSeconds": 0}
    cases = {"with": {contract.IMPORT_NAME_KEY: "a"}, "without": {}}
    created: dict[str, tuple[str, float]] = {}
    with RunningTimes(bed.api1, namespace) as running:
        for i in range(POD_STARTS):
            for case, annotations in cases.items():
                name = f"{case}-{i}"
                pod = {"metadata": {"name": name, "annotations": annotations}, "spec": spec}
                created[name] = (case, time.perf_counter())
                core.create_namespaced_pod(namespace, pod)
                running.wait_for(name)
                core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    times: dict[str, list[float]] = {case: [] for case in cases}
    for name, (case, started) in created.items():
        times[case].append(running.seen[name] - started)
    with_import, without = (statistics.median(times[c]) * 1000 for c in ("with", "without"))
    rows += [
        Row(f"pod start (node): median CREATE to Running, mounting an import ({POD_STARTS} pods)", with_import, "ms"),
        Row("pod start (node): median CREATE to Running, no import", without, "ms"),
        Row("pod start (node): ratio with / without", with_import / without, ""),
    ]


def _settled(driver: CompositeControllerDriver, quiet: float = 3, timeout: float = 300) -> None:
    """Waits until the driver has made no sync for quiet seconds (every import current)."""
    deadline = time.monotonic() + timeout
    last, since = driver.syncs, time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"the imports were still syncing after {timeout:g} s")
        time.sleep(0.5)
        if driver.syncs != last:
            last, since = driver.syncs, time.monotonic()


@dataclass(frozen=True)
class OutageRun:
    latencies: list[float]
    failures: list[str]
    syncs: int
    busy: int


def _outage_loop(bed: Bed, namespace: str, hang: bool) -> OutageRun:
    """OUTAGE_IMPORTS new imports of cluster2 sync (OUTAGE_WORKERS workers), and pods that ask for one are
    created for OUTAGE_SECONDS: with cluster2 up, once every import is current; with hang, cluster2's API
    server stopped all along, from OUTAGE_WARMUP_SECONDS after the syncs start."""
    with syncing_imports(bed, namespace, OUTAGE_IMPORTS, OUTAGE_WORKERS, hang) as driver:
        if hang:
            time.sleep(OUTAGE_WARMUP_SECONDS)
        else:
            _settled(driver)
        syncs = driver.syncs
        latencies, failures = admission_loop(bed.api1, namespace, "i0", OUTAGE_SECONDS)
        syncs = driver.syncs - syncs
    return OutageRun(latencies, failures, syncs, busy_refusals(driver))


def bench_remote_outage(bed: Bed, rows: list[Row]) -> None:
    """Pod creation beside 200 imports of cluster2: all current with cluster2 up, and all retrying with
    its API server hanging. The target is on the 99th percentile: a starved webhook shows in the tail."""
    up = _outage_loop(bed, "bench-remote-up", hang=False)
    down = _outage_loop(bed, "bench-remote-hanging", hang=True)
    failures = up.failures + down.failures
    ratio = p99(down.latencies) / p99(up.latencies)
    rows += [
        Row("remote outage: p99 pod creation, cluster2 up (200 imports current)", p99(up.latencies) * 1000,
            f"ms (median {statistics.median(up.latencies) * 1000:.0f} ms, {len(up.latencies)} pods, "
            f"{up.syncs} syncs meanwhile)"),
        Row(f"remote outage: p99 pod creation, cluster2's API server hanging (200 imports retrying, "
            f"{OUTAGE_WORKERS} driver workers)", p99(down.latencies) * 1000,
            f"ms (median {statistics.median(down.latencies) * 1000:.0f} ms, max {max(down.latencies) * 1000:.0f} "
            f"ms, {len(down.latencies)} pods, {down.syncs} syncs answered meanwhile, {down.busy} refused busy)"),
        Row("remote outage: p99 ratio hanging / up", ratio, "", "<= 1.2", ratio <= 1.2),
        Row("remote outage: failed pod creations", float(len(failures)), "", "0", not failures),
    ]  # fmt: skip
