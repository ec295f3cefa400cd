"""The importer identity that `kubemcsa bootstrap` makes in the source cluster, as plain objects.

The target cluster's importer is a service account of the source cluster, named after the target,
that may only get service accounts and create their tokens: cluster-wide, or in chosen namespaces.
"""

from collections.abc import Iterable
from typing import Final

from hooks import contract, policy
from hooks.wire import Obj

IMPORTER_ROLE: Final = "multicluster-service-account-importer"
#: On everything kubemcsa makes in a source cluster: which target cluster it is for.
TARGET_CLUSTER_LABEL: Final = f"{contract.GROUP}/target-cluster"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "kubemcsa"}
SERVICE_ACCOUNT_ANNOTATION: Final = "kubernetes.io/service-account.name"
#: The type of the empty Secret that an expiring importer token is bound to: deleting it revokes the token.
ANCHOR_TYPE: Final = f"{contract.GROUP}/credential-anchor"
TOKEN_SECRET_TYPE: Final = "kubernetes.io/service-account-token"
RULES: Final = [
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
]


def labels(target: str) -> dict[str, str]:
    return {TARGET_CLUSTER_LABEL: target, **MANAGED_BY}


def binding_name(target: str) -> str:
    return f"{IMPORTER_ROLE}-{target}"


def service_account(target: str) -> Obj:
    return {"metadata": {"name": target, "namespace": contract.CREDENTIALS_NAMESPACE, "labels": labels(target)}}


def cluster_role() -> Obj:
    return {"metadata": {"name": IMPORTER_ROLE, "labels": dict(MANAGED_BY)}, "rules": RULES}


def _binding(target: str, namespace: str | None) -> Obj:
    metadata: Obj = {"name": binding_name(target), "labels": labels(target)}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": IMPORTER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": target, "namespace": contract.CREDENTIALS_NAMESPACE}],
    }


def cluster_role_binding(target: str) -> Obj:
    return _binding(target, None)


def role_binding(target: str, namespace: str) -> Obj:
    return _binding(target, namespace)


def _importer_secret(target: str, kind: str, secret_type: str) -> Obj:
    return {
        "metadata": {
            "generateName": f"{target}-{kind}-",
            "namespace": contract.CREDENTIALS_NAMESPACE,
            "labels": labels(target),
            "annotations": {SERVICE_ACCOUNT_ANNOTATION: target},
        },
        "type": secret_type,
    }


def token_secret(target: str) -> Obj:
    """A long-lived token Secret for the importer, which the API server's token controller fills."""
    return _importer_secret(target, "token", TOKEN_SECRET_TYPE)


def credential_anchor(target: str) -> Obj:
    """An empty Secret that an expiring importer token is bound to (TokenRequest boundObjectRef): the API
    server accepts the token only while this Secret exists, so `rotate` and `teardown` revoke it."""
    return _importer_secret(target, "credential", ANCHOR_TYPE)


def bound_token_request(anchor_name: str, anchor_uid: str, expiration_seconds: int) -> Obj:
    """A TokenRequest for the importer, valid for expiration_seconds and while its anchor Secret exists."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [],
            "expirationSeconds": expiration_seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": anchor_name, "uid": anchor_uid},
        },
    }


def _cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in sorted(values)) + "]"


def admission_policy(target: str, rules: policy.Policy) -> Obj:
    """A ValidatingAdmissionPolicy of the source cluster that holds target's importer to the rules the hooks
    apply, also when its credential is used without the hooks (copied out of the target cluster): no token
    of the importer identities' namespace, none of the system namespaces the policy does not open, and none
    longer than its max lifetime."""
    closed = sorted(policy.SYSTEM_NAMESPACES - rules.allowed_remote_namespaces)
    validations: list[Obj] = [
        {
            "expression": f"request.namespace != '{contract.CREDENTIALS_NAMESPACE}'",
            "message": f"the importer of cluster {target} may not create tokens of the service accounts of namespace "
            f"{contract.CREDENTIALS_NAMESPACE}: they are importer identities, never importable",
            "reason": "Forbidden",
        }
    ]
    if closed:
        validations.append(
            {
                "expression": f"!(request.namespace in {_cel_list(closed)})",
                "message": f"the importer of cluster {target} may not create tokens of the system namespaces "
                f"{', '.join(closed)}; an admin may open one with kubemcsa bootstrap --allow-remote-namespace",
                "reason": "Forbidden",
            }
        )
    if rules.max_expiration_seconds is not None:
        validations.append(
            {
                "expression": f"object.spec.expirationSeconds <= {rules.max_expiration_seconds}",
                "message": f"the importer of cluster {target} may not create tokens valid for more than "
                f"{rules.max_expiration_seconds} seconds (kubemcsa bootstrap --max-expiration)",
                "reason": "Forbidden",
            }
        )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": binding_name(target), "labels": labels(target)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                     "resources": ["serviceaccounts/token"]},
                ],
            },
            "matchConditions": [
                {
                    "name": "the-importer",
                    "expression": "request.userInfo.username == "
                    f"'system:serviceaccount:{contract.CREDENTIALS_NAMESPACE}:{target}'",
                }
            ],
            "validations": validations,
        },
    }  # fmt: skip


def admission_policy_binding(target: str) -> Obj:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": binding_name(target), "labels": labels(target)},
        "spec": {"policyName": binding_name(target), "validationActions": ["Deny"]},
    }
