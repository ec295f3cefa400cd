"""The hooks' HTTPS client for remote API servers, against a local TLS server that plays one."""

import base64
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from hooks import pki
from hooks.kube import KubernetesTokenIssuer
from hooks.kubeconfig import credential_kubeconfig
from hooks.model import Credential, RemoteError, TokenSpec
from hooks.token import format_time

from .fakes import NOW, jwt, serving, settings

TOKEN = jwt(NOW, NOW + timedelta(hours=1), "issued")
SPEC = TokenSpec("cluster2", "team-a", "pod-lister", (), 3600)
CA = pki.new_ca("remote-ca")


@dataclass
class Remote:
    """What the fake API server answers next, and what it received."""

    status: int = 201
    body: bytes = b""
    requests: list[dict[str, Any]] = field(default_factory=list)


def _handler(remote: Remote) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            remote.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body, "peer": peer}
            )
            self.send_response(remote.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(remote.body)))
            self.end_headers()
            self.wfile.write(remote.body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, Remote]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only remote.example; client certificates of
    CA are asked for, not required."""
    certificate = pki.issue(CA, "remote", hosts=("remote.example",))
    (tmp_path / "tls.pem").write_bytes(certificate.cert_pem + certificate.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.pem")
    context.load_verify_locations(cadata=CA.cert_pem.decode())
    context.verify_mode = ssl.CERT_OPTIONAL
    state = Remote(body=_token_response(TOKEN))
    with serving(_handler(state), context) as url:
        yield url, state


def _token_response(token: str) -> bytes:
    expires = format_time(NOW + timedelta(hours=1))
    return json.dumps({"kind": "TokenRequest", "status": {"token": token, "expirationTimestamp": expires}}).encode()


def credential(
    server: str, *, tls_server_name: str | None = "remote.example", ca: bytes = CA.cert_pem, **user: str
) -> Credential:
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()}
    if tls_server_name:
        cluster["tls-server-name"] = tls_server_name
    text = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": user or {"token": "importer-token"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    config, endpoint = credential_kubeconfig(text)
    return Credential("multicluster-service-account/cluster2", config, endpoint)


def issuer() -> KubernetesTokenIssuer:
    return KubernetesTokenIssuer(settings())


def test_a_token_request_to_the_service_accounts_token_subresource(remote: tuple[str, Remote]) -> None:
    url, state = remote
    token = issuer().request_token(credential(url + "/prefix/"), SPEC)
    assert (token.token, token.expires_at) == (TOKEN, NOW + timedelta(hours=1))
    [request] = state.requests
    assert (request["method"], request["path"]) == (
        "POST",
        "/prefix/api/v1/namespaces/team-a/serviceaccounts/pod-lister/token",
    )
    assert request["headers"]["Authorization"] == "Bearer importer-token"
    assert json.loads(request["body"]) == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600},
    }


def test_a_client_certificate_authenticates_instead_of_a_token(remote: tuple[str, Remote]) -> None:
    url, state = remote
    client = pki.issue(CA, "importer", client=True)
    data = {
        "client-certificate-data": base64.b64encode(client.cert_pem).decode(),
        "client-key-data": base64.b64encode(client.key_pem).decode(),
    }
    issuer().request_token(credential(url, **data), SPEC)
    [request] = state.requests
    assert "Authorization" not in request["headers"]
    assert ((("commonName", "importer"),),) == request["peer"]["subject"]


def test_an_unusable_client_certificate_is_an_invalid_credential(remote: tuple[str, Remote]) -> None:
    url, _ = remote
    data = {"client-certificate-data": base64.b64encode(b"not a cert").decode(), "client-key-data": "bm9wZQ=="}
    with pytest.raises(RemoteError) as caught:
        issuer().request_token(credential(url, **data), SPEC)
    assert caught.value.reason == "InvalidClusterCredential"
    assert "multicluster-service-account/cluster2" in caught.value.message and "bm9wZQ" not in caught.value.message


def test_a_ca_that_is_no_certificate_is_an_invalid_credential(remote: tuple[str, Remote]) -> None:
    url, state = remote
    with pytest.raises(RemoteError) as caught:
        issuer().request_token(credential(url, ca=b"not a certificate"), SPEC)
    assert caught.value.reason == "InvalidClusterCredential"
    assert "certificate-authority-data is not a PEM certificate" in caught.value.message
    assert not state.requests


def test_the_server_certificate_must_name_the_server_or_tls_server_name(remote: tuple[str, Remote]) -> None:
    url, state = remote
    with pytest.raises(RemoteError) as caught:
        issuer().request_token(credential(url, tls_server_name=None), SPEC)
    assert caught.value.reason == "RemoteUnreachable" and "SSLError" in caught.value.message
    assert not state.requests


@pytest.mark.parametrize(
    ("status", "body", "reason", "text"),
    [
        (404, b'{"kind":"Status","message":"serviceaccounts \\"pod-lister\\" not found"}',
         "RemoteServiceAccountNotFound",
         'cannot create token for service account "pod-lister" in namespace "team-a" of cluster "cluster2": 404 '
         'serviceaccounts "pod-lister" not found; create the service account in the remote cluster'),
        (403, b'{"message":"forbidden"}', "Forbidden", "403 forbidden; the importer may not create tokens"),
        (401, b"{}", "Unauthorized", "401 Unauthorized; the cluster credential was rejected"),
        (500, b"<html>oops</html>", "RemoteError", "500 Internal Server Error; see the remote API server's message"),
        (201, b'{"status":{}}', "RemoteError", "the response has no token"),
        (201, b"x" * (1024 * 1024 + 1), "RemoteError", "the response is larger than 1 MiB"),
    ],
)  # fmt: skip
def test_remote_failures_say_what_and_how_to_fix(
    remote: tuple[str, Remote], status: int, body: bytes, reason: str, text: str
) -> None:
    url, state = remote
    state.status, state.body = status, body
    with pytest.raises(RemoteError) as caught:
        issuer().request_token(credential(url), SPEC)
    assert caught.value.reason == reason
    assert text in caught.value.message
    assert "importer-token" not in caught.value.message


def test_an_unreachable_server_is_remote_unreachable() -> None:
    with pytest.raises(RemoteError) as caught:
        issuer().request_token(credential("https://127.0.0.1:9"), SPEC)
    assert caught.value.reason == "RemoteUnreachable"
    assert "https://127.0.0.1:9 is unreachable (NewConnectionError)" in caught.value.message


def test_service_account_annotations(remote: tuple[str, Remote]) -> None:
    url, state = remote
    state.status = 200
    state.body = json.dumps({"kind": "ServiceAccount", "metadata": {"annotations": {"a": "b"}}}).encode()
    assert issuer().service_account_annotations(credential(url), SPEC) == {"a": "b"}
    assert [(r["method"], r["path"]) for r in state.requests] == [
        ("GET", "/api/v1/namespaces/team-a/serviceaccounts/pod-lister")
    ]
    state.body = b'{"metadata":{}}'
    assert issuer().service_account_annotations(credential(url), SPEC) == {}
