"""The seed's walkthrough, on two real clusters: import pod-lister from cluster2, use it from cluster1."""

import base64
import json
from pathlib import Path

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from hooks import contract, names
from tests.testbed.scenario import (
    enable_namespace,
    eventually,
    imported_secret,
    kubectl,
    mount,
    nginx,
    pod_lister,
    service_account_import,
)

from .conftest import Bed

IMPORT = "cluster2-default-pod-lister"
MOUNT = f"{contract.MOUNT_ROOT}/{IMPORT}"


def ready_condition(bed: Bed, namespace: str, name: str) -> dict[str, str] | None:
    group, version = contract.API_VERSION.split("/")
    obj = k8s.CustomObjectsApi(bed.api1).get_namespaced_custom_object(group, version, namespace, contract.PLURAL, name)
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), None)


def test_seed_walkthrough(testbed: Bed, tmp_path: Path) -> None:
    # In cluster2: a service account that may only list pods in default, and a pod to list.
    pod_lister(testbed.api2)
    nginx(testbed.api2)
    driver = testbed.driver().start()  # Metacontroller's role, watching cluster1
    try:
        # In cluster1: the namespace opts in, the import, and a pod that asks for it.
        enable_namespace(testbed.api1, "default")
        service_account_import(testbed.api1, "default", IMPORT, "cluster2", "default", "pod-lister")

        # "The service account import controller created a secret ... containing a kubeconfig file"
        secret = eventually(lambda: imported_secret(testbed.api1, "default", IMPORT), "the imported Secret")
        testbed.remember(secret)
        assert secret.metadata.labels[contract.IMPORT_NAME_KEY] == IMPORT
        selected = kubectl(
            testbed.kubeconfig, "--context", "cluster1", "get", "secret",
            "-l", f"{contract.IMPORT_NAME_KEY}={IMPORT}", "-o", "jsonpath={.items[0].data.config}",
        ).stdout  # fmt: skip
        config = yaml.safe_load(base64.b64decode(selected))
        assert config["current-context"] == IMPORT
        assert config["clusters"][0]["cluster"]["server"] == testbed.cluster2.server
        assert config["contexts"][0]["context"]["namespace"] == "default"
        owner = secret.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.controller) == ("ServiceAccountImport", IMPORT, True)
        condition = eventually(lambda: ready_condition(testbed, "default", IMPORT), "the import's status")
        assert (condition["status"], condition["reason"]) == ("True", "TokenIssued")
    finally:
        driver.stop()
    assert not driver.errors, driver.errors

    # "The service account import secret was mounted inside the multicluster-client pod"
    pod = {
        "metadata": {"name": "multicluster-client", "annotations": {contract.IMPORT_NAME_KEY: IMPORT}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "multicluster-client", "image": "client"}]},
    }
    stored = k8s.CoreV1Api(testbed.api1).create_namespaced_pod("default", pod)
    volume = next(
        v for v in stored.spec.volumes if v.secret is not None and v.secret.secret_name == secret.metadata.name
    )
    assert volume.name == names.volume_name(IMPORT)
    [mounted] = [m for m in stored.spec.containers[0].volume_mounts if m.name == volume.name]
    assert (mounted.mount_path, mounted.read_only, mounted.sub_path) == (MOUNT, True, None)

    # "The multicluster-client pod was able to list pods in the default namespace of cluster2":
    # the mounted files, as the kubelet writes them, used by kubectl and by the Python client.
    kubeconfig = mount(secret, tmp_path / IMPORT)
    listed = kubectl(kubeconfig, "get", "pods", "-o", "name").stdout.split()
    assert "pod/nginx" in listed
    denied = kubectl(kubeconfig, "get", "pods", "-n", "kube-system", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    denied = kubectl(kubeconfig, "get", "secrets", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    whoami = json.loads(kubectl(kubeconfig, "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == "system:serviceaccount:default:pod-lister"

    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    pods = k8s.CoreV1Api(api).list_namespaced_pod("default")
    assert "nginx" in [p.metadata.name for p in pods.items]
    try:
        k8s.CoreV1Api(api).list_namespaced_pod("kube-system")
        raise AssertionError("the imported service account could list pods in kube-system")
    except ApiException as err:
        assert err.status == 403
