"""The Flask app: parses requests, calls the pure hook logic, maps errors to JSON and status codes."""

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import metrics
from .customize import customize
from .model import Credential, RemoteError, TokenIssuer, TokenSpec
from .mutate import admit, parse_review, review_response
from .settings import Settings
from .sync import CREDENTIAL_EXPIRING, sync
from .token import IssuedToken, parse_time
from .wire import BadRequest, Obj, mapping, require_mapping

log = logging.getLogger(__name__)

#: Large enough for an AdmissionReview of a big pod, or a sync request with its related Secrets.
MAX_BODY_BYTES = 8 * 1024 * 1024


class CountedIssuer:
    """Counts TokenRequests by cluster and outcome."""

    def __init__(self, inner: TokenIssuer) -> None:
        self.inner = inner

    def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
        try:
            token = self.inner.request_token(credential, spec)
        except RemoteError as err:
            metrics.TOKEN_REQUESTS.labels(spec.cluster, err.reason).inc()
            raise
        metrics.TOKEN_REQUESTS.labels(spec.cluster, "TokenIssued").inc()
        return token

    def service_account_annotations(self, credential: Credential, spec: TokenSpec) -> dict[str, str]:
        return self.inner.service_account_annotations(credential, spec)


#: Outcomes of every-day requests, logged at DEBUG: Metacontroller resyncs each import and the API server
#: calls the webhook for each pod, so these would flood the logs (and cost a third of a webhook call's own
#: work, see bench/). The metrics count them all.
ROUTINE_OUTCOMES: Final = {
    ("customize", "OK"),
    ("sync", "TokenCurrent"),
    ("sync", "StaleView"),
    ("mutate", "Allowed"),
}


def log_level(endpoint: str, outcome: str) -> int:
    """DEBUG for routine requests, INFO for a token issued, WARNING for a failure or a denied pod."""
    if (endpoint, outcome) in ROUTINE_OUTCOMES:
        return logging.DEBUG
    return logging.INFO if outcome == "TokenIssued" else logging.WARNING


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _error(status: int, reason: str, message: str) -> Response:
    return _json({"error": reason, "message": message, "code": status}, status)


#: Seconds a refused sync is told to wait (Retry-After): Metacontroller v4.17.2 requeues the import after exactly
#: that long (pkg/hooks/webhook.go TooManyRequestError; composite controller processNextWorkItem AddAfter),
#: with no failure counted and no backoff.
BUSY_RETRY_AFTER_SECONDS: Final = 1


#: A worker logs its refused syncs at WARNING at most this often (each at DEBUG otherwise): a hanging remote
#: cluster can bring many a second, and the metrics count them all.
BUSY_LOG_INTERVAL_SECONDS: Final = 10.0


class Refusals:
    """Counts refused requests and says when the next WARNING is due (at most one per interval)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self.unlogged = 0
        self._lock = threading.Lock()
        self._next = 0.0

    def refused(self) -> int:
        """Records one refusal; the number refused since the last WARNING if one is due now, else 0."""
        with self._lock:
            self.unlogged += 1
            now = self.clock()
            if now < self._next:
                return 0
            self._next = now + self.interval
            count, self.unlogged = self.unlogged, 0
            return count


def busy_message(limit: int) -> str:
    return (
        f"the hooks are busy: {limit} syncs are already in progress in this worker (MCSA_THREADS less the one "
        "kept for the webhook); Metacontroller retries this sync. Most often a remote API server is slow to "
        "answer (see the imports' RemoteUnreachable status); else Metacontroller runs more --workers than "
        "the hooks have sync threads: raise MCSA_THREADS or the replicas"
    )


#: With MCSA_WEBHOOK_BIND set, the endpoints of each port; /healthz, /readyz and /metrics answer on both.
WEBHOOK_ENDPOINTS: Final = frozenset({"mutate"})
HOOK_ENDPOINTS: Final = frozenset({"customize", "sync"})


def wrong_port_message(path: str, port: str, settings: Settings) -> str:
    """Why path is not served on port (the one the request arrived on), and which port serves it."""
    if port == str(settings.webhook_port):
        hooks_port = f"port {settings.hooks_port}" if settings.hooks_port else "the other port"
        return (
            f"{path} is not served on the webhook port {port} (MCSA_WEBHOOK_BIND), which serves the API server's "
            f"/mutate: Metacontroller calls /customize and /sync on {hooks_port} (MCSA_BIND, the Service's port "
            "named hooks)"
        )
    return (
        f"{path} is not served on the hooks port {port} (MCSA_BIND), which serves Metacontroller's /customize and "
        f"/sync: the API server calls /mutate on port {settings.webhook_port} (MCSA_WEBHOOK_BIND, the Service's "
        "port named webhook)"
    )


def credential_expiry_seconds(status: Obj) -> float | None:
    """When the import's cluster credential expires (Unix time), +Inf if it does not, None if unknown (no
    credential found): a credential made long-lived again must not keep its old expiry in the metrics."""
    expires = parse_time(status.get("credentialExpirationTimestamp"))
    if expires is not None:
        return expires.timestamp()
    conditions = status.get("conditions") or []
    credential = next((c for c in conditions if c.get("type") == CREDENTIAL_EXPIRING), None)
    return math.inf if credential is not None and credential.get("reason") == "CredentialDoesNotExpire" else None


def _body() -> Obj:
    if not request.is_json:
        raise BadRequest(f"Content-Type must be application/json, got {request.content_type or 'none'!r}")
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as err:  # also for nesting deeper than 1024 and for invalid UTF-8
        raise BadRequest(f"request body is not valid JSON: {err}") from None
    return require_mapping(body, "request body")


def _object_ref(obj: object) -> tuple[str, str]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or meta.get("generateName") or "")


def create_app(settings: Settings | None = None, issuer: TokenIssuer | None = None) -> Flask:
    """The hooks app. gunicorn serves `hooks:create_app()`; tests pass settings and a fake issuer."""
    settings = settings or Settings.from_env()
    if issuer is None:
        from .kube import KubernetesTokenIssuer

        issuer = KubernetesTokenIssuer(settings)
    counted = CountedIssuer(issuer)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # A sync may wait out the remote timeout (a remote API server that hangs) in one of the worker's
    # threads. The sync hook holds at most all but one of them, so a webhook call or a probe never waits
    # behind syncs; a sync beyond the limit is refused at once (429), and Metacontroller retries it.
    sync_limit = settings.threads - 1
    sync_slots = threading.BoundedSemaphore(sync_limit)
    refusals = Refusals(BUSY_LOG_INTERVAL_SECONDS)
    # Paths asked on the wrong port (MCSA_WEBHOOK_BIND set): logged as rarely as the busy syncs.
    wrong_port = Refusals(BUSY_LOG_INTERVAL_SECONDS)

    def hook(endpoint: str, handle: Callable[[Obj], tuple[Any, str, str, str, dict[str, Any]]]) -> Response:
        started = time.perf_counter()
        try:
            body, outcome, namespace, name, extra = handle(_body())
        except BadRequest as err:
            metrics.count_request(endpoint, "BadRequest", time.perf_counter() - started)
            log.warning("rejected malformed request", extra={"endpoint": endpoint, "error": str(err)})
            return _error(400, "BadRequest", str(err))
        except HTTPException:
            raise  # answered by the error handler below (413, 415, ...)
        except Exception as err:
            # The type only: an exception's text could quote request data, and so a token.
            metrics.count_request(endpoint, "InternalError", time.perf_counter() - started)
            log.error("unexpected error", extra={"endpoint": endpoint, "exc_type": type(err).__name__})
            return _error(500, "InternalError", "internal error in the hooks service; see its logs")
        elapsed = time.perf_counter() - started
        metrics.count_request(endpoint, outcome, elapsed)
        level = log_level(endpoint, outcome)
        if log.isEnabledFor(level):
            log.log(
                level,
                endpoint,
                extra={
                    "endpoint": endpoint,
                    "namespace": namespace,
                    "object_name": name,
                    "outcome": outcome,
                    "duration_ms": round(elapsed * 1000, 2),
                    **extra,
                },
            )
        return _json(body)

    def handle_customize(body: Obj) -> tuple[Any, str, str, str, dict[str, Any]]:
        response = customize(body, settings)
        namespace, name = _object_ref(body.get("parent"))
        return response, "OK", namespace, name, {"kind": "ServiceAccountImport"}

    def handle_sync(body: Obj) -> tuple[Any, str, str, str, dict[str, Any]]:
        response, outcome = sync(body, counted, settings)
        namespace, name = _object_ref(body.get("parent"))
        expires = parse_time(response["status"].get("tokenExpirationTimestamp"))
        cluster = mapping(mapping(body["parent"]).get("spec")).get("clusterName")
        if expires is not None and isinstance(cluster, str):
            metrics.TOKEN_EXPIRATION.labels(namespace, name, cluster).set(expires.timestamp())
            if outcome in ("TokenIssued", "TokenCurrent"):  # resyncAfterSeconds is then the renewal's moment
                renewal = settings.clock().timestamp() + response["resyncAfterSeconds"]
                metrics.TOKEN_RENEWAL.labels(namespace, name, cluster).set(renewal)
        if isinstance(cluster, str) and (expiry := credential_expiry_seconds(response["status"])) is not None:
            metrics.CREDENTIAL_EXPIRATION.labels(cluster).set(expiry)
        extra = {"kind": "ServiceAccountImport", "resync_after_seconds": response["resyncAfterSeconds"]}
        return response, outcome, namespace, name, extra

    def handle_mutate(body: Obj) -> tuple[Any, str, str, str, dict[str, Any]]:
        review = parse_review(body)
        response, imports = admit(review, settings.credential_plugin_image)
        outcome = "Allowed" if response["allowed"] else "Denied"
        extra: dict[str, Any] = {"kind": review.kind or "unknown", "operation": review.operation, "imports": imports}
        if not response["allowed"]:
            extra["reason"] = response.get("status", {}).get("message")
        return review_response(response), outcome, review.namespace, review.pod_name, extra

    app.add_url_rule("/customize", "customize", lambda: hook("customize", handle_customize), methods=["POST"])

    def sync_endpoint() -> Response:
        if not sync_slots.acquire(blocking=False):
            metrics.count_request("sync", "Busy", None)
            count = refusals.refused()
            log.log(
                logging.WARNING if count else logging.DEBUG,
                "refused syncs: busy",
                extra={"endpoint": "sync", "outcome": "Busy", "limit": sync_limit, "refused": count or 1},
            )
            response = _error(429, "TooManyRequests", busy_message(sync_limit))
            response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
            return response
        try:
            return hook("sync", handle_sync)
        finally:
            sync_slots.release()

    app.add_url_rule("/sync", "sync", sync_endpoint, methods=["POST"])
    app.add_url_rule("/mutate", "mutate", lambda: hook("mutate", handle_mutate), methods=["POST"])

    if settings.webhook_port is not None:
        webhook_port = str(settings.webhook_port)

        @app.before_request
        def only_this_ports_endpoints() -> Response | None:
            """A path of the other port is refused (404) before any work, so that a caller admitted to the
            webhook's port (by networkpolicy.yaml, anyone) cannot call /sync there. By the port the connection
            arrived on: for a TCP listener, gunicorn's SERVER_PORT is the listening socket's, not the Host
            header's (gunicorn/workers/gthread.py, gunicorn/http/wsgi.py)."""
            endpoint, port = request.endpoint, str(request.environ.get("SERVER_PORT", ""))
            refused = HOOK_ENDPOINTS if port == webhook_port else WEBHOOK_ENDPOINTS
            if endpoint not in refused:
                return None
            metrics.count_request(endpoint, "WrongPort", None)
            count = wrong_port.refused()
            # The port and the endpoint only: nothing from the request.
            log.log(
                logging.WARNING if count else logging.DEBUG,
                "refused requests: wrong port",
                extra={"endpoint": endpoint, "outcome": "WrongPort", "port": port, "refused": count or 1},
            )
            return _error(404, "NotFound", wrong_port_message(request.path, port, settings))

    @app.get("/healthz")
    @app.get("/readyz")
    def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        text, content_type = metrics.exposition()
        return Response(text, content_type=content_type)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        code = err.code or 500
        return _error(code, (err.name or "Error").replace(" ", ""), err.description or "")

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Response:
        # The type only: an exception's text could quote request data, and so a token.
        log.error("unexpected error", extra={"path": request.path, "exc_type": type(err).__name__})
        return _error(500, "InternalError", "internal error in the hooks service; see its logs")

    return app
