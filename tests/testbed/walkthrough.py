"""The seed's walkthrough, step by step, saying what it checks. Run by `make demo` and by the e2e tests."""

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml
from kubernetes import client as k8s

from hooks import contract, names
from multicluster_service_account import ROOT_ENV

from .bed import Bed
from .cluster import REPO
from .metacontroller import RECOMMENDED_FLAGS
from .scenario import (
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

IMPORT = "cluster2-default-pod-lister"
GROUP, VERSION = contract.API_VERSION.split("/")


@dataclass(frozen=True)
class Outcome:
    secret: k8s.V1Secret
    pod: k8s.V1Pod
    kubeconfig: Path
    listed: list[str]


def ready_condition(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, str] | None:
    obj = k8s.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, contract.PLURAL, name)
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), None)


def run(bed: Bed, workdir: Path, say: Callable[[str], None]) -> Outcome:
    say("In cluster2: service account pod-lister, allowed only to list pods in default, and an nginx pod")
    pod_lister(bed.api2)
    nginx(bed.api2)

    say("In cluster1: label namespace default, create ServiceAccountImport cluster2-default-pod-lister")
    # Metacontroller with the README's recommended flags: at its defaults (5 API calls a second) the new
    # import would queue behind every import the bed already holds (the tests' too).
    driver = bed.driver(**RECOMMENDED_FLAGS).start()
    try:
        enable_namespace(bed.api1, "default")
        service_account_import(bed.api1, "default", IMPORT, "cluster2", "default", "pod-lister")

        say("Check: the controller created a Secret with a kubeconfig for the remote service account")
        secret = eventually(lambda: imported_secret(bed.api1, "default", IMPORT), "the imported Secret", 60)
        bed.remember(secret)
        assert secret.metadata.labels[contract.IMPORT_NAME_KEY] == IMPORT
        selected = kubectl(
            bed.kubeconfig, "--context", "cluster1", "get", "secret",
            "-l", f"{contract.IMPORT_NAME_KEY}={IMPORT}", "-o", "jsonpath={.items[0].data.config}",
        ).stdout  # fmt: skip
        config = yaml.safe_load(base64.b64decode(selected))
        cluster = config["clusters"][0]["cluster"]
        context = config["contexts"][0]["context"]
        assert config["current-context"] == IMPORT and cluster["server"] == bed.cluster2.server
        assert context["namespace"] == "default"
        say(f"  Secret {secret.metadata.name}: server {cluster['server']}, namespace {context['namespace']}")
        # The README's wait, on the real API server.
        kubectl(
            bed.kubeconfig, "--context", "cluster1", "wait", f"sai/{IMPORT}", "--for=condition=Ready", "--timeout=60s"
        )
        condition = eventually(lambda: ready_condition(bed.api1, "default", IMPORT), "the import's status")
        assert (condition["status"], condition["reason"]) == ("True", "TokenIssued"), condition
        say(f"  Ready={condition['status']} ({condition['reason']}): {condition['message']}")
    finally:
        driver.stop()
    assert not driver.errors, driver.errors

    mounts = workdir / "serviceaccountimports"
    kubeconfig = mount(secret, mounts / IMPORT)  # the files as the kubelet writes them, for the checks below
    if bed.node is not None:
        stored, listed = _example_jobs(bed, say)
    else:
        stored, listed = _example_on_mounted_files(bed, mounts, say)
    _check_mounted(stored, secret, say)
    assert "nginx" in listed
    denied = kubectl(kubeconfig, "get", "pods", "-n", "kube-system", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    say("  and nothing else: with the same kubeconfig, kubectl may not list pods in kube-system")
    return Outcome(secret, stored, kubeconfig, listed)


def _check_mounted(pod: k8s.V1Pod, secret: k8s.V1Secret, say: Callable[[str], None]) -> None:
    say("Check: the webhook mounted the Secret in the pod")
    volume = next(v for v in pod.spec.volumes if v.secret is not None and v.secret.secret_name == secret.metadata.name)
    assert volume.name == names.volume_name(IMPORT)
    [mounted] = [m for m in pod.spec.containers[0].volume_mounts if m.name == volume.name]
    assert (mounted.mount_path, mounted.read_only, mounted.sub_path) == (f"{contract.MOUNT_ROOT}/{IMPORT}", True, None)
    say(f"  volume {volume.name} (secret {volume.secret.secret_name}) at {mounted.mount_path}, read-only")


def _listed(output: str) -> list[str]:
    assert "Listing pods...\n" in output, f"the example did not list pods:\n{output}"
    return output.split("Listing pods...\n", 1)[1].split()


def _finished(bed: Bed, job: str) -> str | None:
    """The Job's Complete or Failed condition, once it has one (it has backoffLimit 0)."""
    status = k8s.BatchV1Api(bed.api1).read_namespaced_job(job, "default").status
    done = [c.type for c in status.conditions or [] if c.type in ("Complete", "Failed") and c.status == "True"]
    return done[0] if done else None


def _example_jobs(bed: Bed, say: Callable[[str], None]) -> tuple[k8s.V1Pod, list[str]]:
    """The examples' Jobs, as the README runs them, on cluster1's node; the multicluster-client's pod
    and what it listed."""
    core = k8s.CoreV1Api(bed.api1)
    outputs = {}
    for example in ("multicluster-client", "generic-client"):
        job = REPO / "examples" / example / "job.yaml"
        steps = (
            ("apply", "-f", str(job)),
            ("wait", f"job/{example}", "--for=condition=complete", "--timeout=180s"),
            ("logs", f"job/{example}"),
        )
        for args in steps:
            if args[0] == "wait":  # a failed Job fails here at once, not at the wait's timeout
                eventually(partial(_finished, bed, example), f"job/{example} to finish", 180, 1)
            say(f"$ kubectl --context cluster1 {' '.join(args).replace(str(REPO) + '/', '')}")
            done = kubectl(bed.kubeconfig, "--context", "cluster1", *args, check=False)
            if done.returncode != 0:
                pods = kubectl(bed.kubeconfig, "--context", "cluster1", "describe", "pods", "-l", f"job-name={example}")
                raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}\n{pods.stdout[-3000:]}")
            say("\n".join("  " + line for line in done.stdout.splitlines()))
        outputs[example] = done.stdout
    # Both list cluster2's pods through the import: the generic client found it as multicluster-client did.
    assert _listed(outputs["generic-client"]) == _listed(outputs["multicluster-client"])
    assert f"API server URL: {bed.cluster2.server}" in outputs["generic-client"]
    [pod] = core.list_namespaced_pod("default", label_selector="job-name=multicluster-client").items
    return pod, _listed(outputs["multicluster-client"])


def _example_on_mounted_files(bed: Bed, mounts: Path, say: Callable[[str], None]) -> tuple[k8s.V1Pod, list[str]]:
    """Without a node: a pod stored with the import's annotation, and the multicluster-client example
    run here on the Secret written as files, as the kubelet would mount them."""
    say("In cluster1: create pod multicluster-client, annotated with the import's name (no node: never runs)")
    pod = {
        "metadata": {"name": "multicluster-client", "annotations": {contract.IMPORT_NAME_KEY: IMPORT}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "multicluster-client", "image": "client"}],
            **NEVER_SCHEDULED,
        },
    }
    stored = k8s.CoreV1Api(bed.api1).create_namespaced_pod("default", pod)
    say(
        "Check: the multicluster-client example, on the Secret as files, lists the pods of cluster2's namespace default"
    )
    client = subprocess.run(
        [sys.executable, str(REPO / "examples" / "multicluster-client" / "main.py")],
        env={**os.environ, "PYTHONPATH": str(REPO), ROOT_ENV: str(mounts)},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert client.returncode == 0, client.stderr
    say(
        "  $ python examples/multicluster-client/main.py\n"
        + "\n".join("  " + line for line in client.stdout.splitlines())
    )
    return stored, _listed(client.stdout)
