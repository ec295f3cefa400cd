"""What imports may never reach: the importer identities, remote system namespaces, metadata servers;
and the cluster credential's own expiry."""

import base64
import json
from datetime import timedelta

import pytest
from cryptography import x509

from bootstrap.credential import credential_secret
from hooks import addresses, contract
from hooks.credentials import Identity, credential_warning_at, identity
from hooks.kubeconfig import ClusterEndpoint
from hooks.model import Credential
from hooks.pki import issue, new_ca
from hooks.sync import CREDENTIAL_EXPIRING, sync
from hooks.wire import Obj

from .fakes import ENDPOINT, NOW, FakeIssuer, jwt, observed, parent, settings, sync_request
from .test_sync import ready

IMPORTER = "system:serviceaccount:multicluster-service-account:cluster1"


def importer_credential(
    server: str = ENDPOINT.server, sub: str = IMPORTER, lifetime: timedelta | None = None, **annotations: str
) -> Obj:
    iat = NOW - timedelta(days=1)
    token = jwt(iat, iat + lifetime, sub) if lifetime else legacy_token(sub)
    secret = credential_secret("cluster2", ClusterEndpoint(server, ENDPOINT.ca_pem), token)
    secret["metadata"]["annotations"] = annotations
    return secret


def legacy_token(sub: str) -> str:
    """A legacy service-account token: a JWT with `sub`, no `iat` or `exp`."""

    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'iss': 'kubernetes/serviceaccount', 'sub': sub})}.sig"


def run(cred: Obj, namespace: str = "default", name: str = "pod-lister", children: list[Obj] | None = None,
        when: timedelta = timedelta(0)) -> tuple[Obj, str, FakeIssuer]:  # fmt: skip
    issuer = FakeIssuer(now=NOW + when)
    spec = {"clusterName": "cluster2", "namespace": namespace, "name": name}
    response, outcome = sync(sync_request(parent(spec=spec), children=children, related=[cred]), issuer,
                             settings(NOW + when))  # fmt: skip
    return dict(response), outcome, issuer


def condition(response: Obj, kind: str) -> Obj:
    return next(c for c in response["status"]["conditions"] if c["type"] == kind)


@pytest.mark.parametrize("name", ["cluster1", "cluster3", "default"])
def test_no_service_account_of_the_importers_namespace_is_importable(name: str) -> None:
    first, _, _ = run(importer_credential())
    response, outcome, issuer = run(importer_credential(), contract.CREDENTIALS_NAMESPACE, name,
                                    children=[observed(first["children"][0])])  # fmt: skip
    assert outcome == "NotAllowed" and not issuer.calls and issuer.lookups == 0
    assert response["children"] == [] and "secretName" not in response["status"]
    message = ready(response)["message"]
    assert f'service account "{name}" in namespace "multicluster-service-account" of cluster "cluster2"' in message
    assert "is never importable" in message and "importer identit" in message


def test_the_credentials_own_identity_is_not_importable_wherever_it_lives() -> None:
    cred = importer_credential(sub="system:serviceaccount:platform:mcsa-importer")
    response, outcome, issuer = run(cred, "platform", "mcsa-importer")
    assert outcome == "NotAllowed" and not issuer.calls
    assert "it is the importer identity of the cluster credential Secret" in ready(response)["message"]
    _, outcome, _ = run(cred, "platform", "other")
    assert outcome == "TokenIssued"


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease"])
def test_remote_system_namespaces_are_off_limits_until_the_policy_opens_them(namespace: str) -> None:
    response, outcome, issuer = run(importer_credential(), namespace, "default")
    assert outcome == "NotAllowed" and not issuer.calls
    message = ready(response)["message"]
    assert f'namespace "{namespace}" of cluster "cluster2" is off limits' in message
    assert "run again the `kubemcsa bootstrap <this cluster> cluster2`" in message
    assert f"--allow-remote-namespace {namespace} (which sets annotation" in message
    opened = importer_credential(**{contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION: f"{namespace}, kube-public"})
    _, outcome, _ = run(opened, namespace, "default")
    assert outcome == "TokenIssued"


def test_opening_a_namespace_that_needs_no_opening_is_a_policy_error() -> None:
    cred = importer_credential(**{contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION: "kube-system,default"})
    response, outcome, _ = run(cred)
    assert outcome == "InvalidClusterCredential"
    assert "may only name kube-node-lease, kube-public, kube-system" in ready(response)["message"]


@pytest.mark.parametrize(
    "server",
    [
        "https://169.254.169.254",
        "https://169.254.170.2:443",
        "https://[fd00:ec2::254]",
        "https://[fe80::1]:6443",
        "https://[::ffff:169.254.169.254]",
        "https://[64:ff9b::a9fe:a9fe]",
        "https://100.100.100.200",
    ],
)
def test_a_credential_naming_a_metadata_or_link_local_address_is_refused(server: str) -> None:
    response, outcome, issuer = run(importer_credential(server=server))
    assert outcome == "InvalidClusterCredential" and not issuer.calls and issuer.lookups == 0
    message = ready(response)["message"]
    assert "not a Kubernetes API server" in message and "is unusable" in message


@pytest.mark.parametrize(
    ("address", "blocked"),
    [("169.254.169.254", True), ("10.0.0.1", False), ("127.0.0.1", False), ("fd00:ec2::254", True),
     ("fd00:ec2::253", False), ("fe80::1%eth0", True), ("[fe80::1]", True), ("kubernetes.default", False),
     ("100.100.100.201", False), ("::1", False), ("2852039166", True), ("0xa9fea9fe", True),
     ("0251.0376.0251.0376", True), ("169.254.43518", True), ("169.0xfe.169.254", True),
     ("64:ff9b:1:a9fe:a9:fe00::", True), ("64:ff9b:1:a00:1:100::", False), ("2130706433", False),
     ("cluster2.example", False)],
)  # fmt: skip
def test_blocked_addresses(address: str, blocked: bool) -> None:
    assert (addresses.blocked(address) is not None) is blocked


def test_identity_is_the_certificates_common_name_or_the_tokens_subject() -> None:
    assert identity({"token": legacy_token(IMPORTER)}) == Identity(IMPORTER)
    assert identity({"token": "not-a-jwt"}) == Identity(None)
    expiring = jwt(NOW, NOW + timedelta(days=90), IMPORTER)
    assert identity({"token": expiring}) == Identity(IMPORTER, NOW, NOW + timedelta(days=90))
    pair = issue(new_ca("test-ca"), "system:serviceaccount:ops:robot", hosts=())
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    user = {"client-certificate-data": base64.b64encode(pair.cert_pem).decode(), "client-key-data": "x"}
    # The API server checks a client certificate before a token: its name and validity win.
    for who in (identity(user), identity({**user, "token": expiring})):
        assert who == Identity("system:serviceaccount:ops:robot", cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert identity({"client-certificate-data": "bm90IGEgY2VydA=="}) == Identity(None)


def test_a_credential_that_does_not_expire_says_so() -> None:
    response, outcome, _ = run(importer_credential())
    assert outcome == "TokenIssued"
    cond = condition(response, CREDENTIAL_EXPIRING)
    assert (cond["status"], cond["reason"]) == ("False", "CredentialDoesNotExpire")
    assert "credentialExpirationTimestamp" not in response["status"]


@pytest.mark.parametrize(
    ("later", "status", "reason"),
    [(timedelta(0), "False", "CredentialCurrent"), (timedelta(days=66), "False", "CredentialCurrent"),
     (timedelta(days=67), "True", "CredentialExpiring"), (timedelta(days=89), "True", "CredentialExpired")],
)  # fmt: skip
def test_the_credentials_expiry_is_in_the_status_and_a_condition_warns_of_it(
    later: timedelta, status: str, reason: str
) -> None:
    # Issued a day before NOW for 90 days: expires at NOW + 89 d; warned of for its last 22.5 days.
    cred = importer_credential(lifetime=timedelta(days=90), **{contract.IMPORTING_CLUSTER_ANNOTATION: "cluster1"})
    response, _, _ = run(cred, when=later)
    assert response["status"]["credentialExpirationTimestamp"] == "2027-02-26T12:00:00Z"
    cond = condition(response, CREDENTIAL_EXPIRING)
    assert (cond["status"], cond["reason"]) == (status, reason)
    if status == "True":
        assert "renew it with `kubemcsa rotate cluster1 cluster2`" in cond["message"]


def test_the_credential_condition_is_there_when_the_import_fails_too() -> None:
    cred = importer_credential(lifetime=timedelta(days=90))
    response, outcome, _ = run(cred, "kube-system", "default", when=timedelta(days=80))
    assert outcome == "NotAllowed"
    assert condition(response, CREDENTIAL_EXPIRING)["reason"] == "CredentialExpiring"
    assert "expires at 2027-02-26T12:00:00Z; renew it with" in condition(response, CREDENTIAL_EXPIRING)["message"]


@pytest.mark.parametrize("first", [timedelta(days=70), timedelta(days=88, hours=23, minutes=30)])
def test_in_the_credentials_warning_window_the_status_does_not_change_with_the_clock(first: timedelta) -> None:
    # Metacontroller updates an import's status whenever the answer differs from it, and that update sets off
    # another sync: a message that said how long is left would cost two API calls per sync, all window long.
    cred = importer_credential(lifetime=timedelta(days=90))
    then, _, _ = run(cred, when=first)
    children = [observed(then["children"][0])]
    issuer = FakeIssuer(now=NOW + first + timedelta(seconds=61))
    spec = {"clusterName": "cluster2", "namespace": "default", "name": "pod-lister"}
    later = sync_request(parent(spec=spec, status=then["status"]), children=children, related=[cred])
    response, outcome = sync(later, issuer, settings(NOW + first + timedelta(seconds=61)))
    assert outcome == "TokenCurrent" and condition(response, CREDENTIAL_EXPIRING)["reason"] == "CredentialExpiring"
    assert response["status"] == then["status"]


@pytest.mark.parametrize(
    ("lifetime", "window"),
    [(timedelta(days=90), timedelta(days=22.5)), (timedelta(days=365), timedelta(days=30)),
     (timedelta(minutes=10), timedelta(seconds=150))],
)  # fmt: skip
def test_warning_window_is_a_quarter_of_the_lifetime_at_most_30_days(lifetime: timedelta, window: timedelta) -> None:
    cred = Credential("ns/c", {}, ENDPOINT, issued_at=NOW, expires_at=NOW + lifetime)
    assert credential_warning_at(cred) == NOW + lifetime - window
