"""Renewal reaches a running pod: on cluster1's node, a pod lists cluster2's pods every few seconds
through its mounted import, with kubectl in one container and the project's Python library in the
other, while the hooks renew the token twice. Not one call fails, nothing restarts, and the token each
client presents (its JTI, from a SelfSubjectReview: the token itself is never printed) changes; the
kubelet's own secret-volume refresh delivers the new file."""

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client as k8s

from hooks import contract, names
from tests.testbed.bed import Bed
from tests.testbed.scenario import HOOKS, eventually, kubectl

from .helpers import synced_import

pytestmark = pytest.mark.node
NS = "renewal"
IMPORT = "renewal"
IMAGE = "multicluster-service-account-example-multicluster-client:latest"
#: 600 s tokens (the least a TokenRequest grants), renewed after 10% of that: every 60 s.
RENEW_FRACTION = "0.1"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
DIRECTORY = f"{contract.MOUNT_ROOT}/{IMPORT}"
CONTAINERS = ("kubectl", "python")

KUBECTL_LOOP = f"""
while true; do
  if out=$(/opt/kubectl/kubectl --kubeconfig {DIRECTORY}/config get pods -o name 2>&1) &&
     id=$(/opt/kubectl/kubectl --kubeconfig {DIRECTORY}/config auth whoami -o json 2>&1); then
    echo "$(date +%s) ok $(echo "$id" | grep -o 'JTI=[^"]*') $(echo $out | wc -w)"
  else
    echo "$(date +%s) fail $(echo "$out $id" | head -c 300)"
  fi
  sleep 3
done
"""

PYTHON_LOOP = f"""
import time
from kubernetes import client
from multicluster_service_account import named_service_account_import_config_and_namespace

configuration, namespace = named_service_account_import_config_and_namespace("{IMPORT}")  # loaded once
with client.ApiClient(configuration) as api:
    while True:
        try:
            pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
            review = client.AuthenticationV1Api(api).create_self_subject_review(
                {{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}}
            )
            ids = (review.status.user_info.extra or {{}}).get("{CREDENTIAL_ID}", [])
            print(int(time.time()), "ok", ",".join(ids), len(pods), flush=True)
        except Exception as err:  # noqa: BLE001
            print(int(time.time()), "fail", type(err).__name__, str(err)[:300], flush=True)
        time.sleep(3)
"""


@contextmanager
def hooks_renewing_at(bed: Bed, fraction: str) -> Iterator[None]:
    """The hooks Deployment with MCSA_RENEW_FRACTION set, as an admin sets it; unset afterwards."""
    deployment = ["--context", "cluster1", "-n", contract.CREDENTIALS_NAMESPACE]
    rollout = [*deployment, "rollout", "status", "--timeout=180s", f"deploy/{HOOKS}"]
    kubectl(bed.kubeconfig, *deployment, "set", "env", f"deploy/{HOOKS}", f"MCSA_RENEW_FRACTION={fraction}")
    kubectl(bed.kubeconfig, *rollout)
    try:
        yield
    finally:
        kubectl(bed.kubeconfig, *deployment, "set", "env", f"deploy/{HOOKS}", "MCSA_RENEW_FRACTION-")
        kubectl(bed.kubeconfig, *rollout)


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def lines(bed: Bed, container: str) -> list[list[str]]:
    log = k8s.CoreV1Api(bed.api1).read_namespaced_pod_log("clients", NS, container=container)
    return [line.split() for line in log.splitlines() if line.strip()]


def seen_ids(bed: Bed, container: str) -> dict[str, int]:
    """Each credential ID the container presented, with the first time it did."""
    first: dict[str, int] = {}
    for fields in lines(bed, container):
        if len(fields) >= 3 and fields[1] == "ok":
            first.setdefault(fields[2].removeprefix("JTI="), int(fields[0]))
    return first


def test_a_running_pod_keeps_working_across_two_renewals(testbed: Bed) -> None:
    assert testbed.node is not None
    core = k8s.CoreV1Api(testbed.api1)
    issued: dict[str, float] = {}  # JTI -> when the hooks issued it (the token's iat)

    def remember_token() -> None:
        secret = core.read_namespaced_secret(names.secret_name(IMPORT), NS)
        testbed.remember(secret)
        claims = jwt_claims(base64.b64decode(secret.data[contract.TOKEN_KEY]).decode())
        issued.setdefault(claims["jti"], claims["iat"])

    with hooks_renewing_at(testbed, RENEW_FRACTION):
        synced_import(testbed, NS, IMPORT, expirationSeconds=600)
        remember_token()
        driver = testbed.driver().start()  # honours resyncAfterSeconds: the renewals
        kubectl_bin = str(testbed.node.bin_dir)
        pod = {
            "metadata": {"name": "clients", "annotations": {contract.IMPORT_NAME_KEY: IMPORT}},
            "spec": {
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": "kubectl",
                        "image": IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", KUBECTL_LOOP],
                        "env": [{"name": "HOME", "value": "/tmp"}],
                        "volumeMounts": [
                            {"name": "kubectl", "mountPath": "/opt/kubectl", "readOnly": True},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    },
                    {
                        "name": "python",
                        "image": IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-c", PYTHON_LOOP],
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    },
                ],
                "volumes": [
                    # The kubectl built for the test bed, a static binary, from the node.
                    {"name": "kubectl", "hostPath": {"path": kubectl_bin, "type": "Directory"}},
                    {"name": "tmp", "emptyDir": {}},
                ],
            },
        }
        core.create_namespaced_pod(NS, pod)
        try:

            def running() -> bool:
                return bool(core.read_namespaced_pod("clients", NS).status.phase == "Running")

            eventually(running, "the client pod to run", timeout=120, interval=1)
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline:
                remember_token()
                if all(len(seen_ids(testbed, c)) >= 3 for c in CONTAINERS):
                    break
                time.sleep(5)
            remember_token()
            logged = {c: lines(testbed, c) for c in CONTAINERS}
            seen = {c: seen_ids(testbed, c) for c in CONTAINERS}
            status = core.read_namespaced_pod("clients", NS).status
        finally:
            driver.stop()
            core.delete_namespaced_pod("clients", NS, grace_period_seconds=0)
    assert not driver.errors, driver.errors

    restarts = {c.name: c.restart_count for c in status.container_statuses or []}
    assert restarts == {"kubectl": 0, "python": 0}, restarts
    for container in CONTAINERS:
        failed = [" ".join(fields) for fields in logged[container] if fields[1] != "ok"]
        assert not failed, f"{container}: {failed[:3]}"
        assert len(logged[container]) >= 20, f"{container} made only {len(logged[container])} calls"
        assert len(seen[container]) >= 3, f"{container} presented {len(seen[container])} tokens: {logged[container]}"
        assert set(seen[container]) <= set(issued), "a client presented a token the hooks did not issue"
    # How long a renewed token takes to reach the pod: from its issue to its first use by each client.
    delays = sorted(seen[c][jti] - issued[jti] for c in CONTAINERS for jti in list(seen[c])[1:])
    print(f"renewed token reached the pod after {delays} s (kubelet secret-volume refresh)")
    assert delays[-1] < 180, delays
