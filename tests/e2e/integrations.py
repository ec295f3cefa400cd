"""The integrations' pages, executed: docs/argocd.md and docs/clusterprofile.md, on the bed, for the client
test's consumers (Argo CD's own cluster-Secret code, and a ClusterProfile consumer of SIG Multicluster's
cluster-inventory-api). Their fenced blocks are read from the pages and run as written, but where said."""

import json
import os
import re
import secrets
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bootstrap import clusterprofile
from bootstrap.kube import connect
from tests.testbed.bed import Bed
from tests.testbed.cluster import REPO
from tests.testbed.scenario import KUBECTL, KUBEMCSA, eventually, ignore_status, kubectl

ARGOCD_PAGE = REPO / "docs" / "argocd.md"
CLUSTERPROFILE_PAGE = REPO / "docs" / "clusterprofile.md"
PROVIDER_FILE = REPO / "examples" / "clusterprofile" / "clusterprofile-provider-file.json"
ARGOCD_NS = "argocd"
FLEET_NS = "fleet"
PROFILE = f"{FLEET_NS}/cluster2"


def blocks(page: Path, language: str) -> list[str]:
    """The page's fenced blocks of language, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), re.M | re.S)


def commands(block: str) -> list[list[str]]:
    """A shell block's commands, continuation lines joined."""
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def run(bed: Bed, command: list[str], cwd: Path = REPO) -> str:
    """A documented kubectl or kubemcsa command, on the bed's kubeconfig (the contexts cluster1, cluster2)."""
    program, *args = command
    assert program in ("kubectl", "kubemcsa"), command
    binary = KUBECTL if program == "kubectl" else KUBEMCSA
    env = {**os.environ, "KUBECONFIG": str(bed.kubeconfig)}
    result = subprocess.run([binary, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
    return result.stdout


def hub_kubeconfig(bed: Bed, directory: Path) -> Path:
    """cluster1's part of the bed's kubeconfig, as its current context: what the host's consumers read."""
    path = directory / "cluster1.kubeconfig"
    path.write_text(kubectl(bed.kubeconfig, "config", "view", "--minify", "--flatten", "--context", "cluster1").stdout)
    return path


def set_up_argocd(bed: Bed, directory: Path) -> None:
    """docs/argocd.md, where Argo CD's install would be: its namespace, its argocd-cm ConfigMap and its
    argocd-secret Secret (with the signing key its server adds)."""
    core = k8s.CoreV1Api(bed.api1)
    core.create_namespace({"metadata": {"name": ARGOCD_NS}})
    part_of = {"app.kubernetes.io/part-of": "argocd"}
    core.create_namespaced_config_map(ARGOCD_NS, {"metadata": {"name": "argocd-cm", "labels": part_of}})
    # The key Argo CD's server generates at its first start; its settings are incomplete without one.
    signing = {"server.secretkey": secrets.token_urlsafe(32)}
    core.create_namespaced_secret(
        ARGOCD_NS, {"metadata": {"name": "argocd-secret", "labels": part_of}, "stringData": signing}
    )
    service_account, apply = blocks(ARGOCD_PAGE, "sh")
    for command in commands(service_account):
        run(bed, command)
    [documented] = blocks(ARGOCD_PAGE, "yaml")
    sai = yaml.safe_load(documented)
    # The page's lifetime is a day; the client test renews 600-s tokens every 60 s.
    assert sai["spec"]["expirationSeconds"] == 86400
    sai["spec"]["expirationSeconds"] = 600
    (directory / "argocd-import.yaml").write_text(yaml.safe_dump(sai))
    out = [run(bed, command, directory) for command in commands(apply)]
    assert "argocd.argoproj.io/secret-type=cluster" in out[-1], out[-1]


def gone(call: Callable[[], object]) -> None:
    """call, a deletion, done or needless (a teardown after a setup that failed half-way)."""
    ignore_status(404, call)


def tear_down_argocd(bed: Bed) -> None:
    gone(lambda: k8s.CoreV1Api(bed.api1).delete_namespace(ARGOCD_NS))
    gone(lambda: k8s.CoreV1Api(bed.api2).delete_namespace(ARGOCD_NS))
    gone(lambda: k8s.RbacAuthorizationV1Api(bed.api2).delete_cluster_role_binding("argocd-manager"))


def set_up_clusterprofile(bed: Bed, crd: Path, namespace: str) -> None:
    """docs/clusterprofile.md: the CRD (from the module the consumer is built from, not from its release URL),
    the provider published by kubemcsa, the provider file's ConfigMap and the RBAC, in namespace."""
    install, publish, configmap = (commands(block) for block in blocks(CLUSTERPROFILE_PAGE, "sh"))
    [[*apply, url]] = install
    assert url.endswith("/v0.1.2/config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml"), url
    run(bed, [*apply, str(crd)])
    kubectl(bed.kubeconfig, "--context", "cluster1", "wait", "--for=condition=Established", "--timeout=60s",
            f"crd/{clusterprofile.CRD}")  # fmt: skip
    for command in publish[:-1]:
        run(bed, command)
    names = run(bed, publish[-1])
    assert names.split() == [clusterprofile.PROVIDER], names
    [documented] = blocks(CLUSTERPROFILE_PAGE, "json")
    assert json.loads(documented) == json.loads(PROVIDER_FILE.read_text())
    [create] = configmap
    run(bed, [*create, "--namespace", namespace])
    rbac = list(yaml.safe_load_all(blocks(CLUSTERPROFILE_PAGE, "yaml")[-1]))
    rbac[0]["metadata"]["namespace"] = namespace
    rbac[-1]["subjects"][0]["namespace"] = namespace
    kubectl(bed.kubeconfig, "--context", "cluster1", "apply", "-f", "-", stdin=yaml.safe_dump_all(rbac))
    eventually(lambda: profile_server(bed), "the ClusterProfile's provider entry")


def profile_server(bed: Bed) -> str | None:
    namespace, name = PROFILE.split("/")
    profile = k8s.CustomObjectsApi(bed.api1).get_namespaced_custom_object(
        clusterprofile.GROUP, clusterprofile.VERSION, namespace, clusterprofile.PLURAL, name
    )
    providers = (profile.get("status") or {}).get("accessProviders") or []
    return next((p["cluster"]["server"] for p in providers if p["name"] == clusterprofile.PROVIDER), None)


def tear_down_clusterprofile(bed: Bed, namespace: str) -> None:
    """kubemcsa teardown's counterpart, for the entry only (the credential stays for the other tests); then
    the CRD goes, as test_kubemcsa expects."""
    extensions = k8s.ApiextensionsV1Api(bed.api1)
    try:
        extensions.read_custom_resource_definition(clusterprofile.CRD)
    except ApiException as err:
        if err.status != 404:
            raise
        return
    target = connect(bed.kubeconfig, "cluster1", "cluster1", "target")
    clusterprofile.withdraw(target, "cluster2", FLEET_NS, lambda _: None)
    try:
        left = profile_server(bed)
    except ApiException as err:
        if err.status != 404:
            raise
        left = None
    assert left is None, "withdrawing left kubemcsa's entry in the ClusterProfile"
    gone(lambda: k8s.CoreV1Api(bed.api1).delete_namespace(FLEET_NS))
    gone(lambda: k8s.CoreV1Api(bed.api1).delete_namespaced_config_map("clusterprofile-provider-file", namespace))
    gone(lambda: extensions.delete_custom_resource_definition(clusterprofile.CRD))
