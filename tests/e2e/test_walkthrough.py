"""The seed's walkthrough, on two real clusters: import pod-lister from cluster2, use it from cluster1."""

import json
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from hooks import contract
from tests.testbed import walkthrough
from tests.testbed.bed import Bed
from tests.testbed.scenario import kubectl


def test_seed_walkthrough(testbed: Bed, tmp_path: Path) -> None:
    outcome = walkthrough.run(testbed, tmp_path, say=lambda _: None)
    owner = outcome.secret.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == (contract.KIND, walkthrough.IMPORT, True)

    # Printer columns: cluster, remote namespace and name, ready, expiry.
    printed = kubectl(testbed.kubeconfig, "--context", "cluster1", "get", "sai", walkthrough.IMPORT).stdout
    header, row = printed.splitlines()
    assert header.split() == ["NAME", "CLUSTER", "REMOTE-NAMESPACE", "REMOTE-NAME", "READY", "EXPIRES", "AGE"]
    expires = outcome.secret.metadata.annotations[contract.TOKEN_EXPIRES_AT_ANNOTATION]
    assert row.split()[:6] == [walkthrough.IMPORT, "cluster2", "default", "pod-lister", "True", expires]

    # The identity and reach of the mounted kubeconfig: exactly the remote pod-lister.
    whoami = json.loads(kubectl(outcome.kubeconfig, "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == "system:serviceaccount:default:pod-lister"
    denied = kubectl(outcome.kubeconfig, "get", "secrets", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    # kubectl takes the token from the mounted `token` file (tokenFile, relative to the kubeconfig), so a
    # renewed Secret reaches running clients: a wrong token in the file fails although the embedded one is good.
    token_file = outcome.kubeconfig.parent / "token"
    good = token_file.read_text()
    token_file.write_text("not-a-token")
    failed = kubectl(outcome.kubeconfig, "get", "pods", check=False)
    assert failed.returncode != 0 and "unauthorized" in failed.stderr.lower()
    token_file.write_text(good)

    # The official Python client loads the same file.
    api = k8s_config.new_client_from_config(config_file=str(outcome.kubeconfig))
    pods = k8s.CoreV1Api(api).list_namespaced_pod("default")
    assert "nginx" in [p.metadata.name for p in pods.items]
    with pytest.raises(ApiException) as caught:
        k8s.CoreV1Api(api).list_namespaced_pod("kube-system")
    assert caught.value.status == 403
