"""The hooks' HTTPS client for remote API servers, against a local TLS server that plays one."""

import base64
import json
import socket
import socketserver
import ssl
import threading
import time
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
from hooks.kubeconfig import KubeconfigError, credential_kubeconfig
from hooks.model import Credential, RemoteError, TokenSpec
from hooks.settings import Settings
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
    drip_seconds: float = 0  # pause between bytes of the body


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
            if not remote.drip_seconds:
                self.wfile.write(remote.body)
            try:
                for byte in remote.body if remote.drip_seconds else b"":
                    time.sleep(remote.drip_seconds)
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:  # the client gave up
                self.close_connection = True

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


class _Tunnel(socketserver.BaseRequestHandler):
    """An HTTP proxy that only tunnels (CONNECT), as egress proxies do for HTTPS; records the targets."""

    targets: list[str]

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.request.recv(4096)
        target = head.split()[1].decode()
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pipe = threading.Thread(target=_copy, args=(upstream, self.request), daemon=True)
            pipe.start()
            _copy(self.request, upstream)
            pipe.join(5)


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    targets: list[str] = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), type("Tunnel", (_Tunnel,), {"targets": targets}))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", targets
    finally:
        server.shutdown()
        server.server_close()


def test_https_proxy_from_the_environment_unless_no_proxy_names_the_host(
    remote: tuple[str, Remote], proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = remote
    proxy_url, targets = proxy
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "elsewhere.example")
    issuer().request_token(credential(url), SPEC)
    assert targets == [url.removeprefix("https://")] and len(state.requests) == 1
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    issuer().request_token(credential(url), SPEC)
    assert len(targets) == 1 and len(state.requests) == 2


def test_a_server_that_drips_its_answer_times_out(remote: tuple[str, Remote]) -> None:
    url, state = remote
    state.drip_seconds = 0.05  # each byte well within the read timeout, the whole body not
    fast = KubernetesTokenIssuer(Settings(clock=lambda: NOW, remote_timeout_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        fast.request_token(credential(url), SPEC)
    assert caught.value.reason == "RemoteUnreachable" and "(TimeoutError)" in caught.value.message
    assert time.monotonic() - started < 2


def _encrypted_key() -> bytes:
    from cryptography.hazmat.primitives import serialization

    client = pki.issue(CA, "importer", client=True)
    return client.cert_pem + client.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"token": "line\r\nX-Injected: 1"}, "its token has characters an HTTP header cannot carry"),
        ({"token": "tökén"}, "its token has characters an HTTP header cannot carry"),
        ({"ca": b"\x30\x82\x01\x0a"}, "certificate-authority-data is not a PEM certificate"),
        ({"ca": "é".encode()}, "certificate-authority-data is not a PEM certificate"),
        ({"server": "https://127.0.0.1:99999"}, "its server URL has an invalid port"),
        ({"server": "https://127.0.0.1:abc"}, "its server URL has an invalid port"),
        ({"tls_server_name": "." + "x" * 70}, "its tls-server-name is not a host name"),
        ({"encrypted": True}, "client-certificate-data and client-key-data are not a certificate and key"),
    ],
)
def test_an_unusable_credential_is_invalid_whatever_is_wrong(
    remote: tuple[str, Remote], change: dict[str, Any], why: str
) -> None:
    url, state = remote
    user: dict[str, str] = {}
    if "token" in change:
        user["token"] = change["token"]
    if change.get("encrypted"):
        pem = _encrypted_key()
        user["client-certificate-data"] = base64.b64encode(pem).decode()
        user["client-key-data"] = base64.b64encode(pem).decode()
    options = {k: v for k, v in change.items() if k in ("ca", "tls_server_name")}
    with pytest.raises(RemoteError) as caught:
        issuer().request_token(credential(change.get("server", url), **options, **user), SPEC)
    assert caught.value.reason == "InvalidClusterCredential"
    assert why in caught.value.message
    assert "line" not in caught.value.message and "tökén" not in caught.value.message
    assert not state.requests


def test_a_server_url_with_a_password_is_refused() -> None:
    with pytest.raises(KubeconfigError, match="holds a user name or password"):
        credential("https://admin:hunter2@127.0.0.1:6443")


def test_a_server_that_timed_out_is_not_dialled_again_until_its_quiet_ends(remote: tuple[str, Remote]) -> None:
    url, state = remote
    state.drip_seconds = 0.05
    fast = KubernetesTokenIssuer(Settings(clock=lambda: NOW, remote_timeout_seconds=0.5, retry_min_seconds=1))
    with pytest.raises(RemoteError) as first:
        fast.request_token(credential(url), SPEC)
    dialled = len(state.requests)
    started = time.monotonic()
    with pytest.raises(RemoteError) as again:
        fast.request_token(credential(url), SPEC)
    assert time.monotonic() - started < 0.2, "a quiet server must fail at once"
    assert len(state.requests) == dialled, "a quiet server must not be dialled"
    assert (again.value.reason, again.value.message) == (first.value.reason, first.value.message)
    time.sleep(1)
    state.drip_seconds = 0  # the server answers again: the probe after the quiet gets a token
    assert fast.request_token(credential(url), SPEC).token
    assert len(state.requests) == dialled + 1


def test_a_server_name_that_resolves_to_a_metadata_address_is_never_dialled(
    remote: tuple[str, Remote], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = remote
    port = url.rsplit(":", 1)[1]
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "metadata.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(RemoteError) as err:
        issuer().request_token(credential(f"https://metadata.example:{port}"), SPEC)
    assert err.value.reason == "InvalidClusterCredential"
    assert "metadata.example resolves to 169.254.169.254, in the IPv4 link-local range" in err.value.message
    assert state.requests == []
    # A name that resolves elsewhere is dialled as before.
    assert issuer().request_token(credential(url), SPEC).token == TOKEN


def test_a_server_name_is_resolved_once_and_dialled_at_the_checked_address(
    remote: tuple[str, Remote], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = remote
    port = url.rsplit(":", 1)[1]
    real, asked = socket.getaddrinfo, []

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "remote.example":
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    # No tls-server-name: the certificate is verified for the server's own name, though dialled by address.
    token = issuer().request_token(credential(f"https://remote.example:{port}", tls_server_name=None), SPEC)
    assert token.token == TOKEN and asked == ["remote.example"]
    [request] = state.requests
    assert request["headers"]["Host"] == f"remote.example:{port}"
