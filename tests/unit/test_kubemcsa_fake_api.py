"""A fake Kubernetes API on loopback for kubemcsa's fuzz test, which breaks its answers as a plan says, and kubemcsa
run in this process with its output caught. The test here checks the fake itself: every command succeeds against
it, so that the fuzz test's failures come from the faults it plans, not from a fake too poor to get far."""

import base64
import contextlib
import copy
import io
import json
import random
import shlex
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import cli, importer
from bootstrap.credential import credential_secret
from hooks import contract, pki
from hooks.kubeconfig import ClusterEndpoint

#: Secrets that kubemcsa must never print: the kubeconfig's token, and what only broken answers hold.
USER_TOKEN = "kubeconfig-t0ken-FUZZ-d2b1e9"
HIDDEN_PEM = "-----BEGIN PRIVATE KEY-----\nU0VSVkVSLVNFQ1JFVC1GVVpa\n-----END PRIVATE KEY-----\n"
#: The token the fake API issues: printing it is the job of `kubemcsa token` and `kubemcsa export` (stdout).
SERVER_TOKEN = "server-t0ken-FUZZ-77c3a0"
NS = contract.CREDENTIALS_NAMESPACE
#: The Authorization headers the fake API takes: the kubeconfig's token (or password) and the token it issued.
ACCEPTED = (
    f"Bearer {USER_TOKEN}",
    f"Bearer {SERVER_TOKEN}",
    "Basic " + base64.b64encode(f"admin:{USER_TOKEN}".encode()).decode(),
)
#: Seconds a "slow" answer takes: more than the read timeout the tests give kubemcsa.
SLOW_SECONDS = 2.0
READ_TIMEOUT = 1.0
PLURALS = frozenset({
    "namespaces", "secrets", "serviceaccounts", "clusterroles", "clusterrolebindings", "rolebindings",
    "validatingadmissionpolicies", "validatingadmissionpolicybindings", contract.PLURAL,
})  # fmt: skip


@dataclass(frozen=True)
class Pki:
    ca: pki.KeyPair
    other_ca: pki.KeyPair
    client: pki.KeyPair
    other_client: pki.KeyPair
    files: Path

    @property
    def ca_data(self) -> str:
        return base64.b64encode(self.ca.cert_pem).decode()


def make_pki(files: Path) -> Pki:
    ca, other_ca = pki.new_ca("fuzz-ca"), pki.new_ca("fuzz-other-ca")
    made = Pki(ca, other_ca, pki.issue(ca, "admin", client=True), pki.issue(other_ca, "other", client=True), files)
    for name, pair in (("serving", pki.issue(ca, "127.0.0.1", hosts=("127.0.0.1",))),
                       ("other-serving", pki.issue(other_ca, "127.0.0.1", hosts=("127.0.0.1",)))):  # fmt: skip
        (files / f"{name}.crt").write_bytes(pair.cert_pem)
        (files / f"{name}.key").write_bytes(pair.key_pem)
    (files / "ca.crt").write_bytes(ca.cert_pem)
    return made


def appears(secret: str, text: str) -> bool:
    """Whether secret is in text as it is, or base64-encoded (on its own, as in a Secret's data)."""
    return secret in text or base64.b64encode(secret.encode()).decode().rstrip("=")[:-2] in text


def secrets_of(keys: Pki) -> dict[str, str]:
    """What must never be printed, by name; the CA (public) only by export."""
    key_pem = keys.client.key_pem.decode()
    return {
        "the kubeconfig's token": USER_TOKEN,
        "the hidden PEM": HIDDEN_PEM.splitlines()[1],
        "the client key (PEM)": key_pem.splitlines()[1][:40],
        "the client key (base64)": base64.b64encode(keys.client.key_pem).decode()[:40],
    }


# -- the fake API -------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Which answers break: the one numbered at (counting from 0 across both servers), or all from it (persistent),
    with fault; None: none."""

    fault: str | None = None
    at: int = 0
    persistent: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    #: Whether the source cluster has ValidatingAdmissionPolicy (Kubernetes 1.30+).
    admission_policy: bool = True


def _now(offset: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str) -> dict[str, Any]:
    """A Status, with a secret where no client should read it (kubemcsa quotes only its message)."""
    return {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": f"the fake API says {reason}",
        "reason": reason, "code": code, "details": {"causes": [{"field": SERVER_TOKEN, "message": HIDDEN_PEM}]},
    }  # fmt: skip


class FakeApi:
    """The API of two clusters (target and source), each a server on its own loopback port over TLS, plus one
    with a certificate from another CA and a plain-HTTP one; they share a plan and a count of requests."""

    def __init__(self, keys: Pki) -> None:
        self.keys = keys
        self.plan = Plan()
        self.count = 0
        self.lock = threading.Lock()
        self.stores: dict[int, dict[str, dict[str, Any]]] = {}
        self.servers: list[ThreadingHTTPServer] = []
        self.threads: list[threading.Thread] = []
        self.target = self._serve("serving")
        self.source = self._serve("serving")
        #: Two of each, for the two clusters (a cluster paired with itself is refused first).
        self.other_ca = (self._serve("other-serving"), self._serve("other-serving"))
        self.plain = (self._serve(None), self._serve(None))

    def _serve(self, cert: str | None) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        if cert is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(self.keys.files / f"{cert}.crt", self.keys.files / f"{cert}.key")
            server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.servers.append(server)
        self.threads.append(thread)
        return f"{'https' if cert else 'http'}://127.0.0.1:{server.server_address[1]}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def reset(self, plan: Plan) -> None:
        """A new plan, and the clusters as a first bootstrap left them: the target's credential for the source
        and an import that uses it; the source's token Secret for the target."""
        with self.lock:
            self.plan, self.count = plan, 0
            target, source = self._port(self.target), self._port(self.source)
            credential = credential_secret("c2", ClusterEndpoint(self.source, self.keys.ca.cert_pem), SERVER_TOKEN)
            credential["metadata"].update(uid="u-cred", resourceVersion="1", creationTimestamp=_now(-60))
            sai = {
                "apiVersion": contract.API_VERSION, "kind": contract.KIND,
                "metadata": {"name": "pod-lister", "namespace": "default", "uid": "u-sai"},
                "spec": {"clusterName": "c2", "namespace": "default", "name": "pod-lister"},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "TokenIssued"}]},
            }  # fmt: skip
            token_secret = importer.token_secret("c1")
            token_secret["metadata"].update(
                name="c1-token-first", uid="u-tok", resourceVersion="1", creationTimestamp=_now(-60)
            )
            token_secret["data"] = {"token": base64.b64encode(SERVER_TOKEN.encode()).decode()}
            self.stores = {
                target: {
                    f"/api/v1/namespaces/{NS}/secrets/cluster-c2": credential,
                    f"/apis/{contract.API_VERSION}/namespaces/default/{contract.PLURAL}/pod-lister": sai,
                },
                source: {f"/api/v1/namespaces/{NS}/secrets/c1-token-first": token_secret},
            }

    @staticmethod
    def _port(url: str) -> int:
        return int(url.rsplit(":", 1)[1])

    def ticket(self) -> tuple[int, str | None]:
        """The number of this request, and the fault it gets."""
        with self.lock:
            index, self.count = self.count, self.count + 1
            plan = self.plan
        hit = plan.fault is not None and (index == plan.at or (plan.persistent and index > plan.at))
        return index, plan.fault if hit else None

    def answer(self, port: int, method: str, path: str, body: Any) -> tuple[int, Any]:
        """What a Kubernetes API server would answer (enough of it for kubemcsa)."""
        with self.lock:
            store = self.stores.setdefault(port, {})
            return _answer(store, self.plan, method, path, body, self.count)


def _answer(store: dict[str, Any], plan: Plan, method: str, path: str, body: Any, serial: int) -> tuple[int, Any]:
    parts = path.strip("/").split("/")
    if method == "GET" and path == "/apis/admissionregistration.k8s.io/v1":
        names = ["validatingadmissionpolicies", "validatingadmissionpolicybindings"] if plan.admission_policy else []
        resources = [{"name": n, "singularName": "", "namespaced": False, "kind": "X", "verbs": ["get"]} for n in names]
        group = "admissionregistration.k8s.io/v1"
        return 200, {"kind": "APIResourceList", "groupVersion": group, "resources": resources}
    if method == "POST" and parts[-1] == "token" and parts[-3] == "serviceaccounts":
        seconds = ((body or {}).get("spec") or {}).get("expirationSeconds") or 3600
        return 201, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": body.get("spec") or {},
            "status": {"token": SERVER_TOKEN, "expirationTimestamp": _now(seconds)},
        }  # fmt: skip
    if method == "POST" and parts[-1] == "selfsubjectreviews":
        user = {"username": "system:serviceaccount:multicluster-service-account:c1"}
        return 201, {**body, "status": {"userInfo": user}}
    if method == "POST" and parts[-1] == "selfsubjectaccessreviews":
        resource = body["spec"]["resourceAttributes"]["resource"]
        return 201, {**body, "status": {"allowed": resource != "secrets"}}
    if parts[-1] in PLURALS and method == "GET":
        root = path.rsplit("/", 1)[0]
        items = [
            o for key, o in store.items()
            if (key.rsplit("/", 1)[0] == path)
            or (key.startswith(root + "/namespaces/") and key.split("/")[-2] == parts[-1])
        ]  # fmt: skip
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": items}
    if parts[-1] in PLURALS and method == "POST":
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("name", f"{meta.get('generateName', 'x-')}{serial:05d}")
        meta.update(uid=f"uid-{serial}", resourceVersion=str(serial), creationTimestamp=_now())
        if obj.get("type") == importer.TOKEN_SECRET_TYPE:
            obj["data"] = {"token": base64.b64encode(SERVER_TOKEN.encode()).decode()}
        key = f"{path}/{meta['name']}"
        if key in store:
            return 409, status(409, "AlreadyExists")
        store[key] = obj
        return 201, obj
    if method == "GET":
        return (200, store[path]) if path in store else (404, status(404, "NotFound"))
    if method == "PUT":
        if path not in store:
            return 404, status(404, "NotFound")
        obj = copy.deepcopy(body)
        obj["metadata"] = {**store[path]["metadata"], **obj.get("metadata", {}), "resourceVersion": str(serial)}
        store[path] = obj
        return 200, obj
    if method == "DELETE":
        if store.pop(path, None) is None:
            return 404, status(404, "NotFound")
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
    return 405, status(405, "MethodNotAllowed")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: fewer TLS handshakes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms for each answer
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()
            super().handle()
        except (OSError, ssl.SSLError):  # a client that gave up (timeout) or does not trust us (other CA)
            pass

    def _any(self) -> None:
        fake: FakeApi = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0].rstrip("/")
        index, fault = fake.ticket()
        if self.headers.get("Authorization", ACCEPTED[0]) not in ACCEPTED:  # no header: the client certificate's user
            self.send(401, json.dumps(status(401, "Unauthorized")).encode())
            return
        code, obj = fake.answer(self.server.server_address[1], self.command, path, body)
        if fault is None:
            self.send(code, json.dumps(obj).encode())
        else:
            FAULTS[fault](self, code, obj, random.Random(f"{index}-{fault}"))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    def send(self, code: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)


# -- faults: each answers a request in its own broken way (handler, right status, right object, rng) --------------

Fault = Callable[[Handler, int, Any, random.Random], None]


def _status_fault(code: int, **headers: str) -> Fault:
    def fault(h: Handler, _code: int, _obj: Any, _rng: random.Random) -> None:
        h.send(code, json.dumps(status(code, f"Fault{code}")).encode(), **headers)

    return fault


def _close(h: Handler, *_: Any) -> None:
    h.close_connection = True


def _slow(h: Handler, *_: Any) -> None:
    time.sleep(SLOW_SECONDS)
    h.close_connection = True


def _truncated(h: Handler, code: int, obj: Any, _rng: random.Random) -> None:
    body = json.dumps(obj).encode()
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body) + 100))
    h.end_headers()
    h.wfile.write(body[: len(body) // 2])
    h.close_connection = True


def _raw(data: bytes) -> Fault:
    def fault(h: Handler, *_: Any) -> None:
        h.wfile.write(data)
        h.close_connection = True

    return fault


def _body(data: bytes, content_type: str = "application/json", code: int = 200) -> Fault:
    def fault(h: Handler, *_: Any) -> None:
        h.send(code, data, content_type)

    return fault


def _mutated(h: Handler, code: int, obj: Any, rng: random.Random) -> None:
    """The right answer with one thing wrong in its structure."""
    h.send(code if code < 300 else 200, json.dumps(mutate(obj, rng, SERVER_TOKEN), default=str).encode())


def _data_not_utf8(h: Handler, code: int, obj: Any, _rng: random.Random) -> None:
    """The right answer, but each Secret's data base64 of bytes that are not UTF-8."""

    def spoil(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: {d: "//79" for d in v} if k == "data" and isinstance(v, dict) else spoil(v) for k, v in value.items()
            }
        return [spoil(v) for v in value] if isinstance(value, list) else value

    h.send(code, json.dumps(spoil(obj)).encode())


FAULTS: dict[str, Fault] = {
    "401": _status_fault(401),
    "403": _status_fault(403),
    "404": _status_fault(404),
    "409": _status_fault(409),
    "500": _status_fault(500),
    "503-retry-after": _status_fault(503, Retry_After="1"),
    "429-retry-after": _status_fault(429, Retry_After="1"),
    "500-not-json": _body(f"<html>{HIDDEN_PEM}</html>".encode(), "text/html", 500),
    "200-not-json": _body(HIDDEN_PEM.encode()),
    "200-text-plain": _body(HIDDEN_PEM.encode(), "text/plain"),
    "200-octet-stream": _body(HIDDEN_PEM.encode(), "application/octet-stream"),
    "200-empty": _body(b""),
    "200-null": _body(b"null"),
    "200-list": _body(json.dumps([SERVER_TOKEN]).encode()),
    "200-number": _body(b"5"),
    "200-not-utf8": _body(b'{"items": "\xff\xfe' + SERVER_TOKEN.encode() + b'"}'),
    "200-bad-charset": _body(b"{}", "application/json; charset=fuzz-no-such-charset"),
    "200-huge": _body(json.dumps({"items": [], "pad": "x" * 3_000_000}).encode()),
    "200-mutated": _mutated,
    "200-data-not-utf8": _data_not_utf8,
    "302-redirect": _body(b"", "text/plain", 302),
    "truncated": _truncated,
    "closed": _close,
    "slow": _slow,
    "not-http": _raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
    "bad-status-line": _raw(b"HTTP/1.1 ninety-nine OK\r\n\r\n"),
}


# -- structural mutations: wrong types, missing keys, huge values, control characters -----------------------------

JUNK: tuple[Any, ...] = (5, -1, 3.5, True, None, [], {}, "", "junk", ["junk"], {"junk": "junk"}, "2026-13-45T99:99:99Z")


def node_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into tree (keys of mappings, indices of lists), the root's () first."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += node_paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += node_paths(value, (*prefix, index))
    return found


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def mutate(tree: Any, rng: random.Random, secret: str, kind: str | None = None) -> Any:
    """A copy of tree with one structural fault: a value of a wrong type (maybe made of the secret, as a slip of
    indentation makes it), a key or item gone, a huge value, or control characters in a string."""
    tree = copy.deepcopy(tree)
    kind = kind or rng.choice(("wrong-type", "wrong-type", "drop", "huge", "control"))
    paths = node_paths(tree)
    if kind == "drop":
        paths = [p for p in paths if p]
    elif kind in ("huge", "control"):
        paths = [p for p in paths if isinstance(_get(tree, p), str)]
    if not paths:
        return JUNK[rng.randrange(len(JUNK))]
    path = paths[rng.randrange(len(paths))]
    value = _get(tree, path)
    if kind == "wrong-type":
        derived = [[value], {"value": value}] if isinstance(value, str) else []
        new = rng.choice([*JUNK, *derived, [secret], {"token": secret}])
    elif kind == "huge":
        new = value * (200_000 // max(len(value), 1)) or "x" * 200_000
    elif kind == "control":
        cut = rng.randrange(len(value) + 1)
        new = value[:cut] + rng.choice(("\n", "\r\n", "\x00", "\x1b[31m", "\t", "\u2028", "é")) + value[cut:]
    else:
        new = None
    if not path:
        return new
    parent = _get(tree, path[:-1])
    if kind == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return tree


# -- kubeconfigs --------------------------------------------------------------------------------------------------


def kubeconfig(api: FakeApi) -> dict[str, Any]:
    """Two clusters that work: c1 (the target) with a token user and its CA as data, c2 (the source) with a
    client-certificate user and its CA as a file."""
    keys = api.keys
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c1",
        "clusters": [
            {"name": "c1", "cluster": {"server": api.target, "certificate-authority-data": keys.ca_data}},
            {"name": "c2", "cluster": {"server": api.source, "certificate-authority": str(keys.files / "ca.crt")}},
        ],
        "contexts": [
            {"name": "c1", "context": {"cluster": "c1", "user": "u1"}},
            {"name": "c2", "context": {"cluster": "c2", "user": "u2", "namespace": "default"}},
        ],
        "users": [
            {"name": "u1", "user": {"token": USER_TOKEN}},
            {"name": "u2", "user": {
                "client-certificate-data": base64.b64encode(keys.client.cert_pem).decode(),
                "client-key-data": base64.b64encode(keys.client.key_pem).decode(),
            }},
        ],
    }  # fmt: skip


def plugin(script: str) -> dict[str, Any]:
    """An exec credential plugin: the shell running script (it starts in a few milliseconds)."""
    return {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": ["-c", script]}


def prints(obj: Any) -> str:
    """A shell script that prints obj as JSON."""
    return f"printf '%s\\n' {shlex.quote(json.dumps(obj))}"


def exec_credential(status: Any) -> dict[str, Any]:
    return {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}


# -- running kubemcsa in this process -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(argv: list[str]) -> Result:
    """kubemcsa with argv, in this process: its exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # usage errors
            code = exit_.code if isinstance(exit_.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def argvs(path: Path) -> dict[str, list[str]]:
    """Every command of kubemcsa, its way of each output, on the fake clusters."""
    k = ["--kubeconfig", str(path)]
    return {
        "bootstrap": ["bootstrap", "c1", "c2", *k],
        "bootstrap-expiring": ["bootstrap", "c1", "c2", *k, "--credential-expiration", "90d", "-n", "default"],
        "rotate": ["rotate", "c1", "c2", *k],
        "teardown": ["teardown", "c1", "c2", *k],
        "doctor": ["doctor", *k],
        "export": ["export", "pod-lister", "-n", "default", *k, "--context", "c2"],
        "export-kubeconfig": ["export", "pod-lister", *k, "-o", "kubeconfig"],
        "export-renew": ["export", "pod-lister", *k, "-o", "kubeconfig", "--renew", "--expiration", "1h"],
        "token": ["token", "pod-lister", *k, "--context", "c2"],
    }


#: The proxy variables the Kubernetes client follows: the fake API is dialled directly, on loopback.
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


@contextlib.contextmanager
def fake_api(files: Path) -> Iterator[FakeApi]:
    """The fake API, with no proxy between it and kubemcsa (in this process, and the programs it starts)."""
    api = FakeApi(make_pki(files))
    with pytest.MonkeyPatch.context() as patch:
        for variable in PROXY_VARIABLES:
            patch.delenv(variable, raising=False)
        try:
            yield api
        finally:
            api.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeApi]:
    with fake_api(tmp_path_factory.mktemp("fake-api")) as served:
        yield served


@pytest.mark.parametrize("command", list(argvs(Path("k"))))
def test_every_command_succeeds_against_the_fake_api(api: FakeApi, tmp_path: Path, command: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig(api)))
    api.reset(Plan())
    result = run(argvs(path)[command])
    assert (result.code, result.err.count("\n")) == (0, int(command.startswith("export"))), result
    assert api.count >= 1  # it called the API
    if command.startswith(("export", "token")) and command != "export-renew":
        assert appears(SERVER_TOKEN, result.out)
    for name, secret in secrets_of(api.keys).items():
        assert not appears(secret, result.out + result.err), name
