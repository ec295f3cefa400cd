"""Prometheus metrics of the hooks service.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (the gunicorn config does) so that
/metrics adds up every worker.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

NAMESPACE = "multicluster_service_account"

REQUESTS = Counter(
    "hook_requests_total", "Hook requests by endpoint and outcome.", ["endpoint", "outcome"], namespace=NAMESPACE
)
LATENCY = Histogram(
    "hook_request_duration_seconds",
    "Hook request latency by endpoint.",
    ["endpoint"],
    namespace=NAMESPACE,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TOKEN_REQUESTS = Counter(
    "token_requests_total",
    "TokenRequests sent to remote clusters, by cluster and outcome (a Ready reason).",
    ["cluster", "outcome"],
    namespace=NAMESPACE,
)

TOKEN_EXPIRATION = Gauge(
    "token_expiration_timestamp_seconds",
    "When the token in each import's Secret expires (Unix time), as of the import's last sync.",
    ["namespace", "name", "cluster"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)

TOKEN_RENEWAL = Gauge(
    "token_renewal_timestamp_seconds",
    "When the token in each import's Secret is due for renewal (Unix time), as of the import's last sync that "
    "had a token; a renewal overdue by more than a minute means Metacontroller has not synced it in time.",
    ["namespace", "name", "cluster"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)

CREDENTIAL_EXPIRATION = Gauge(
    "credential_expiration_timestamp_seconds",
    "When the importer token (or client certificate) in each cluster credential expires (Unix time), as of the "
    "last sync of an import of that cluster; +Inf for a credential that does not expire.",
    ["cluster"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)

#: The labelled series of each (endpoint, outcome), looked up once per worker rather than per request.
_REQUEST_SERIES: dict[tuple[str, str], tuple[Counter, Histogram]] = {}


def count_request(endpoint: str, outcome: str, seconds: float | None) -> None:
    """Counts a hook request by endpoint and outcome, and its latency by endpoint (None: a request refused
    before any work, which would only drag the latency's quantiles down)."""
    series = _REQUEST_SERIES.get((endpoint, outcome))
    if series is None:
        series = _REQUEST_SERIES[endpoint, outcome] = (REQUESTS.labels(endpoint, outcome), LATENCY.labels(endpoint))
    series[0].inc()
    if seconds is not None:
        series[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics text and its content type, from every worker when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
