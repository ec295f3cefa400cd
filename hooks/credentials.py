"""The cluster credential of an import, and what its policy allows: pure, on the objects of a sync request."""

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import addresses, contract, policy
from .kubeconfig import KubeconfigError, credential_kubeconfig, current_cluster_and_user, decode_data
from .model import Credential, ImportFailure, RemoteError, TokenIssuer, TokenSpec
from .settings import Settings
from .token import format_time, jwt_claims, jwt_expires_at, jwt_issued_at
from .wire import Obj, mapping

#: How Kubernetes names a service account as a user: system:serviceaccount:<namespace>:<name>.
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Identity:
    """Who a credential's user authenticates as, and for how long, as far as the credential shows."""

    name: str | None
    issued_at: datetime | None = None
    expires_at: datetime | None = None


def identity(user: Obj) -> Identity:
    """A credential user's identity: its client certificate's (common name, validity), which the API server
    checks before a token; else its token's (`sub`, `iat` and `exp` claims: service-account tokens carry
    `sub`, those of the TokenRequest API also `iat` and `exp`)."""
    certificate = _certificate(user)
    if certificate is not None:
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        value = names[0].value if names else None
        return Identity(
            value if isinstance(value, str) and value else None,
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
        )
    token = user.get("token")
    if not isinstance(token, str) or not token:
        return Identity(None)
    subject = (jwt_claims(token) or {}).get("sub")
    return Identity(
        subject if isinstance(subject, str) and subject else None, jwt_issued_at(token), jwt_expires_at(token)
    )


def _certificate(user: Obj) -> x509.Certificate | None:
    if not user.get("client-certificate-data"):
        return None
    try:
        return x509.load_pem_x509_certificate(base64.b64decode(str(user["client-certificate-data"]), validate=True))
    except (binascii.Error, ValueError):
        return None


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"


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
        host = urlsplit(cluster_endpoint.server).hostname or ""
        if what := addresses.blocked(host):
            raise KubeconfigError(f"its server {host} is in {what}, not a Kubernetes API server")
        rules = policy.parse(mapping(mapping(secret.get("metadata")).get("annotations")))
        who = identity(current_cluster_and_user(config)[1])
        return Credential(
            secret=key,
            config=config,
            endpoint=cluster_endpoint,
            policy=rules,
            identity=who.name,
            issued_at=who.issued_at,
            expires_at=who.expires_at,
        )
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
    remote = f'service account "{spec.name}" in namespace "{spec.namespace}" of cluster "{spec.cluster}"'
    if spec.namespace == contract.CREDENTIALS_NAMESPACE or credential.identity == service_account_user(
        spec.namespace, spec.name
    ):
        what = (
            f"it is the importer identity of {where}"
            if credential.identity == service_account_user(spec.namespace, spec.name)
            else f'namespace "{contract.CREDENTIALS_NAMESPACE}" holds the importer identities of the clusters '
            f'that import from cluster "{spec.cluster}"'
        )
        raise ImportFailure(
            "NotAllowed",
            f"{remote} is never importable: {what}, whose tokens could mint every token the importer may, "
            "past this cluster's policy; import another service account",
            revoke=True,
        )
    if not policy.remote_namespace_allowed(rules, spec.namespace):
        raise ImportFailure(
            "NotAllowed",
            f'namespace "{spec.namespace}" of cluster "{spec.cluster}" is off limits: it holds the cluster\'s own '
            f"system identities; an admin may open it: run again the `kubemcsa bootstrap "
            f"{rules.importing_cluster or '<this cluster>'} {spec.cluster}` that made {where}, with its flags and "
            f"--allow-remote-namespace {spec.namespace} (which sets annotation "
            f"{contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION}, and the source's admission policy)",
            revoke=True,
        )
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


#: A credential that expires is "near" its expiry for the last quarter of its lifetime, at most 30 days.
CREDENTIAL_WARNING_FRACTION = 0.25
CREDENTIAL_WARNING_MAX = timedelta(days=30)


def credential_warning_at(credential: Credential) -> datetime | None:
    """When the credential starts to be near its expiry (None: it does not expire)."""
    return warning_at(credential.issued_at, credential.expires_at)


def warning_at(issued_at: datetime | None, expires_at: datetime | None) -> datetime | None:
    """When a token issued at issued_at that expires at expires_at starts to be near its expiry."""
    if expires_at is None:
        return None
    window = CREDENTIAL_WARNING_MAX
    if issued_at is not None and issued_at < expires_at:
        window = min(window, (expires_at - issued_at) * CREDENTIAL_WARNING_FRACTION)
    return expires_at - window


def credential_expiry(
    credential: Credential, cluster: str, now: datetime, relative: bool = False
) -> tuple[bool, str, str]:
    """The CredentialExpiringSoon condition of an import of cluster: (status, reason, message). The message
    says how long is left only if relative: the hooks' status must not change with the clock, or every sync
    in the warning window would cost Metacontroller a status update (and the sync that update sets off)."""
    secret = f'the cluster credential Secret "{credential.secret}" for cluster "{cluster}"'
    warning_at = credential_warning_at(credential)
    if credential.expires_at is None or warning_at is None:
        return False, "CredentialDoesNotExpire", f"{secret} has no expiry that the hooks can read"
    until = format_time(credential.expires_at)
    rotate = f"renew it with `kubemcsa rotate {credential.policy.importing_cluster or '<this cluster>'} {cluster}`"
    if now >= credential.expires_at:
        return True, "CredentialExpired", f"{secret} expired at {until}; {rotate}"
    if now >= warning_at:
        left = f" (in {_duration(credential.expires_at - now)})" if relative else ""
        return True, "CredentialExpiring", f"{secret} expires at {until}{left}; {rotate}"
    return False, "CredentialCurrent", f"{secret} expires at {until}"


def _duration(delta: timedelta) -> str:
    """A duration as kubectl prints ages: 3d4h, 5h12m, 7m30s."""
    seconds = max(0, int(delta.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{seconds % 60}s"
