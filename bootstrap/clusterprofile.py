"""Publishing the project's access provider in SIG Multicluster's ClusterProfiles (cluster inventory API).

`kubemcsa bootstrap --cluster-profile NAMESPACE` makes (if missing) the ClusterProfile NAMESPACE/SOURCE in the
target cluster and sets one entry of its `status.accessProviders`: the provider's name, and the source's
server and CA as the import's Secrets hold them. No secret: a consumer runs the credential plugin
(`mcsa-credential --imports-dir`), which answers with the token of the import it mounts for that server.
Server-side apply, as its own field manager, on the status: other providers' entries stay untouched.
"""

import base64
from collections.abc import Callable

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks.kubeconfig import ClusterEndpoint
from hooks.wire import Obj

from .kube import Cluster, CommandError
from .steps import Say, calling, where

GROUP = "multicluster.x-k8s.io"
VERSION = "v1alpha1"
PLURAL = "clusterprofiles"
CRD = f"{PLURAL}.{GROUP}"
CRD_URL = (
    "https://raw.githubusercontent.com/kubernetes-sigs/cluster-inventory-api/v0.1.2/"
    "config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml"
)
#: The access provider's name: consumers' provider files name it too (docs/clusterprofile.md).
PROVIDER = "multicluster-service-account"
#: The cluster manager of the ClusterProfiles kubemcsa creates (spec.clusterManager.name and its label).
MANAGER = "multicluster-service-account"
MANAGER_LABEL = "x-k8s.io/cluster-manager"
FIELD_MANAGER = "kubemcsa"


def access_provider(endpoint: ClusterEndpoint) -> Obj:
    """The provider's entry: where the cluster is, and the CA that verifies it."""
    cluster: Obj = {"server": endpoint.server}
    if endpoint.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(endpoint.ca_pem).decode()
    return {"name": PROVIDER, "cluster": cluster}


def profile(namespace: str, name: str) -> Obj:
    """A new ClusterProfile for the source cluster, managed by this project."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterProfile",
        "metadata": {"name": name, "namespace": namespace, "labels": {MANAGER_LABEL: MANAGER}},
        "spec": {"displayName": name, "clusterManager": {"name": MANAGER}},
    }


def status_patch(namespace: str, name: str, providers: list[Obj]) -> Obj:
    """The server-side apply of kubemcsa's entries of status.accessProviders (none: remove them)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterProfile",
        "metadata": {"name": name, "namespace": namespace},
        "status": {"accessProviders": providers},
    }


def require_api(target: Cluster) -> None:
    """CommandError unless target serves ClusterProfiles: before bootstrap changes anything."""
    place = where(target, "target")
    with calling("read", f'the CustomResourceDefinition "{CRD}"', place):
        try:
            k8s.ApiextensionsV1Api(target.api).read_custom_resource_definition(CRD)
        except ApiException as err:
            if err.status != 404:
                raise
            raise CommandError(
                f"the ClusterProfile API ({CRD}) is not installed in {place}",
                f"install it first: kubectl apply --server-side -f {CRD_URL}",
            ) from None


def _apply_status(target: Cluster, namespace: str, name: str, providers: list[Obj]) -> Callable[[], object]:
    def call() -> object:
        return k8s.CustomObjectsApi(target.api).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, status_patch(namespace, name, providers),
            field_manager=FIELD_MANAGER, force=True, _content_type="application/apply-patch+yaml",
        )  # fmt: skip

    return call


def publish(target: Cluster, source_name: str, namespace: str, endpoint: ClusterEndpoint, say: Say) -> None:
    """The ClusterProfile namespace/source_name in target (created if missing), with the provider's entry.
    require_api first."""
    place = where(target, "target")
    what = f'ClusterProfile "{namespace}/{source_name}"'
    api = k8s.CustomObjectsApi(target.api)
    with calling("read", what, place):
        try:
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, source_name)
            say(f"{what} already exists in {place}")
        except ApiException as err:
            if err.status != 404:
                raise
            with calling("create", what, place, f'does namespace "{namespace}" exist?'):
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, profile(namespace, source_name))
            say(f"created {what} in {place}")
    with calling("update the status of", what, place):
        _apply_status(target, namespace, source_name, [access_provider(endpoint)])()
    say(f'  access provider "{PROVIDER}" of {what}: {endpoint.server}')


def withdraw(target: Cluster, source_name: str, namespace: str, say: Say) -> None:
    """kubemcsa's entry removed from the ClusterProfile namespace/source_name in target, if it is there."""
    place = where(target, "target")
    what = f'access provider "{PROVIDER}" of ClusterProfile "{namespace}/{source_name}"'
    with calling("remove", what, place):
        try:
            _apply_status(target, namespace, source_name, [])()
        except ApiException as err:
            if err.status != 404:
                raise
            say(f"{what} was already gone from {place}")
            return
    say(f"removed {what} from {place}")
