"""Losing hooks replicas, on cluster1's node: pod creation keeps working while one replica goes (two
replicas, the PodDisruptionBudget, readiness); with none, only pods that ask for imports fail, with the
message the README documents, and everything recovers when the replicas return."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract, names
from tests.testbed.bed import Bed, service_routes
from tests.testbed.scenario import HOOKS, NEVER_SCHEDULED, enable_namespace, eventually, ignore_conflict, kubectl

pytestmark = pytest.mark.node
NS = contract.CREDENTIALS_NAMESPACE
WEBHOOK_NAME = "serviceaccountimports.multicluster.admiralty.io"


def asking_pod(name: str) -> dict:
    return {
        "metadata": {"name": name, "annotations": {contract.IMPORT_NAME_KEY: "anything"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **NEVER_SCHEDULED},
    }


def create_dry(bed: Bed, namespace: str, pod: dict) -> k8s.V1Pod:
    """A pod creation the API server admits in full (the webhook is called) but does not store."""
    created: k8s.V1Pod = k8s.CoreV1Api(bed.api1).create_namespaced_pod(namespace, pod, dry_run="All")
    return created


def status_message(err: ApiException) -> str:
    """The API server's message (the webhook call's error at its end), whole: no Secret data is in it."""
    try:
        return str(json.loads(err.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(err.body)[:500]


@contextmanager
def creating_pods(bed: Bed, namespace: str) -> Iterator[dict[str, list]]:
    """Pods that ask for imports, created (dry run) in a loop until the block ends; beside them, the
    hooks called through their Service as Metacontroller calls them."""
    outcome: dict[str, list] = {"admitted": [], "failed": [], "served": [], "refused": []}
    stop = threading.Event()

    def calls() -> None:
        while not stop.is_set():
            try:
                bed.hooks.get("/readyz")
                outcome["served"].append(1)
            except (OSError, AssertionError) as err:
                outcome["refused"].append(str(err)[:200])
            time.sleep(0.02)

    def loop() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                pod = create_dry(bed, namespace, asking_pod(f"p{i}"))
                mounted = any(v.name == names.volume_name("anything") for v in pod.spec.volumes or [])
                outcome["admitted" if mounted else "failed"].append(i)
            except ApiException as err:
                outcome["failed"].append(f"{err.status}: {status_message(err)}")
            time.sleep(0.05)

    threads = [threading.Thread(target=target, daemon=True) for target in (loop, calls)]
    for thread in threads:
        thread.start()
    try:
        yield outcome
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def ready_pods(bed: Bed) -> list[k8s.V1Pod]:
    return [
        p
        for p in bed.hooks_pods()
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def disruptions_allowed(bed: Bed) -> int:
    pdb = k8s.PolicyV1Api(bed.api1).read_namespaced_pod_disruption_budget(HOOKS, NS)
    return int(pdb.status.disruptions_allowed or 0)


def back_to_two(bed: Bed) -> None:
    kubectl(bed.kubeconfig, "--context", "cluster1", "-n", NS, "rollout", "status", "--timeout=180s", f"deploy/{HOOKS}")
    eventually(lambda: len(ready_pods(bed)) == 2 and disruptions_allowed(bed) == 1, "two Ready replicas", 120)
    service_routes(bed.hooks)


def test_losing_one_replica_fails_no_pod_creation(testbed: Bed) -> None:
    enable_namespace(testbed.api1, "outage")
    first, _ = ready_pods(testbed)
    with creating_pods(testbed, "outage") as outcome:
        time.sleep(3)
        k8s.CoreV1Api(testbed.api1).delete_namespaced_pod(first.metadata.name, NS)  # as the Deployment's rollout does
        eventually(lambda: len(ready_pods(testbed)) == 2, "the Deployment to replace the pod", 120)
        time.sleep(5)
    assert not outcome["failed"], outcome["failed"][:5]
    assert len(outcome["admitted"]) >= 50, len(outcome["admitted"])
    # The replica that goes keeps serving until it is out of the Service's rules (its preStop pause).
    assert not outcome["refused"], outcome["refused"][:5]
    assert len(outcome["served"]) >= 100, len(outcome["served"])
    back_to_two(testbed)


def test_evicting_a_replica_is_refused_while_only_one_is_ready(testbed: Bed) -> None:
    core = k8s.CoreV1Api(testbed.api1)
    for _attempt in range(3):
        first, second = ready_pods(testbed)
        core.delete_namespaced_pod(first.metadata.name, NS, grace_period_seconds=0)
        eventually(lambda: disruptions_allowed(testbed) == 0, "the budget to count one healthy replica", 30)
        if [p.metadata.name for p in ready_pods(testbed)] != [second.metadata.name]:
            back_to_two(testbed)  # the replacement was Ready first: try again
            continue
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": second.metadata.name}}
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod_eviction(second.metadata.name, NS, eviction)
        assert refused.value.status == 429 and "disruption budget" in str(refused.value.body)
        break
    else:
        pytest.fail("the replacement replica was Ready too soon, three times: the refusal could not be tried")
    back_to_two(testbed)


def test_with_no_replica_only_pods_that_ask_for_imports_fail_and_all_recovers(testbed: Bed) -> None:
    enable_namespace(testbed.api1, "outage")
    core = k8s.CoreV1Api(testbed.api1)
    ignore_conflict(lambda: core.create_namespace({"metadata": {"name": "not-enabled"}}))
    scale = ["--context", "cluster1", "-n", NS, "scale", f"deploy/{HOOKS}"]
    kubectl(testbed.kubeconfig, *scale, "--replicas=0")
    try:
        eventually(lambda: not testbed.hooks_pods(), "both hooks pods to be gone", 120)

        def refused() -> str | None:
            try:
                create_dry(testbed, "outage", asking_pod("refused"))
            except ApiException as err:
                return str(json.loads(err.body)["message"])
            return None

        message = eventually(refused, "pod creation to fail while no replica answers", 30)
        assert f'failed calling webhook "{WEBHOOK_NAME}"' in message, message  # as the README says
        # Only pods that ask for imports, in labelled namespaces, are sent to the webhook.
        plain = {
            "metadata": {"name": "plain"},
            "spec": {"containers": [{"name": "c", "image": "x"}], **NEVER_SCHEDULED},
        }
        assert create_dry(testbed, "outage", plain)
        assert create_dry(testbed, "not-enabled", asking_pod("other-namespace"))
    finally:
        kubectl(testbed.kubeconfig, *scale, "--replicas=2")
        back_to_two(testbed)
    pod = create_dry(testbed, "outage", asking_pod("recovered"))
    assert any(v.name == names.volume_name("anything") for v in pod.spec.volumes or [])
