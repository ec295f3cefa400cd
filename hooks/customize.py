"""The customize hook: ask Metacontroller for the cluster credential Secret of spec.clusterName."""

from . import contract, names
from .settings import Settings
from .wire import CustomizeResponse, Obj, optional_mapping, require_mapping


def customize(request: Obj, settings: Settings) -> CustomizeResponse:
    """Related resources of a parent: the credential Secret labelled with its cluster name.

    A parent without a usable cluster name asks for nothing; its sync then reports InvalidSpec.
    """
    parent = require_mapping(request.get("parent"), "parent")
    cluster = optional_mapping(parent.get("spec"), "parent.spec").get("clusterName")
    if (
        not isinstance(cluster, str)
        or not names.is_dns1123_subdomain(cluster)
        or len(cluster) > names.DNS1123_LABEL_MAX
    ):
        return {"relatedResources": []}
    return {
        "relatedResources": [
            {
                "apiVersion": "v1",
                "resource": "secrets",
                "namespace": settings.credentials_namespace,
                "labelSelector": {"matchLabels": {contract.CLUSTER_NAME_LABEL: cluster}},
            }
        ]
    }
