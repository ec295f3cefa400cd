"""The sync hook: from a ServiceAccountImport and what Metacontroller observed, the desired Secret.

Phases, as in the seed's reconciler: read the request (parent, child, credential), decide whether the
current token is still good, get a new one if not, and answer the desired child and status. The only
outbound call goes through a TokenIssuer, so this module stays free of I/O and of the Kubernetes client.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from . import argocd, contract, names
from .credentials import allowed, check_consent, credential_expiry, find_credential
from .kubeconfig import decode_data, imported_secret_data
from .model import Credential, ImportFailure, RemoteError, TokenIssuer, TokenSpec
from .settings import Settings
from .token import IssuedToken, format_time, parse_time
from .wire import BadRequest, Condition, Obj, SyncResponse, array, mapping, optional_mapping, require_mapping

log = logging.getLogger(__name__)

SECRET_CHILD_KEY = "Secret.v1"
#: Condition type: True while the token is past its renewal time and renewal keeps failing.
EXPIRING = "TokenExpiringSoon"
#: Condition type: True when the cluster credential's own token is near its expiry, or past it.
CREDENTIAL_EXPIRING = "CredentialExpiringSoon"
MIN_EXPIRATION_SECONDS = 600
#: Metacontroller syncs from its informers' view: right after a sync wrote a new token, the next sync (set off
#: by that very write) may still see the Secret from before it, or none. For this long after the status
#: records a token newer than the Secret shows, the hooks wait for the view to catch up rather than ask for
#: another token (which would be one TokenRequest too many, its token thrown away).
STALE_VIEW_SECONDS = 30.0
STALE_VIEW_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Parent:
    namespace: str
    name: str
    generation: int | None
    status: Obj
    spec: Obj


def _parent(request: Obj) -> Parent:
    parent = require_mapping(request.get("parent"), "parent")
    meta = require_mapping(parent.get("metadata"), "parent.metadata")
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name or not isinstance(namespace, str) or not namespace:
        raise BadRequest("parent.metadata.name and parent.metadata.namespace must be non-empty strings")
    generation = meta.get("generation")
    return Parent(
        namespace=namespace,
        name=name,
        generation=generation if isinstance(generation, int) else None,
        status=optional_mapping(parent.get("status"), "parent.status"),
        spec=optional_mapping(parent.get("spec"), "parent.spec"),
    )


def _token_spec(parent: Parent) -> TokenSpec:
    """The spec as a TokenSpec, or ImportFailure(InvalidSpec) naming every problem."""
    spec, problems = parent.spec, []
    values: dict[str, str] = {}
    for key in ("clusterName", "namespace", "name"):
        value = spec.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f"spec.{key} is required")
        elif error := names.dns1123_subdomain_error(f"spec.{key}", value):
            problems.append(error)
        values[key] = value if isinstance(value, str) else ""
    if len(values["clusterName"]) > names.DNS1123_LABEL_MAX:
        problems.append(f"spec.clusterName must be at most {names.DNS1123_LABEL_MAX} characters")
    if len(parent.name) > names.DNS1123_LABEL_MAX:
        problems.append(
            f"the import's name must be at most {names.DNS1123_LABEL_MAX} characters "
            f"(it is the value of label {contract.IMPORT_NAME_KEY} on its Secret)"
        )
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        problems.append("spec.audiences must be a list of non-empty strings")
        audiences = []
    expiration = spec.get("expirationSeconds")
    if expiration is not None and (not isinstance(expiration, int) or expiration < MIN_EXPIRATION_SECONDS):
        problems.append(f"spec.expirationSeconds must be an integer of at least {MIN_EXPIRATION_SECONDS}")
        expiration = None
    problems += argocd.problems(spec)
    if problems:
        raise ImportFailure("InvalidSpec", "; ".join(problems) + "; fix the ServiceAccountImport's spec")
    return TokenSpec(
        cluster=values["clusterName"],
        namespace=values["namespace"],
        name=values["name"],
        audiences=tuple(audiences),
        expiration_seconds=expiration,
    )


def _source(spec: TokenSpec, credential: Credential) -> str:
    """A fingerprint of everything a token and its kubeconfig depend on; a change means a new token."""
    material = json.dumps(
        [
            spec.cluster,
            spec.namespace,
            spec.name,
            spec.audiences,
            spec.expiration_seconds,
            credential.endpoint.server,
            credential.endpoint.ca_pem.decode("latin-1"),
        ]
    )
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()[:32]


def _current_token(child: Obj | None) -> tuple[IssuedToken, str] | None:
    """The token in the observed Secret with its source fingerprint, or None if unusable."""
    if child is None:
        return None
    annotations = mapping(mapping(child.get("metadata")).get("annotations"))
    issued_at = parse_time(annotations.get(contract.TOKEN_ISSUED_AT_ANNOTATION))
    expires_at = parse_time(annotations.get(contract.TOKEN_EXPIRES_AT_ANNOTATION))
    raw = decode_data(child, contract.TOKEN_KEY)
    try:
        token = raw.decode() if raw else ""
    except UnicodeDecodeError:
        return None
    if issued_at is None or expires_at is None or not token:
        return None
    return IssuedToken(token, issued_at, expires_at), str(annotations.get(contract.TOKEN_SOURCE_ANNOTATION, ""))


def _desired_secret(parent: Parent, spec: TokenSpec, credential: Credential, token: IssuedToken) -> Obj:
    """The import's Secret: the kubeconfig format, or Argo CD's when the spec asks for it."""
    labels = {contract.IMPORT_NAME_KEY: parent.name}
    argo = argocd.cluster(parent.spec)
    if argo is None:
        data = imported_secret_data(parent.name, credential.endpoint, spec.namespace, token.token)
    else:
        labels[argocd.SECRET_TYPE_LABEL] = argocd.SECRET_TYPE_CLUSTER
        data = argocd.secret_data(argo, credential.endpoint, spec.namespace, token.token)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.secret_name(parent.name),
            "namespace": parent.namespace,
            "labels": labels,
            "annotations": {
                contract.TOKEN_ISSUED_AT_ANNOTATION: format_time(token.issued_at),
                contract.TOKEN_EXPIRES_AT_ANNOTATION: format_time(token.expires_at),
                contract.TOKEN_SOURCE_ANNOTATION: _source(spec, credential),
            },
        },
        "type": contract.SECRET_TYPE,
        "data": data,
    }


def _kept_secret(child: Obj) -> Obj:
    """The observed Secret as a desired child: only the fields this hook sets, nothing server-filled."""
    meta = mapping(child.get("metadata"))
    ours = (contract.TOKEN_ISSUED_AT_ANNOTATION, contract.TOKEN_EXPIRES_AT_ANNOTATION, contract.TOKEN_SOURCE_ANNOTATION)
    annotations = {k: v for k, v in mapping(meta.get("annotations")).items() if k in ours}
    ours_labels = (contract.IMPORT_NAME_KEY, argocd.SECRET_TYPE_LABEL)
    labels = {k: v for k, v in mapping(meta.get("labels")).items() if k in ours_labels}
    kept: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "labels": labels},
        "type": child.get("type", contract.SECRET_TYPE),
        "data": dict(mapping(child.get("data"))),
    }
    if annotations:
        kept["metadata"]["annotations"] = annotations
    return kept


def _condition(
    parent: Parent,
    value: bool,
    reason: str,
    message: str,
    now: datetime,
    kind: str = "Ready",
    first: datetime | None = None,
) -> Condition:
    """A condition of type kind; its lastTransitionTime stays while its status does. On a parent that has
    no condition of that kind yet, it is first when given: a time from the sync's inputs (the token's issue),
    so that a second sync on a parent view from before the first one's status update answers the same
    status, which costs Metacontroller no status update (and no sync that update would set off)."""
    status: Literal["True", "False"] = "True" if value else "False"
    previous = next(
        (c for c in array(parent.status.get("conditions")) if isinstance(c, dict) and c.get("type") == kind),
        {},
    )
    since = previous.get("lastTransitionTime") if previous.get("status") == status else None
    default = first if first is not None and not previous else now
    condition: Condition = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since if isinstance(since, str) and parse_time(since) else format_time(default),
    }
    if parent.generation is not None:
        condition["observedGeneration"] = parent.generation
    return condition


def _status(
    conditions: list[Condition], child: Obj | None, token: IssuedToken | None, credential: Credential | None
) -> Obj:
    status: Obj = {"conditions": conditions}
    if child is not None:
        name = child["metadata"]["name"]
        status["secretName"] = name
        status["secrets"] = [{"name": name}]
    if token is not None:
        status["tokenIssuedTimestamp"] = format_time(token.issued_at)
        status["tokenExpirationTimestamp"] = format_time(token.expires_at)
    if credential is not None and credential.expires_at is not None:
        status["credentialExpirationTimestamp"] = format_time(credential.expires_at)
    return status


def _credential_condition(
    parent: Parent, credential: Credential | None, now: datetime, first: datetime | None = None
) -> list[Condition]:
    """The CredentialExpiringSoon condition, once the import's cluster credential is known."""
    cluster = parent.spec.get("clusterName")
    if credential is None or not isinstance(cluster, str):
        return []
    value, reason, message = credential_expiry(credential, cluster, now)
    return [_condition(parent, value, reason, message, now, CREDENTIAL_EXPIRING, first)]


def _stale_view(parent: Parent, current: tuple[IssuedToken, str] | None, now: datetime) -> bool:
    """Whether the status records a token issued in the last STALE_VIEW_SECONDS that the observed Secret
    does not hold yet (missing, or with an older token): Metacontroller's view of the Secret is behind."""
    recorded = parse_time(parent.status.get("tokenIssuedTimestamp"))
    # From a few seconds ahead (another replica's clock) to STALE_VIEW_SECONDS back.
    if recorded is None or not -5 <= (now - recorded).total_seconds() < STALE_VIEW_SECONDS:
        return False
    return current is None or current[0].issued_at < recorded


def _awaiting_view(parent: Parent, observed: Obj | None) -> SyncResponse:
    """Nothing changed: the status as it is, the observed Secret kept as it is, and a sync again shortly (the
    Secret's own event brings one sooner)."""
    return {
        "status": dict(parent.status),
        "children": [_kept_secret(observed)] if observed is not None else [],
        "resyncAfterSeconds": STALE_VIEW_RETRY_SECONDS,
    }


def _renew_at(token: IssuedToken, settings: Settings) -> datetime:
    return token.renew_at(settings.renew_fraction, settings.renew_margin_seconds)


def _retry_after(condition: Condition, now: datetime, settings: Settings) -> float:
    """Doubling delays while a failure lasts: the delay is as long as the failure has lasted."""
    since = parse_time(condition["lastTransitionTime"]) or now
    elapsed = (now - since).total_seconds()
    return min(settings.retry_max_seconds, max(settings.retry_min_seconds, elapsed))


def sync(request: Obj, issuer: TokenIssuer, settings: Settings) -> tuple[SyncResponse, str]:
    """The sync hook's response, and the outcome for logs and metrics (a Ready reason)."""
    now = settings.clock()
    parent = _parent(request)
    children = optional_mapping(request.get("children"), "children")
    observed_secrets = optional_mapping(children.get(SECRET_CHILD_KEY), f"children[{SECRET_CHILD_KEY!r}]")
    observed = observed_secrets.get(f"{parent.namespace}/{names.secret_name(parent.name)}")
    observed = observed if isinstance(observed, dict) else None
    current = _current_token(observed)
    related = optional_mapping(request.get("related"), "related")
    related_secrets = optional_mapping(related.get(SECRET_CHILD_KEY), f"related[{SECRET_CHILD_KEY!r}]")

    note = ""
    credential: Credential | None = None
    try:
        spec = _token_spec(parent)
        credential = find_credential(related_secrets, spec.cluster, settings)
        spec, note = allowed(parent.namespace, spec, credential)
        source = _source(spec, credential)
        if current is not None and current[1] == source and now < _renew_at(current[0], settings):
            token = current[0]
            outcome = "TokenCurrent"
        elif _stale_view(parent, current, now):
            return _awaiting_view(parent, observed), "StaleView"
        else:
            check_consent(issuer, credential, spec, parent.namespace)
            try:
                token = issuer.request_token(credential, spec)
            except RemoteError as err:
                raise ImportFailure(err.reason, err.message) from None
            outcome = "TokenIssued"
    except ImportFailure as failure:
        return _failed(parent, failure, observed, current, credential, now, settings), failure.reason

    desired = _desired_secret(parent, spec, credential, token)
    renew_at, issued = _renew_at(token, settings), token.issued_at
    message = (
        f'token of service account "{spec.namespace}/{spec.name}" of cluster "{spec.cluster}" is in Secret '
        f'"{desired["metadata"]["name"]}"; it expires at {format_time(token.expires_at)} '
        f"and renews at {format_time(renew_at)}"
    )
    conditions = [
        _condition(parent, True, "TokenIssued", message + note, now, first=issued),
        _condition(parent, False, "RenewalOnTrack", f"renews at {format_time(renew_at)}", now, EXPIRING, issued),
        *_credential_condition(parent, credential, now, issued),
    ]
    response: SyncResponse = {
        "status": _status(conditions, desired, token, credential),
        "children": [desired],
        "resyncAfterSeconds": max(1.0, round((renew_at - now).total_seconds(), 3)),
    }
    return response, outcome


def _failed(
    parent: Parent,
    failure: ImportFailure,
    observed: Obj | None,
    current: tuple[IssuedToken, str] | None,
    credential: Credential | None,
    now: datetime,
    settings: Settings,
) -> SyncResponse:
    """The response when no token could be had: the last good Secret is kept, unless the import is not
    allowed (then it goes, with its token); retry after a delay that grows while the failure lasts."""
    kept = _kept_secret(observed) if observed is not None and not failure.revoke else None
    token = current[0] if current is not None and kept is not None else None
    message = failure.message
    if token is not None:
        until = format_time(token.expires_at)
        message += f'; Secret "{names.secret_name(parent.name)}" keeps the previous token until {until}'
    ready = _condition(parent, False, failure.reason, message, now)
    if token is not None and now >= _renew_at(token, settings):
        expiring = _condition(
            parent, True, "RenewalFailing",
            f"the token expires at {format_time(token.expires_at)} and renewing it keeps failing ({failure.reason})",
            now, EXPIRING,
        )  # fmt: skip
    else:
        expiring = _condition(parent, False, "NoTokenAtRisk", "no token is past its renewal time", now, EXPIRING)
    return {
        "status": _status([ready, expiring, *_credential_condition(parent, credential, now)], kept, token, credential),
        "children": [kept] if kept is not None else [],
        "resyncAfterSeconds": _retry_after(ready, now, settings),
    }
