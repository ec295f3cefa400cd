"""Imports on two real clusters: several per pod, renewal, remote failures, deletion, validation."""

import base64
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract, names
from tests.testbed.bed import Bed
from tests.testbed.scenario import (
    NEVER_SCHEDULED,
    enable_namespace,
    eventually,
    imported_secret,
    kubectl,
    mount,
    nginx,
    pod_lister,
    service_account_import,
)

from .helpers import GROUP, VERSION, get_import, hooks_later, ready, secret_data, synced_import


def test_two_imports_from_two_namespaces_in_one_pod(testbed: Bed, tmp_path: Path) -> None:
    for namespace in ("team-a", "team-b"):
        pod_lister(testbed.api2, namespace)
        nginx(testbed.api2, namespace, name=f"nginx-{namespace}")
    enable_namespace(testbed.api1, "multi")
    for namespace in ("team-a", "team-b"):
        service_account_import(testbed.api1, "multi", f"c2-{namespace}", "cluster2", namespace, "pod-lister")
        testbed.driver().sync_parent("multi", f"c2-{namespace}")
    pod = {
        "metadata": {
            "name": "client",
            "annotations": {
                contract.IMPORT_NAME_KEY: "c2-team-a, c2-team-b",
                contract.KUBECONFIG_ENV_ANNOTATION: "true",
            },
        },
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "main", "image": "client"}],
            **NEVER_SCHEDULED,
        },
    }
    stored = k8s.CoreV1Api(testbed.api1).create_namespaced_pod("multi", pod)
    plugin, *init_containers = stored.spec.init_containers or []
    assert plugin.name == contract.CREDENTIAL_PLUGIN_NAME  # first: it installs the plugin the others may run
    for container in [*init_containers, *stored.spec.containers]:
        paths = [m.mount_path for m in container.volume_mounts if m.mount_path.startswith(contract.MOUNT_ROOT)]
        assert paths == [f"{contract.MOUNT_ROOT}/c2-team-a", f"{contract.MOUNT_ROOT}/c2-team-b"]
        assert contract.CREDENTIAL_PLUGIN_DIR in {m.mount_path for m in container.volume_mounts}
        [env] = [e for e in container.env if e.name == "KUBECONFIG"]
        root, key = contract.MOUNT_ROOT, contract.EXEC_CONFIG_KEY
        assert env.value == f"{root}/c2-team-a/{key}:{root}/c2-team-b/{key}"
    for namespace in ("team-a", "team-b"):
        secret = imported_secret(testbed.api1, "multi", f"c2-{namespace}")
        assert secret is not None
        testbed.remember(secret)
        kubeconfig = mount(secret, tmp_path / namespace)
        listed = kubectl(kubeconfig, "get", "pods", "-o", "name").stdout.split()
        assert listed == [f"pod/nginx-{namespace}"]


def test_token_is_renewed_leaving_its_margin_before_expiry(testbed: Bed, tmp_path: Path) -> None:
    first = synced_import(testbed, "renewal", "short", expirationSeconds=600)
    assert first is not None
    # 80% of the 600 s the server granted would leave 2 minutes; the renewal leaves 5 (MCSA_RENEW_MARGIN_SECONDS).
    assert first.resync_after == pytest.approx(300, abs=5)
    before = secret_data(testbed, "renewal", "short")
    status = get_import(testbed, "renewal", "short")["status"]

    # Before the renewal point: no new token, no write.
    with hooks_later(testbed, 290) as driver:
        driver.sync_parent("renewal", "short")
    assert secret_data(testbed, "renewal", "short") == before
    # After it: a new token from cluster2, in the same Secret, and the status says when it expires.
    with hooks_later(testbed, 305) as driver:
        result = driver.sync_parent("renewal", "short")
    after = secret_data(testbed, "renewal", "short")
    assert after["token"] != before["token"]
    assert result is not None and result.resync_after == pytest.approx(300, abs=5)
    renewed = get_import(testbed, "renewal", "short")["status"]
    assert renewed["tokenExpirationTimestamp"] > status["tokenExpirationTimestamp"]
    # Both tokens work until they expire; the new one is what the kubeconfig now carries.
    secret = imported_secret(testbed.api1, "renewal", "short")
    kubeconfig = mount(secret, tmp_path / "short")
    assert kubectl(kubeconfig, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    token_file = (tmp_path / "short" / "token").read_text()
    assert token_file == base64.b64decode(after["token"]).decode()


def test_remote_api_server_down_keeps_the_secret_and_recovers(testbed: Bed) -> None:
    synced_import(testbed, "faults", "flaky")
    before = secret_data(testbed, "faults", "flaky")

    apiserver = testbed.cluster2.processes["kube-apiserver"]
    apiserver.stop()
    try:
        with hooks_later(testbed, 3000) as driver:  # renewal due, cluster2 down
            result = driver.sync_parent("faults", "flaky")
        assert result is not None and result.resync_after >= 5
        condition = ready(testbed, "faults", "flaky")
        assert (condition["status"], condition["reason"]) == ("False", "RemoteUnreachable")
        assert "keeps the previous token" in condition["message"]
        assert secret_data(testbed, "faults", "flaky") == before  # the last good Secret is kept, untouched
    finally:
        testbed.cluster2.restart("kube-apiserver")
    with hooks_later(testbed, 3000) as driver:
        driver.sync_parent("faults", "flaky")
    condition = ready(testbed, "faults", "flaky")
    assert (condition["status"], condition["reason"]) == ("True", "TokenIssued")
    assert secret_data(testbed, "faults", "flaky")["token"] != before["token"]


def test_remote_service_account_deleted_then_import_deleted(testbed: Bed) -> None:
    synced_import(testbed, "doomed", "doomed")
    before = secret_data(testbed, "doomed", "doomed")

    k8s.CoreV1Api(testbed.api2).delete_namespaced_service_account("pod-lister", "doomed")
    with hooks_later(testbed, 3000) as driver:
        driver.sync_parent("doomed", "doomed")
    condition = ready(testbed, "doomed", "doomed")
    assert (condition["status"], condition["reason"]) == ("False", "RemoteServiceAccountNotFound")
    assert 'service account "pod-lister" in namespace "doomed" of cluster "cluster2"' in condition["message"]
    assert secret_data(testbed, "doomed", "doomed") == before

    # Deleting the import deletes its Secret (garbage collector, through the ownerReference).
    k8s.CustomObjectsApi(testbed.api1).delete_namespaced_custom_object(
        GROUP, VERSION, "doomed", contract.PLURAL, "doomed"
    )
    eventually(lambda: imported_secret(testbed.api1, "doomed", "doomed") is None, "the Secret to be deleted", 60)


def test_missing_cluster_credential_says_how_to_bootstrap(testbed: Bed) -> None:
    enable_namespace(testbed.api1, "nocluster")
    service_account_import(testbed.api1, "nocluster", "nowhere", "cluster3", "default", "pod-lister")
    testbed.driver().sync_parent("nocluster", "nowhere")
    condition = ready(testbed, "nocluster", "nowhere")
    assert (condition["status"], condition["reason"]) == ("False", "ClusterNotBootstrapped")
    assert "kubemcsa bootstrap" in condition["message"]
    assert imported_secret(testbed.api1, "nocluster", "nowhere") is None
    printed = kubectl(testbed.kubeconfig, "--context", "cluster1", "get", "sai", "-n", "nocluster").stdout
    assert "cluster3" in printed and "False" in printed  # printer columns: cluster, ready


def test_webhook_only_mutates_enabled_namespaces_and_rejects_bad_names(testbed: Bed) -> None:
    core = k8s.CoreV1Api(testbed.api1)
    core.create_namespace({"metadata": {"name": "plain"}})
    pod = {
        "metadata": {"name": "p", "annotations": {contract.IMPORT_NAME_KEY: "anything"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **NEVER_SCHEDULED},
    }
    stored = core.create_namespaced_pod("plain", pod)
    assert not any(v.name == names.volume_name("anything") for v in stored.spec.volumes or [])

    enable_namespace(testbed.api1, "strict")
    pod["metadata"]["annotations"] = {contract.IMPORT_NAME_KEY: "good,Not_Good"}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod("strict", pod)
    assert caught.value.status == 400
    assert "'Not_Good'" in caught.value.body and "denied the request" in caught.value.body


def test_only_pods_that_ask_for_imports_need_the_hooks(testbed: Bed) -> None:
    """The webhook's matchConditions: while the hooks are unreachable, a pod that asks for an import
    is refused (failurePolicy: Fail) and the other pods of the enabled namespace are created as usual."""
    core = k8s.CoreV1Api(testbed.api1)
    enable_namespace(testbed.api1, "hooks-away")
    spec = {"containers": [{"name": "c", "image": "busybox"}], **NEVER_SCHEDULED}
    asking = {"metadata": {"generateName": "asking-", "annotations": {contract.IMPORT_NAME_KEY: "x"}}, "spec": spec}

    def refused() -> str | None:
        try:
            core.create_namespaced_pod("hooks-away", asking, dry_run="All")
        except ApiException as err:
            return str(err.body) if "failed calling webhook" in str(err.body) else None
        return None

    def admitted() -> bool:
        try:
            core.create_namespaced_pod("hooks-away", asking, dry_run="All")
        except ApiException:
            return False
        return True

    with testbed.webhook_unreachable():
        eventually(refused, "the API server to call the unreachable webhook for a pod that asks for imports")
        plain = core.create_namespaced_pod("hooks-away", {"metadata": {"name": "plain"}, "spec": spec})
        assert not any(v.name.startswith(names.VOLUME_PREFIX) for v in plain.spec.volumes or [])
    eventually(admitted, "the API server to call the hooks again")


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("no-name", {"clusterName": "cluster2", "namespace": "default"}, "spec.name: Required value"),
        ("bad-cluster", {"clusterName": "Cluster_2", "namespace": "default", "name": "p"}, "spec.clusterName"),
        ("bad-ns", {"clusterName": "c", "namespace": "a.b", "name": "p"}, "spec.namespace"),
        ("short", {"clusterName": "c", "namespace": "d", "name": "p", "expirationSeconds": 60}, "600"),
        ("x" * 64, {"clusterName": "c", "namespace": "d", "name": "p"}, "at most 63 characters"),
    ],
)
def test_api_server_validates_imports(testbed: Bed, name: str, spec: dict, message: str) -> None:
    body = {"apiVersion": contract.API_VERSION, "kind": contract.KIND, "metadata": {"name": name}, "spec": spec}
    with pytest.raises(ApiException) as caught:
        k8s.CustomObjectsApi(testbed.api1).create_namespaced_custom_object(
            GROUP, VERSION, "default", contract.PLURAL, body
        )
    assert caught.value.status == 422
    assert message in caught.value.body
