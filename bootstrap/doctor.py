"""`kubemcsa doctor`: the health and reach of every cluster credential of a cluster, and its imports."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract
from hooks.credentials import allowed as policy_allows
from hooks.credentials import credential_expiry, find_credential
from hooks.model import Credential, ImportFailure, TokenSpec
from hooks.settings import Settings
from hooks.wire import Obj

from .kube import MALFORMED, MAX_ERROR_TEXT, Cluster, RemoteProblem, api_error_text, client_for, one_line
from .steps import Say, calling

TIMEOUT = (5, 10)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def check(self, say: Say, ok: bool, text: str) -> None:
        say(f"  {'ok  ' if ok else 'FAIL'}  {text}")
        if not ok:
            self.problems.append(text)

    def warn(self, say: Say, text: str) -> None:
        """Something to act on soon, not yet wrong: it does not make doctor fail."""
        say(f"  warn  {text}")


def _allowed(api: k8s.ApiClient, verb: str, resource: str, namespace: str = "", subresource: str = "") -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "verb": verb, "resource": resource, "subresource": subresource, "namespace": namespace, "group": "",
            }
        },
    }  # fmt: skip
    result = k8s.AuthorizationV1Api(api).create_self_subject_access_review(review, _request_timeout=TIMEOUT)
    return bool(result.status.allowed)


def _spec(sai: Obj, cluster: str) -> TokenSpec:
    spec = sai["spec"]
    expiration, audiences = spec.get("expirationSeconds"), spec.get("audiences")
    return TokenSpec(
        cluster, str(spec.get("namespace", "")), str(spec.get("name", "")),
        tuple(str(a) for a in audiences) if isinstance(audiences, list) else (),
        expiration if isinstance(expiration, int) else None,
    )  # fmt: skip


def imports_of(listed: object) -> list[Obj]:
    """The ServiceAccountImports of a list answer, each with a metadata name and namespace, a spec mapping and a
    list of condition mappings; ValueError if the answer is not such a list."""
    items = listed.get("items") if isinstance(listed, dict) else None
    if not isinstance(items, list):
        raise ValueError("not a list")
    found: list[Obj] = []
    for item in items:
        meta = item.get("metadata") if isinstance(item, dict) else None
        if not (
            isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(meta.get("namespace"), str)
        ):
            raise ValueError("an item without a name and namespace")
        spec, status = item.get("spec"), item.get("status")
        conditions = status.get("conditions") if isinstance(status, dict) else None
        found.append({
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "spec": spec if isinstance(spec, dict) else {},
            "conditions": [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else [],
        })  # fmt: skip
    return found


def expiry_report(credential: Credential, cluster: str, now: datetime) -> tuple[str, str]:
    """What doctor says of the credential's own expiry: FAIL once expired, warn when near, else info."""
    expiring, reason, message = credential_expiry(credential, cluster, now, relative=True)
    if reason == "CredentialExpired":
        return "FAIL", message
    if expiring:
        return "warn", message
    if reason == "CredentialDoesNotExpire":
        return "info", "it does not expire (kubemcsa bootstrap --credential-expiration makes one that does)"
    return "info", message


def _ref(sai: Obj) -> str:
    return f"{sai['metadata']['namespace']}/{sai['metadata']['name']}"


def _credential(secret: Obj, imports: list[Obj], say: Say, report: Report) -> None:
    meta = secret["metadata"]
    cluster = (meta.get("labels") or {}).get(contract.CLUSTER_NAME_LABEL, "?")
    namespace = meta.get("namespace") or contract.CREDENTIALS_NAMESPACE
    key = f"{namespace}/{meta['name']}"
    say(f'cluster credential "{key}" for cluster "{cluster}":')
    try:
        credential = find_credential({key: secret}, cluster, Settings(credentials_namespace=namespace))
        api = client_for(credential.config)
    except ImportFailure as failure:
        report.check(say, False, failure.message)
        return
    except ValueError as err:
        report.check(say, False, f"it is unusable: {err}; re-run `kubemcsa bootstrap`")
        return
    say(f"  info  policy: {credential.policy.describe()}")
    level, text = expiry_report(credential, cluster, datetime.now(UTC))
    if level == "FAIL":
        report.check(say, False, text)
    elif level == "warn":
        report.warn(say, text)
    else:
        say(f"  info  {text}")
    # What the hooks' rules refuse, whatever the remote cluster says (e.g. imports made before these rules).
    refused = set()
    for sai in imports:
        if sai["spec"].get("clusterName") == cluster:
            try:
                policy_allows(sai["metadata"]["namespace"], _spec(sai, cluster), credential)
            except ImportFailure as failure:
                refused.add(_ref(sai))
                report.check(say, False, f"import {_ref(sai)} is refused: {failure.message}")
    try:
        review = k8s.AuthenticationV1Api(api).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, _request_timeout=TIMEOUT
        )
        report.check(say, True, f"{api.configuration.host} answers; identity {review.status.user_info.username}")
        everywhere = _allowed(api, "create", "serviceaccounts", subresource="token")
        reach = "in every namespace" if everywhere else "in some namespaces only"
        say(f"  info  may create service account tokens {reach}")
        for verb in ("get", "list", "watch"):
            report.check(say, not _allowed(api, verb, "secrets"), f"may not {verb} Secrets")
        for sai in imports:
            if sai["spec"].get("clusterName") != cluster:
                continue
            if _ref(sai) in refused:
                continue
            remote_ns = sai["spec"].get("namespace", "")
            allowed = _allowed(api, "create", "serviceaccounts", remote_ns, "token")
            report.check(
                say, allowed,
                f'may create tokens in namespace "{remote_ns}" (for import '
                f'{sai["metadata"]["namespace"]}/{sai["metadata"]["name"]})',
            )  # fmt: skip
    except ApiException as err:
        hint = "; rotate it with `kubemcsa rotate`" if err.status == 401 else ""
        report.check(say, False, f"the remote API server refused the credential: {api_error_text(err)}{hint}")
    except RemoteProblem as err:
        report.check(say, False, f"{err.cause} ({err.hint})")
    except MALFORMED as err:
        report.check(
            say, False, f"the remote API server's answer is not what Kubernetes answers ({type(err).__name__})"
        )
    finally:
        api.close()


def doctor(cluster: Cluster, say: Say) -> bool:
    """Report on cluster's credentials and imports; True if nothing is wrong."""
    place = f'cluster "{cluster.name}"'
    report = Report()
    group, version = contract.API_VERSION.split("/")
    with calling("list", "cluster credential Secrets", place):
        secrets = (
            k8s.CoreV1Api(cluster.api)
            .list_namespaced_secret(contract.CREDENTIALS_NAMESPACE, label_selector=contract.CLUSTER_NAME_LABEL)
            .items
        )
    with calling("list", "ServiceAccountImports", place, hint="is the CRD installed? kubectl apply -k manifests/"):
        listed = k8s.CustomObjectsApi(cluster.api).list_cluster_custom_object(group, version, contract.PLURAL)
        imports = imports_of(listed)
    if not secrets:
        say(f'no cluster credential in namespace "{contract.CREDENTIALS_NAMESPACE}" of {place}')
    for secret in secrets:
        _credential(cluster.api.sanitize_for_serialization(secret), imports, say, report)
    if imports:
        say("imports:")
    for sai in imports:
        ready = next((c for c in sai["conditions"] if c.get("type") == "Ready"), None)
        ref = f"{sai['metadata']['namespace']}/{sai['metadata']['name']}"
        if ready is None:
            report.check(say, False, f"{ref}: no status yet (is Metacontroller running with metacontroller/?)")
        else:
            said = one_line(f"Ready={ready.get('status')} ({ready.get('reason')}): {ready.get('message', '')}")
            report.check(say, ready.get("status") == "True", f"{ref}: {said[:MAX_ERROR_TEXT]}")
    say(f"{len(report.problems)} problem(s) found" if report.problems else "no problem found")
    return not report.problems
