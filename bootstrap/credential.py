"""The cluster credential Secret that lets a target cluster import service accounts of a source cluster.

It lives in the target cluster's install namespace, labelled with the source cluster's name, and its
`data.config` is a kubeconfig for the importer identity in the source cluster. The hooks' customize
hook asks Metacontroller for exactly this Secret.
"""

from hooks import contract, names
from hooks.kubeconfig import ClusterEndpoint, build_kubeconfig, encode_data, token_user
from hooks.policy import Policy
from hooks.wire import Obj


def credential_secret_name(source_cluster: str) -> str:
    return f"cluster-{source_cluster}"


def credential_secret(
    source_cluster: str,
    endpoint: ClusterEndpoint,
    token: str,
    policy: Policy | None = None,
    expiration_seconds: int | None = None,
) -> Obj:
    """The credential Secret for source_cluster, whose importer authenticates with token; policy goes
    in its annotations, and the lifetime asked for the token, if it expires."""
    if error := names.dns1123_subdomain_error("cluster name", source_cluster):
        raise ValueError(error)
    config = build_kubeconfig(source_cluster, endpoint, namespace="", user=token_user(token, None))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": credential_secret_name(source_cluster),
            "namespace": contract.CREDENTIALS_NAMESPACE,
            "labels": {contract.CLUSTER_NAME_LABEL: source_cluster},
            "annotations": {
                **(policy or Policy()).annotations(),
                **({contract.CREDENTIAL_EXPIRATION_ANNOTATION: str(expiration_seconds)} if expiration_seconds else {}),
            },
        },
        "type": "Opaque",
        "data": encode_data({contract.CREDENTIAL_CONFIG_KEY: config}),
    }
