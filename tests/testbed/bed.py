"""Everything the walkthrough needs, running: two clusters, the hooks, the install and the credential."""

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kubernetes import client as k8s

from bootstrap.credential import credential_secret_name
from hooks import contract

from .cluster import REPO, ControlPlane, start_clusters
from .hooks_server import ServingFiles, gunicorn_hooks
from .metacontroller import CompositeControllerDriver, load_controller
from .scenario import api_client, certify, install, kubemcsa, point_webhook_at, serving_files_from_cluster

CONTROLLER = REPO / "metacontroller" / "compositecontroller.yaml"


@dataclass
class Bed:
    directory: Path
    kubeconfig: Path
    cluster1: ControlPlane
    cluster2: ControlPlane
    api1: k8s.ApiClient
    api2: k8s.ApiClient
    files: ServingFiles
    hooks_url: str
    hooks_log: Path
    hooks_pid: int
    #: Every token seen, to check that none reaches the hooks' log.
    tokens: set[str] = field(default_factory=set)

    def driver(self, service_url: str | None = None) -> CompositeControllerDriver:
        """Metacontroller's stand-in for cluster1, calling the hooks at service_url (default: gunicorn)."""
        return CompositeControllerDriver(load_controller(CONTROLLER), self.api1, service_url or self.hooks_url)

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

    def leaked_tokens(self) -> list[str]:
        """The first characters of every remembered token found in the hooks' log."""
        log = self.hooks_log.read_text()
        return [token[:12] for token in self.tokens if token in log]


@contextmanager
def running_bed(directory: Path, say: Callable[[str], None] = lambda _: None) -> Iterator[Bed]:
    """cluster1 with the project installed and a credential for cluster2 (made by `kubemcsa bootstrap`);
    the hooks under gunicorn."""
    planes = start_clusters(directory / "clusters")
    try:
        cluster1, cluster2 = planes
        kubeconfig = directory / "clusters" / "kubeconfig"
        api1, api2 = api_client(kubeconfig, "cluster1"), api_client(kubeconfig, "cluster2")
        say("$ kubectl --context cluster1 apply --server-side -k manifests/")
        install(kubeconfig, "cluster1")
        say("$ python -m hooks.certify   # the certificate Job of manifests/, run here as its service account")
        say("\n".join("  " + line for line in certify(kubeconfig, "cluster1").stdout.splitlines()))
        files = serving_files_from_cluster(api1, directory / "hooks")
        hooks_log = directory / "hooks.log"
        with gunicorn_hooks(files, hooks_log) as served:
            url = served.url
            point_webhook_at(api1, url)
            say("$ kubemcsa bootstrap cluster1 cluster2")
            bootstrapped = kubemcsa("bootstrap", "--kubeconfig", str(kubeconfig), "cluster1", "cluster2")
            say("\n".join("  " + line for line in bootstrapped.stdout.splitlines()))
            bed = Bed(directory, kubeconfig, cluster1, cluster2, api1, api2, files, url, hooks_log, served.pid)
            bed.tokens.add(bed.importer_token("cluster2"))
            yield bed
    finally:
        for plane in planes:
            plane.stop()
