"""A real Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager.

Modelled on Metacontroller's integration framework and controller-runtime's envtest: real processes,
real TLS (certificates generated here), client-certificate admin in system:masters, RBAC,
service-account signing keys so that the TokenRequest API works.

Two shapes. On loopback (`address="127.0.0.1"`, the kubelet-less bed): no kubelet or scheduler, pods
are stored, never run. With a node (`address` = the node's address inside the test bed's network
namespace, see isolated.py and node.py): the API server serves on that address too, advertises it
behind the `kubernetes` Service, reaches kubelets by their InternalIP, and kube-controller-manager
runs the controllers that workloads need.
"""

import base64
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hooks.pki import KeyPair, issue, new_ca, private_key_pem, write_private

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "tools" / "build.sh"
VERSIONS = REPO / "tests" / "tools" / "versions.env"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
CONTROLLERS = (
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "clusterrole-aggregation-controller",
    "root-ca-certificate-publisher-controller",
)
#: What a cluster with a node needs besides: workloads, Services, disruption budgets, node health.
NODE_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "disruption-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
)
LOOPBACK = "127.0.0.1"
#: The API servers' audit policy: who listed pods, with which credential (user.extra holds a service account
#: token's ID, "JTI=..."): the tests tell from it which token each client presented, never seeing a token.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [list]
    resources: [{group: "", resources: [pods]}]
  - level: None
"""
LOG_TAIL_LINES = 40


class ControlPlaneError(RuntimeError):
    pass


def binaries_dir() -> Path:
    """The directory of the three binaries: KUBEBUILDER_ASSETS if it holds them, else built and cached."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and all(os.access(Path(assets) / b, os.X_OK) for b in BINARIES):
        return Path(assets)
    result = subprocess.run([str(BUILD_SCRIPT)], check=False, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}; see its output above")
    return Path(result.stdout.strip().splitlines()[-1])


def pinned_versions() -> dict[str, str]:
    """tests/tools/versions.env: KEY=VALUE lines."""
    lines = (line.strip() for line in VERSIONS.read_text().splitlines())
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value.strip('"') for key, value in pairs}


#: Another Kubernetes version of the matrix for the control plane (build.sh reads it too); unset: KUBE_VERSION.
ENV_KUBE_VERSION = "MCSA_KUBE_VERSION"


def kube_version() -> str:
    """The version of the control plane the bed starts: MCSA_KUBE_VERSION, or the pinned KUBE_VERSION."""
    return os.environ.get(ENV_KUBE_VERSION) or pinned_versions()["KUBE_VERSION"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    #: The environment (default: this process's).
    env: dict[str, str] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            # A session of its own: stopping the test bed never signals the caller, and vice versa.
            self.popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
            )

    def check(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ControlPlaneError(
                f"{self.name} exited with code {self.popen.returncode}; last lines of {self.log}:\n{tail(self.log)}"
            )

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def wait_for(
    ready: Callable[[], bool], who: str, what: str, timeout: float, processes: list[Process], watched: int = 0
) -> None:
    """Until ready(), failing at once if one of processes exits, or after timeout with the last lines of
    the logs of the first `watched` of them (default: all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            process.check()
        if ready():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.log}:\n{tail(p.log)}" for p in processes[: watched or len(processes)])
    raise ControlPlaneError(f"{who}: timed out after {timeout}s waiting for {what}\n{logs}")


@dataclass
class ControlPlane:
    """One cluster. `start()` returns when /readyz is ok and the default service account exists."""

    name: str
    directory: Path
    bin_dir: Path
    #: Where clients and pods reach the API server: loopback, or the node's address.
    address: str = LOOPBACK
    service_cidr: str = "10.0.0.0/24"
    port: int = field(default_factory=free_port)
    etcd_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def with_node(self) -> bool:
        return self.address != LOOPBACK

    @property
    def kubernetes_service_ip(self) -> str:
        """The `kubernetes` Service's ClusterIP: the first address of the Service range."""
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    @property
    def ca_pem(self) -> bytes:
        return (self.pki / "ca.crt").read_bytes()

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines): every `list pods`, at the Metadata level."""
        return self.directory / "audit.log"

    # -- certificates -------------------------------------------------------------------------------

    def _write_pki(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        ca = new_ca(f"{self.name}-ca")
        hosts = ("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
        if self.with_node:
            hosts += (self.address, self.kubernetes_service_ip)
        serving = issue(ca, "kube-apiserver", hosts=hosts)
        admin = issue(ca, "kubernetes-admin", organizations=("system:masters",), client=True)
        # The API server's identity towards kubelets (logs, exec).
        kubelet_client = issue(ca, "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True)
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pairs = (("ca", ca), ("apiserver", serving), ("admin", admin), ("apiserver-kubelet-client", kubelet_client))
        for name, pair in pairs:
            (self.pki / f"{name}.crt").write_bytes(pair.cert_pem)
            write_private(self.pki / f"{name}.key", pair.key_pem)
        write_private(self.pki / "sa.key", private_key_pem(sa_key))
        (self.pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        write_private(self.admin_kubeconfig, yaml.safe_dump(self.kubeconfig(admin, context=self.name)).encode())

    def kubeconfig(self, user: KeyPair, context: str) -> dict[str, object]:
        """A kubeconfig for this cluster, with cluster, user and context named context, data embedded."""

        b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": context, "cluster": {"server": self.server, "certificate-authority-data": b64(self.ca_pem)}}
            ],
            "users": [
                {
                    "name": f"admin@{context}",
                    "user": {"client-certificate-data": b64(user.cert_pem), "client-key-data": b64(user.key_pem)},
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": f"admin@{context}"}}],
            "current-context": context,
        }

    def pair(self, name: str) -> KeyPair:
        """A certificate and key of pki/ (ca, admin, ...)."""
        cert = x509.load_pem_x509_certificate((self.pki / f"{name}.crt").read_bytes())
        key = serialization.load_pem_private_key((self.pki / f"{name}.key").read_bytes(), password=None)
        return KeyPair(cert, key)  # type: ignore[arg-type]

    def admin_pair(self) -> KeyPair:
        return self.pair("admin")

    # -- processes ----------------------------------------------------------------------------------

    def _commands(self) -> dict[str, list[str]]:
        b, d, p = self.bin_dir, self.directory, self.pki
        peer = free_port()
        return {
            "etcd": [
                str(b / "etcd"),
                f"--name={self.name}",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster={self.name}=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            "kube-apiserver": [
                str(b / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                *self._address_flags(),
                f"--secure-port={self.port}",
                f"--cert-dir={p}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                f"--service-cluster-ip-range={self.service_cidr}",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                f"--audit-policy-file={d / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
            ],
            "kube-controller-manager": [
                str(b / "kube-controller-manager"),
                f"--kubeconfig={self.admin_kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--controllers={','.join(CONTROLLERS + (NODE_CONTROLLERS if self.with_node else ()))}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                "--concurrent-gc-syncs=5",
            ],
        }

    def _address_flags(self) -> list[str]:
        if not self.with_node:
            # No Service network: nothing would serve the `kubernetes` Service's endpoints.
            return ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]
        p = self.pki
        return [
            # Every address of the bed's own network namespace: loopback, the node's, the pods' gateway.
            "--bind-address=0.0.0.0",
            f"--advertise-address={self.address}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={p / 'ca.crt'}",
            "--enable-admission-plugins=NodeRestriction",
        ]

    def start(self, timeout: float = 120) -> "ControlPlane":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        (self.directory / "audit-policy.yaml").write_text(AUDIT_POLICY)
        commands = self._commands()
        try:
            self._start("etcd", commands["etcd"])
            self._wait(lambda: self._http_ok(f"http://127.0.0.1:{self.etcd_port}/health"), "etcd /health", timeout)
            self._start("kube-apiserver", commands["kube-apiserver"])
            self._wait(lambda: self._https_ok("/readyz"), "kube-apiserver /readyz", timeout)
            self._start("kube-controller-manager", commands["kube-controller-manager"])
            self._wait(
                lambda: self._https_ok("/api/v1/namespaces/default/serviceaccounts/default"),
                "the default service account (made by kube-controller-manager)",
                timeout,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, name: str, args: list[str]) -> None:
        process = Process(name, args, self.directory / f"{name}.log")
        self.processes[name] = process
        process.start()

    def restart(self, name: str, timeout: float = 120) -> None:
        """Start a stopped process again (for fault tests) and wait until the API server is ready."""
        process = self.processes[name]
        process.start()
        self._wait(lambda: self._https_ok("/readyz"), f"{name} restarted", timeout)

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        wait_for(ready, f"cluster {self.name}", what, timeout, list(self.processes.values()))

    def _http_ok(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL built here)
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def _https_ok(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.server + path, timeout=2, context=self.ssl_context()) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes[name].stop()

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.processes.values() if p.popen is not None]


def start_clusters(
    directory: Path, names: tuple[str, ...] = ("cluster1", "cluster2"), address: str = LOOPBACK
) -> list[ControlPlane]:
    """Start one control plane per name under directory (wiped first) and write directory/kubeconfig.

    The kubeconfig has one context per cluster, named after it, whose cluster is named after it too.
    Each cluster gets a Service range of its own (10.0.<i>.0/24).
    """
    if directory.exists():
        shutil.rmtree(directory)
    bin_dir = binaries_dir()
    planes: list[ControlPlane] = []
    try:
        for i, name in enumerate(names):
            plane = ControlPlane(name, directory / name, bin_dir, address=address, service_cidr=f"10.0.{i}.0/24")
            planes.append(plane.start())
    except BaseException:
        for plane in planes:
            plane.stop()
        raise
    write_kubeconfig(directory / "kubeconfig", planes)
    return planes


def write_kubeconfig(path: Path, planes: list[ControlPlane]) -> None:
    merged: dict[str, list[object]] = {"clusters": [], "users": [], "contexts": []}
    for plane in planes:
        config = plane.kubeconfig(plane.admin_pair(), context=plane.name)
        for key in merged:
            merged[key].extend(config[key])  # type: ignore[arg-type]
    document = {"apiVersion": "v1", "kind": "Config", **merged, "current-context": planes[0].name}
    write_private(path, yaml.safe_dump(document).encode())
