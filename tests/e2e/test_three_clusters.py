"""Three clusters, as in the seed's sample: cluster1 imports from cluster2 and from cluster3 (two
`kubemcsa bootstrap` runs), and one pod on cluster1's node mounts both imports and reaches both
clusters; beside it, cluster2 imports from cluster1 (bootstrap in the other direction)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from hooks import contract, create_app
from tests.testbed.bed import Bed
from tests.testbed.cluster import ControlPlane, write_kubeconfig
from tests.testbed.hooks_server import in_process_hooks
from tests.testbed.metacontroller import CompositeControllerDriver
from tests.testbed.scenario import (
    api_client,
    enable_namespace,
    eventually,
    imported_secret,
    kubemcsa,
    nginx,
    pod_lister,
    service_account_import,
)

from .helpers import ready

pytestmark = pytest.mark.node
NS = "three"
IMAGE = "ghcr.io/admiraltyio/multicluster-service-account-example-multicluster-client:0.7.0"
LIST_BOTH = """
import sys
from kubernetes import client
from multicluster_service_account import all_service_account_import_configs_and_namespaces

for name, (configuration, namespace) in sorted(all_service_account_import_configs_and_namespaces().items()):
    with client.ApiClient(configuration) as api:
        pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    print(name, configuration.host, *sorted(p.metadata.name for p in pods), flush=True)
"""


@pytest.fixture(scope="module")
def cluster3(testbed: Bed) -> Iterator[tuple[ControlPlane, Path]]:
    """A third control plane beside the bed's, and a kubeconfig with all three contexts."""
    plane = ControlPlane(
        "cluster3",
        testbed.directory / "cluster3",
        testbed.cluster1.bin_dir,
        address=testbed.cluster1.address,
        service_cidr="10.0.2.0/24",
    ).start()
    kubeconfig = testbed.directory / "three.kubeconfig"
    write_kubeconfig(kubeconfig, [testbed.cluster1, testbed.cluster2, plane])
    try:
        yield plane, kubeconfig
    finally:
        plane.stop()
        shutil.rmtree(plane.directory, ignore_errors=True)


def test_one_pod_mounts_imports_of_two_clusters_and_reaches_both(
    testbed: Bed, cluster3: tuple[ControlPlane, Path]
) -> None:
    plane, kubeconfig = cluster3
    api3 = api_client(kubeconfig, "cluster3")
    kubemcsa("bootstrap", "--kubeconfig", str(kubeconfig), "cluster1", "cluster3")
    testbed.tokens.add(testbed.importer_token("cluster3"))
    for api, pod_name in ((testbed.api2, "nginx-two"), (api3, "nginx-three")):
        pod_lister(api, NS)
        nginx(api, NS, name=pod_name)
    enable_namespace(testbed.api1, NS)
    driver = testbed.driver()
    for name, cluster in (("from-two", "cluster2"), ("from-three", "cluster3")):
        service_account_import(testbed.api1, NS, name, cluster, NS, "pod-lister")
        driver.sync_parent(NS, name)
        assert (ready(testbed, NS, name)["status"], ready(testbed, NS, name)["reason"]) == ("True", "TokenIssued")
        secret = imported_secret(testbed.api1, NS, name)
        assert secret is not None
        testbed.remember(secret)

    pod = {
        "metadata": {"name": "both", "annotations": {contract.IMPORT_NAME_KEY: "from-two, from-three"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["python", "-c", LIST_BOTH]}
            ],
        },
    }
    core = k8s.CoreV1Api(testbed.api1)
    core.create_namespaced_pod(NS, pod)
    try:
        phase = eventually(
            lambda: (p := core.read_namespaced_pod("both", NS).status.phase) in ("Succeeded", "Failed") and p,
            "the pod with two imports to finish",
            timeout=120,
            interval=1,
        )
        log = core.read_namespaced_pod_log("both", NS)
    finally:
        core.delete_namespaced_pod("both", NS, grace_period_seconds=0)
    assert phase == "Succeeded", log
    said = {line.split()[0]: line.split()[1:] for line in log.splitlines()}
    assert said["from-two"] == [testbed.cluster2.server, "nginx-two"], log
    assert said["from-three"] == [plane.server, "nginx-three"], log


def test_cluster2_imports_from_cluster1_beside_it(testbed: Bed, cluster3: tuple[ControlPlane, Path]) -> None:
    """The other direction: cluster2 gets a credential for cluster1 and an import of cluster1's there
    is Ready, while cluster1's imports from cluster2 keep working. cluster2 has no node, so the hooks
    app that cluster2's Metacontroller (the double) calls is served by the test, on loopback."""
    _, kubeconfig = cluster3
    printed = kubemcsa("bootstrap", "--kubeconfig", str(kubeconfig), "cluster2", "cluster1").stdout
    assert 'for cluster "cluster1" in target cluster "cluster2"' in printed
    pod_lister(testbed.api1, "reverse")
    enable_namespace(testbed.api2, "reverse")
    # cluster2 needs the CRD to hold imports (its install, without the hooks: they run in cluster1).
    crd = yaml.safe_load((Path(__file__).parents[2] / "manifests" / "base" / "crd.yaml").read_text())
    try:
        k8s.ApiextensionsV1Api(testbed.api2).create_custom_resource_definition(crd)
    except k8s.ApiException as err:
        if err.status != 409:
            raise
    eventually(lambda: _established(testbed.api2), "the CRD in cluster2")
    service_account_import(testbed.api2, "reverse", "from-one", "cluster1", "reverse", "pod-lister")
    controller = k8s.CustomObjectsApi(testbed.api1).get_cluster_custom_object(
        "metacontroller.k8s.io", "v1alpha1", "compositecontrollers", f"{contract.PLURAL}.{contract.GROUP}"
    )
    # cluster1's CompositeController reads the hooks' CA from a Secret of cluster1: inline it here.
    controller["spec"]["hooks"] = {
        hook: {**spec, "webhook": {**spec["webhook"], "caBundle": {"inline": testbed.files.ca_pem.decode()}}}
        for hook, spec in controller["spec"]["hooks"].items()
    }
    # cluster2's Metacontroller (the double) reading cluster2, and the hooks app served for it here.
    with in_process_hooks(create_app(), testbed.files) as url:
        CompositeControllerDriver(controller, testbed.api2, url).sync_parent("reverse", "from-one")
    secret = imported_secret(testbed.api2, "reverse", "from-one")
    assert secret is not None
    testbed.remember(secret)
    condition = next(
        c
        for c in k8s.CustomObjectsApi(testbed.api2).get_namespaced_custom_object(
            contract.GROUP, contract.VERSION, "reverse", contract.PLURAL, "from-one"
        )["status"]["conditions"]
        if c["type"] == "Ready"
    )
    assert (condition["status"], condition["reason"]) == ("True", "TokenIssued"), condition
    # And cluster1's imports from cluster2 still sync, beside it.
    testbed.driver().sync_parent(NS, "from-two")
    assert ready(testbed, NS, "from-two")["status"] == "True"


def _established(api: k8s.ApiClient) -> bool:
    crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition(f"{contract.PLURAL}.{contract.GROUP}")
    return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
