"""The real client libraries of the client test, and what cluster2 saw of them.

tests/tools/build-clients.sh builds or installs each library as its users do (pinned, from the package
registries), outside the bed's network namespace, and names each client's command in a JSON file that
`python -m tests.testbed.isolated --with-clients` hands the tests in MCSA_CLIENTS. Every client program
(tests/clients/) loads a kubeconfig once, then lists pods with the label selector mcsa-client=<its label>
every few seconds, printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call. Which token
each call presented comes from cluster2's audit log (the token's ID, never the token).
"""

import base64
import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kubernetes import client as k8s

from hooks import contract, names
from hooks.token import jwt_claims

from .cluster import REPO
from .isolated import ENV_CLIENTS
from .secret_volume import kubelet_write

LABEL_KEY = "mcsa-client"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
PLUGIN_SOURCE = REPO / "credential-plugin"
#: Which of an import's kubeconfigs each client reads: the README's table says the same (a unit test checks).
CLIENT_KUBECONFIGS = {
    "client-go": contract.CONFIG_KEY,
    "python": contract.EXEC_CONFIG_KEY,
    "python-aio": contract.EXEC_CONFIG_KEY,
    "client-node": contract.EXEC_CONFIG_KEY,
    "kube-rs": contract.EXEC_CONFIG_KEY,
    "java-official": contract.EXEC_CONFIG_KEY,
    "fabric8": contract.CONFIG_KEY,
}


def client_commands() -> dict[str, list[str]]:
    """Each client's command (argv prefix), as build-clients.sh wrote them; empty outside `make test`."""
    path = os.environ.get(ENV_CLIENTS)
    return json.loads(Path(path).read_text()) if path else {}


def build_plugin(directory: Path) -> Path:
    """The credential plugin, built from credential-plugin/ for this machine (static, as in its image)."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "mcsa-credential"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    subprocess.run(
        ["go", "build", "-trimpath", "-o", str(binary), "."], cwd=PLUGIN_SOURCE, env=env, check=True, timeout=300
    )
    return binary


@dataclass
class ClientRun:
    """One client process; its output lines in a log file."""

    name: str
    label: str
    log: Path
    process: subprocess.Popen[bytes]

    def lines(self) -> list[list[str]]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line.split(maxsplit=2) for line in text.splitlines() if line.strip()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_client(
    name: str, command: list[str], kubeconfig: str, namespace: str, interval: float, directory: Path
) -> ClientRun:
    """Start client name (label name too) on kubeconfig, its output in directory/<name>.log."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{name}.log"
    args = ["--kubeconfig", kubeconfig, "--namespace", namespace, "--label", name, "--interval", str(interval)]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, *args], stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    return ClientRun(name, name, log, process)


@dataclass(frozen=True)
class Call:
    """A list-pods call as cluster2's audit log recorded it."""

    at: float
    jti: str
    code: int


def audited_calls(audit_log: Path, namespace: str) -> dict[str, list[Call]]:
    """The calls listing pods of namespace, by the value of their mcsa-client label selector, in order."""
    calls: dict[str, list[Call]] = {}
    # Whole lines only: the API server may be writing the last one.
    for line in audit_log.read_text().split("\n")[:-1]:
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if event.get("stage") != "ResponseComplete" or ref.get("namespace") != namespace:
            continue
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(event["requestURI"]).query)
        selector = (query.get("labelSelector") or [""])[0]
        key, _, label = selector.partition("=")
        if key != LABEL_KEY:
            continue
        ids = ((event.get("user") or {}).get("extra") or {}).get(CREDENTIAL_ID) or [""]
        at = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        code = int((event.get("responseStatus") or {}).get("code", 0))
        calls.setdefault(label, []).append(Call(at, ids[0].removeprefix("JTI="), code))
    return calls


@dataclass(frozen=True)
class Token:
    """What the tests know of an issued token: its ID and times (from its claims), never the token."""

    jti: str
    issued_at: float
    expires_at: float


def token_of(secret: k8s.V1Secret) -> tuple[str, Token]:
    token = base64.b64decode((secret.data or {})[contract.TOKEN_KEY]).decode()
    claims = jwt_claims(token) or {}
    return token, Token(str(claims["jti"]), float(claims["iat"]), float(claims["exp"]))  # type: ignore[arg-type]


@dataclass
class SecretMirror:
    """The import's Secret kept in directory as the kubelet keeps a mounted Secret volume: read every half
    second, written with the atomic `..data` swap whenever it changes. Every token seen is recorded."""

    api: k8s.ApiClient
    namespace: str
    import_name: str
    directory: Path
    tokens: dict[str, Token] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "SecretMirror":
        self._copy()
        self._thread = threading.Thread(target=self._run, name="secret-mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _copy(self, version: str | None = None) -> str:
        core = k8s.CoreV1Api(self.api)
        secret = core.read_namespaced_secret(names.secret_name(self.import_name), self.namespace)
        if secret.metadata.resource_version != version:
            token, known = token_of(secret)
            self.secrets.append(token)
            self.tokens.setdefault(known.jti, known)
            kubelet_write(self.directory, {k: base64.b64decode(v) for k, v in (secret.data or {}).items()})
        return str(secret.metadata.resource_version)

    def _run(self) -> None:
        version = None
        while not self._stop.wait(0.5):
            try:
                version = self._copy(version)
            except Exception as err:
                self.errors.append(f"{type(err).__name__}: {str(err)[:200]}")


def install_plugin(binary: Path) -> None:
    """The plugin where the webhook's init container puts it in pods."""
    target = Path(contract.CREDENTIAL_PLUGIN)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, target)
    target.chmod(0o555)
