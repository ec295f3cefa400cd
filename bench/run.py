"""`make bench`: what the hooks cost, as ratios measured side by side in one run on this machine.

1. Admission: POST /mutate (a realistic pod, two imports) under gunicorn with the production settings,
   against a no-op endpoint (bench/noop.py) with the same body under the same gunicorn configuration,
   with wrk; then the latency at half the maximum rate.
2. Sync: POST /sync with a fresh token (no remote call: counted) and with a renewal due (one
   TokenRequest to the local cluster2 each).
3. Through the API server: pod creation in a namespace the webhook serves, against one it does not.
4. Scale: imports across 10 remote namespaces, synced by the Metacontroller test driver: time, TokenRequests
   on the first pass and on a second full pass, peak RSS of a gunicorn worker.
These run on the kubelet-less bed (the hooks under gunicorn on loopback, beside the no-op). Then, on a
second bed with cluster1's real node (as root; bench/node.py):
5. Pod start: CREATE to Running on the node, mounting an import and not.
6. Remote outage: pod creation while 200 imports of cluster2 sync, with cluster2 up and hanging.

BENCH_QUICK=1 makes a short smoke run (shorter loads, 100 imports); BENCH_ONLY=admission,sync (any of
admission, sync, api-server, scale, pod-start, remote-outage) runs only those. Results: a table on stdout
and bench/results/latest.json.
"""

import copy
import json
import logging
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from kubernetes import client as k8s

from hooks import contract
from hooks.settings import utc_now
from hooks.token import format_time
from hooks.wire import Obj
from tests.testbed.bed import Bed, NodeEnvironment, running_bed
from tests.testbed.burst import (
    ALERT_OVERDUE_SECONDS,
    FLAGS,
    REAL_READY,
    Burst,
    real_ready_per_second,
    remove,
    run_burst,
    token_requests,
)
from tests.testbed.cluster import REPO, free_port
from tests.testbed.hooks_server import gunicorn_hooks
from tests.testbed.scenario import enable_namespace, eventually, pod_lister, point_webhook_at, service_account_import

from .node import bench_pod_start, bench_remote_outage
from .rows import QUICK, Row, table

STEPS = ("admission", "sync", "api-server", "scale", "burst")
#: Steps on the real node (as root, in the test bed's network namespace), on a second bed.
NODE_STEPS = ("pod-start", "remote-outage")
ONLY = [step.strip() for step in os.environ.get("BENCH_ONLY", "").split(",") if step.strip()] or [*STEPS, *NODE_STEPS]
SECONDS = 3 if QUICK else 10
IMPORTS = 100 if QUICK else 1000
CONNECTIONS = 8
RESULTS = REPO / "bench" / "results" / "latest.json"
LUA = REPO / "bench" / "post.lua"
GO_WEBHOOK = REPO / "bench" / "webhook-go"


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, body: Path, seconds: int = SECONDS, connections: int = CONNECTIONS, delay_ms: float = 0) -> Load:
    """wrk's closed-loop load (or paced, with delay_ms per connection): throughput and latency."""
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_DELAY_MS": str(round(delay_ms))}
    command = ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(LUA), url]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    percentile = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = sum(
        int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|errors: connect|read|write|timeout) (\d+)", out)
    )
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Load(rps, percentile["50"], percentile["99"], requests, errors)


def peak_worker_rss_mb(master: int) -> float:
    """The largest peak resident set (VmHWM) among gunicorn's worker processes."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(master) and "VmHWM" in fields:
            peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
    assert peaks, f"no gunicorn worker of process {master}"
    return max(peaks)


def admission_review(imports: str) -> dict[str, object]:
    """A realistic pod: an init container, two containers with env, mounts and probes, and two imports."""
    container = {
        "image": "registry.example.com/team/app:1.2.3",
        "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(8)],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "app-7d9c8b-",
            "namespace": "default",
            "labels": {"app": "app", "pod-template-hash": "7d9c8b"},
            "annotations": {contract.IMPORT_NAME_KEY: imports},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-7d9c8b", "uid": "1"}],
        },
        "spec": {
            "initContainers": [{**container, "name": "init"}],
            "containers": [{**container, "name": "app"}, {**container, "name": "sidecar"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "serviceAccountName": "default",
        },
    }
    request = {
        "uid": "b0c6e1f0-0000-4000-8000-000000000001",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": pod,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def bench_admission(bed: Bed, work: Path, rows: list[Row]) -> None:
    body = work / "mutate.json"
    body.write_text(json.dumps(admission_review("cluster2-default-pod-lister,cluster3-default-pod-lister")))
    # Interleaved rounds, medians: a burst of load from elsewhere on this shared machine hits both sides.
    rounds, seconds = (3, 2) if QUICK else (7, 3)
    hooks_runs, noop_runs = [], []
    mutate = f"{bed.hooks.url}/mutate"
    with gunicorn_hooks(bed.files, work / "noop.log", app="bench.noop:create_app()") as served:
        noop = f"{served.url}/mutate"
        wrk(mutate, body, 2), wrk(noop, body, 2)  # warm up
        for _ in range(rounds):
            hooks_runs.append(wrk(mutate, body, seconds))
            noop_runs.append(wrk(noop, body, seconds))
        assert not any(run.errors for run in hooks_runs + noop_runs), (hooks_runs, noop_runs)
        hooks = sorted(hooks_runs, key=lambda run: run.rps)[rounds // 2]
        # Half the maximum rate: each connection pauses between requests, the pause calibrated by short
        # runs; the rate reached is reported with the latency. wrk's pause is in whole milliseconds, so more
        # connections with longer pauses pace more finely (32 connections: ~20 ms pauses, steps of ~5%).
        # The no-op at the same pace shows what gunicorn, TLS and wrk alone give on this machine.
        target, connections = hooks.rps / 2, 4 * CONNECTIONS
        delay = max(1.0, 1000 * connections / target - hooks.p50_ms)
        for _ in range(3):
            probe = wrk(mutate, body, seconds=2, connections=connections, delay_ms=round(delay))
            delay = max(1.0, delay * probe.rps / target)
        half = wrk(mutate, body, connections=connections, delay_ms=round(delay))
        half_noop = wrk(noop, body, connections=connections, delay_ms=round(delay))
    baseline = sorted(noop_runs, key=lambda run: run.rps)[rounds // 2]
    ratio = statistics.median(h.rps / n.rps for h, n in zip(hooks_runs, noop_runs, strict=True))
    p99_ratio = half.p99_ms / half_noop.p99_ms
    rows += [
        Row("admission: POST /mutate throughput (median round)", hooks.rps, "req/s"),
        Row("admission: no-op POST throughput (same body, same gunicorn)", baseline.rps, "req/s"),
        Row(f"admission: throughput ratio mutate / no-op (median of {rounds} rounds)", ratio, "", ">= 0.85",
            ratio >= 0.85),
        Row("admission: p50 at full load", hooks.p50_ms, "ms"),
        Row("admission: p99 at full load", hooks.p99_ms, "ms"),
        Row("admission: rate of the half-rate run", half.rps, "req/s", f"~{target:.0f}"),
        Row("admission: p99 at half the maximum rate", half.p99_ms, "ms"),
        Row("admission: no-op p99 at the same pace", half_noop.p99_ms, f"ms (at {half_noop.rps:.0f} req/s)"),
        Row("admission: p99 ratio mutate / no-op at the same pace", p99_ratio, "", "<= 1.5", p99_ratio <= 1.5),
    ]  # fmt: skip


def sync_request(bed: Bed, namespace: str, name: str) -> dict[str, object]:
    """The sync request Metacontroller sends for an import, built by the test driver from the cluster."""
    driver = bed.driver()
    parent = driver.get_parent(namespace, name)
    children = driver._claim_children(parent)
    related = driver._related(parent)
    return {"controller": driver.controller, "parent": parent, "children": {"Secret.v1": children},
            "related": related, "finalizing": False}  # fmt: skip


def bench_sync(bed: Bed, work: Path, rows: list[Row]) -> None:
    pod_lister(bed.api2, "bench")
    enable_namespace(bed.api1, "bench")
    service_account_import(bed.api1, "bench", "bench-sync", "cluster2", "bench", "pod-lister")
    bed.driver().sync_parent("bench", "bench-sync")
    fresh = sync_request(bed, "bench", "bench-sync")
    stale = copy.deepcopy(fresh)
    [child] = stale["children"]["Secret.v1"].values()  # type: ignore[index, attr-defined]
    past = utc_now() - timedelta(hours=2)
    child["metadata"]["annotations"][contract.TOKEN_ISSUED_AT_ANNOTATION] = format_time(past)
    child["metadata"]["annotations"][contract.TOKEN_EXPIRES_AT_ANNOTATION] = format_time(past + timedelta(hours=1))
    # The status as Metacontroller would have it for that Secret (it wrote it at the same sync): with the
    # sync's own fresh tokenIssuedTimestamp kept, the hooks would see a Secret behind the status and answer
    # StaleView (wait for the view) instead of renewing.
    status = stale["parent"]["status"]  # type: ignore[index]
    status["tokenIssuedTimestamp"] = format_time(past)
    status["tokenExpirationTimestamp"] = format_time(past + timedelta(hours=1))
    (work / "fresh.json").write_text(json.dumps(fresh))
    (work / "stale.json").write_text(json.dumps(stale))

    before = token_requests(bed)
    load = wrk(f"{bed.hooks.url}/sync", work / "fresh.json")
    made = token_requests(bed) - before
    rows += [
        Row("sync, token fresh: throughput", load.rps, "req/s"),
        Row("sync, token fresh: p50 / p99", load.p50_ms, f"ms / {load.p99_ms:.2f} ms"),
        Row("sync, token fresh: TokenRequests made", made, f"in {load.requests} syncs", "0", made == 0),
    ]
    before = token_requests(bed)
    load = wrk(f"{bed.hooks.url}/sync", work / "stale.json", seconds=max(2, SECONDS // 2), connections=2)
    made = token_requests(bed) - before
    rows += [
        Row("sync, renewal due: throughput (one TokenRequest each)", load.rps, "req/s"),
        Row("sync, renewal due: p50 / p99", load.p50_ms, f"ms / {load.p99_ms:.2f} ms"),
        # wrk counts the requests answered within its time; the ones in flight at the end (at most one
        # per connection) still make their TokenRequest.
        Row("sync, renewal due: TokenRequests made", made, f"in {load.requests} syncs", "= syncs (+ in flight)",
            0 <= made - load.requests <= 2),
    ]  # fmt: skip


@contextmanager
def go_webhook(bed: Bed, work: Path) -> Iterator[str]:
    """bench/webhook-go (a minimal Go webhook that mounts what the hooks would) on loopback, with the
    hooks' serving certificate; its URL."""
    binary = work / "webhook-go"
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GO_WEBHOOK, env=env, check=True)
    url = f"https://127.0.0.1:{free_port()}"
    with (work / "webhook-go.log").open("wb") as log:
        process = subprocess.Popen([binary, url.removeprefix("https://"), bed.files.cert, bed.files.key], stderr=log)
    try:
        eventually(lambda: go_webhook_served(bed, url) is not None, "the Go webhook to serve", timeout=10)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def go_webhook_served(bed: Bed, url: str) -> int | None:
    """How many reviews the Go webhook answered, or None while it does not answer."""
    context = ssl.create_default_context(cadata=bed.files.ca.read_text())
    try:
        with urllib.request.urlopen(f"{url}/served", context=context, timeout=2) as response:  # noqa: S310
            return int(response.read())
    except OSError:
        return None


def check_mounted(case: str, pod: k8s.V1Pod) -> None:
    """The pods that ask for imports a and b in the enabled namespace got their volumes; no other did."""
    volumes = sorted(v.name for v in pod.spec.volumes or [] if v.name.startswith("sai-"))
    expected = ["sai-a", "sai-b"] if case in ("with", "go-with") else []
    assert volumes == expected, f"{case}: pod {pod.metadata.name} has import volumes {volumes}, not {expected}"


def time_pod_creations(core: k8s.CoreV1Api, cases: dict[str, tuple[str, Obj]], times: dict[str, list[float]]) -> None:
    """Creates the pod of each case in its namespace, in turn, many times; adds the durations to times."""
    for _ in range(30 if QUICK else 150):
        for case, (namespace, pod) in cases.items():
            started = time.perf_counter()
            created = core.create_namespaced_pod(namespace, pod)
            times.setdefault(case, []).append(time.perf_counter() - started)
            check_mounted(case, created)


def bench_api_server(bed: Bed, work: Path, rows: list[Row]) -> None:
    core = k8s.CoreV1Api(bed.api1)
    enable_namespace(bed.api1, "bench-on")
    core.create_namespace({"metadata": {"name": "bench-off"}})
    spec = {"containers": [{"name": "c", "image": "busybox"}, {"name": "d", "image": "busybox"}]}
    asking = {"metadata": {"generateName": "p-", "annotations": {contract.IMPORT_NAME_KEY: "a,b"}}, "spec": spec}
    # For reference: a pod of the enabled namespace that asks for nothing (the webhook's matchConditions
    # spare it the call), and one with the annotation empty (the API server calls the webhook, which has
    # nothing to add: what any webhook call costs on this bed).
    empty = {"metadata": {"generateName": "e-", "annotations": {contract.IMPORT_NAME_KEY: ""}}, "spec": spec}
    cases = {
        "with": ("bench-on", asking),
        "without": ("bench-off", asking),
        "no-imports": ("bench-on", {"metadata": {"generateName": "n-"}, "spec": spec}),
        "empty": ("bench-on", empty),
    }
    times: dict[str, list[float]] = {}
    time_pod_creations(core, cases, times)
    # The floor: the same pods through a minimal Go webhook (bench/webhook-go) that makes the same patch.
    with go_webhook(bed, work) as url:
        point_webhook_at(bed.api1, url)
        try:
            # The API server uses the new client config within a moment; the pod must reach the Go server.
            def reaches_go() -> bool:
                before = go_webhook_served(bed, url) or 0
                core.create_namespaced_pod("bench-on", empty, dry_run="All")
                return (go_webhook_served(bed, url) or 0) > before

            eventually(reaches_go, "pod creations to call the Go webhook")
            go_cases = {"go-with": cases["with"], "go-empty": cases["empty"], "go-without": cases["without"]}
            time_pod_creations(core, go_cases, times)
        finally:
            point_webhook_at(bed.api1, bed.hooks.url)
    median = {case: statistics.median(values) * 1000 for case, values in times.items()}
    on, off = median["with"], median["without"]
    go_added = median["go-with"] - median["go-without"]
    # A difference of medians: if noise made the Go webhook's cost vanish, the ratio means nothing (FAIL).
    added = (on - off) / go_added if go_added > 0 else float("inf")
    rows += [
        Row("API server: median pod creation, namespace with the webhook", on, "ms"),
        Row("API server: median pod creation, namespace without", off, "ms"),
        Row("API server: ratio with / without", on / off, ""),
        Row("API server: ratio, pod asking for no import / without (not sent to the webhook)",
            median["no-imports"] / off, ""),
        Row("API server: ratio, webhook call with nothing to mount / without", median["empty"] / off, ""),
        Row("API server: ratio with / without, a minimal Go webhook making the same patch (the floor)",
            median["go-with"] / median["go-without"], ""),
        Row("API server: ratio, the Go webhook with nothing to mount / without",
            median["go-empty"] / median["go-without"], ""),
        Row("API server: latency the webhook adds, over the Go webhook's (with - without)", added, "",
            "<= 1.1", added <= 1.1),
    ]  # fmt: skip


def bench_scale(bed: Bed, rows: list[Row]) -> None:
    remote = [f"scale-{i}" for i in range(10)]
    for namespace in remote:
        pod_lister(bed.api2, namespace)
    k8s.CoreV1Api(bed.api1).create_namespace({"metadata": {"name": "scale"}})
    names = [f"imp-{i:04d}" for i in range(IMPORTS)]
    before = token_requests(bed)
    driver = bed.driver(qps=None).start()  # the hooks' own capacity: no client-side limit (see burst)
    try:
        started = time.monotonic()
        for i, name in enumerate(names):
            service_account_import(bed.api1, "scale", name, "cluster2", remote[i % 10], "pod-lister")
        selector = contract.IMPORT_NAME_KEY

        def all_secrets() -> bool:
            items = k8s.CoreV1Api(bed.api1).list_namespaced_secret("scale", label_selector=selector).items
            return len(items) == IMPORTS

        eventually(all_secrets, f"{IMPORTS} imported Secrets", timeout=900, interval=1)
        elapsed = time.monotonic() - started
    finally:
        driver.stop()
    first = token_requests(bed) - before
    before = token_requests(bed)
    resync_started = time.monotonic()
    second_driver = bed.driver()
    for name in names:
        second_driver.sync_parent("scale", name)
    resync = time.monotonic() - resync_started
    second = token_requests(bed) - before
    assert bed.hooks.pid is not None, "the bench runs the kubelet-less bed's gunicorn"
    rss = peak_worker_rss_mb(bed.hooks.pid)
    rows += [
        Row(f"scale: time until {IMPORTS} imports have their Secret", elapsed, "s"),
        Row("scale: TokenRequests on the first pass", first, "", f"= {IMPORTS}", first == IMPORTS),
        Row("scale: TokenRequests on a second full resync", second, f"in {resync:.0f} s", "0", second == 0),
        Row("scale: peak RSS of a gunicorn worker", rss, "MB", "< 80", rss < 80),
        Row("scale: driver errors", float(len(driver.errors)), "", "0", not driver.errors),
    ]
    # Gone before the bursts: a driver that starts syncs every import there is once (as Metacontroller does
    # when it starts), which would queue 1,000 syncs ahead of each burst.
    remove(bed, "scale")


def alert_row(label: str, result: Burst) -> Row:
    """The README's renewal alert: needed once the renewal is late by its threshold, and then before expiry."""
    if result.renewal_delay <= ALERT_OVERDUE_SECONDS:
        return Row(f"{label}: renewal alert (not needed: the renewal was on time)", 0.0, "")
    fired = result.alert_after is not None and result.alert_after < result.margin
    return Row(f"{label}: renewal alert, after the renewal fell due", result.alert_after or float("inf"), "s",
               f"< {result.margin:.0f} s (before expiry)", fired)  # fmt: skip


def bench_burst(bed: Bed, rows: list[Row]) -> None:
    sizes = (100,) if QUICK else (100, 1000)
    for flags in FLAGS:
        qps, burst, workers = FLAGS[flags]
        for size in sizes:
            namespace = f"burst-{flags}-{size}"
            say(f"  {size} new imports, Metacontroller {flags} (--client-go-qps={qps:g} --client-go-burst={burst} "
                f"--workers={workers}) ...")  # fmt: skip
            result = run_burst(bed, namespace, size, flags)
            remove(bed, namespace)
            label = f"burst of {size}, {flags} (qps {qps:g}, burst {burst}, {workers} workers)"
            rate = size / result.ready_seconds
            rows += [
                Row(f"{label}: all Ready after", result.ready_seconds, f"s ({rate:.2g} a second)"),
                Row(f"{label}: a renewal falling due in it, made after", result.renewal_delay,
                    "s", f"< {result.margin:.0f} s (the margin)", result.renewal_delay < result.margin),
                Row(f"{label}: new imports not yet Ready when it fell due", result.pending_at_due, ""),
                alert_row(label, result),
                Row(f"{label}: TokenRequests", result.token_requests, "", f"= {size + 1}",
                    result.token_requests == size + 1),
            ]  # fmt: skip
            if size == sizes[-1] and (flags == "defaults" or size >= REAL_READY[flags][0]):
                real = real_ready_per_second(flags)
                ratio = rate / real
                rows.append(Row(f"{label}: Ready rate / the real Metacontroller v4.17.2's ({real:.2g} a second)",
                                ratio, "", "0.67 to 1.5", 1 / 1.5 <= ratio <= 1.5))  # fmt: skip


def main() -> int:
    # The driver logs each failed sync; the remote-outage part makes thousands (its rows count them).
    logging.getLogger("tests.testbed.metacontroller").setLevel(logging.ERROR)
    if shutil.which("wrk") is None:
        say("error: wrk is not installed (make bench installs it: apt-get install wrk)")
        return 1
    if unknown := set(ONLY) - {*STEPS, *NODE_STEPS}:
        say(f"error: BENCH_ONLY names {', '.join(sorted(unknown))}; choose from {', '.join(STEPS + NODE_STEPS)}")
        return 2
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mcsa-bench-") as tmp:
        work = Path(tmp)
        if set(ONLY) & set(STEPS):
            say("starting the kubelet-less test bed (cluster1, cluster2, hooks on loopback) ...")
            with running_bed(work / "bed", node=False) as bed:
                for step, run in (("admission", lambda: bench_admission(bed, work, rows)),
                                  ("sync", lambda: bench_sync(bed, work, rows)),
                                  ("api-server", lambda: bench_api_server(bed, work, rows)),
                                  ("scale", lambda: bench_scale(bed, rows)),
                                  ("burst", lambda: bench_burst(bed, rows))):  # fmt: skip
                    if step in ONLY:
                        say(f"benchmark: {step} ...")
                        run()
        node_steps = [step for step in NODE_STEPS if step in ONLY]
        if node_steps and NodeEnvironment.from_env() is None:
            say(f"not measured: {', '.join(node_steps)} (they need the real node: run make bench as root)")
        elif node_steps:
            say("starting the test bed with cluster1's node (the hooks as pods) ...")
            with running_bed(work / "node-bed", node=True) as bed:
                for step, run in (("pod-start", lambda: bench_pod_start(bed, rows)),
                                  ("remote-outage", lambda: bench_remote_outage(bed, rows))):  # fmt: skip
                    if step in node_steps:
                        say(f"benchmark: {step} ...")
                        run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"quick": QUICK, "parts": ONLY, "rows": [asdict(r) for r in rows]}, indent=2))
    print(table(rows))
    print(f"\n(written to {RESULTS.relative_to(REPO)}; {os.cpu_count()} cores; quick={QUICK})")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
