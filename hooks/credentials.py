"""The cluster credential of an import, and what its policy allows: pure, on the objects of a sync request."""

from dataclasses import replace

from . import contract, policy
from .kubeconfig import KubeconfigError, credential_kubeconfig, decode_data
from .model import Credential, ImportFailure, RemoteError, TokenIssuer, TokenSpec
from .settings import Settings
from .wire import Obj, mapping


def find_credential(secrets: Obj, cluster: str, settings: Settings) -> Credential:
    """The one credential Secret for cluster among the related Secrets, parsed."""
    matches = sorted(
        (key, obj)
        for key, obj in secrets.items()
        if mapping(mapping(mapping(obj).get("metadata")).get("labels")).get(contract.CLUSTER_NAME_LABEL) == cluster
        and mapping(mapping(obj).get("metadata")).get("namespace") == settings.credentials_namespace
    )
    where = f'namespace "{settings.credentials_namespace}" with label {contract.CLUSTER_NAME_LABEL}={cluster}'
    if not matches:
        raise ImportFailure(
            "ClusterNotBootstrapped",
            f'no cluster credential for cluster "{cluster}" (a Secret in {where}); '
            f"run `kubemcsa bootstrap <this cluster> {cluster}`",
        )
    if len(matches) > 1:
        listed = ", ".join(key for key, _ in matches)
        raise ImportFailure(
            "InvalidClusterCredential",
            f'several cluster credentials for cluster "{cluster}" ({listed}); keep one Secret in {where}',
        )
    key, secret = matches[0]
    raw = decode_data(secret, contract.CREDENTIAL_CONFIG_KEY)
    try:
        if raw is None:
            raise KubeconfigError(f"it has no data.{contract.CREDENTIAL_CONFIG_KEY}")
        config, cluster_endpoint = credential_kubeconfig(raw.decode("utf-8", errors="replace"))
        rules = policy.parse(mapping(mapping(secret.get("metadata")).get("annotations")))
        return Credential(secret=key, config=config, endpoint=cluster_endpoint, policy=rules)
    except (KubeconfigError, policy.PolicyError) as err:
        raise ImportFailure(
            "InvalidClusterCredential",
            f'the cluster credential Secret "{key}" for cluster "{cluster}" is unusable: {err}; '
            "re-run `kubemcsa bootstrap` for it",
        ) from None


def allowed(namespace: str, spec: TokenSpec, credential: Credential) -> tuple[TokenSpec, str]:
    """spec as the credential's policy allows it (lifetime clamped), and a note saying what changed;
    or ImportFailure(NotAllowed), which revokes."""
    rules, where = credential.policy, f'the cluster credential Secret "{credential.secret}"'
    if not policy.namespace_allowed(rules, namespace):
        raise ImportFailure(
            "NotAllowed",
            f'namespace "{namespace}" may not import from cluster "{spec.cluster}": annotation '
            f"{contract.ALLOWED_NAMESPACES_ANNOTATION} of {where} allows "
            f"{', '.join(sorted(rules.allowed_namespaces or ())) or 'none'}; an admin may add it "
            "(kubemcsa bootstrap --allow-namespace)",
            revoke=True,
        )
    if refused := policy.refused_audiences(rules, spec.audiences):
        raise ImportFailure(
            "NotAllowed",
            f"audiences {', '.join(refused)} are not allowed by annotation {contract.ALLOWED_AUDIENCES_ANNOTATION} "
            f"of {where}; remove them from spec.audiences, or an admin may allow them "
            "(kubemcsa bootstrap --allow-audience)",
            revoke=True,
        )
    expiration = policy.clamp_expiration(rules, spec.expiration_seconds)
    note = ""
    if spec.expiration_seconds is not None and expiration != spec.expiration_seconds:
        note = f"; spec.expirationSeconds {spec.expiration_seconds} is clamped to {expiration} by {where}"
    return replace(spec, expiration_seconds=expiration), note


def check_consent(issuer: TokenIssuer, credential: Credential, spec: TokenSpec, namespace: str) -> None:
    """Before a new token, when the credential requires it: the remote service account's consent."""
    rules = credential.policy
    if not rules.require_consent:
        return
    try:
        annotations = issuer.service_account_annotations(credential, spec)
    except RemoteError as err:
        raise ImportFailure(err.reason, err.message) from None
    if not policy.consents(rules, annotations, namespace):
        entry = f"{rules.importing_cluster}/{namespace}"
        raise ImportFailure(
            "NoConsent",
            f'service account "{spec.name}" in namespace "{spec.namespace}" of cluster "{spec.cluster}" does not '
            f'consent to be imported by {entry}: cluster "{spec.cluster}" requires it to carry annotation '
            f"{contract.IMPORTABLE_BY_ANNOTATION} naming {entry} (or {rules.importing_cluster}/*)",
            revoke=True,
        )
