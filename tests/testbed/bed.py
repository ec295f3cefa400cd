"""Everything the walkthrough needs, running: two clusters, the install, the hooks and the credential.

Two shapes (see isolated.py):
- **with the real node** (inside the test bed's network namespace, as root): cluster1 has a node;
  `kubectl apply -k manifests/` installs the hooks as pods from the image built from the Dockerfile, the
  certificate Job runs in a pod, the API server calls the webhook through the Service and kube-proxy,
  and the Metacontroller test double calls the hooks through the same Service.
- **kubelet-less** (no root, and `make bench`): no pod ever runs. The certificate step runs from this
  process as its service account, the hooks run under gunicorn on loopback, and the webhook is pointed
  at that address (a `url` in place of its Service, which nothing would serve).
"""

import base64
import os
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client as k8s

from bootstrap.credential import credential_secret_name
from hooks import contract
from hooks.pki import KeyPair, issue, write_private

from .cluster import ControlPlane, ControlPlaneError, free_port, start_clusters
from .hooks_server import ServingFiles, gunicorn_hooks
from .isolated import ENV_IMAGES, ENV_NETNS, ENV_NETWORK_POLICIES, ENV_NODE_BIN, ENV_NODE_IP
from .metacontroller import DEFAULT_BURST, DEFAULT_QPS, DEFAULT_WORKERS, CompositeControllerDriver
from .node import Node
from .scenario import (
    CA_SECRET,
    HOOKS,
    WEBHOOK,
    api_client,
    certify,
    eventually,
    install,
    install_controller,
    kubectl,
    kubemcsa,
    point_webhook_at,
    serving_files_from_cluster,
)

HOOKS_NAME = f"{HOOKS}.{contract.CREDENTIALS_NAMESPACE}"
#: The name the API server verifies in the hooks' certificate when it calls the webhook's Service.
HOOKS_SERVICE_HOST = f"{HOOKS_NAME}.svc"
HOOKS_PORT = 8443
#: "1": the kubelet-less bed on purpose, even in CI (the version matrix's versions older than the node's kubelet).
ENV_KUBELET_LESS = "MCSA_KUBELET_LESS"


@dataclass(frozen=True)
class NodeEnvironment:
    """What `python -m tests.testbed.isolated` hands the bed."""

    netns: str
    node_ip: str
    bin_dir: Path
    images_dir: Path
    #: kube-network-policies (None: NetworkPolicy is not enforced).
    network_policies: Path | None = None

    @staticmethod
    def from_env() -> "NodeEnvironment | None":
        if not os.environ.get(ENV_NETNS):
            return None
        policies = os.environ.get(ENV_NETWORK_POLICIES)
        return NodeEnvironment(
            os.environ[ENV_NETNS],
            os.environ[ENV_NODE_IP],
            Path(os.environ[ENV_NODE_BIN]),
            Path(os.environ[ENV_IMAGES]),
            Path(policies) if policies else None,
        )

    def node(self, plane: ControlPlane, directory: Path) -> Node:
        """plane's node, with NetworkPolicy enforced when kube-network-policies is there."""
        return Node(plane, directory, self.bin_dir, self.images_dir, self.netns, self.network_policies)


@dataclass
class Hooks:
    """Where the hooks answer: the Service's ClusterIP (with the node), or gunicorn on loopback."""

    url: str
    server_hostname: str
    ca_pem: str = field(repr=False)
    #: gunicorn's master process (kubelet-less bed only).
    pid: int | None = None
    #: Its log file (kubelet-less bed only); with the node, the pods' logs.
    log_file: Path | None = None

    def _tls(self, address: str, port: int) -> ssl.SSLSocket:
        context = ssl.create_default_context(cadata=self.ca_pem)
        raw = socket.create_connection((address, port), timeout=5)
        return context.wrap_socket(raw, server_hostname=self.server_hostname)

    def served_certificate(self) -> bytes:
        """The certificate (DER) the hooks present on a new connection."""
        parts = urllib.parse.urlsplit(self.url)
        with self._tls(parts.hostname or "", parts.port or 443) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der

    def get(self, path: str, address: str | None = None, port: int | None = None) -> str:
        """GET path over verified TLS, from the Service (or from one pod, at address:port)."""
        status, body = self.request("GET", path, address=address, port=port)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    def request(
        self, method: str, path: str, body: bytes = b"", address: str | None = None, port: int | None = None
    ) -> tuple[int, str]:
        """method path over verified TLS (a JSON body, if any), at the Service's port or port: status and body."""
        parts = urllib.parse.urlsplit(self.url)
        with self._tls(address or parts.hostname or "", port or parts.port or 443) as tls:
            head = f"{method} {path} HTTP/1.1\r\nHost: {self.server_hostname}\r\nConnection: close\r\n"
            if body:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            tls.sendall(head.encode() + b"\r\n" + body)
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
        answer, _, text = b"".join(chunks).partition(b"\r\n\r\n")
        return int(answer.split()[1]), text.decode()


@dataclass
class Bed:
    directory: Path
    kubeconfig: Path
    cluster1: ControlPlane
    cluster2: ControlPlane
    api1: k8s.ApiClient
    api2: k8s.ApiClient
    #: The hooks' CA, serving certificate and key, as the certificate step made them (for hooks served
    #: by a test itself, with other settings).
    files: ServingFiles
    hooks: Hooks
    node: Node | None = None
    #: The certificate Job as it stood when the install was up, and its pods' log (with the node; the
    #: Job removes itself 5 minutes after it succeeds).
    certificate_job: k8s.V1Job | None = None
    certificate_log: str = ""
    #: Every token seen, to check that none reaches the hooks' log.
    tokens: set[str] = field(default_factory=set, repr=False)

    def driver(
        self,
        service_url: str | None = None,
        workers: int = DEFAULT_WORKERS,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
    ) -> CompositeControllerDriver:
        """Metacontroller's stand-in for cluster1, with the CompositeController as installed, calling the
        hooks through their Service (with the node), at gunicorn's address, or at service_url, with
        Metacontroller's --workers, --client-go-qps and --client-go-burst (its defaults unless given)."""
        controller = k8s.CustomObjectsApi(self.api1).get_cluster_custom_object(
            "metacontroller.k8s.io", "v1alpha1", "compositecontrollers", f"{contract.PLURAL}.{contract.GROUP}"
        )
        url = service_url or (None if self.node else self.hooks.url)
        return CompositeControllerDriver(controller, self.api1, url, workers=workers, qps=qps, burst=burst)

    def remember(self, secret: k8s.V1Secret) -> None:
        token = base64.b64decode((secret.data or {}).get(contract.TOKEN_KEY, "")).decode()
        if token:
            self.tokens.add(token)

    def importer_token(self, source: str) -> str:
        """The importer's token in cluster1's credential Secret for source."""
        secret = k8s.CoreV1Api(self.api1).read_namespaced_secret(
            credential_secret_name(source), contract.CREDENTIALS_NAMESPACE
        )
        config = yaml.safe_load(base64.b64decode(secret.data[contract.CREDENTIAL_CONFIG_KEY]))
        return str(config["users"][0]["user"]["token"])

    def certify(self, *args: str) -> str:
        """The certificate step run again from here, as its service account, for the names the
        installed one uses; its output."""
        hosts = () if self.node else ("--host", "127.0.0.1")
        return certify(self.kubeconfig, "cluster1", *hosts, *args).stdout

    def hooks_pods(self) -> list[k8s.V1Pod]:
        pods: list[k8s.V1Pod] = (
            k8s.CoreV1Api(self.api1)
            .list_namespaced_pod(contract.CREDENTIALS_NAMESPACE, label_selector=f"app.kubernetes.io/name={HOOKS}")
            .items
        )
        return pods

    def hooks_log(self) -> str:
        """What the hooks logged: gunicorn's file, or every hooks pod's log (and its previous one)."""
        if self.hooks.log_file is not None:
            return self.hooks.log_file.read_text()
        core, logs = k8s.CoreV1Api(self.api1), []
        for pod in self.hooks_pods():
            for previous in (False, True):
                try:
                    logs.append(
                        core.read_namespaced_pod_log(
                            pod.metadata.name, contract.CREDENTIALS_NAMESPACE, previous=previous
                        )
                    )
                except k8s.ApiException:
                    pass  # no previous container
        return "\n".join(logs)

    def hooks_get_each(self, path: str) -> list[str]:
        """path from every hooks replica: each Ready pod (with the node), or gunicorn."""
        if self.node is None:
            return [self.hooks.get(path)]
        ready = [
            pod.status.pod_ip
            for pod in self.hooks_pods()
            if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        ]
        return [self.hooks.get(path, address, HOOKS_PORT) for address in ready]

    @contextmanager
    def webhook_unreachable(self) -> Iterator[None]:
        """The API server cannot reach the webhook (a port nothing serves), then can again."""
        admission = k8s.AdmissionregistrationV1Api(self.api1)
        if self.node is None:
            point_webhook_at(self.api1, f"https://127.0.0.1:{free_port()}")
        else:
            admission.patch_mutating_webhook_configuration(
                WEBHOOK, [{"op": "replace", "path": "/webhooks/0/clientConfig/service/port", "value": 1}]
            )
        try:
            yield
        finally:
            if self.node is None:
                point_webhook_at(self.api1, self.hooks.url)
            else:
                admission.patch_mutating_webhook_configuration(
                    WEBHOOK, [{"op": "replace", "path": "/webhooks/0/clientConfig/service/port", "value": 443}]
                )

    def leaked_tokens(self) -> list[str]:
        """The first characters of every remembered token found in the hooks' log."""
        log = self.hooks_log()
        return [token[:12] for token in self.tokens if token in log]


CERTIFICATE_JOB = "multicluster-service-account-certificates"


def _wait_for_install(kubeconfig: Path, api: k8s.ApiClient, say: Callable[[str], None]) -> tuple[k8s.V1Job, str]:
    """The README's waits: the certificate Job completes, the hooks Deployment rolls out. The Job and
    its log, as they were then."""
    namespace = contract.CREDENTIALS_NAMESPACE
    for args in (
        ("wait", "--for=condition=complete", "--timeout=180s", f"job/{CERTIFICATE_JOB}"),
        ("rollout", "status", "--timeout=180s", f"deploy/{HOOKS}"),
    ):
        say(f"$ kubectl --context cluster1 -n {namespace} {' '.join(args)}")
        done = kubectl(kubeconfig, "--context", "cluster1", "-n", namespace, *args, check=False)
        if done.returncode != 0:
            state = kubectl(kubeconfig, "--context", "cluster1", "-n", namespace, "get", "pods,events", check=False)
            raise ControlPlaneError(f"the install did not come up: {done.stderr.strip()}\n{state.stdout}")
        say("\n".join("  " + line for line in done.stdout.splitlines()))
    job = k8s.BatchV1Api(api).read_namespaced_job(CERTIFICATE_JOB, namespace)
    log = kubectl(kubeconfig, "--context", "cluster1", "-n", namespace, "logs", f"job/{CERTIFICATE_JOB}").stdout
    return job, log


@contextmanager
def running_bed(
    directory: Path, say: Callable[[str], None] = lambda _: None, node: bool | None = None
) -> Iterator[Bed]:
    """cluster1 with the project installed and a credential for cluster2 (made by `kubemcsa bootstrap`).

    node: with the real node (default: when run inside the test bed's network namespace; in CI that is
    required, unless MCSA_KUBELET_LESS=1 asks for the kubelet-less bed, as the version matrix does for the
    versions older than the node's kubelet), or kubelet-less.
    """
    environment = NodeEnvironment.from_env()
    if node is None and os.environ.get(ENV_KUBELET_LESS) == "1":
        node = False
    if node is None:
        if environment is None and os.environ.get("CI") == "true":
            raise ControlPlaneError(
                "CI=true needs the real node: run the tests with `make test` (as root), which runs them in "
                "the test bed's network namespace (python -m tests.testbed.isolated)"
            )
        node = environment is not None
    if node and environment is None:
        raise ControlPlaneError("the real node runs only inside the test bed's network namespace (make test, as root)")
    address = environment.node_ip if node and environment else "127.0.0.1"
    planes = start_clusters(directory / "clusters", address=address)
    started: Node | None = None
    try:
        cluster1, cluster2 = planes
        kubeconfig = directory / "clusters" / "kubeconfig"
        api1, api2 = api_client(kubeconfig, "cluster1"), api_client(kubeconfig, "cluster2")
        if node and environment:
            say(f"Starting cluster1's node (containerd, kubelet, kube-proxy, kube-scheduler) at {address} ...")
            started = environment.node(cluster1, directory / "node").start()
        say("$ kubectl --context cluster1 apply -k manifests/")
        install(kubeconfig, "cluster1")
        job, job_log = None, ""
        if started is not None:
            job, job_log = _wait_for_install(kubeconfig, api1, say)
        else:
            say("$ python -m hooks.certify   # the certificate Job of manifests/, run here as its service account")
            made = certify(kubeconfig, "cluster1", "--host", "127.0.0.1").stdout
            say("\n".join("  " + line for line in made.splitlines()))
        say("$ kubectl --context cluster1 apply -k metacontroller/")
        install_controller(kubeconfig, "cluster1")
        files = serving_files_from_cluster(api1, directory / "hooks")
        if started is not None:
            loopback_certificate(api1, files)
        with _serve_hooks(api1, files, directory, started) as hooks:
            say("$ kubemcsa bootstrap cluster1 cluster2")
            bootstrapped = kubemcsa("bootstrap", "--kubeconfig", str(kubeconfig), "cluster1", "cluster2")
            say("\n".join("  " + line for line in bootstrapped.stdout.splitlines()))
            bed = Bed(directory, kubeconfig, cluster1, cluster2, api1, api2, files, hooks, started, job, job_log)
            bed.tokens.add(bed.importer_token("cluster2"))
            yield bed
    finally:
        if started is not None:
            started.stop()
        for plane in planes:
            plane.stop()


def service_routes(hooks: Hooks) -> None:
    """Wait until the Service routes to the hooks: Ready pods reach it a moment later (EndpointSlice,
    then kube-proxy's rules)."""
    eventually(lambda: all(_answers(hooks) for _ in range(4)), "the hooks Service to route to the hooks", 60)


def _answers(hooks: Hooks) -> bool:
    try:
        return hooks.get("/readyz") is not None
    except (OSError, AssertionError):
        return False


def loopback_certificate(api: k8s.ApiClient, files: ServingFiles) -> None:
    """For hooks that tests serve themselves on loopback: a certificate for 127.0.0.1 from the hooks'
    CA (the installed one names only the Service), so that the CompositeController's caBundle holds."""
    ca_secret = k8s.CoreV1Api(api).read_namespaced_secret(CA_SECRET, contract.CREDENTIALS_NAMESPACE)
    data = {key: base64.b64decode(value) for key, value in (ca_secret.data or {}).items()}
    cert = x509.load_pem_x509_certificate(data["tls.crt"])
    key = serialization.load_pem_private_key(data["tls.key"], password=None)
    serving = issue(KeyPair(cert, key), "127.0.0.1", hosts=("127.0.0.1",))  # type: ignore[arg-type]
    files.cert.write_bytes(serving.cert_pem)
    write_private(files.key, serving.key_pem)


@contextmanager
def _serve_hooks(api: k8s.ApiClient, files: ServingFiles, directory: Path, node: Node | None) -> Iterator[Hooks]:
    ca = files.ca_pem.decode()
    if node is not None:
        service = k8s.CoreV1Api(api).read_namespaced_service(HOOKS, contract.CREDENTIALS_NAMESPACE)
        hooks = Hooks(f"https://{service.spec.cluster_ip}:443", HOOKS_SERVICE_HOST, ca)
        service_routes(hooks)
        yield hooks
        return
    log = directory / "hooks.log"
    with gunicorn_hooks(files, log) as served:
        point_webhook_at(api, served.url)
        yield Hooks(served.url, "127.0.0.1", ca, pid=served.pid, log_file=log)
