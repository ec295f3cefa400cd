"""Argo CD cluster Secrets: an import whose spec has `argoCD` keeps its token in the form Argo CD reads.

Argo CD finds a managed cluster in any Secret of its own namespace labelled
`argocd.argoproj.io/secret-type: cluster`, and reads its data keys `name`, `server`, `config` (JSON: the
bearer token and the TLS settings), `project`, `namespaces` (comma-separated) and `clusterResources`
("true"); it watches those Secrets, so each renewal reaches it. The Secret keeps the import's own keys too
(`token`, `ca.crt`, `server`, `namespace`): the hooks read the token back from it, and Argo CD ignores them.
Only `config` differs: here it is Argo CD's JSON, not a kubeconfig. Pure: no I/O.
"""

import base64
import json
from dataclasses import dataclass

from . import contract, names
from .kubeconfig import ClusterEndpoint, encode_data
from .wire import Obj

#: The spec field that asks for the Argo CD format.
SPEC_FIELD = "argoCD"
#: Argo CD's label of cluster Secrets, and its value.
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
SECRET_TYPE_CLUSTER = "cluster"
NAME_MAX = 253


@dataclass(frozen=True)
class ArgoCDCluster:
    """How the import appears in Argo CD: its display name, project and managed namespaces."""

    name: str
    project: str | None = None
    namespaces: tuple[str, ...] = ()
    cluster_resources: bool | None = None


def problems(spec: Obj) -> list[str]:
    """What is wrong with spec.argoCD (empty when it is absent or fine); the CRD's schema checks the same."""
    value = spec.get(SPEC_FIELD)
    if value is None:
        return []
    where = f"spec.{SPEC_FIELD}"
    if not isinstance(value, dict):
        return [f"{where} must be an object"]
    found: list[str] = []
    unknown = sorted(set(value) - {"name", "project", "namespaces", "clusterResources"})
    if unknown:
        found.append(f"{where} has unknown fields: {', '.join(unknown)}")
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= NAME_MAX):
        found.append(f"{where}.name must be a string of 1 to {NAME_MAX} characters")
    project = value.get("project")
    if project is not None:
        if not isinstance(project, str):
            found.append(f"{where}.project must be a string")
        elif error := names.dns1123_subdomain_error(f"{where}.project", project):
            found.append(error)
    namespaces = value.get("namespaces")
    if namespaces is not None and (
        not isinstance(namespaces, list)
        or not all(isinstance(n, str) and names.is_dns1123_label(n) for n in namespaces)
    ):
        found.append(f"{where}.namespaces must be a list of namespace names")
    cluster_resources = value.get("clusterResources")
    if cluster_resources is not None and not isinstance(cluster_resources, bool):
        found.append(f"{where}.clusterResources must be true or false")
    return found


def cluster(spec: Obj) -> ArgoCDCluster | None:
    """spec.argoCD, checked by problems() first; None: the import keeps the kubeconfig format."""
    value = spec.get(SPEC_FIELD)
    if not isinstance(value, dict):
        return None
    cluster_name = spec.get("clusterName")
    return ArgoCDCluster(
        name=value.get("name") or (cluster_name if isinstance(cluster_name, str) else ""),
        project=value.get("project"),
        namespaces=tuple(value.get("namespaces") or ()),
        cluster_resources=value.get("clusterResources"),
    )


def cluster_config(endpoint: ClusterEndpoint, token: str) -> str:
    """Argo CD's `config` value: the bearer token, and the CA (base64 of the PEM) that verifies the server."""
    tls: Obj = {"insecure": False}
    if endpoint.ca_pem:
        tls["caData"] = base64.b64encode(endpoint.ca_pem).decode()
    return json.dumps({"bearerToken": token, "tlsClientConfig": tls}, separators=(",", ":"))


def secret_data(argo: ArgoCDCluster, endpoint: ClusterEndpoint, namespace: str, token: str) -> dict[str, str]:
    """The `data` of an import's Argo CD cluster Secret."""
    values: dict[str, str | bytes] = {
        "name": argo.name,
        contract.SERVER_KEY: endpoint.server,
        contract.CONFIG_KEY: cluster_config(endpoint, token),
        contract.TOKEN_KEY: token,
        contract.CA_KEY: endpoint.ca_pem,
        contract.NAMESPACE_KEY: namespace,
    }
    if argo.project:
        values["project"] = argo.project
    if argo.namespaces:
        values["namespaces"] = ",".join(argo.namespaces)
    if argo.cluster_resources is not None:
        values["clusterResources"] = "true" if argo.cluster_resources else "false"
    return encode_data(values)
