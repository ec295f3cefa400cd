"""bootstrap, rotate and teardown: idempotent steps in the source and target clusters.

Every step says what it did: `created …`, `updated …`, `deleted …`, or `… already exists in … cluster "…"`.
"""

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract, policy
from hooks.credentials import warning_at
from hooks.kubeconfig import ClusterEndpoint, KubeconfigError, credential_kubeconfig, current_cluster_and_user
from hooks.policy import Policy
from hooks.token import format_time, jwt_claims, jwt_expires_at, jwt_issued_at
from hooks.wire import Obj

from . import importer
from .credential import credential_secret, credential_secret_name
from .kube import MALFORMED, NOT_AN_API, Cluster, CommandError, RemoteProblem, api_error_text

Say = Callable[[str], None]
NS = contract.CREDENTIALS_NAMESPACE
EXPIRATION = contract.CREDENTIAL_EXPIRATION_ANNOTATION
TOKEN_WAIT_SECONDS = 30.0


def where(cluster: Cluster, role: str) -> str:
    return f'{role} cluster "{cluster.name}"'


@contextmanager
def calling(verb: str, what: str, place: str, hint: str = "") -> Iterator[None]:
    """Turn API errors, transport errors and malformed answers into one-line CommandErrors:
    cannot <verb> <what> in <place>: <cause>. The block should read what it needs of the answer, so that an answer
    without it is said here."""
    try:
        yield
    except ApiException as err:
        if not hint and err.status in (401, 403):
            hint = "kubemcsa needs a cluster admin's kubeconfig for both clusters"
        raise CommandError(f"cannot {verb} {what} in {place}: {api_error_text(err)}", hint) from None
    except RemoteProblem as err:
        raise CommandError(f"cannot {verb} {what} in {place}: {err.cause}", err.hint) from None
    except MALFORMED as err:
        raise CommandError(
            f"cannot {verb} {what} in {place}: the API server's answer is not what Kubernetes answers "
            f"({type(err).__name__})",
            NOT_AN_API,
        ) from None


def _missing(err: ApiException) -> bool:
    return err.status == 404


def ensure(
    what: str,
    place: str,
    say: Say,
    read: Callable[[], Any],
    create: Callable[[], Any],
    up_to_date: Callable[[Any], bool] = lambda _: True,
    update: Callable[[Any], Any] | None = None,
) -> None:
    """Create what if missing, update it if it differs, or say it already exists."""
    with calling("read", what, place):
        try:
            current = read()
        except ApiException as err:
            if not _missing(err):
                raise
            current = None
    if current is None:
        with calling("create", what, place):
            create()
        say(f"created {what} in {place}")
    elif update is not None and not up_to_date(current):
        with calling("update", what, place):
            update(current)
        say(f"updated {what} in {place}")
    else:
        say(f"{what} already exists in {place}")


def delete(what: str, place: str, say: Say, call: Callable[[], Any]) -> None:
    with calling("delete", what, place):
        try:
            call()
        except ApiException as err:
            if not _missing(err):
                raise
            say(f"{what} was already gone from {place}")
            return
    say(f"deleted {what} from {place}")


# -- source cluster -------------------------------------------------------------------------------


def _ensure_namespace(cluster: Cluster, place: str, say: Say) -> None:
    core = k8s.CoreV1Api(cluster.api)
    ensure(f'namespace "{NS}"', place, say, lambda: core.read_namespace(NS),
           lambda: core.create_namespace({"metadata": {"name": NS}}))  # fmt: skip


def _admission_policy_supported(source: Cluster, place: str) -> bool:
    with calling("read", "the API resources of admissionregistration.k8s.io/v1", place):
        resources = k8s.AdmissionregistrationV1Api(source.api).get_api_resources().resources
    return any(r.name == "validatingadmissionpolicies" for r in resources)


def _hold_to_policy(source: Cluster, target: str, rules: Policy, say: Say) -> None:
    """The ValidatingAdmissionPolicy (and its binding) that holds target's importer to the rules in source
    itself, so that its credential, even copied out of the target, cannot mint what the hooks refuse."""
    place = where(source, "source")
    if not _admission_policy_supported(source, place):
        say(
            f"note: {place} has no ValidatingAdmissionPolicy (Kubernetes 1.30+): the hooks refuse tokens of the "
            "importer identities and system namespaces, but a copy of the credential could still mint them"
        )
        return
    admission = k8s.AdmissionregistrationV1Api(source.api)
    name = importer.binding_name(target)
    desired = importer.admission_policy(target, rules)

    def up_to_date(current: k8s.V1ValidatingAdmissionPolicy) -> bool:
        spec = source.api.sanitize_for_serialization(current.spec)
        return all(spec.get(key) == desired["spec"][key] for key in ("matchConditions", "validations"))

    def update(current: k8s.V1ValidatingAdmissionPolicy) -> None:
        body = {**desired, "metadata": {**desired["metadata"], "resourceVersion": current.metadata.resource_version}}
        admission.replace_validating_admission_policy(name, body)

    ensure(
        f'validating admission policy "{name}"', place, say,
        lambda: admission.read_validating_admission_policy(name),
        lambda: admission.create_validating_admission_policy(desired),
        up_to_date, update,
    )  # fmt: skip
    ensure(
        f'validating admission policy binding "{name}"', place, say,
        lambda: admission.read_validating_admission_policy_binding(name),
        lambda: admission.create_validating_admission_policy_binding(importer.admission_policy_binding(target)),
    )  # fmt: skip


def _grant(source: Cluster, target: str, namespaces: list[str], say: Say) -> None:
    place = where(source, "source")
    core, rbac = k8s.CoreV1Api(source.api), k8s.RbacAuthorizationV1Api(source.api)
    _ensure_namespace(source, place, say)
    ensure(
        f'service account "{NS}/{target}"', place, say,
        lambda: core.read_namespaced_service_account(target, NS),
        lambda: core.create_namespaced_service_account(NS, importer.service_account(target)),
    )  # fmt: skip
    role = importer.cluster_role()
    ensure(
        f'cluster role "{importer.IMPORTER_ROLE}"', place, say,
        lambda: rbac.read_cluster_role(importer.IMPORTER_ROLE),
        lambda: rbac.create_cluster_role(role),
        lambda current: source.api.sanitize_for_serialization(current.rules) == importer.RULES,
        lambda current: rbac.replace_cluster_role(importer.IMPORTER_ROLE, role),
    )  # fmt: skip
    name = importer.binding_name(target)
    selector = f"{importer.TARGET_CLUSTER_LABEL}={target}"
    if not namespaces:
        ensure(
            f'cluster role binding "{name}"', place, say,
            lambda: rbac.read_cluster_role_binding(name),
            lambda: rbac.create_cluster_role_binding(importer.cluster_role_binding(target)),
        )  # fmt: skip
    for namespace in namespaces:
        ensure(
            f'role binding "{namespace}/{name}"', place, say,
            lambda ns=namespace: rbac.read_namespaced_role_binding(name, ns),
            lambda ns=namespace: rbac.create_namespaced_role_binding(ns, importer.role_binding(target, ns)),
        )  # fmt: skip
    # Narrow what an earlier run granted more widely.
    if namespaces:
        with calling("read", "cluster role bindings", place):
            stale_crbs = rbac.list_cluster_role_binding(label_selector=selector).items
        for crb in stale_crbs:
            delete(f'cluster role binding "{crb.metadata.name}"', place, say,
                   lambda n=crb.metadata.name: rbac.delete_cluster_role_binding(n))  # fmt: skip
    with calling("read", "role bindings", place):
        bindings = rbac.list_role_binding_for_all_namespaces(label_selector=selector).items
    for rb in bindings:
        if rb.metadata.namespace not in namespaces:
            delete(
                f'role binding "{rb.metadata.namespace}/{rb.metadata.name}"', place, say,
                lambda rb=rb: rbac.delete_namespaced_role_binding(rb.metadata.name, rb.metadata.namespace),
            )  # fmt: skip


def _importer_secrets(source: Cluster, target: str, secret_type: str, what: str) -> list[k8s.V1Secret]:
    """The importer's Secrets of secret_type (what they are, for messages), oldest first."""
    core = k8s.CoreV1Api(source.api)
    selector = f"{importer.TARGET_CLUSTER_LABEL}={target}"
    with calling("list", f'{what} of service account "{NS}/{target}"', where(source, "source")):
        items = core.list_namespaced_secret(NS, label_selector=selector).items
    return sorted((s for s in items if s.type == secret_type), key=lambda s: s.metadata.creation_timestamp)


def _token_secrets(source: Cluster, target: str) -> list[k8s.V1Secret]:
    return _importer_secrets(source, target, importer.TOKEN_SECRET_TYPE, "token Secrets")


def _create_importer_secret(source: Cluster, target: str, body: Obj, kind: str, say: Say) -> k8s.V1Secret:
    place = where(source, "source")
    with calling("create", f'a {kind} Secret for service account "{NS}/{target}"', place):
        created: k8s.V1Secret = k8s.CoreV1Api(source.api).create_namespaced_secret(NS, body)
    say(f'created {kind} Secret "{NS}/{created.metadata.name}" in {place}')
    return created


def _new_token(source: Cluster, target: str, say: Say) -> tuple[str, str]:
    """A new long-lived token Secret for the importer: (its name, the token the API server put in it)."""
    place = where(source, "source")
    core = k8s.CoreV1Api(source.api)
    name = _create_importer_secret(source, target, importer.token_secret(target), "token", say).metadata.name
    deadline = time.monotonic() + TOKEN_WAIT_SECONDS
    while time.monotonic() < deadline:
        with calling("read", f'token Secret "{NS}/{name}"', place):
            data = core.read_namespaced_secret(name, NS).data or {}
            token = base64.b64decode(data["token"]).decode() if data.get("token") else ""
        if token:
            return name, token
        time.sleep(0.2)
    raise CommandError(
        f'cannot get a token in Secret "{NS}/{name}" of {place}: the API server did not fill it in '
        f"{TOKEN_WAIT_SECONDS:.0f}s",
        "the source cluster's kube-controller-manager must run the serviceaccount-token controller",
    )


def _anchors(source: Cluster, target: str) -> list[k8s.V1Secret]:
    """The anchor Secrets of the importer's expiring tokens, oldest first."""
    return _importer_secrets(source, target, importer.ANCHOR_TYPE, "credential anchor Secrets")


def _new_bound_token(source: Cluster, target: str, seconds: int, say: Say) -> str:
    """A token for the importer from the TokenRequest API, valid for seconds and while a new anchor
    Secret exists (deleting the anchor revokes it)."""
    place = where(source, "source")
    core = k8s.CoreV1Api(source.api)
    anchor = _create_importer_secret(source, target, importer.credential_anchor(target), "credential anchor", say)
    name = anchor.metadata.name
    request = importer.bound_token_request(name, anchor.metadata.uid, seconds)
    try:
        with calling("create", f'a token for service account "{NS}/{target}"', place):
            response = core.create_namespaced_service_account_token(target, NS, request)
    except CommandError as failure:
        try:  # the anchor of no token
            with calling("delete", f'credential anchor Secret "{NS}/{name}"', place):
                core.delete_namespaced_secret(name, NS)
        except CommandError:
            failure.message += f'; credential anchor Secret "{NS}/{name}" is left: delete it'
        raise
    expires: datetime = response.status.expiration_timestamp
    say(f'created a token for service account "{NS}/{target}" in {place}, bound to that Secret: '
        f"it expires at {format_time(expires)}")  # fmt: skip
    granted = (expires - datetime.now(UTC)).total_seconds()
    if granted < seconds - 60:
        say(
            f"  the API server granted {granted / 86400:.1f} days, less than the {seconds / 86400:.1f} asked for "
            "(its --service-account-max-token-expiration caps token lifetimes)"
        )
    return str(response.status.token)


def _bound_anchor(token: str) -> str | None:
    """The name of the Secret a token is bound to (its `kubernetes.io` claim), if any."""
    claim = (jwt_claims(token) or {}).get("kubernetes.io")
    secret = claim.get("secret") if isinstance(claim, dict) else None
    name = secret.get("name") if isinstance(secret, dict) else None
    return name if isinstance(name, str) else None


def _still_good(token: str, anchors: list[k8s.V1Secret]) -> bool:
    """Whether an installed expiring token may be kept: its anchor exists and it is not near its expiry."""
    warn_at = warning_at(jwt_issued_at(token), jwt_expires_at(token))
    bound = _bound_anchor(token)
    return (
        warn_at is not None and datetime.now(UTC) < warn_at and any(anchor.metadata.name == bound for anchor in anchors)
    )


def _used_by(source: Cluster, target: str, token: str) -> list[k8s.V1Secret]:
    """The importer's token Secret that holds token, or the anchor Secret it is bound to."""
    bound = _bound_anchor(token)
    held = [s for s in _anchors(source, target) if s.metadata.name == bound]
    for secret in _token_secrets(source, target):
        value = (secret.data or {}).get("token")
        if value and base64.b64decode(value).decode(errors="replace") == token:
            held.append(secret)
    return held


def _revoke(source: Cluster, secrets: list[k8s.V1Secret], say: Say, why: str) -> None:
    """Delete old token and anchor Secrets of the importer: the tokens in or bound to them stop working."""
    core = k8s.CoreV1Api(source.api)
    for secret in secrets:
        kind = "credential anchor" if secret.type == importer.ANCHOR_TYPE else "token"
        delete(f'{why}{kind} Secret "{NS}/{secret.metadata.name}"', where(source, "source"), say,
               lambda n=secret.metadata.name: core.delete_namespaced_secret(n, NS))  # fmt: skip


# -- target cluster -------------------------------------------------------------------------------


def _install_credential(
    target: Cluster,
    source: Cluster,
    token: str,
    say: Say,
    endpoint: ClusterEndpoint,
    rules: Policy,
    expiration: int | None = None,
) -> None:
    """The cluster credential in target for source: endpoint, token, policy (and the lifetime asked for
    the token, if it expires)."""
    place = where(target, "target")
    core = k8s.CoreV1Api(target.api)
    _ensure_namespace(target, place, say)
    secret = credential_secret(source.name, endpoint, token, rules, expiration)
    name = credential_secret_name(source.name)

    def up_to_date(current: k8s.V1Secret) -> bool:
        labels, annotations = current.metadata.labels or {}, current.metadata.annotations or {}
        ours = {k: v for k, v in annotations.items() if k in (*policy.ANNOTATIONS, EXPIRATION)}
        return (
            (current.data or {}) == secret["data"]
            and labels.items() >= secret["metadata"]["labels"].items()
            and ours == secret["metadata"]["annotations"]
        )

    ensure(
        f'cluster credential Secret "{NS}/{name}" for cluster "{source.name}"', place, say,
        lambda: core.read_namespaced_secret(name, NS),
        lambda: core.create_namespaced_secret(NS, secret),
        up_to_date,
        lambda current: core.replace_namespaced_secret(name, NS, secret),
    )  # fmt: skip
    say(f'  policy of cluster "{source.name}" in {place}: {rules.describe()}')


@dataclass(frozen=True)
class Installed:
    """What target's current credential for source holds."""

    endpoint: ClusterEndpoint
    policy: Policy
    token: str
    expiration: int | None  # the lifetime kubemcsa asked for its token, if it expires


def _installed(target: Cluster, source: Cluster) -> Installed | None:
    """Target's current credential for source, if it has a readable one."""
    name = credential_secret_name(source.name)
    with calling("read", f'cluster credential Secret "{NS}/{name}"', where(target, "target")):
        try:
            secret = k8s.CoreV1Api(target.api).read_namespaced_secret(name, NS)
        except ApiException as err:
            if not _missing(err):
                raise
            return None
    annotations = secret.metadata.annotations or {}
    try:
        raw = base64.b64decode((secret.data or {}).get(contract.CREDENTIAL_CONFIG_KEY, ""))
        config, endpoint = credential_kubeconfig(raw.decode("utf-8", errors="replace"))
        token = str(current_cluster_and_user(config)[1].get("token") or "")
        expiration = annotations.get(EXPIRATION) or ""
        seconds = int(expiration) if expiration.isascii() and expiration.isdigit() else None
        return Installed(endpoint, policy.parse(annotations), token, seconds)
    except (KubeconfigError, policy.PolicyError):
        return None


def _current_token(source: Cluster, target: str) -> str | None:
    for secret in reversed(_token_secrets(source, target)):
        token = (secret.data or {}).get("token")
        if token:
            with calling("read", f'token Secret "{NS}/{secret.metadata.name}"', where(source, "source")):
                return base64.b64decode(token).decode()
    return None


# -- commands -------------------------------------------------------------------------------------


def bootstrap(
    target: Cluster,
    source: Cluster,
    namespaces: list[str],
    say: Say,
    server: str | None = None,
    rules: Policy | None = None,
    expiration: int | None = None,
) -> None:
    """Let target import service accounts of source (in namespaces, or all), under rules, with a legacy
    token or, with expiration, one from the TokenRequest API. The credential names source's server as the
    kubeconfig does, or server, when target reaches source at another address."""
    rules = rules or Policy()
    opened = rules.allowed_remote_namespaces | (set(namespaces) & policy.SYSTEM_NAMESPACES)
    rules = replace(rules, importing_cluster=target.name, allowed_remote_namespaces=frozenset(opened))
    _grant(source, target.name, namespaces, say)
    _hold_to_policy(source, target.name, rules, say)
    if not namespaces:
        say(
            f"note: the importer may create tokens in every namespace of {where(source, 'source')} (a cluster "
            "role binding), but those its admission policy refuses; narrow it with --namespace NAMESPACE"
        )
    place = where(source, "source")
    installed = _installed(target, source)
    anchors = _anchors(source, target.name)
    stale: list[k8s.V1Secret]
    if expiration:
        if installed and installed.expiration == expiration and _still_good(installed.token, anchors):
            token = installed.token
            expires = jwt_expires_at(token)
            say(f'a token for service account "{NS}/{target.name}" that expires at '
                f"{format_time(expires) if expires else '?'} already exists in {place}")  # fmt: skip
        else:
            token = _new_bound_token(source, target.name, expiration, say)
        # What the credential held before, unless kept: its other credentials keep theirs.
        stale = _used_by(source, target.name, installed.token) if installed and installed.token != token else []
    else:
        current = _current_token(source, target.name)
        if current is None:
            _, token = _new_token(source, target.name, say)
        else:
            token = current
            say(f'a token Secret for service account "{NS}/{target.name}" already exists in {place}')
        # The expiring token the credential held before, if any (long-lived tokens stay, as before).
        previous = _used_by(source, target.name, installed.token) if installed else []
        stale = [s for s in previous if s.type == importer.ANCHOR_TYPE]
    endpoint = ClusterEndpoint(server, source.endpoint.ca_pem) if server else source.endpoint
    _install_credential(target, source, token, say, endpoint, rules, expiration)
    _revoke(source, stale, say, "old ")


def rotate(
    target: Cluster, source: Cluster, say: Say, server: str | None = None, expiration: int | None = None
) -> None:
    """A new importer credential in place of the old ones, which stop working. The credential keeps the
    server URL (given with --source-server at bootstrap), the policy, and the kind of token it had (a legacy
    one, or one that expires after the lifetime asked at bootstrap), unless server or expiration is given."""
    old = _token_secrets(source, target.name) + _anchors(source, target.name)
    if not old:
        raise CommandError(
            f'cannot rotate the credential of cluster "{target.name}" in {where(source, "source")}: none exists',
            f"run `kubemcsa bootstrap {target.context} {source.context}` first",
        )
    installed = _installed(target, source)
    if installed is not None:  # what this credential held; the importer's other credentials keep theirs
        old = _used_by(source, target.name, installed.token)
    endpoint = installed.endpoint if installed else source.endpoint
    if server:
        endpoint = ClusterEndpoint(server, source.endpoint.ca_pem)
    rules = installed.policy if installed else Policy(importing_cluster=target.name)
    expiration = expiration or (installed.expiration if installed else None)
    if expiration:
        token = _new_bound_token(source, target.name, expiration, say)
    else:
        _, token = _new_token(source, target.name, say)
    _install_credential(target, source, token, say, endpoint, rules, expiration)
    _revoke(source, old, say, "old ")


def teardown(target: Cluster, source: Cluster, say: Say) -> None:
    """Remove everything bootstrap made for target, in both clusters."""
    name = credential_secret_name(source.name)
    core_t = k8s.CoreV1Api(target.api)
    delete(f'cluster credential Secret "{NS}/{name}"', where(target, "target"), say,
           lambda: core_t.delete_namespaced_secret(name, NS))  # fmt: skip
    place = where(source, "source")
    core, rbac = k8s.CoreV1Api(source.api), k8s.RbacAuthorizationV1Api(source.api)
    selector = f"{importer.TARGET_CLUSTER_LABEL}={target.name}"
    _revoke(source, _token_secrets(source, target.name) + _anchors(source, target.name), say, "")
    with calling("list", "role bindings", place):
        bindings = rbac.list_role_binding_for_all_namespaces(label_selector=selector).items
        cluster_bindings = rbac.list_cluster_role_binding(label_selector=selector).items
    for rb in bindings:
        delete(f'role binding "{rb.metadata.namespace}/{rb.metadata.name}"', place, say,
               lambda rb=rb: rbac.delete_namespaced_role_binding(rb.metadata.name, rb.metadata.namespace))  # fmt: skip
    for crb in cluster_bindings:
        delete(f'cluster role binding "{crb.metadata.name}"', place, say,
               lambda n=crb.metadata.name: rbac.delete_cluster_role_binding(n))  # fmt: skip
    if _admission_policy_supported(source, place):
        admission, name = k8s.AdmissionregistrationV1Api(source.api), importer.binding_name(target.name)
        delete(f'validating admission policy binding "{name}"', place, say,
               lambda: admission.delete_validating_admission_policy_binding(name))  # fmt: skip
        delete(f'validating admission policy "{name}"', place, say,
               lambda: admission.delete_validating_admission_policy(name))  # fmt: skip
    delete(f'service account "{NS}/{target.name}"', place, say,
           lambda: core.delete_namespaced_service_account(target.name, NS))  # fmt: skip
    with calling("list", "role bindings", place):
        others = rbac.list_cluster_role_binding(label_selector=importer.TARGET_CLUSTER_LABEL).items
        others += rbac.list_role_binding_for_all_namespaces(label_selector=importer.TARGET_CLUSTER_LABEL).items
    if others:
        say(f'cluster role "{importer.IMPORTER_ROLE}" stays in {place}: other clusters import from it')
    else:
        delete(f'cluster role "{importer.IMPORTER_ROLE}"', place, say,
               lambda: rbac.delete_cluster_role(importer.IMPORTER_ROLE))  # fmt: skip
