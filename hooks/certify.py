"""The certificate step: the hooks' serving certificate, kept valid, and its CA in the webhook configuration.

`python -m hooks.certify` runs in the cluster as a Job at install and as a CronJob after (the image of
the hooks, its own service account, RBAC on exactly the objects below by name). Every run is safe:

- Secret `multicluster-service-account-hooks-ca` holds a CA (10 years), made once;
- Secret `multicluster-service-account-hooks-tls` holds `tls.crt`/`tls.key` for the hooks Service's DNS
  names, signed by that CA, and `ca.crt`; issued again when missing, for other names, from another CA,
  or within `--renew-before` of its expiry (it lasts a year);
- the MutatingWebhookConfiguration `multicluster-service-account` gets the CA as `caBundle`.

Metacontroller reads the CA from the TLS Secret's `ca.crt` (caBundle.secretRef in metacontroller/).
Both Secrets must exist (the manifests make them empty), so that the step needs no `create` right.
"""

import argparse
import base64
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from . import contract
from .pki import KeyPair, issue, new_ca

SERVICE = "multicluster-service-account-hooks"
TLS_SECRET = f"{SERVICE}-tls"
CA_SECRET = f"{SERVICE}-ca"
WEBHOOK = "multicluster-service-account"
CA_DAYS, SERVING_DAYS = 3650, 365
DEFAULT_RENEW_BEFORE = timedelta(days=120)


@dataclass(frozen=True)
class Plan:
    ca: KeyPair
    serving: KeyPair
    ca_changed: bool
    serving_changed: bool


def service_hosts(service: str, namespace: str) -> tuple[str, ...]:
    return (service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local")


def _pair(data: dict[str, str] | None) -> KeyPair | None:
    """The key pair in a kubernetes.io/tls Secret's data, or None if it is missing or unreadable."""
    data = data or {}
    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        key = serialization.load_pem_private_key(base64.b64decode(data["tls.key"]), password=None)
    except (KeyError, ValueError, TypeError):
        return None
    return KeyPair(cert, key) if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _usable(pair: KeyPair | None, now: datetime, renew_before: timedelta) -> bool:
    return pair is not None and pair.cert.not_valid_after_utc - now > renew_before


def _serves(pair: KeyPair, ca: KeyPair, hosts: tuple[str, ...]) -> bool:
    try:
        pair.cert.verify_directly_issued_by(ca.cert)
        sans = pair.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    names = {str(n) for n in sans.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return set(hosts) <= names


def plan(
    ca_data: dict[str, str] | None,
    tls_data: dict[str, str] | None,
    hosts: tuple[str, ...],
    now: datetime,
    renew_before: timedelta,
) -> Plan:
    """What the two Secrets should hold: kept where still good, new where not."""
    ca = _pair(ca_data)
    ca_changed = not _usable(ca, now, timedelta(days=365))
    if ca is None or ca_changed:
        ca = new_ca("multicluster-service-account-hooks-ca", days=CA_DAYS)
    serving = _pair(tls_data)
    current_ca = base64.b64decode((tls_data or {}).get("ca.crt", "")) == ca.cert_pem
    serving_changed = not (
        serving is not None and current_ca and _usable(serving, now, renew_before) and _serves(serving, ca, hosts)
    )
    if serving is None or serving_changed:
        serving = issue(ca, hosts[0], hosts=hosts, days=SERVING_DAYS)
    return Plan(ca, serving, ca_changed, serving_changed)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def run(api: k8s.ApiClient, namespace: str, hosts: tuple[str, ...], renew_before: timedelta) -> list[str]:
    """Bring the Secrets and the webhook's caBundle up to date; the lines say what was done."""
    core, admission = k8s.CoreV1Api(api), k8s.AdmissionregistrationV1Api(api)
    said: list[str] = []
    ca_secret = core.read_namespaced_secret(CA_SECRET, namespace)
    tls_secret = core.read_namespaced_secret(TLS_SECRET, namespace)
    result = plan(ca_secret.data, tls_secret.data, hosts, datetime.now(UTC), renew_before)
    if result.ca_changed:
        body = {"data": {"tls.crt": _b64(result.ca.cert_pem), "tls.key": _b64(result.ca.key_pem)}}
        core.patch_namespaced_secret(CA_SECRET, namespace, body)
        said.append(f'made a new CA in Secret "{namespace}/{CA_SECRET}"')
    if result.serving_changed:
        body = {
            "data": {
                "tls.crt": _b64(result.serving.cert_pem),
                "tls.key": _b64(result.serving.key_pem),
                "ca.crt": _b64(result.ca.cert_pem),
            }
        }
        core.patch_namespaced_secret(TLS_SECRET, namespace, body)
        expiry = result.serving.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        names = ", ".join(hosts)
        said.append(
            f'issued a serving certificate for {names} in Secret "{namespace}/{TLS_SECRET}", valid until {expiry}'
        )
    else:
        expiry = result.serving.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        said.append(f'the serving certificate in Secret "{namespace}/{TLS_SECRET}" is valid until {expiry}; kept')
    webhook = admission.read_mutating_webhook_configuration(WEBHOOK)
    bundle = _b64(result.ca.cert_pem)
    patch = []
    for index, hook in enumerate(webhook.webhooks or []):
        if hook.client_config.ca_bundle != bundle:
            patch.append({"op": "test", "path": f"/webhooks/{index}/name", "value": hook.name})
            patch.append({"op": "replace" if hook.client_config.ca_bundle else "add",
                          "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle})  # fmt: skip
    if patch:
        admission.patch_mutating_webhook_configuration(WEBHOOK, patch)
        said.append(f'set the caBundle of MutatingWebhookConfiguration "{WEBHOOK}"')
    else:
        said.append(f'the caBundle of MutatingWebhookConfiguration "{WEBHOOK}" is up to date')
    return said


def _api(args: argparse.Namespace) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    if args.kubeconfig or args.context:
        k8s_config.load_kube_config(
            config_file=args.kubeconfig, context=args.context, client_configuration=configuration, persist_config=False
        )
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)
    api = k8s.ApiClient(configuration)
    if args.as_user:
        api.set_default_header("Impersonate-User", args.as_user)
    return api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hooks.certify", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default=contract.CREDENTIALS_NAMESPACE)
    parser.add_argument("--host", action="append", default=[], help="another name or IP for the certificate")
    parser.add_argument("--renew-before-days", type=int, default=DEFAULT_RENEW_BEFORE.days)
    parser.add_argument("--kubeconfig", help="for a run outside the cluster (default: in-cluster)")
    parser.add_argument("--context")
    parser.add_argument("--as", dest="as_user", help="impersonate this user (to test the step's RBAC)")
    args = parser.parse_args(argv)
    hosts = (*service_hosts(SERVICE, args.namespace), *args.host)
    try:
        lines = run(_api(args), args.namespace, hosts, timedelta(days=args.renew_before_days))
    except ApiException as err:
        what = "the Secrets and the webhook configuration (apply manifests/ first)" if err.status == 404 else "them"
        print(f"error: cannot update {what}: {err.status} {err.reason}", file=sys.stderr)
        return 1
    except (k8s_config.ConfigException, OSError) as err:
        print(f"error: cannot reach the API server: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
