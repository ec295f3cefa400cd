"""The hooks' only remote calls: TokenRequests (and a service account read) against remote clusters.

Plain HTTPS with urllib3 rather than the Kubernetes client: its generated API and models would cost
each gunicorn worker ~17 MB of memory for these two calls (see bench/). The credential was checked by
`kubeconfig.credential_kubeconfig`: a server, a CA, a token or a client certificate, nothing else.
"""

import base64
import binascii
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
import time
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3

from . import addresses
from .kubeconfig import current_cluster_and_user
from .model import Credential, RemoteError, TokenSpec
from .quiet import QuietServers
from .settings import Settings
from .token import IssuedToken, issued, parse_time
from .wire import Obj

#: Logged and reported API error text is capped, so that no unexpected payload ends up in a status.
MAX_ERROR_TEXT = 300
#: A TokenRequest or ServiceAccount is a few kilobytes; a remote server that sends more is cut off.
MAX_RESPONSE_BYTES = 1024 * 1024
#: What a bearer token may hold (RFC 6750's b64token is narrower): no spaces, controls or non-ASCII.
BEARER_TOKEN = re.compile(r"[\x21-\x7e]+")

REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "RemoteServiceAccountNotFound"}
HINTS = {
    401: "the cluster credential was rejected; rotate it with `kubemcsa rotate`",
    403: "the importer may not create tokens for this service account; check `kubemcsa bootstrap --namespace`",
    404: "create the service account in the remote cluster, or fix spec.namespace and spec.name",
}


def _decoded(section: Obj, key: str) -> bytes:
    try:
        return base64.b64decode(section.get(key) or "", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{key} is not valid base64") from None


def ssl_context(credential: Credential) -> ssl.SSLContext:
    """TLS for the remote API server: its CA (else the system's), and the client certificate, if any.

    Raises ValueError (naming no content) if the CA, or the client certificate and key, cannot be loaded.
    """
    try:
        context = ssl.create_default_context(cadata=credential.endpoint.ca_pem.decode("ascii") or None)
    except (ssl.SSLError, UnicodeDecodeError, TypeError, ValueError):
        raise ValueError("certificate-authority-data is not a PEM certificate") from None
    _, user = current_cluster_and_user(credential.config)
    cert, key = _decoded(user, "client-certificate-data"), _decoded(user, "client-key-data")
    if cert and key:
        # ssl loads a certificate chain from files only: a private directory, removed at once.
        try:
            with tempfile.TemporaryDirectory(prefix="mcsa-client-") as directory:
                path = os.path.join(directory, "client.pem")
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                    out.write(cert + b"\n" + key)
                # A password callback, so that an encrypted key fails here rather than prompt for one
                # (OpenSSL prompts when the callback gives an empty password).
                context.load_cert_chain(path, password=lambda: b"-")
        except ssl.SSLError:
            raise ValueError("client-certificate-data and client-key-data are not a certificate and key") from None
        except OSError as err:
            raise ValueError(
                f"the client certificate cannot be loaded ({type(err).__name__} on a temporary file)"
            ) from None
    return context


def _proxy(server: str) -> str | None:
    """The proxy of HTTPS_PROXY for server, unless NO_PROXY names its host, as client-go does (a credential
    cannot name a proxy: proxy-url is refused)."""
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(urlsplit(server).hostname or ""):
        return str(proxy)
    return None


class BlockedServer(ValueError):
    """A server whose name resolves to an address a credential may not name; the message says which."""


def pinned(server: str) -> tuple[str, str | None]:
    """Where to dial server: (its URL with the address its name resolves to, the name) once that address
    is checked, so that the connection goes where the check looked (no second lookup to answer otherwise);
    (server, None) for an address, through a proxy (which resolves), or for a name that does not resolve
    (the call then fails as unreachable). BlockedServer if the name resolves to a blocked address."""
    parts = urlsplit(server)
    host = parts.hostname or ""
    if _proxy(server) is not None or addresses.blocked(host) or _is_address(host):
        return server, None  # a blocked address was refused with the credential
    try:
        found = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return server, None
    for *_, sockaddr in found:
        if what := addresses.blocked(str(sockaddr[0])):
            raise BlockedServer(f"its server {host} resolves to {sockaddr[0]}, in {what}, not a Kubernetes API server")
    if not found:
        return server, None
    address = str(found[0][4][0])
    netloc = f"[{address}]" if ":" in address else address
    return parts._replace(netloc=f"{netloc}:{parts.port or 443}").geturl(), host


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def pool_manager(
    server: str, context: ssl.SSLContext, tls_server_name: str | None, timeout: float
) -> urllib3.PoolManager:
    """Connections to server, through the proxy of HTTPS_PROXY if any (see _proxy)."""
    options: dict[str, Any] = {
        "num_pools": 1,
        "ssl_context": context,
        "server_hostname": tls_server_name,
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
    }
    proxy = _proxy(server)
    if proxy is not None:
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


def _checked_server(server: str) -> str:
    """server, or ValueError if no request can be sent to it."""
    try:
        parts = urlsplit(server)
        _ = parts.port  # a port that is not a number in 1-65535 raises ValueError
    except ValueError:
        raise ValueError("its server URL has an invalid port") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("its server URL is not https://<host>[:<port>][/<path>]")
    return server


def _checked_server_name(name: str | None) -> str | None:
    """tls-server-name, or ValueError if TLS cannot send it (SNI takes an IDNA host name)."""
    try:
        if name:
            name.encode("idna")
    except UnicodeError:
        raise ValueError("its tls-server-name is not a host name") from None
    return name or None


class KubernetesTokenIssuer:
    """Requests tokens with the TokenRequest API, authenticated by the cluster credential."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.remote_timeout_seconds
        self._clock = settings.clock
        # After a timeout, a server is not dialled again for the shortest retry delay (see quiet.py).
        self._quiet = QuietServers(hold=settings.retry_min_seconds, probe=settings.remote_timeout_seconds)

    def _call(self, credential: Credential, method: str, path: str, verb: str, where: str, body: Obj | None) -> Obj:
        """One request to the remote API server; its failures as RemoteErrors: cannot <verb> <where>: ..."""

        def unusable(why: str) -> RemoteError:
            return RemoteError(
                "InvalidClusterCredential",
                f'the cluster credential Secret "{credential.secret}" is unusable: {why}; '
                "re-run `kubemcsa bootstrap` for it",
            )

        cluster, user = current_cluster_and_user(credential.config)
        headers = {"Accept": "application/json", "User-Agent": "multicluster-service-account-hooks"}
        token = user.get("token")
        if token:
            if not BEARER_TOKEN.fullmatch(token):
                raise unusable("its token has characters an HTTP header cannot carry")
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            server = _checked_server(credential.endpoint.server)
            server_name = _checked_server_name(cluster.get("tls-server-name"))
            context = ssl_context(credential)
        except ValueError as err:  # our own messages only
            raise unusable(str(err)) from None
        unreachable = (
            f"cannot {verb} {where}: {credential.endpoint.server} is unreachable ({{}}); "
            "check that the cluster is up and that the credential's server URL and CA are right"
        )
        if (failure := self._quiet.failure(server)) is not None:
            raise RemoteError("RemoteUnreachable", unreachable.format(failure))
        try:
            dial, name = pinned(server)
        except BlockedServer as err:
            raise unusable(str(err)) from None
        # Dialled at the checked address, the server is still verified by its name (or tls-server-name).
        manager = pool_manager(server, context, server_name or name, self._timeout)
        if name is not None:
            headers["Host"] = urlsplit(server).netloc
        deadline = time.monotonic() + self._timeout
        try:
            response = manager.urlopen(
                method,
                dial.rstrip("/") + path,
                body=json.dumps(body) if body is not None else None,
                headers=headers,
                preload_content=False,
                redirect=False,
            )
            try:
                data = _read(response, deadline)
            except BaseException:
                response.close()  # and its connection: the rest of the body is never read
                raise
            response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as err:
            if _timed_out(err):
                self._quiet.timed_out(server, type(err).__name__)
            raise RemoteError("RemoteUnreachable", unreachable.format(type(err).__name__)) from None
        except ValueError:  # e.g. a tls-server-name that is no host name; the text could quote the token
            raise unusable("its server URL or tls-server-name cannot be used for a request") from None
        finally:
            manager.clear()
        self._quiet.answered(server)
        if len(data) > MAX_RESPONSE_BYTES:
            raise RemoteError("RemoteError", f"cannot {verb} {where}: the response is larger than 1 MiB")
        parsed = _json_object(data)
        if not 200 <= response.status < 300:
            status = response.status
            message = parsed.get("message") if isinstance(parsed.get("message"), str) else response.reason
            text = str(message or "")[:MAX_ERROR_TEXT]
            hint = HINTS.get(status, "see the remote API server's message")
            raise RemoteError(
                REASONS.get(status, "RemoteError"), f"cannot {verb} {where}: {status} {text}; {hint}", status
            )
        return parsed

    def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
        where = _where(spec)
        # No audiences: the remote API server's own (its service-account issuer's).
        token_spec: dict[str, Any] = {"audiences": list(spec.audiences)}
        if spec.expiration_seconds is not None:
            token_spec["expirationSeconds"] = spec.expiration_seconds
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": token_spec}
        requested_at = self._clock()
        path = f"{_service_account_path(spec)}/token"
        response = self._call(credential, "POST", path, "create token for", where, body)
        status = response.get("status")
        token = status.get("token") if isinstance(status, dict) else None
        expires: datetime | None = parse_time(status.get("expirationTimestamp")) if isinstance(status, dict) else None
        if not isinstance(token, str) or not token or expires is None:
            raise RemoteError("RemoteError", f"cannot create token for {where}: the response has no token")
        return issued(token, expires, requested_at)

    def service_account_annotations(self, credential: Credential, spec: TokenSpec) -> dict[str, str]:
        account = self._call(credential, "GET", _service_account_path(spec), "get", _where(spec), None)
        metadata = account.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if not isinstance(annotations, dict):
            return {}
        return {str(k): str(v) for k, v in annotations.items()}


def _timed_out(err: BaseException) -> bool:
    """Whether a failed call waited out the timeout (a server that hangs), not a quick refusal."""
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        err = err.reason
    return isinstance(err, urllib3.exceptions.TimeoutError | TimeoutError)


def _read(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """The body, at most MAX_RESPONSE_BYTES + 1 bytes of it, or TimeoutError past the deadline (the
    read timeout bounds each wait for data, not a server that sends a byte at a time)."""
    chunks, size = [], 0
    while chunk := response.read1(64 * 1024):  # what has arrived, not a full 64 KiB
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError
    return b"".join(chunks)


def _json_object(data: bytes) -> Obj:
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _service_account_path(spec: TokenSpec) -> str:
    return f"/api/v1/namespaces/{quote(spec.namespace, safe='')}/serviceaccounts/{quote(spec.name, safe='')}"


def _where(spec: TokenSpec) -> str:
    return f'service account "{spec.name}" in namespace "{spec.namespace}" of cluster "{spec.cluster}"'
