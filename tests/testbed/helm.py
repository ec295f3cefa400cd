"""The Helm chart on the test bed: the real Helm (tests/tools/build-helm.sh) against cluster1, and the way back
from a Helm install to the kustomize install that bed.py makes, with the bed's view of the hooks (their CA,
their Service's address) brought up to date."""

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract

from .bed import CERTIFICATE_JOB, Bed, _wait_for_install, loopback_certificate, service_routes
from .cluster import REPO
from .scenario import HOOKS, install, install_controller, kubectl, serving_files_from_cluster

CHART = REPO / "charts" / "multicluster-service-account"
#: The release name the chart's README uses; the chart's objects are named alike whatever it is.
RELEASE = "multicluster-service-account"
NAMESPACE = contract.CREDENTIALS_NAMESPACE


class HelmError(AssertionError):
    pass


def helm_binary() -> str:
    """The real Helm, built once from the Go module proxy into the cache (isolated.py builds it before the
    bed's network namespace, which has no route to the proxy, is entered)."""
    built = subprocess.run([str(REPO / "tests" / "tools" / "build-helm.sh")], capture_output=True, text=True)
    if built.returncode != 0:
        raise HelmError(f"tests/tools/build-helm.sh failed ({built.returncode}): {built.stderr.strip()[-2000:]}")
    return built.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Helm:
    """helm against one context of the bed's kubeconfig, with Helm's own files (cache, configuration,
    registries) in home, never the user's."""

    binary: str
    kubeconfig: Path
    home: Path
    context: str = "cluster1"

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        command = [self.binary, "--kubeconfig", str(self.kubeconfig), "--kube-context", self.context, *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=timeout)
        if check and done.returncode != 0:
            # Helm's errors name objects, never their data; its output (the notes) is left out.
            raise HelmError(f"helm {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-3000:]}")
        return done

    def releases(self) -> list[str]:
        return self("list", "--namespace", NAMESPACE, "--deployed", "--failed", "--pending", "--short").stdout.split()


def kustomize_installed(api: k8s.ApiClient) -> bool:
    """Whether the hooks Deployment is there and not Helm's."""
    try:
        deployment = k8s.AppsV1Api(api).read_namespaced_deployment(HOOKS, NAMESPACE)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return (deployment.metadata.labels or {}).get("app.kubernetes.io/managed-by") != "Helm"


def restore_kustomize_install(bed: Bed, say: Callable[[str], None] = lambda _: None) -> None:
    """After `helm uninstall`: the install as running_bed makes it (kubectl apply -k manifests/, the README's
    waits, kubectl apply -k metacontroller/), then the bed's files and hooks as running_bed sets them: the
    uninstall deleted the CA's Secret and the Service, so the hooks have a new CA and another ClusterIP."""
    assert bed.node is not None, "the Helm install runs on the bed with the node only"
    kubectl(
        bed.kubeconfig, "--context", "cluster1", "-n", NAMESPACE, "delete", "job", CERTIFICATE_JOB, "--ignore-not-found"
    )
    say("$ kubectl --context cluster1 apply -k manifests/")
    install(bed.kubeconfig, "cluster1")
    bed.certificate_job, bed.certificate_log = _wait_for_install(bed.kubeconfig, bed.api1, say)
    say("$ kubectl --context cluster1 apply -k metacontroller/")
    install_controller(bed.kubeconfig, "cluster1")
    files = serving_files_from_cluster(bed.api1, bed.files.ca.parent)
    assert files == bed.files
    loopback_certificate(bed.api1, bed.files)
    service = k8s.CoreV1Api(bed.api1).read_namespaced_service(HOOKS, NAMESPACE)
    bed.hooks.url = f"https://{service.spec.cluster_ip}:443"
    bed.hooks.ca_pem = bed.files.ca_pem.decode()
    service_routes(bed.hooks)
