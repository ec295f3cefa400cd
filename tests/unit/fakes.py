"""Builders of hook requests and a fake TokenIssuer, for tests of the pure logic."""

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bootstrap.credential import credential_secret
from hooks import contract
from hooks.kubeconfig import ClusterEndpoint
from hooks.model import Credential, RemoteError, TokenSpec
from hooks.settings import Settings
from hooks.token import IssuedToken
from hooks.wire import Obj

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
ENDPOINT = ClusterEndpoint(
    server="https://127.0.0.1:6443", ca_pem=b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
)


def settings(now: datetime = NOW) -> Settings:
    return Settings(clock=lambda: now)


def jwt(iat: datetime, exp: datetime, marker: str = "x") -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"iat": int(iat.timestamp()), "exp": int(exp.timestamp()), "sub": marker}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature-{marker}"


@dataclass
class FakeIssuer:
    """Issues JWT-shaped tokens valid for lifetime from now, or raises error; records every call."""

    now: datetime = NOW
    lifetime: timedelta = timedelta(hours=1)
    error: RemoteError | None = None
    calls: list[tuple[Credential, TokenSpec]] = field(default_factory=list)
    #: The remote service account's annotations (None: it does not exist).
    remote_annotations: dict[str, str] | None = field(default_factory=dict)
    lookups: int = 0

    def service_account_annotations(self, credential: Credential, spec: TokenSpec) -> dict[str, str]:
        self.lookups += 1
        if self.remote_annotations is None:
            raise RemoteError("RemoteServiceAccountNotFound", f"cannot get service account {spec.name}: 404", 404)
        return self.remote_annotations

    def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
        self.calls.append((credential, spec))
        if self.error is not None:
            raise self.error
        expires = self.now + self.lifetime
        return IssuedToken(jwt(self.now, expires, f"{len(self.calls)}"), self.now, expires)


def parent(
    name: str = "cluster2-default-pod-lister",
    namespace: str = "default",
    spec: Obj | None = None,
    status: Obj | None = None,
) -> Obj:
    obj: Obj = {
        "apiVersion": contract.API_VERSION,
        "kind": contract.KIND,
        "metadata": {"name": name, "namespace": namespace, "uid": "u-1", "generation": 1},
        "spec": spec if spec is not None else {"clusterName": "cluster2", "namespace": "default", "name": "pod-lister"},
    }
    if status is not None:
        obj["status"] = status
    return obj


def credential(cluster: str = "cluster2", token: str = "importer-token") -> Obj:
    return credential_secret(cluster, ENDPOINT, token)


def sync_request(
    parent_obj: Obj | None = None, children: list[Obj] | None = None, related: list[Obj] | None = None
) -> Obj:
    """A v2 sync request as Metacontroller sends it: maps keyed "namespace/name"."""

    def keyed(objs: list[Obj]) -> Obj:
        return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objs}

    return {
        "controller": {"apiVersion": "metacontroller.k8s.io/v1alpha1", "kind": "CompositeController"},
        "parent": parent_obj or parent(),
        "children": {"Secret.v1": keyed(children or [])},
        "related": {"Secret.v1": keyed([credential()] if related is None else related)},
        "finalizing": False,
    }


def observed(desired: Obj) -> Obj:
    """desired as the API server would return it: server-filled fields and Metacontroller's additions."""
    obj = json.loads(json.dumps(desired))
    obj["metadata"].update(
        {
            "uid": "s-1",
            "resourceVersion": "42",
            "creationTimestamp": "2026-11-29T11:00:00Z",
            "ownerReferences": [
                {
                    "apiVersion": contract.API_VERSION,
                    "kind": contract.KIND,
                    "name": "p",
                    "uid": "u-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
    )
    obj["metadata"]["labels"]["controller-uid"] = "u-1"
    obj["metadata"].setdefault("annotations", {})["metacontroller.k8s.io/last-applied-configuration"] = "{}"
    return obj


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """handler served from a thread on 127.0.0.1 (over TLS with tls); the server's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
