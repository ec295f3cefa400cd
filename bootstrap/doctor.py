"""`kubemcsa doctor`: the health and reach of every cluster credential of a cluster, and its imports."""

import base64
from dataclasses import dataclass, field

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from hooks import contract, policy
from hooks.kubeconfig import KubeconfigError, credential_kubeconfig
from hooks.wire import Obj

from .kube import Cluster, api_error_text, client_for
from .steps import Say, calling

TIMEOUT = (5, 10)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def check(self, say: Say, ok: bool, text: str) -> None:
        say(f"  {'ok  ' if ok else 'FAIL'}  {text}")
        if not ok:
            self.problems.append(text)


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


def _credential(secret: k8s.V1Secret, imports: list[Obj], say: Say, report: Report) -> None:
    cluster = (secret.metadata.labels or {}).get(contract.CLUSTER_NAME_LABEL, "?")
    say(f'cluster credential "{secret.metadata.namespace}/{secret.metadata.name}" for cluster "{cluster}":')
    try:
        raw = base64.b64decode((secret.data or {}).get(contract.CREDENTIAL_CONFIG_KEY, ""))
        config, _ = credential_kubeconfig(raw.decode("utf-8", errors="replace"))
        rules = policy.parse(secret.metadata.annotations or {})
        api = client_for(config)
    except (KubeconfigError, ValueError) as err:
        report.check(say, False, f"it is unusable: {err}; re-run `kubemcsa bootstrap`")
        return
    say(f"  info  policy: {rules.describe()}")
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
    except (urllib3.exceptions.HTTPError, OSError) as err:
        report.check(say, False, f"{api.configuration.host} is unreachable ({type(err).__name__})")
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
        listed: Obj = k8s.CustomObjectsApi(cluster.api).list_cluster_custom_object(group, version, contract.PLURAL)
    imports: list[Obj] = listed["items"]
    if not secrets:
        say(f'no cluster credential in namespace "{contract.CREDENTIALS_NAMESPACE}" of {place}')
    for secret in secrets:
        _credential(secret, imports, say, report)
    if imports:
        say("imports:")
    for sai in imports:
        conditions = (sai.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        ref = f"{sai['metadata']['namespace']}/{sai['metadata']['name']}"
        if ready is None:
            report.check(say, False, f"{ref}: no status yet (is Metacontroller running with metacontroller/?)")
        else:
            report.check(
                say, ready["status"] == "True",
                f"{ref}: Ready={ready['status']} ({ready.get('reason')}): {ready.get('message', '')}",
            )  # fmt: skip
    say(f"{len(report.problems)} problem(s) found" if report.problems else "no problem found")
    return not report.problems
