"""Bursts of new imports as Metacontroller really syncs them: bound by its client rate limit and workers.

N imports are created at once, and two seconds after the last one the renewal of another import falls
due: its 600 s token (the least the TokenRequest API grants, so the least margin) is recorded as issued so
long ago that the hooks renew it at that moment (they schedule it with resyncAfterSeconds, as for any
renewal, and export it); its syncs then queue behind the burst, as a renewal does in Metacontroller. The test
double runs with Metacontroller's flags, its defaults and the README's recommendation. Measured: the time
until all N are Ready, how long after falling due the renewal happened (against the margin the hooks keep
before expiry), whether the README's renewal alert fired before the token would have expired, and the
TokenRequests made (one per import, and one renewal).
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubernetes import client as k8s

from hooks import contract, names
from hooks.settings import Settings, utc_now
from hooks.token import IssuedToken, format_time

from .bed import Bed
from .metacontroller import DEFAULT_BURST, DEFAULT_QPS, DEFAULT_WORKERS, RECOMMENDED_FLAGS
from .scenario import enable_namespace, eventually, pod_lister, service_account_import

GROUP, VERSION = contract.API_VERSION.split("/")
#: Metacontroller's flags: (--client-go-qps, --client-go-burst, --workers).
FLAGS = {
    "defaults": (DEFAULT_QPS, DEFAULT_BURST, DEFAULT_WORKERS),
    "recommended": (RECOMMENDED_FLAGS["qps"], RECOMMENDED_FLAGS["burst"], RECOMMENDED_FLAGS["workers"]),
}
RENEWING_LIFETIME = 600
#: The real Metacontroller v4.17.2, measured by hand on 2026-12-04: built from its source (tag v4.17.2), run on
#: this machine beside the kubelet-less bed's two control planes with the project's CompositeController (its
#: hooks pointed at the hooks under gunicorn, 4 workers, 28 sync threads); new imports created at once, the
#: time until all are Ready read with one LIST every 0.5 s (the Ready conditions' lastTransitionTime and the
#: status updates' managedFields times agree to 2 s). (imports, seconds) for each set of flags:
#: - defaults (qps 5, burst 10, 5 workers): 300 in 179.2 s (1.67 a second; 180 s in an earlier hand run);
#: - recommended (qps 50, burst 100, 16 workers): 1,000 in 61.4 s and 60.6 s (16.4 a second), 2,002 syncs.
#: An earlier figure of 209 s for the recommended flags (issue "The Metacontroller test double agrees with the
#: real Metacontroller") did not hold up: see docs/sizing.md.
REAL_READY = {"defaults": (300, 179.2), "recommended": (1000, 61.0)}


def real_ready_per_second(flags: str) -> float:
    """New imports made Ready a second by the real Metacontroller v4.17.2 with flags (see REAL_READY)."""
    imports, seconds = REAL_READY[flags]
    return imports / seconds


#: The renewal falls due this long after the last new import is created.
LEAD_SECONDS = 2.0
#: The README's alert ServiceAccountImportRenewalOverdue: a renewal overdue by more than this.
ALERT_OVERDUE_SECONDS = 120.0


@dataclass(frozen=True)
class Burst:
    imports: int
    ready_seconds: float
    #: From the moment the renewal fell due to its new token.
    renewal_delay: float
    #: What the token had left when its renewal fell due.
    margin: float
    token_requests: int
    #: New imports not yet Ready when the renewal fell due (so it fell due inside the burst).
    pending_at_due: int
    #: When the README's renewal alert held, after the renewal fell due (None: it never did).
    alert_after: float | None


def _recorded_as_due_at(due: float) -> tuple[dict[str, str], float]:
    """Annotations of a 600 s token that the hooks renew at the Unix time due, and the margin before its
    expiry they keep (MCSA_RENEW_FRACTION, MCSA_RENEW_MARGIN_SECONDS as the hooks default them)."""
    settings = Settings()
    now = utc_now().replace(microsecond=0)
    probe = IssuedToken("t", now, now + timedelta(seconds=RENEWING_LIFETIME))
    margin = (probe.expires_at - probe.renew_at(settings.renew_fraction, settings.renew_margin_seconds)).seconds
    issued = datetime.fromtimestamp(due, UTC) - timedelta(seconds=RENEWING_LIFETIME - margin)
    annotations = {
        contract.TOKEN_ISSUED_AT_ANNOTATION: format_time(issued),
        contract.TOKEN_EXPIRES_AT_ANNOTATION: format_time(issued + timedelta(seconds=RENEWING_LIFETIME)),
    }
    return annotations, float(margin)


def _ready(bed: Bed, namespace: str) -> int:
    listed = k8s.CustomObjectsApi(bed.api1).list_namespaced_custom_object(GROUP, VERSION, namespace, contract.PLURAL)
    conditions = [(item.get("status") or {}).get("conditions") or [] for item in listed["items"]]
    return sum(any(c.get("type") == "Ready" and c.get("status") == "True" for c in each) for each in conditions)


def renewal_overdue(metrics_text: str, namespace: str, name: str, now: float) -> bool:
    """The README's alert ServiceAccountImportRenewalOverdue, on the hooks' metrics, for one import."""

    def gauge(metric: str) -> float | None:  # max by (namespace, name, cluster): over the replicas too
        prefix = f"multicluster_service_account_{metric}{{"
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics_text.splitlines()
            if line.startswith(prefix) and f'namespace="{namespace}"' in line and f'name="{name}"' in line
        ]
        return max(values) if values else None

    renewal, expiry = gauge("token_renewal_timestamp_seconds"), gauge("token_expiration_timestamp_seconds")
    return renewal is not None and expiry is not None and now - renewal > ALERT_OVERDUE_SECONDS and expiry > now


def metrics_text(bed: Bed) -> str:
    """The metrics of every hooks replica (each counts what it served), one after the other."""
    return "\n".join(bed.hooks_get_each("/metrics"))


def token_requests(bed: Bed, cluster: str = "cluster2") -> float:
    """TokenRequests the hooks sent to cluster, whatever their outcome, summed over the replicas."""
    prefix = f'multicluster_service_account_token_requests_total{{cluster="{cluster}",'
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text(bed).splitlines() if line.startswith(prefix))


def run_burst(bed: Bed, namespace: str, imports: int, flags: str) -> Burst:
    qps, burst, workers = FLAGS[flags]
    pod_lister(bed.api2, namespace)
    enable_namespace(bed.api1, namespace)
    core = k8s.CoreV1Api(bed.api1)
    service_account_import(bed.api1, namespace, "renewing", "cluster2", namespace, "pod-lister",
                           expirationSeconds=RENEWING_LIFETIME)  # fmt: skip
    arrange = bed.driver(qps=None)  # the test's own hand, outside Metacontroller's queue
    arrange.sync_parent(namespace, "renewing")  # its first token
    secret = names.secret_name("renewing")
    before = token_requests(bed)
    driver = bed.driver(workers=workers, qps=qps, burst=burst).start()
    started = time.monotonic()
    renewed: float | None = None
    alert: float | None = None
    try:
        for i in range(imports):
            service_account_import(bed.api1, namespace, f"b{i:04d}", "cluster2", namespace, "pod-lister")
        # Once every new import is queued, the renewal falls due: as if its token had been issued so long
        # ago (the hooks see it at this sync and schedule the renewal, and export when it is due).
        due_wall = float(int(time.time()) + LEAD_SECONDS)  # whole seconds, as the annotations record times
        annotations, margin = _recorded_as_due_at(due_wall)
        core.patch_namespaced_secret(secret, namespace, {"metadata": {"annotations": annotations}})
        arrange.sync_parent(namespace, "renewing")
        due = time.monotonic() + (due_wall - time.time())
        pending: int | None = None
        while renewed is None or _ready(bed, namespace) < imports + 1:
            now = time.monotonic()
            if now - started > 3600:
                raise AssertionError(f"{imports} imports were not all Ready in an hour")
            if pending is None and now >= due:
                pending = imports + 1 - _ready(bed, namespace)
            if renewed is None:
                issued = (core.read_namespaced_secret(secret, namespace).metadata.annotations or {}).get(
                    contract.TOKEN_ISSUED_AT_ANNOTATION
                )
                if issued != annotations[contract.TOKEN_ISSUED_AT_ANNOTATION]:
                    renewed = now
                elif alert is None and renewal_overdue(metrics_text(bed), namespace, "renewing", time.time()):
                    alert = now
            time.sleep(0.5)
        ready_seconds = time.monotonic() - started
    finally:
        driver.stop()
    assert renewed is not None
    eventually(lambda: token_requests(bed) - before >= imports + 1 or None, "the burst's TokenRequests counted", 30)
    return Burst(
        imports,
        ready_seconds,
        renewal_delay=renewed - due,
        margin=margin,
        token_requests=int(token_requests(bed) - before),
        pending_at_due=pending or 0,
        alert_after=alert - due if alert is not None else None,
    )


def remove(bed: Bed, namespace: str) -> None:
    """The burst's imports (and with them their Secrets), so that the next burst starts alone."""
    custom = k8s.CustomObjectsApi(bed.api1)
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, contract.PLURAL)
    eventually(
        lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, contract.PLURAL)["items"] or None,
        f"the imports of {namespace} to be deleted",
        300,
        1,
    )
