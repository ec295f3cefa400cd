"""The install as pods on cluster1's real node: the image built from the Dockerfile, the certificate Job
in a pod, the hooks Ready through their probes, the webhook reached through the Service and kube-proxy,
and the kubelet mounting the Secret the webhook asks for, renewals included."""

import base64
import hashlib
import json
import tarfile

import pytest
from kubernetes import client as k8s

from hooks import contract, names
from tests.testbed.bed import Bed
from tests.testbed.scenario import HOOKS, WEBHOOK, eventually, kubectl, tls_secret

from .helpers import hooks_later, synced_import

pytestmark = pytest.mark.node
NS = contract.CREDENTIALS_NAMESPACE
IMAGE = "ghcr.io/admiraltyio/multicluster-service-account:0.7.0"


def archive_digests(bed: Bed, image: str) -> set[str]:
    """The manifest and config digests of the image built from the Dockerfile (its OCI archive)."""
    assert bed.node is not None
    path = bed.node.images_dir / f"{image.replace('/', '_').replace(':', '_')}.tar"
    with tarfile.open(path) as archive:

        def blob(digest: str) -> dict:
            member = archive.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
            assert member is not None
            return dict(json.load(member))

        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"]
        return {manifest_digest, blob(manifest_digest)["config"]["digest"]}


def test_the_hooks_run_as_two_ready_replicas_of_the_built_image(testbed: Bed) -> None:
    deployment = k8s.AppsV1Api(testbed.api1).read_namespaced_deployment(HOOKS, NS)
    assert (deployment.status.replicas, deployment.status.ready_replicas) == (2, 2)
    digests = archive_digests(testbed, IMAGE)
    pods = [p for p in testbed.hooks_pods() if p.metadata.deletion_timestamp is None]
    assert len(pods) == 2
    for pod in pods:
        [status] = list(pod.status.container_statuses or [])
        assert pod.status.phase == "Running" and status.ready, pod.metadata.name
        assert status.image.endswith(IMAGE) and any(d in status.image_id for d in digests), status.image_id
        # The manifests start as shipped: no crash before the certificate was there, no probe failure.
        assert status.restart_count == 0, f"{pod.metadata.name} restarted {status.restart_count} times"
        assert pod.spec.node_name == testbed.node.name  # type: ignore[union-attr]
    # Both answer their readiness probe's path over TLS, for the Service's name.
    assert len(testbed.hooks_get_each("/readyz")) == 2


def test_the_certificate_job_ran_in_a_pod_and_the_webhook_trusts_its_ca(testbed: Bed) -> None:
    job = testbed.certificate_job
    assert job is not None and job.status.succeeded == 1, job
    assert "issued a serving certificate" in testbed.certificate_log
    assert f'set the caBundle of MutatingWebhookConfiguration "{WEBHOOK}"' in testbed.certificate_log
    webhook = k8s.AdmissionregistrationV1Api(testbed.api1).read_mutating_webhook_configuration(WEBHOOK).webhooks[0]
    assert base64.b64decode(webhook.client_config.ca_bundle) == tls_secret(testbed.api1)["ca.crt"]
    # As shipped: the API server reaches the webhook through its Service, not a URL.
    assert webhook.client_config.url is None
    assert (webhook.client_config.service.name, webhook.client_config.service.namespace) == (HOOKS, NS)


def test_the_certificate_cronjob_runs_under_the_restricted_pod_security_standard(testbed: Bed) -> None:
    # The install namespace enforces restricted (test_install.py): a Job made from the CronJob's template runs.
    cluster1 = ["--context", "cluster1", "-n", NS]
    kubectl(testbed.kubeconfig, *cluster1, "create", "job", "certificates-now",
            "--from=cronjob/multicluster-service-account-certificates")  # fmt: skip
    try:
        kubectl(testbed.kubeconfig, *cluster1, "wait", "--for=condition=complete", "--timeout=120s",
                "job/certificates-now")  # fmt: skip
        log = kubectl(testbed.kubeconfig, *cluster1, "logs", "job/certificates-now").stdout
        assert "is up to date" in log, log
    finally:
        kubectl(testbed.kubeconfig, *cluster1, "delete", "job", "certificates-now", "--wait=false", check=False)


def test_a_pod_with_an_import_runs_with_the_secret_mounted_by_the_kubelet_and_sees_its_renewal(testbed: Bed) -> None:
    synced_import(testbed, "mounted", "mounted", expirationSeconds=600)
    # In a namespace that enforces the restricted Pod Security Standard: the webhook's additions (the Secret
    # volume, the credential plugin's init container) pass it, checked after the webhook has mutated the pod.
    k8s.CoreV1Api(testbed.api1).patch_namespace(
        "mounted", {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    secret = k8s.CoreV1Api(testbed.api1).read_namespaced_secret(names.secret_name("mounted"), "mounted")
    testbed.remember(secret)
    directory = f"{contract.MOUNT_ROOT}/mounted"
    script = (
        f'echo "files: $(ls {directory} | xargs)"; echo "namespace: $(cat {directory}/namespace)"; '
        f'echo "server: $(cat {directory}/server)"; sleep 3600'
    )
    pod = {
        "metadata": {"name": "mounted", "annotations": {contract.IMPORT_NAME_KEY: "mounted"}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", script],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    core = k8s.CoreV1Api(testbed.api1)
    core.create_namespaced_pod("mounted", pod)
    try:

        def running() -> bool:
            return bool(core.read_namespaced_pod("mounted", "mounted").status.phase == "Running")

        eventually(running, "the pod with the import to run", timeout=120, interval=1)
        log = eventually(
            lambda: (out := core.read_namespaced_pod_log("mounted", "mounted")) and "server: " in out and out,
            "the pod's output",
            timeout=30,
        )
        said = dict(line.split(": ", 1) for line in log.splitlines())
        assert set(said["files"].split()) == {"config", "exec-config", "token", "ca.crt", "namespace", "server"}, log
        assert (said["namespace"], said["server"]) == ("mounted", testbed.cluster2.server), log
        # The token the kubelet wrote is the Secret's (compared by digest: it is never printed).
        exec_in = ["--context", "cluster1", "-n", "mounted", "exec", "mounted", "--"]

        def mounted_token() -> str:
            return kubectl(testbed.kubeconfig, *exec_in, "sha256sum", f"{directory}/token").stdout.split()[0]

        assert mounted_token() == token_digest(secret)
        written = kubectl(testbed.kubeconfig, *exec_in, "touch", f"{directory}/x", check=False)
        assert written.returncode != 0 and "Read-only file system" in written.stderr

        # The renewal (the hooks, their clock past the renewal point of the 600 s token) reaches the running
        # pod: the kubelet's refresh of the Secret volume swaps in the new token.
        with hooks_later(testbed, 590) as driver:
            driver.sync_parent("mounted", "mounted")
        renewed = k8s.CoreV1Api(testbed.api1).read_namespaced_secret(names.secret_name("mounted"), "mounted")
        testbed.remember(renewed)
        assert token_digest(renewed) != token_digest(secret)
        eventually(
            lambda: mounted_token() == token_digest(renewed), "the renewed token in the pod", timeout=180, interval=2
        )
    finally:
        core.delete_namespaced_pod("mounted", "mounted", grace_period_seconds=0)


def token_digest(secret: k8s.V1Secret) -> str:
    return hashlib.sha256(base64.b64decode(secret.data[contract.TOKEN_KEY])).hexdigest()


def test_each_port_serves_its_own_paths_and_the_network_policy_admits_only_metacontroller_to_sync(
    testbed: Bed,
) -> None:
    sync = json.dumps({"parent": 1}).encode()  # malformed: answered with a 400 where /sync is served
    review = json.dumps({"request": 1}).encode()
    # Through the Service: port 443 is the webhook's, 8443 the hooks'.
    status, body = testbed.hooks.request("POST", "/sync", sync)
    assert status == 404 and "is not served on the webhook port 9443" in body
    status, body = testbed.hooks.request("POST", "/sync", sync, port=8443)
    assert status == 400 and "parent must be a JSON object" in body
    status, body = testbed.hooks.request("POST", "/mutate", review, port=8443)
    assert status == 404 and "is not served on the hooks port 8443" in body
    status, _ = testbed.hooks.request("POST", "/mutate", review)
    assert status == 400
    # The policy as installed: it selects both hooks pods; port hooks from namespace metacontroller only,
    # port webhook from anywhere (enforced: the next test).
    policy = k8s.NetworkingV1Api(testbed.api1).read_namespaced_network_policy(HOOKS, NS)
    selector = ",".join(f"{k}={v}" for k, v in policy.spec.pod_selector.match_labels.items())
    selected = k8s.CoreV1Api(testbed.api1).list_namespaced_pod(NS, label_selector=selector).items
    assert {p.metadata.name for p in selected} >= {p.metadata.name for p in testbed.hooks_pods()}
    assert all(p.metadata.labels.get("app.kubernetes.io/name") == HOOKS for p in selected)
    assert policy.spec.policy_types == ["Ingress"]
    hooks_rule, webhook_rule = policy.spec.ingress or []
    assert [p.port for p in hooks_rule.ports] == ["hooks"]
    [peer] = hooks_rule._from or []
    assert peer.namespace_selector.match_labels == {"kubernetes.io/metadata.name": "metacontroller"}
    assert peer.pod_selector is None and peer.ip_block is None
    assert [p.port for p in webhook_rule.ports] == ["webhook"] and webhook_rule._from is None
    [container] = testbed.hooks_pods()[0].spec.containers or []
    assert {p.name: p.container_port for p in container.ports} == {"hooks": 8443, "webhook": 9443}


#: Opens a TCP connection to each HOST:PORT argument (2 s each), and says which opened. It waits a moment
#: first: kube-network-policies learns a new pod's address from the API server (the kubelet reports it).
CONNECT = """
import socket, sys, time
time.sleep(5)
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), 2).close()
        print(target, "open")
    except OSError as err:
        print(target, "closed", type(err).__name__)
"""


def reachable(bed: Bed, namespace: str, targets: list[str]) -> dict[str, bool]:
    """Which targets (HOST:PORT) a pod in namespace can connect to."""
    core = k8s.CoreV1Api(bed.api1)
    pod = {
        "metadata": {"name": "connect"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-c", CONNECT, *targets],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    core.create_namespaced_pod(namespace, pod)
    try:
        eventually(lambda: core.read_namespaced_pod("connect", namespace).status.phase == "Succeeded" or None,
                   f"the connecting pod in {namespace} to finish", timeout=120, interval=1)  # fmt: skip
        log = core.read_namespaced_pod_log("connect", namespace)
    finally:
        core.delete_namespaced_pod("connect", namespace, grace_period_seconds=0)
        eventually(lambda: not core.list_namespaced_pod(namespace).items or None, "the pod to go", timeout=60)
    said = dict(line.split(" ", 1) for line in log.splitlines())
    assert set(said) == set(targets), log
    return {target: said[target] == "open" for target in targets}


def test_the_network_policy_is_enforced_only_metacontrollers_namespace_reaches_the_sync_port(testbed: Bed) -> None:
    # kube-network-policies (SIG Network's implementation) polices every connection between the node's pods
    # (tests/testbed/netpol.py), for every test of the bed: the install works unchanged with it on.
    assert testbed.node is not None and "kube-network-policies" in testbed.node.processes
    core = k8s.CoreV1Api(testbed.api1)
    for namespace in ("metacontroller", "elsewhere"):
        if not core.list_namespace(field_selector=f"metadata.name={namespace}").items:
            core.create_namespace({"metadata": {"name": namespace}})
    service = core.read_namespaced_service(HOOKS, NS).spec.cluster_ip
    pods = [p.status.pod_ip for p in testbed.hooks_pods() if p.metadata.deletion_timestamp is None]
    hooks = [f"{ip}:8443" for ip in pods] + [f"{service}:8443"]
    webhook = [f"{ip}:9443" for ip in pods] + [f"{service}:443"]
    assert reachable(testbed, "metacontroller", hooks + webhook) == dict.fromkeys(hooks + webhook, True)
    elsewhere = reachable(testbed, "elsewhere", hooks + webhook)
    assert elsewhere == {**dict.fromkeys(hooks, False), **dict.fromkeys(webhook, True)}, elsewhere
    # The node's own processes are not policed: the API server still calls the webhook (this bed's other
    # tests create pods through it) and Metacontroller's stand-in, a process of the node, the hooks port.
    status, body = testbed.hooks.request("POST", "/sync", json.dumps({"parent": 1}).encode(), port=8443)
    assert status == 400 and "parent must be a JSON object" in body
