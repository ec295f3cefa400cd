"""The library for mounted imports and its example clients, on two real clusters.

An import of pod-lister (cluster2, namespace `library`) into cluster1; its real Secret is written as a
mount folder, and the examples run as local processes pointed at it, as they would in a pod.
"""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract, names
from multicluster_service_account import ROOT_ENV, named_service_account_import_config_and_namespace
from tests.testbed.bed import Bed
from tests.testbed.cluster import REPO
from tests.testbed.scenario import (
    enable_namespace,
    ignore_conflict,
    imported_secret,
    mount,
    nginx,
    pod_lister,
    service_account_import,
)
from tests.unit.test_library import kubelet_write

NAMESPACE = "library"
IMPORT = "c2-library"
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def secret(testbed: Bed) -> k8s.V1Secret:
    """The Secret of import c2-library, of pod-lister in cluster2's namespace library (where nginx-library runs)."""
    pod_lister(testbed.api2, NAMESPACE)
    nginx(testbed.api2, NAMESPACE, name="nginx-library")
    enable_namespace(testbed.api1, NAMESPACE)
    service_account_import(testbed.api1, NAMESPACE, IMPORT, "cluster2", NAMESPACE, "pod-lister")
    testbed.driver().sync_parent(NAMESPACE, IMPORT)
    found = imported_secret(testbed.api1, NAMESPACE, IMPORT)
    assert found is not None, f"no Secret for import {NAMESPACE}/{IMPORT} after a sync"
    testbed.remember(found)
    return found


def files_of(secret: k8s.V1Secret) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def run_example(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The example as a local process, with only env's settings (no kubeconfig, not in a pod, unless given)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "MCSA_")) and k != "KUBECONFIG"}
    clean["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name / "main.py"), *args],
        env={**clean, "KUBECONFIG": "/nonexistent/kubeconfig", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def lines(result: subprocess.CompletedProcess[str], tokens: set[str]) -> list[str]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr.strip()}"
    assert not [t for t in tokens if t in result.stdout or t in result.stderr], "a token was printed"
    return result.stdout.splitlines()


def test_examples_list_the_pods_of_cluster2(testbed: Bed, secret: k8s.V1Secret, tmp_path: Path) -> None:
    root = tmp_path / "serviceaccountimports"
    kubeconfig = mount(secret, root / IMPORT)  # the Secret's files, as the kubelet writes them
    listing = [f"API server URL: {testbed.cluster2.server}", f"Namespace: {NAMESPACE}", "Listing pods..."]

    # In a pod with the import mounted: both examples go through it.
    mounted = {ROOT_ENV: str(root)}
    multicluster = lines(run_example("multicluster-client", env=mounted), testbed.tokens)
    assert multicluster == [f"Service account import: {IMPORT}", *listing, "nginx-library"]
    assert lines(run_example("generic-client", env=mounted), testbed.tokens) == [*listing, "nginx-library"]

    # On a laptop, with no mount: generic-client uses the current kubeconfig context ...
    laptop = {ROOT_ENV: str(tmp_path / "nothing-mounted"), "KUBECONFIG": str(kubeconfig)}
    assert lines(run_example("generic-client", env=laptop), testbed.tokens) == [*listing, "nginx-library"]
    # ... or the one it is given (here cluster2's admin, in namespace default).
    admin = {**laptop, "KUBECONFIG": str(testbed.kubeconfig)}
    header = lines(run_example("generic-client", "cluster2", env=admin), testbed.tokens)[:3]
    assert header == [f"API server URL: {testbed.cluster2.server}", "Namespace: default", "Listing pods..."]
    # multicluster-client has no fallback, and says so.
    refused = run_example("multicluster-client", env=laptop)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"error: no service account import is mounted under {tmp_path / 'nothing-mounted'}"
    )


def whoami(api: k8s.ApiClient) -> str:
    review = k8s.AuthenticationV1Api(api).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    return str(review.status.user_info.username)


def test_a_long_lived_configuration_follows_the_token_file(testbed: Bed, secret: k8s.V1Secret, tmp_path: Path) -> None:
    # Another service account of cluster2, allowed nothing, and a token for it.
    core2 = k8s.CoreV1Api(testbed.api2)
    ignore_conflict(lambda: core2.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": "nobody"}}))
    request = {"spec": {"expirationSeconds": 600}}
    other = core2.create_namespaced_service_account_token("nobody", NAMESPACE, request).status.token
    testbed.tokens.add(other)

    directory = tmp_path / "serviceaccountimports" / IMPORT
    original = files_of(secret)
    kubelet_write(directory, original)
    configuration, namespace = named_service_account_import_config_and_namespace(IMPORT, root=directory.parent)
    with k8s.ApiClient(configuration) as api:
        core = k8s.CoreV1Api(api)
        assert whoami(api) == f"system:serviceaccount:{NAMESPACE}:pod-lister"
        assert "nginx-library" in [p.metadata.name for p in core.list_namespaced_pod(namespace).items]

        # The kubelet updates the volume in place; the same client now sends the other token.
        kubelet_write(directory, {**original, contract.TOKEN_KEY: other.encode()})
        assert whoami(api) == f"system:serviceaccount:{NAMESPACE}:nobody"
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_pod(namespace)
        assert caught.value.status == 403

        kubelet_write(directory, original)
        assert whoami(api) == f"system:serviceaccount:{NAMESPACE}:pod-lister"
        assert "nginx-library" in [p.metadata.name for p in core.list_namespaced_pod(namespace).items]


@pytest.mark.parametrize("example", ["multicluster-client", "generic-client"])
def test_the_example_jobs_get_the_import_mounted(testbed: Bed, secret: k8s.V1Secret, example: str) -> None:
    """The Job's pod template, created as a pod in a labelled namespace of cluster1: the real webhook mounts
    the import it names where the library looks for it."""
    job = yaml.safe_load((EXAMPLES / example / "job.yaml").read_text())
    template = job["spec"]["template"]
    import_name = template["metadata"]["annotations"][contract.IMPORT_NAME_KEY]
    pod = {"metadata": {**template["metadata"], "name": f"job-{example}"}, "spec": template["spec"]}
    stored = k8s.CoreV1Api(testbed.api1).create_namespaced_pod(NAMESPACE, pod)
    [volume] = [v for v in stored.spec.volumes if v.secret is not None]
    assert volume.secret.secret_name == names.secret_name(import_name)
    [container] = stored.spec.containers
    paths = {m.mount_path for m in container.volume_mounts}
    assert {f"{contract.MOUNT_ROOT}/{import_name}", "/tmp"} <= paths
