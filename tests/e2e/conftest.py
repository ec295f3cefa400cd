"""Two real clusters, the hooks under gunicorn with TLS, and the Metacontroller test driver."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client as k8s

from hooks import contract
from hooks.kubeconfig import ClusterEndpoint
from tests.testbed.cluster import REPO, ControlPlane, start_clusters
from tests.testbed.hooks_server import ServingFiles, gunicorn_hooks, serving_files
from tests.testbed.metacontroller import CompositeControllerDriver, load_controller
from tests.testbed.scenario import api_client, grant_importer, install, install_credential

CONTROLLER = REPO / "metacontroller" / "compositecontroller.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


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
    #: Every token seen during the session, checked against the hooks' log at the end.
    tokens: set[str] = field(default_factory=set)

    def driver(self, service_url: str | None = None) -> CompositeControllerDriver:
        return CompositeControllerDriver(load_controller(CONTROLLER), self.api1, service_url or self.hooks_url)

    def remember(self, secret: k8s.V1Secret) -> None:
        import base64

        for key in (contract.TOKEN_KEY, contract.CONFIG_KEY):
            value = base64.b64decode((secret.data or {}).get(key, "")).decode()
            if key == contract.TOKEN_KEY and value:
                self.tokens.add(value)


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    directory = tmp_path_factory.mktemp("testbed")
    planes = start_clusters(directory / "clusters")
    try:
        cluster1, cluster2 = planes
        kubeconfig = directory / "clusters" / "kubeconfig"
        files = serving_files(directory / "hooks")
        hooks_log = directory / "hooks.log"
        with gunicorn_hooks(files, hooks_log) as url:
            api1, api2 = api_client(kubeconfig, "cluster1"), api_client(kubeconfig, "cluster2")
            install(kubeconfig, "cluster1", api1, files, url)
            token = grant_importer(api2, "cluster1")
            install_credential(api1, "cluster2", ClusterEndpoint(cluster2.server, cluster2.ca_pem), token)
            bed = Bed(directory, kubeconfig, cluster1, cluster2, api1, api2, files, url, hooks_log, {token})
            yield bed
        log = hooks_log.read_text()
        leaked = [t[:12] for t in bed.tokens if t in log]
        assert not leaked, f"tokens appear in the hooks' log {hooks_log} (first characters: {leaked})"
        assert re.search(r'"endpoint": "sync"', log), "the hooks logged no sync request"
    finally:
        for plane in planes:
            plane.stop()
