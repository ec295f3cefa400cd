"""The Helm chart (charts/multicluster-service-account) on cluster1's node, with the real Helm: it takes over the
kustomize install without restarting the hooks, and upgrades it; `helm uninstall` leaves nothing that blocks pod
creation, and leaves the CRD, the imports and their Secrets, as the chart's notes say; a fresh `helm install
--wait` comes up from the built image and the walkthrough passes; `helm upgrade` to another setting keeps every
import's Secret and fails no pod creation. The bed's kustomize install is back afterwards, for the tests that
follow."""

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bootstrap.credential import credential_secret_name
from hooks import contract, names
from tests.testbed import walkthrough
from tests.testbed.bed import CERTIFICATE_JOB, Bed, Hooks
from tests.testbed.helm import CHART, RELEASE, Helm, helm_binary, kustomize_installed, restore_kustomize_install
from tests.testbed.metacontroller import RECOMMENDED_FLAGS
from tests.testbed.scenario import (
    CA_SECRET,
    HOOKS,
    NEVER_SCHEDULED,
    REPO,
    TLS_SECRET,
    WEBHOOK,
    eventually,
    imported_secret,
    kubectl,
    tls_secret,
)

from .helpers import GROUP, VERSION, ready, synced_import
from .test_outages import creating_pods, ready_pods

pytestmark = pytest.mark.node
NS = contract.CREDENTIALS_NAMESPACE
RELEASE_VERSION = (REPO / "VERSION").read_text().strip()
IMAGE = f"ghcr.io/admiraltyio/multicluster-service-account:{RELEASE_VERSION}"
#: This test's imports, in a namespace of its own.
LOCAL = "helm"
IMPORTS = [f"helm-{i}" for i in range(3)]
EXAMPLE_JOBS = ("multicluster-client", "generic-client")
#: The CRD's name, and the CompositeController's.
CRD = COMPOSITE_CONTROLLER = f"{contract.PLURAL}.{contract.GROUP}"
WAIT = ("--wait", "--wait-for-jobs", "--timeout", "3m")


def digest(value: str | bytes) -> str:
    """A short fingerprint of Secret data, to compare without ever printing it."""
    return hashlib.sha256(value if isinstance(value, bytes) else value.encode()).hexdigest()[:12]


def import_secrets(bed: Bed) -> dict[str, tuple[str, str]]:
    """Every import's Secret in cluster1: namespace/name -> its uid and a fingerprint of its token."""
    listed = k8s.CoreV1Api(bed.api1).list_secret_for_all_namespaces(label_selector=contract.IMPORT_NAME_KEY)
    for secret in listed.items:
        bed.remember(secret)
    return {
        f"{s.metadata.namespace}/{s.metadata.name}": (
            str(s.metadata.uid),
            digest((s.data or {}).get(contract.TOKEN_KEY, "")),
        )
        for s in listed.items
    }


def kept(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> list[str]:
    """What went wrong with the Secrets of before: gone, or replaced (another uid). Names only."""
    return [
        f"{key}: gone" if key not in after else f"{key}: replaced"
        for key in before
        if after.get(key, ("",))[0] != before[key][0]
    ]


def fingerprints(data: dict[str, bytes]) -> dict[str, str]:
    return {key: digest(value) for key, value in data.items()}


def ca_bundle(bed: Bed) -> str:
    """A fingerprint of the CA the webhook configuration holds (as the PEM the certificate step wrote)."""
    webhook = k8s.AdmissionregistrationV1Api(bed.api1).read_mutating_webhook_configuration(WEBHOOK)
    return digest(base64.b64decode(webhook.webhooks[0].client_config.ca_bundle or ""))


def import_exists(bed: Bed, namespace: str, name: str) -> bool:
    return not absent(
        lambda: k8s.CustomObjectsApi(bed.api1).get_namespaced_custom_object(
            GROUP, VERSION, namespace, contract.PLURAL, name
        )
    )


def absent(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except ApiException as err:
        if err.status == 404:
            return True
        raise
    return False


def remove_walkthrough_objects(bed: Bed) -> None:
    """The walkthrough's objects in cluster1 (its examples' Jobs and their pods, its import and the Secret),
    which test_walkthrough makes again. (Its objects in cluster2, made idempotently, stay.)"""
    batch, core = k8s.BatchV1Api(bed.api1), k8s.CoreV1Api(bed.api1)
    for job in EXAMPLE_JOBS:
        if not absent(lambda job=job: batch.read_namespaced_job(job, "default")):
            batch.delete_namespaced_job(job, "default", propagation_policy="Background")
    if import_exists(bed, "default", walkthrough.IMPORT):
        k8s.CustomObjectsApi(bed.api1).delete_namespaced_custom_object(
            GROUP, VERSION, "default", contract.PLURAL, walkthrough.IMPORT
        )
    eventually(
        lambda: (
            all(not core.list_namespaced_pod("default", label_selector=f"job-name={job}").items for job in EXAMPLE_JOBS)
            and imported_secret(bed.api1, "default", walkthrough.IMPORT) is None
        ),
        "the walkthrough's pods and Secret to be gone",
        120,
        0.5,
    )


@pytest.fixture
def helm(testbed: Bed, tmp_path: Path) -> Iterator[Helm]:
    """helm for cluster1. Afterwards, whatever happened: no release, the walkthrough's and this test's objects
    gone, namespace default labelled as it was, and the kustomize install back as the bed made it."""
    assert testbed.node is not None
    tool = Helm(helm_binary(), testbed.kubeconfig, tmp_path / "helm")
    core = k8s.CoreV1Api(testbed.api1)
    default_labels = dict(core.read_namespace("default").metadata.labels or {})
    remove_walkthrough_objects(testbed)
    yield tool
    if RELEASE in tool.releases():
        tool("uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "2m")
    remove_walkthrough_objects(testbed)
    labels = core.read_namespace("default").metadata.labels or {}
    core.patch_namespace("default", {"metadata": {"labels": {k: default_labels.get(k) for k in labels}}})
    for name in IMPORTS:
        if import_exists(testbed, LOCAL, name):
            k8s.CustomObjectsApi(testbed.api1).delete_namespaced_custom_object(
                GROUP, VERSION, LOCAL, contract.PLURAL, name
            )
    if not kustomize_installed(testbed.api1):
        restore_kustomize_install(testbed)
    kubectl(
        testbed.kubeconfig, "--context", "cluster1", "-n", NS, "rollout", "status", "--timeout=180s", f"deploy/{HOOKS}"
    )
    eventually(lambda: len(ready_pods(testbed)) == 2, "the kustomize install's two hooks replicas", 120)


def test_helm_takes_over_uninstalls_installs_afresh_and_upgrades(testbed: Bed, helm: Helm, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    core = k8s.CoreV1Api(testbed.api1)
    for name in IMPORTS:
        synced_import(testbed, LOCAL, name)
        assert ready(testbed, LOCAL, name)["status"] == "True"
    pods = {p.metadata.uid for p in ready_pods(testbed)}
    certificate = fingerprints(tls_secret(testbed.api1))
    bundle = ca_bundle(testbed)
    secrets = import_secrets(testbed)
    assert {f"{LOCAL}/{names.secret_name(name)}" for name in IMPORTS} <= set(secrets)

    # -- Helm takes over the kustomize install: the hooks keep running, the certificate and imports stay. With
    # client-side apply, as Helm 3 does it: kubectl's client-side apply owns the same fields, and a server-side
    # upgrade would then conflict with it on every field it changes.
    started = time.monotonic()
    kubectl(
        testbed.kubeconfig, "--context", "cluster1", "-n", NS, "delete", "job", CERTIFICATE_JOB, "--ignore-not-found"
    )
    helm("install", RELEASE, str(CHART), "--namespace", NS, "--take-ownership", "--server-side=false", *WAIT)
    timings["take over"] = time.monotonic() - started
    deployment = k8s.AppsV1Api(testbed.api1).read_namespaced_deployment(HOOKS, NS)
    assert deployment.metadata.annotations["meta.helm.sh/release-name"] == RELEASE
    assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "Helm"
    assert {p.metadata.uid for p in ready_pods(testbed)} == pods, "the take-over restarted the hooks"
    assert fingerprints(tls_secret(testbed.api1)) == certificate, "the take-over changed the hooks' certificate"
    assert ca_bundle(testbed) == bundle
    assert not kept(secrets, import_secrets(testbed))
    # ... and upgrades it: a third replica, the two running ones left alone.
    started = time.monotonic()
    helm("upgrade", RELEASE, str(CHART), "--namespace", NS, "--set", "replicas=3", *WAIT)
    timings["upgrade after take-over"] = time.monotonic() - started
    assert len(ready_pods(testbed)) == 3 and pods <= {p.metadata.uid for p in ready_pods(testbed)}
    assert fingerprints(tls_secret(testbed.api1)) == certificate
    assert not kept(secrets, import_secrets(testbed))

    # -- helm uninstall: nothing blocks pod creation; the CRD, imports, Secrets and credentials stay. ----------
    assert not testbed.leaked_tokens()  # the hooks pods go now, their logs with them
    started = time.monotonic()
    helm("uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "2m")
    timings["uninstall"] = time.monotonic() - started
    admission = k8s.AdmissionregistrationV1Api(testbed.api1)
    assert WEBHOOK not in [w.metadata.name for w in admission.list_mutating_webhook_configuration().items]
    pod = {
        "metadata": {"name": "after-uninstall", "annotations": {contract.IMPORT_NAME_KEY: IMPORTS[0]}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **NEVER_SCHEDULED},
    }
    created = core.create_namespaced_pod(LOCAL, pod)  # in a namespace still labelled
    assert names.volume_name(IMPORTS[0]) not in [v.name for v in created.spec.volumes or []]
    core.delete_namespaced_pod("after-uninstall", LOCAL, grace_period_seconds=0)
    assert not kept(secrets, import_secrets(testbed))
    for name in IMPORTS:
        assert ready(testbed, LOCAL, name)["status"] == "True"
    core.read_namespaced_secret(credential_secret_name("cluster2"), NS)
    apps, custom = k8s.AppsV1Api(testbed.api1), k8s.CustomObjectsApi(testbed.api1)
    for gone in (
        lambda: apps.read_namespaced_deployment(HOOKS, NS),
        lambda: core.read_namespaced_secret(TLS_SECRET, NS),
        lambda: core.read_namespaced_secret(CA_SECRET, NS),
        lambda: custom.get_cluster_custom_object(
            "metacontroller.k8s.io", "v1alpha1", "compositecontrollers", COMPOSITE_CONTROLLER
        ),
    ):
        assert absent(gone)
    assert not helm.releases()

    # -- A fresh helm install (server-side apply, Helm 4's default): the hooks from the built image, Ready, with
    # a new CA; the walkthrough passes. ------------------------------------------------------------------------
    started = time.monotonic()
    helm("install", RELEASE, str(CHART), "--namespace", NS, "--create-namespace", *WAIT)
    timings["install"] = time.monotonic() - started
    fresh = ready_pods(testbed)
    assert len(fresh) == 2
    for pod in fresh:
        [status] = pod.status.container_statuses or []
        assert (status.image, status.ready, status.restart_count) == (IMAGE, True, 0), pod.metadata.name
    certificate = fingerprints(tls_secret(testbed.api1))
    assert ca_bundle(testbed) == certificate["ca.crt"] != bundle
    # The notes' command that upgrades the CRD, which Helm never does (here to the same CRD).
    crds = helm("show", "crds", str(CHART)).stdout
    upgrade_crds = ("--context", "cluster1", "apply", "--server-side", "--force-conflicts", "-f", "-")
    applied = kubectl(testbed.kubeconfig, *upgrade_crds, stdin=crds).stdout.split()
    assert applied == [f"customresourcedefinition.apiextensions.k8s.io/{CRD}", "serverside-applied"]
    started = time.monotonic()
    walkthrough.run(testbed, tmp_path / "walkthrough", say=lambda _: None)
    timings["walkthrough"] = time.monotonic() - started
    assert not kept(secrets, import_secrets(testbed))

    # -- helm upgrade to another setting (the hooks roll), while pods that ask for imports are created and
    # Metacontroller syncs every import through the hooks' Service. ------------------------------------------
    secrets = import_secrets(testbed)
    pods = {p.metadata.uid for p in fresh}
    assert not testbed.leaked_tokens()
    driver = testbed.driver(**RECOMMENDED_FLAGS).start()
    service = core.read_namespaced_service(HOOKS, NS)
    hooks = Hooks(
        f"https://{service.spec.cluster_ip}:443",
        testbed.hooks.server_hostname,
        tls_secret(testbed.api1)["ca.crt"].decode(),
    )
    started = time.monotonic()
    try:
        with creating_pods(replace(testbed, hooks=hooks), LOCAL) as outcome:
            time.sleep(2)
            helm("upgrade", RELEASE, str(CHART), "--namespace", NS, "--set", "settings.remoteTimeoutSeconds=3", *WAIT)
            time.sleep(3)
    finally:
        driver.stop()
    timings["upgrade"] = time.monotonic() - started
    assert not outcome["failed"], outcome["failed"][:5]
    assert len(outcome["admitted"]) >= 50, len(outcome["admitted"])
    assert not outcome["refused"], outcome["refused"][:5]
    assert not driver.errors, driver.errors[:5]
    upgraded = ready_pods(testbed)
    assert len(upgraded) == 2 and not {p.metadata.uid for p in upgraded} & pods
    for pod in upgraded:
        [container] = pod.spec.containers
        assert ("MCSA_REMOTE_TIMEOUT_SECONDS", "3") in [(e.name, e.value) for e in container.env]
    # The upgrade ran the certificate step again, in a Job of its own, which kept the certificate.
    batch = k8s.BatchV1Api(testbed.api1)
    assert batch.read_namespaced_job(f"{CERTIFICATE_JOB}-2", NS).status.succeeded == 1
    assert absent(lambda: batch.read_namespaced_job(CERTIFICATE_JOB, NS))
    assert fingerprints(tls_secret(testbed.api1)) == certificate
    after = import_secrets(testbed)
    assert not kept(secrets, after)
    for name in IMPORTS:
        key = f"{LOCAL}/{names.secret_name(name)}"
        assert after[key] == secrets[key], f"the token of {name} changed without being due"
        assert ready(testbed, LOCAL, name)["status"] == "True"
    assert not testbed.leaked_tokens()  # before the uninstall that restores the kustomize install
    print("helm: " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in timings.items()))
