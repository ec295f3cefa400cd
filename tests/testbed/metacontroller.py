"""A test double of Metacontroller's CompositeController, for the test bed.

Metacontroller cannot be installed from anything the tests may reach (its Go module path is `metacontroller`,
which the module proxy cannot serve, and no image registry is reachable), so the end-to-end tests drive the
hooks with this driver instead. It reads the project's own CompositeController manifest and does what
Metacontroller v4.17.2 does for it (metacontroller/metacontroller at that tag: pkg/controller/composite,
pkg/controller/common, pkg/dynamic/apply, pkg/hooks; client-go v0.36.3's workqueue and rest client):

- watches parents, their children, and the related objects the customize hook asked for;
- calls `customize`, then `sync` (hook version v2) over HTTPS, verifying the server with `caBundle`
  (`inline` or `secretRef`), within the hook's `timeout`;
- sends `children` and `related` keyed by `Kind.version` (core group) and then `namespace/name`;
- claims children by the `controller-uid` selector (`generateSelector`) and a controller
  ownerReference, and adopts orphans that match;
- deletes observed children missing from the response, creates new ones (with the
  `metacontroller.k8s.io/last-applied-configuration` annotation) and updates existing ones in place
  with a three-way merge of observed, last-applied and desired;
- decodes responses strictly (unknown fields are errors); a 429 requeues the parent after `Retry-After`
  seconds (whole seconds or an HTTP date; else 0), with no failure counted (pkg/hooks/webhook.go,
  controller.go processNextWorkItem); any other non-200 is a failure: no writes, and a requeue after the
  workqueue's rate limiter (5 ms x 2^failures per parent, and 10 a second, burst 100, for all);
- schedules `resyncAfterSeconds` as soon as the hook answers, before any write (controller.go
  syncParentObject), in a workqueue as client-go's: first in, first out, a key at most once and never on
  two workers, delayed adds waiting per key with the earliest kept;
- keeps the customize hook's answer for a parent's uid and generation for 20 minutes;
- writes status as AtomicStatusUpdate does: a fresh GET of the parent, then an update of the status
  subresource only if the live status differs; on a conflict both again, 4 attempts in all (10, 50, 250 ms
  apart), then nothing (the error is dropped, no requeue);
- on every Secret event, goes through every parent in view for those whose customize answer selects it
  (asking the customize hook for those it has no answer for, one after the other on the event thread), as
  findRelatedParents does; and syncs every parent each `resync_period` (--cache-flush-interval, 30 min);
- is bound by Metacontroller's **client-side rate limit**: every API call it makes (the fresh GET and the
  writes, child creates, updates and deletes, and the informers' lists; adopting an orphan costs 3, the
  uncached GET of the parent once per sync, then a GET and an update of the child) takes a token from a
  bucket of `burst` tokens refilled at `qps` a second (client-go's token bucket;
  `--client-go-qps=5 --client-go-burst=10` by default, `qps`/`burst` here, `workers` for `--workers`);
- in background mode (`start()`), reads as Metacontroller's informers do: parents and Secrets (children
  and related objects) come from the watches' view, as last observed, not read fresh; so a sync that
  follows its own write closely may see the object from before it (a create then gets 409, tolerated,
  as Metacontroller swallows AlreadyExists). `sync_parent` called on its own reads fresh (a synced cache).

It reaches `hooks.*.webhook.service` as Metacontroller does, at `<protocol>://<service>.<namespace>:<port>`
through the Service's ClusterIP (kube-proxy on the test bed's node), verifying the certificate for that
name. The bed has no cluster DNS, so the driver reads the ClusterIP from the API server, where DNS
would answer it. Without a node (the kubelet-less bed) there is no Service network: the driver is then
given the hooks' loopback address (`service_url`).

Not implemented, because this project does not rely on them: releasing owned children whose labels
stopped matching, finalize hooks, list merging by keys in the three-way merge (Secrets have no lists),
the event recorder (its own client and limit), and discovery.

Checked against the real Metacontroller v4.17.2 (built by hand from its source, run beside the test bed's
two control planes and the hooks under gunicorn with 4 workers; 2026-12-04): see tests/testbed/burst.py
for the figures and docs/sizing.md for what they mean.
"""

import base64
import copy
import email.utils
import heapq
import http.client
import json
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from .ratelimit import TokenBucket

log = logging.getLogger(__name__)

Obj = dict[str, Any]
LAST_APPLIED = "metacontroller.k8s.io/last-applied-configuration"
CONTROLLER_UID = "controller-uid"
RESPONSE_FIELDS = {"status", "children", "resyncAfterSeconds", "finalized"}
CUSTOMIZE_FIELDS = {"relatedResources"}
#: The workqueue's rate limiter for failed syncs (client-go DefaultTypedControllerRateLimiter): per item
#: 5 ms x 2^failures up to 1000 s, and one bucket of 10 a second (burst 100) for all items, whichever is later.
BACKOFF_BASE, BACKOFF_MAX = 0.005, 1000.0
FAILED_QPS, FAILED_BURST = 10.0, 100
#: AtomicStatusUpdate's retries on conflict (client-go retry.DefaultBackoff): 4 attempts, sleeping 10, 50 and
#: 250 ms, each +-10%.
STATUS_ATTEMPTS, STATUS_BACKOFF, STATUS_JITTER = 4, (0.01, 0.05, 0.25), 0.1
#: --cache-flush-interval: the informers replay their cache (every parent synced again) this often.
RESYNC_PERIOD = 30 * 60
#: Metacontroller's flags and their defaults (pkg/cmd/metacontroller/main.go): --client-go-qps,
#: --client-go-burst, --workers.
DEFAULT_QPS, DEFAULT_BURST, DEFAULT_WORKERS = 5.0, 10, 5
#: The flags the README recommends (its "Sizing Metacontroller").
RECOMMENDED_FLAGS: dict[str, Any] = {"qps": 50.0, "burst": 100, "workers": 16}
#: How long Metacontroller keeps a customize hook's answer for a parent's (uid, generation).
CUSTOMIZE_CACHE_SECONDS = 20 * 60


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to host (the name verified in the server's certificate), dialed at address when given."""

    def __init__(self, host: str, port: int, address: str | None, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address or self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class TooManyRequests(RuntimeError):
    """A hook answered 429: Metacontroller requeues the parent after Retry-After seconds (webhook.go
    TooManyRequestError; controller.go processNextWorkItem), with no failure counted and no event."""

    def __init__(self, hook: str, after: int) -> None:
        super().__init__(f"{hook} hook answered 429, retry after {after} s")
        self.after = after


def retry_after_seconds(value: str | None, now: float | None = None) -> int:
    """Retry-After as Metacontroller v4.17.2 reads it (pkg/hooks/webhook.go): whole seconds, or an HTTP date
    (the seconds until it, rounded up); anything else, or none, is 0 (an immediate retry)."""
    if not value:
        return 0
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else 0  # strconv.Atoi: no spaces
    return math.ceil(when.timestamp() - (time.time() if now is None else now))


class SyncError(RuntimeError):
    """A hook call that failed: Metacontroller records a SyncError event and retries with backoff."""


@dataclass(frozen=True)
class SyncResult:
    response: Obj
    resync_after: float


def _tolerate(statuses: int | tuple[int, ...], call: Any) -> None:
    """call, ignoring API errors of those statuses (as Metacontroller ignores them)."""
    try:
        call()
    except ApiException as err:
        if err.status not in ((statuses,) if isinstance(statuses, int) else statuses):
            raise


def load_controller(path: Path) -> Obj:
    controller: Obj = yaml.safe_load(path.read_text())
    assert controller["kind"] == "CompositeController", f"{path} is not a CompositeController"
    return controller


def _duration_seconds(value: str | None, default: float = 10.0) -> float:
    """A Go duration of the forms Metacontroller's manifests use: 500ms, 5s, 1m."""
    if not value:
        return default
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if value.endswith(suffix) and value[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(value[: -len(suffix)]) * factor
    raise ValueError(f"unsupported duration {value!r}")


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _child_key(kind: str, api_version: str) -> str:
    """`Kind.version` for the core group, `Kind.group/version` otherwise (Metacontroller's map keys)."""
    group, version = _group_version(api_version)
    return f"{kind}.{version}" if not group else f"{kind}.{group}/{version}"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> Obj:
    """Strict decoding, as Metacontroller's: a key given twice is an error."""
    obj: Obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate field {key!r}")
        obj[key] = value
    return obj


def three_way_merge(observed: Any, last_applied: Any, desired: Any) -> Any:
    """Metacontroller's dynamic apply: desired fields win, fields it stopped setting are removed,
    fields it never set (server-filled, or set by others) are kept. Lists are replaced whole."""
    if not (isinstance(observed, dict) and isinstance(desired, dict)):
        return copy.deepcopy(desired)
    merged = copy.deepcopy(observed)
    last = last_applied if isinstance(last_applied, dict) else {}
    for key in last:
        if key not in desired:
            merged.pop(key, None)
    for key, value in desired.items():
        merged[key] = three_way_merge(observed.get(key), last.get(key), value)
    return merged


class CompositeControllerDriver:
    def __init__(
        self,
        controller: Obj,
        api: k8s.ApiClient,
        service_url: str | None = None,
        workers: int = DEFAULT_WORKERS,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        resync_period: float = RESYNC_PERIOD,
    ) -> None:
        #: Sync workers in background mode (--workers).
        self.workers = workers
        #: The client-side rate limit of Metacontroller's API client (--client-go-qps, --client-go-burst; qps
        #: None: none): every API call Metacontroller makes takes a token, the reads its informers answer do not.
        self.limiter = TokenBucket(qps, burst)
        self.controller = controller
        self.spec: Obj = controller["spec"]
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)
        self.service_url = service_url
        parent = self.spec["parentResource"]
        self.parent_group, self.parent_version = _group_version(parent["apiVersion"])
        self.parent_plural = parent["resource"]
        [child] = self.spec["childResources"]
        assert (child["apiVersion"], child["resource"]) == ("v1", "secrets"), "this driver handles Secret children"
        self.update_method = child.get("updateStrategy", {}).get("method", "OnDelete")
        self.child_key = _child_key("Secret", "v1")
        self._ssl: dict[str, ssl.SSLContext] = {}
        self._cluster_ips: dict[str, str] = {}
        # Background mode: client-go's workqueue. A FIFO of keys, each at most once (dirty), never two workers
        # on one key (processing: added again meanwhile, it goes to the back when done); and delayed adds,
        # waiting per key, the earliest kept (an add meanwhile does not cancel it).
        self._ready: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, float] = {}
        self._delayed: list[tuple[float, str]] = []
        self._failures: dict[str, int] = {}
        self._failed_bucket = TokenBucket(FAILED_QPS, FAILED_BURST)
        self.resync_period = resync_period
        self._cv = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Syncs begun (Metacontroller's "Sync" log lines), answered by the sync hook, refused by it (429).
        self.attempts = 0
        self.syncs = 0
        self.refused = 0
        self.status_conflicts = 0
        self.errors: list[str] = []
        # The informers' view (background mode): parents and Secrets as last observed, keyed namespace/name.
        self._parents: dict[str, Obj] = {}
        self._secrets: dict[str, Obj] = {}
        self._informed = False
        self._listed: set[Any] = set()
        self._customized: dict[tuple[str, object], tuple[float, Obj]] = {}

    # -- hooks --------------------------------------------------------------------------------------

    def _webhook(self, hook: str) -> Obj:
        spec = self.spec["hooks"].get(hook)
        if spec is None:
            raise KeyError(hook)
        if spec.get("version", "v1") != "v2":
            raise SyncError(f"hook {hook} must be version v2 (this driver speaks v2 only)")
        webhook: Obj = spec["webhook"]
        return webhook

    def _url(self, webhook: Obj) -> str:
        """The URL Metacontroller dials: `url`, or `<protocol>://<service>.<namespace>:<port><path>`."""
        if webhook.get("url"):
            return str(webhook["url"])
        service = webhook["service"]
        base = self.service_url or (
            f"{service.get('protocol', 'http')}://{service['name']}.{service['namespace']}:{service.get('port', 80)}"
        )
        return base + webhook.get("path", "")

    def _service_address(self, webhook: Obj) -> str | None:
        """What cluster DNS answers for `<service>.<namespace>`: the Service's ClusterIP. The test bed
        has no cluster DNS, so the driver asks the API server; the name stays the TLS server name."""
        service = webhook.get("service")
        if webhook.get("url") or self.service_url or not service:
            return None
        key = f"{service['namespace']}/{service['name']}"
        if key not in self._cluster_ips:  # once: DNS, not Metacontroller's API client, would answer it
            cluster_ip = self.core.read_namespaced_service(service["name"], service["namespace"]).spec.cluster_ip
            if not cluster_ip or cluster_ip == "None":
                raise SyncError(f"service {key} has no ClusterIP")
            self._cluster_ips[key] = str(cluster_ip)
        return self._cluster_ips[key]

    def _post(self, webhook: Obj, url: str, body: bytes) -> tuple[int, bytes, str | None]:
        timeout = _duration_seconds(webhook.get("timeout"))
        parts = urllib.parse.urlsplit(url)
        address = self._service_address(webhook)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = _HTTPSConnection(
                parts.hostname or "", parts.port or 443, address, timeout, self._ssl_context(webhook)
            )
        else:
            connection = http.client.HTTPConnection(address or parts.hostname or "", parts.port or 80, timeout=timeout)
        try:
            connection.request(
                "POST", parts.path or "/", body, {"Content-Type": "application/json", "Host": parts.netloc}
            )
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Retry-After")
        finally:
            connection.close()

    def _ssl_context(self, webhook: Obj) -> ssl.SSLContext:
        """Resolved once per driver, as Metacontroller resolves it once per controller."""
        key = json.dumps(webhook.get("caBundle"), sort_keys=True)
        if key not in self._ssl:
            self._ssl[key] = self._resolve_ca(webhook)
        return self._ssl[key]

    def _resolve_ca(self, webhook: Obj) -> ssl.SSLContext:
        bundle = webhook.get("caBundle") or {}
        if "inline" in bundle:
            pem = bundle["inline"]
        elif "secretRef" in bundle:
            ref = bundle["secretRef"]
            secret = self.core.read_namespaced_secret(ref["name"], ref["namespace"])
            pem = base64.b64decode((secret.data or {})[ref.get("key", "ca.crt")]).decode()
        else:
            return ssl.create_default_context()
        return ssl.create_default_context(cadata=pem)

    def call_hook(self, hook: str, request: Obj, fields: set[str]) -> Obj:
        webhook = self._webhook(hook)
        url = self._url(webhook)
        body = json.dumps(request).encode()
        try:
            status, raw, retry_after = self._post(webhook, url, body)
        except (OSError, http.client.HTTPException) as err:
            raise SyncError(f"{hook} hook {url} failed: {err}") from None
        if status == 429:
            raise TooManyRequests(hook, retry_after_seconds(retry_after))
        if status != 200:
            raise SyncError(f"{hook} hook {url} answered {status}: {raw[:300]!r}")
        try:
            decoded = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        except ValueError as err:
            raise SyncError(f"{hook} hook answered undecodable JSON: {err}") from None
        if not isinstance(decoded, dict) or set(decoded) - fields:
            unknown = sorted(set(decoded) - fields) if isinstance(decoded, dict) else decoded
            raise SyncError(f"{hook} hook answered unknown fields (strict mode): {unknown}")
        resync = decoded.get("resyncAfterSeconds", 0)
        if not isinstance(resync, int | float) or isinstance(resync, bool):
            raise SyncError(f"{hook} hook answered a resyncAfterSeconds that is not a number: {resync!r}")
        return decoded

    # -- one sync -----------------------------------------------------------------------------------

    def get_parent(self, namespace: str, name: str) -> Obj:
        obj: Obj = self.custom.get_namespaced_custom_object(
            self.parent_group, self.parent_version, namespace, self.parent_plural, name
        )
        return obj

    def _customize(self, parent: Obj) -> Obj:
        """The customize hook's answer, kept for the parent's uid and generation for 20 minutes."""
        key = (parent["metadata"]["uid"], parent["metadata"].get("generation"))
        cached = self._customized.get(key)
        if cached is not None and time.monotonic() - cached[0] < CUSTOMIZE_CACHE_SECONDS:
            return cached[1]
        response = self.call_hook("customize", {"controller": self.controller, "parent": parent}, CUSTOMIZE_FIELDS)
        self._customized[key] = (time.monotonic(), response)
        return response

    def _related(self, parent: Obj) -> Obj:
        if "customize" not in self.spec["hooks"]:
            return {}
        response = self._customize(parent)
        related: Obj = {}
        for rule in response.get("relatedResources") or []:
            if (rule.get("apiVersion"), rule.get("resource")) != ("v1", "secrets") or rule.get("namespaceSelector"):
                raise SyncError(f"this driver resolves related v1 secrets by namespace and labels only: {rule}")
            selector = rule.get("labelSelector") or {}
            if selector.get("matchExpressions"):
                raise SyncError("this driver does not resolve matchExpressions")
            labels = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
            namespace = rule.get("namespace") or parent["metadata"]["namespace"]
            items = self._list_secrets(namespace, labels or None)
            bucket = related.setdefault(_child_key("Secret", "v1"), {})
            for item in items:
                if not rule.get("names") or item["metadata"]["name"] in rule["names"]:
                    bucket[f"{namespace}/{item['metadata']['name']}"] = item
        return related

    def _list_secrets(self, namespace: str, selector: str | None) -> list[Obj]:
        """Secrets as the API server wrote them (raw JSON, as Metacontroller's unstructured objects); in
        background mode, as the informer last observed them."""
        if self._informed:
            wanted = dict(part.split("=", 1) for part in selector.split(",")) if selector else {}
            return [
                copy.deepcopy(obj)
                for obj in list(self._secrets.values())
                if obj["metadata"].get("namespace") == namespace
                and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
            ]
        response = self.core.list_namespaced_secret(namespace, label_selector=selector, _preload_content=False)
        items: list[Obj] = json.loads(response.data)["items"]
        for item in items:
            item.setdefault("apiVersion", "v1")
            item.setdefault("kind", "Secret")
        return items

    def _owner_reference(self, parent: Obj) -> Obj:
        return {
            "apiVersion": parent["apiVersion"],
            "kind": parent["kind"],
            "name": parent["metadata"]["name"],
            "uid": parent["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _claim_children(self, parent: Obj) -> dict[str, Obj]:
        """Children of parent: owned ones, plus matching orphans adopted now."""
        meta = parent["metadata"]
        selector = f"{CONTROLLER_UID}={meta['uid']}" if self.spec.get("generateSelector") else None
        if selector is None:
            raise SyncError("this driver needs generateSelector: true")
        secrets = self._list_secrets(meta["namespace"], selector)
        children: dict[str, Obj] = {}
        checked = False
        for secret in secrets:
            refs = secret["metadata"].get("ownerReferences") or []
            controller = next((r for r in refs if r.get("controller")), None)
            if controller is None:
                if not checked:  # canAdopt: an uncached GET of the parent, once per claim (sync.Once)
                    self.limiter.take()
                    if self.get_parent(meta["namespace"], meta["name"])["metadata"]["uid"] != meta["uid"]:
                        raise SyncError(f"parent {meta['namespace']}/{meta['name']} was replaced: not adopting")
                    checked = True
                secret = self._adopt(secret, parent)
            elif controller["uid"] != meta["uid"]:
                continue
            secret.setdefault("apiVersion", "v1")
            secret.setdefault("kind", "Secret")
            children[f"{meta['namespace']}/{secret['metadata']['name']}"] = secret
        return children

    def _adopt(self, secret: Obj, parent: Obj) -> Obj:
        """An orphan made a child, as Metacontroller's AtomicUpdate does it: a GET of the child and an update."""
        meta = secret["metadata"]
        self.limiter.take()
        read = self.core.read_namespaced_secret(meta["name"], meta["namespace"], _preload_content=False)
        live = json.loads(read.data)
        live["metadata"].setdefault("ownerReferences", []).append(self._owner_reference(parent))
        self.limiter.take()
        response = self.core.replace_namespaced_secret(meta["name"], meta["namespace"], live, _preload_content=False)
        adopted: Obj = json.loads(response.data)
        return adopted

    def sync_parent(self, namespace: str, name: str) -> SyncResult | None:
        """One reconcile of a parent, as Metacontroller's syncParentObject; None if it is gone."""
        if self._informed:
            cached = self._parents.get(f"{namespace}/{name}")
            if cached is None:
                return None
            parent = copy.deepcopy(cached)
        else:
            try:
                parent = self.get_parent(namespace, name)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
        deleting = bool(parent["metadata"].get("deletionTimestamp"))
        observed = self._claim_children(parent)
        request = {
            "controller": self.controller,
            "parent": parent,
            "children": {self.child_key: observed},
            "related": self._related(parent),
            "finalizing": False,
        }
        self.attempts += 1  # Metacontroller logs "Sync" (V(4)) here, before the hook answers or refuses
        response = self.call_hook("sync", request, RESPONSE_FIELDS)
        self.syncs += 1
        resync = float(response.get("resyncAfterSeconds") or 0)
        if self._informed and resync > 0:  # scheduled before any write, so even if a write fails
            self.enqueue(f"{namespace}/{name}", resync)
        # A parent being deleted (without a finalize hook) keeps its children for the garbage collector;
        # its status is still written. Status is written even when managing children fails.
        failure: Exception | None = None
        if not deleting:
            try:
                self._manage_children(parent, observed, response.get("children") or [])
            except (ApiException, SyncError) as err:
                failure = err
        self._write_status(parent, response.get("status"))
        if failure is not None:
            raise failure
        return SyncResult(response, resync)

    def _manage_children(self, parent: Obj, observed: dict[str, Obj], desired_list: list[Obj]) -> None:
        meta = parent["metadata"]
        desired: dict[str, Obj] = {}
        for child in desired_list:
            child = copy.deepcopy(child)
            if _child_key(child.get("kind", ""), child.get("apiVersion", "")) != self.child_key:
                raise SyncError(f"sync hook returned a child of an undeclared type: {child.get('kind')}")
            child["metadata"].setdefault("namespace", meta["namespace"])
            child["metadata"].setdefault("labels", {})[CONTROLLER_UID] = meta["uid"]
            desired[f"{child['metadata']['namespace']}/{child['metadata']['name']}"] = child
        for key, child in observed.items():
            if key not in desired and not child["metadata"].get("deletionTimestamp"):
                self.limiter.take()
                self.core.delete_namespaced_secret(
                    child["metadata"]["name"],
                    child["metadata"]["namespace"],
                    body=k8s.V1DeleteOptions(
                        propagation_policy="Background", preconditions=k8s.V1Preconditions(uid=child["metadata"]["uid"])
                    ),
                )
        for key, child in desired.items():
            applied = json.dumps(child, sort_keys=True)
            if key not in observed:
                new = copy.deepcopy(child)
                new["metadata"].setdefault("annotations", {})[LAST_APPLIED] = applied
                new["metadata"]["ownerReferences"] = [self._owner_reference(parent)]
                self.limiter.take()
                _tolerate(409, lambda new=new: self.core.create_namespaced_secret(new["metadata"]["namespace"], new))
                continue
            current = observed[key]
            last = json.loads((current["metadata"].get("annotations") or {}).get(LAST_APPLIED) or "{}")
            merged = three_way_merge(current, last, child)
            merged["metadata"].setdefault("annotations", {})[LAST_APPLIED] = applied
            if merged != current and self.update_method in ("InPlace", "RollingInPlace"):
                self.limiter.take()
                _tolerate(  # a conflict (the view was behind): Metacontroller leaves it to the next sync
                    409,
                    lambda c=current, m=merged: self.core.replace_namespaced_secret(
                        c["metadata"]["name"], c["metadata"]["namespace"], m
                    ),
                )

    def _write_status(self, parent: Obj, status: Obj | None) -> None:
        """As Metacontroller's AtomicStatusUpdate: a fresh GET of the parent (never the informer's copy),
        and an update of its status subresource only if the live status differs; on a conflict, both again
        (retry.RetryOnConflict with DefaultBackoff), and after the last conflict nothing (no requeue: the
        error is dropped, controller.go updateParentStatus). A parent gone is no error."""
        namespace, name = parent["metadata"]["namespace"], parent["metadata"]["name"]
        new_status = dict(status or {})
        new_status["observedGeneration"] = parent["metadata"].get("generation")  # the generation synced
        for attempt in range(STATUS_ATTEMPTS):
            if attempt:
                pause = STATUS_BACKOFF[attempt - 1]
                time.sleep(pause * (1 + random.uniform(-STATUS_JITTER, STATUS_JITTER)))
            self.limiter.take()
            try:
                live = self.get_parent(namespace, name)
                if new_status == live.get("status"):
                    return
                updated = copy.deepcopy(live)
                updated["status"] = new_status
                self.limiter.take()
                self.custom.replace_namespaced_custom_object_status(
                    self.parent_group, self.parent_version, namespace, self.parent_plural, name, updated
                )
                return
            except ApiException as err:
                if err.status == 404:
                    return
                if err.status != 409:
                    raise
                self.status_conflicts += 1

    # -- background mode ----------------------------------------------------------------------------

    def enqueue(self, key: str, delay: float = 0.0) -> None:
        """The workqueue's Add (delay 0) or AddAfter."""
        with self._cv:
            if delay > 0:
                due = time.monotonic() + delay
                if key not in self._waiting or due < self._waiting[key]:
                    self._waiting[key] = due
                    heapq.heappush(self._delayed, (due, key))
                    self._cv.notify()
                return
            self._add(key)

    def _add(self, key: str) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.append(key)
            self._cv.notify()

    def _next(self) -> str | None:
        """A key to sync, waiting for one (None: stopping); delayed keys join the back of the FIFO when due."""
        with self._cv:
            while not self._stopping.is_set():
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    due, key = heapq.heappop(self._delayed)
                    if self._waiting.get(key) == due:
                        del self._waiting[key]
                        self._add(key)
                if self._ready:
                    key = self._ready.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                self._cv.wait(self._delayed[0][0] - now if self._delayed else None)
            return None

    def _done(self, key: str) -> None:
        with self._cv:
            self._processing.discard(key)
            if key in self._dirty:
                self._ready.append(key)
                self._cv.notify()

    def start(self) -> "CompositeControllerDriver":
        """Watches and workers in the background. From now on, syncs read parents and Secrets from the
        informers' view, as Metacontroller does; the workers start once both informers have listed."""
        for target in (self._watch_parents, self._watch_secrets, self._resync):
            thread = threading.Thread(target=target, name=f"driver-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 60
        while len(self._listed) < 2 and time.monotonic() < deadline:  # the parents' and the Secrets' lists
            time.sleep(0.05)
        if len(self._listed) < 2:
            raise SyncError("the driver's informers did not list parents and Secrets within 60 s")
        self._informed = True
        for _ in range(self.workers):
            thread = threading.Thread(target=self._work, name="driver-_work", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cv:
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def _watch(self, list_call: Any, on_event: Any, reset: Any, **kwargs: Any) -> None:
        """As an informer: one list (an ADDED event for each object), then a watch from its resourceVersion,
        resumed where it stopped; a list again only when the API server has compacted that version (410).
        A watch begun without a version would replay every object as new, and so resync every parent.
        on_event gets the event type and the object as the API server wrote it (raw JSON)."""
        version: str | None = None
        while not self._stopping.is_set():
            try:
                if version is None:
                    self.limiter.take()  # the informer's list goes through the same client
                    listed = json.loads(list_call(_preload_content=False, **kwargs).data)
                    reset()  # the list replaces the view: what it lacks was deleted meanwhile
                    for item in listed["items"]:
                        on_event("ADDED", item)
                    version = listed["metadata"]["resourceVersion"]
                    self._listed.add(list_call)
                stream = watch.Watch()
                for event in stream.stream(list_call, resource_version=version, timeout_seconds=2, **kwargs):
                    if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
                        continue  # a BOOKMARK (never asked for) carries no object to act on
                    on_event(event["type"], event["raw_object"])
                    version = stream.resource_version or version
                    if self._stopping.is_set():
                        return
            except ApiException as err:
                if err.status == 410:  # the version is gone: list again
                    version = None
                else:
                    log.debug("watch failed: %s", err.status)
                    self._stopping.wait(0.5)
            except Exception as err:  # the API server may be restarting; watch again
                log.debug("watch failed: %s", type(err).__name__)
                self._stopping.wait(0.5)

    def _watch_parents(self) -> None:
        def on_parent(kind: str, obj: Obj) -> None:
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            if kind == "DELETED":
                self._parents.pop(key, None)
            else:
                self._parents[key] = obj
            self.enqueue(key)

        self._watch(
            self.custom.list_cluster_custom_object,
            on_parent,
            self._parents.clear,
            group=self.parent_group,
            version=self.parent_version,
            plural=self.parent_plural,
        )

    def _resync(self) -> None:
        """The informers' resync (--cache-flush-interval): their cache replayed as updates, every parent synced."""
        while not self._stopping.wait(self.resync_period):
            for key in list(self._parents):
                self.enqueue(key)

    def _watch_secrets(self) -> None:
        parent_api_version = self.spec["parentResource"]["apiVersion"]

        def on_secret(kind: str, secret: Obj) -> None:
            meta = secret["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            if kind == "DELETED":
                self._secrets.pop(key, None)
            else:
                secret.setdefault("apiVersion", "v1")
                secret.setdefault("kind", "Secret")
                self._secrets[key] = secret
            refs = meta.get("ownerReferences") or []
            owner = next((r for r in refs if r.get("controller") and r.get("apiVersion") == parent_api_version), None)
            if owner is not None:
                self.enqueue(f"{meta['namespace']}/{owner['name']}")
            self._related_changed(meta)

        self._watch(self.core.list_secret_for_all_namespaces, on_secret, self._secrets.clear)

    def _related_changed(self, meta: Obj) -> None:
        """A Secret changed: sync the parents whose customize answer selects it. As Metacontroller's
        findRelatedParents, for every Secret event: every parent in view, its customize answer asked for
        (over HTTP, one after the other, on the informer's one event thread) unless cached."""
        labels = meta.get("labels") or {}
        for key, parent in list(self._parents.items()):
            try:
                rules = self._customize(parent).get("relatedResources") or []
            except (SyncError, TooManyRequests) as err:
                log.debug("customize of %s for a related Secret: %s", key, err)  # skipped, as Metacontroller does
                continue
            for rule in rules:
                selector = (rule.get("labelSelector") or {}).get("matchLabels") or {}
                if (
                    (rule.get("apiVersion"), rule.get("resource")) == ("v1", "secrets")
                    and (rule.get("namespace") or parent["metadata"]["namespace"]) == meta["namespace"]
                    and selector.items() <= labels.items()
                    and (not rule.get("names") or meta["name"] in rule["names"])
                ):
                    self.enqueue(key)
                    break

    def _work(self) -> None:
        while (key := self._next()) is not None:
            try:
                self._process(key)
            finally:
                self._done(key)

    def _process(self, key: str) -> None:
        """One sync of key, as processNextWorkItem: refused (429), again after Retry-After seconds with no
        failure counted; failed, again after the rate limiter's delay (the worker never dies); a success
        forgets the failures. resyncAfterSeconds is scheduled by the sync itself."""
        namespace, name = key.split("/", 1)
        try:
            self.sync_parent(namespace, name)
        except TooManyRequests as refusal:
            self.refused += 1
            log.info("sync of %s: %s", key, refusal)
            self.enqueue(key, refusal.after)
            return
        except Exception as err:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            text = str(err) if isinstance(err, SyncError) else f"{type(err).__name__}: {getattr(err, 'status', '')}"
            self.errors.append(f"{key}: {text}")
            log.warning("sync of %s failed (%d): %s", key, failures + 1, text)
            delay = max(min(BACKOFF_MAX, BACKOFF_BASE * 2**failures), self._failed_bucket.reserve())
            self.enqueue(key, delay)
            return
        self._failures.pop(key, None)
