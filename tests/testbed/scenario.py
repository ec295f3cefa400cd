"""Steps of the seed's walkthrough on the test bed, shared by the end-to-end tests and `make demo`."""

import base64
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from hooks import contract, names

from .cluster import REPO
from .hooks_server import ServingFiles

IMPORTER_ROLE = "multicluster-service-account-importer"
HOOKS = "multicluster-service-account-hooks"
TLS_SECRET = "multicluster-service-account-hooks-tls"
CA_SECRET = "multicluster-service-account-hooks-ca"
WEBHOOK = "multicluster-service-account"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
KUBEMCSA = str(Path(sys.executable).parent / "kubemcsa")
T = TypeVar("T")
#: For pods that exist only to be admitted (and mutated): with the node, they are never scheduled, so
#: the kubelet never tries to pull their made-up images.
NEVER_SCHEDULED: dict[str, Any] = {"schedulingGates": [{"name": "testbed.multicluster.admiralty.io/admission-only"}]}


def api_client(kubeconfig: Path, context: str) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(kubeconfig), context=context)


def kubectl(
    kubeconfig: Path, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def kubemcsa(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The kubemcsa console script, as a user runs it."""
    result = subprocess.run([KUBEMCSA, *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubemcsa {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30, interval: float = 0.2) -> T:
    """probe's first truthy result, or AssertionError naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ignore_status(status: int, call: Callable[[], Any]) -> None:
    """call, where an answer of status (409: it exists; 404: it is gone) is as good as done."""
    try:
        call()
    except ApiException as err:
        if err.status != status:
            raise


def ignore_conflict(call: Callable[[], Any]) -> None:
    ignore_status(409, call)


# -- cluster1: what `kubectl apply -k manifests/` installs, and its certificate step -----------------

CERTIFICATES_SA = "system:serviceaccount:multicluster-service-account:multicluster-service-account-certificates"


METACONTROLLER_CRD = Path(__file__).with_name("metacontroller-crd.yaml")


def install(kubeconfig: Path, context: str) -> None:
    """Everything in manifests/, as the README installs it."""
    kubectl(kubeconfig, "--context", context, "apply", "-k", str(REPO / "manifests"))
    kubectl(
        kubeconfig, "--context", context, "wait", "--for=condition=Established", "--timeout=30s",
        "crd/serviceaccountimports.multicluster.admiralty.io",
    )  # fmt: skip


def install_controller(kubeconfig: Path, context: str) -> None:
    """metacontroller/, as the README applies it, after the stand-in for Metacontroller's own install
    (its CompositeController CRD; the test double plays the controller)."""
    kubectl(kubeconfig, "--context", context, "apply", "-f", str(METACONTROLLER_CRD))
    kubectl(
        kubeconfig, "--context", context, "wait", "--for=condition=Established", "--timeout=30s",
        "crd/compositecontrollers.metacontroller.k8s.io",
    )  # fmt: skip
    kubectl(kubeconfig, "--context", context, "apply", "-k", str(REPO / "metacontroller"))


def certify(kubeconfig: Path, context: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The certificate step, run here as the Job runs it in the cluster: as its service account
    (impersonated, so with exactly the RBAC the manifests grant it). On the kubelet-less bed the hooks
    listen on 127.0.0.1, so the caller adds `--host 127.0.0.1`."""
    command = [
        sys.executable, "-m", "hooks.certify", "--kubeconfig", str(kubeconfig), "--context", context,
        "--as", CERTIFICATES_SA, *args,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"the certificate step failed ({result.returncode}): {result.stderr.strip()}")
    return result


def tls_secret(api: k8s.ApiClient) -> dict[str, bytes]:
    secret = k8s.CoreV1Api(api).read_namespaced_secret(TLS_SECRET, contract.CREDENTIALS_NAMESPACE)
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def serving_files_from_cluster(api: k8s.ApiClient, directory: Path) -> ServingFiles:
    """The hooks' TLS Secret as files, as the kubelet mounts it in the hooks pods."""
    data = tls_secret(api)
    directory.mkdir(parents=True, exist_ok=True)
    files = ServingFiles(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    files.ca.write_bytes(data["ca.crt"])
    files.cert.write_bytes(data["tls.crt"])
    files.key.write_bytes(data["tls.key"])
    files.key.chmod(0o600)
    return files


def point_webhook_at(api: k8s.ApiClient, hooks_url: str) -> None:
    """The kubelet-less bed's one change to the installed webhook: without a node there is no Service
    network, so the API server calls the hooks on loopback (a url client config) with the caBundle the
    certificate step set. Never used with the real node."""
    admission = k8s.AdmissionregistrationV1Api(api)
    config = admission.read_mutating_webhook_configuration(WEBHOOK)
    patch = [
        {"op": "replace", "path": f"/webhooks/{i}/clientConfig",
         "value": {"url": f"{hooks_url}/mutate", "caBundle": hook.client_config.ca_bundle}}
        for i, hook in enumerate(config.webhooks)
    ]  # fmt: skip
    admission.patch_mutating_webhook_configuration(WEBHOOK, patch)


# -- the walkthrough's objects ---------------------------------------------------------------------


def pod_lister(api: k8s.ApiClient, namespace: str = "default") -> None:
    """In the source cluster: service account pod-lister, allowed only to list pods in namespace."""
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    ignore_conflict(lambda: core.create_namespace({"metadata": {"name": namespace}}))
    ignore_conflict(lambda: core.create_namespaced_service_account(namespace, {"metadata": {"name": "pod-lister"}}))
    role = {
        "metadata": {"name": "pod-lister"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }
    ignore_conflict(lambda: rbac.create_namespaced_role(namespace, role))
    binding = {
        "metadata": {"name": "pod-lister"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-lister"},
        "subjects": [{"kind": "ServiceAccount", "name": "pod-lister", "namespace": namespace}],
    }
    ignore_conflict(lambda: rbac.create_namespaced_role_binding(namespace, binding))


def nginx(api: k8s.ApiClient, namespace: str = "default", name: str = "nginx") -> None:
    pod = {
        "metadata": {"name": name, "labels": {"run": name}},
        "spec": {"containers": [{"name": name, "image": "nginx"}]},
    }
    ignore_conflict(lambda: k8s.CoreV1Api(api).create_namespaced_pod(namespace, pod))


def enable_namespace(api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    ignore_conflict(lambda: core.create_namespace({"metadata": {"name": namespace}}))
    labels = {contract.NAMESPACE_OPT_IN_LABEL: contract.NAMESPACE_OPT_IN_VALUE}
    core.patch_namespace(namespace, {"metadata": {"labels": labels}})


def service_account_import(
    api: k8s.ApiClient, namespace: str, name: str, cluster: str, remote_namespace: str, remote_name: str, **spec: Any
) -> dict[str, Any]:
    body = {
        "apiVersion": contract.API_VERSION,
        "kind": contract.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterName": cluster, "namespace": remote_namespace, "name": remote_name, **spec},
    }
    group, version = contract.API_VERSION.split("/")
    created: dict[str, Any] = k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        group, version, namespace, contract.PLURAL, body
    )
    return created


def imported_secret(api: k8s.ApiClient, namespace: str, import_name: str) -> k8s.V1Secret | None:
    try:
        secret: k8s.V1Secret = k8s.CoreV1Api(api).read_namespaced_secret(names.secret_name(import_name), namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return secret


def mount(secret: k8s.V1Secret, directory: Path) -> Path:
    """Write the Secret's keys as files in directory, as the kubelet does for a secret volume."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in (secret.data or {}).items():
        (directory / key).write_bytes(base64.b64decode(value))
    return directory / contract.CONFIG_KEY


def admission_loop(
    api: k8s.ApiClient, namespace: str, import_name: str, seconds: float
) -> tuple[list[float], list[str]]:
    """Pods that ask for import_name created (dry run: admitted and mutated, never stored) for seconds, one
    every 50 ms: each creation's duration, and the failures (an error, or a pod without its mount)."""
    core = k8s.CoreV1Api(api)
    pod = {
        "metadata": {"name": "p", "annotations": {contract.IMPORT_NAME_KEY: import_name}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **NEVER_SCHEDULED},
    }
    latencies: list[float] = []
    failures: list[str] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.monotonic()
        try:
            created = core.create_namespaced_pod(namespace, pod, dry_run="All")
            if not any(v.name == names.volume_name(import_name) for v in created.spec.volumes or []):
                failures.append(f"a pod was admitted without the volume of {import_name}")
        except ApiException as err:
            failures.append(f"{err.status}: {str(err.body)[:200]}")
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    return latencies, failures
