"""What imports may never reach, and an importer credential that expires, on the real API servers."""

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import yaml
from kubernetes import client as k8s

from bootstrap import importer
from bootstrap.credential import credential_secret, credential_secret_name
from hooks import contract, create_app
from hooks.kube import KubernetesTokenIssuer
from hooks.kubeconfig import ClusterEndpoint
from hooks.model import Credential, TokenSpec
from hooks.settings import Settings
from hooks.token import IssuedToken, format_time
from tests.testbed.bed import Bed
from tests.testbed.hooks_server import in_process_hooks
from tests.testbed.metacontroller import CompositeControllerDriver
from tests.testbed.scenario import (
    enable_namespace,
    eventually,
    imported_secret,
    kubectl,
    kubemcsa,
    pod_lister,
    service_account_import,
)

from .helpers import GROUP, VERSION, get_import, hooks_later, ready, secret_data

NS = contract.CREDENTIALS_NAMESPACE


class CountingIssuer:
    """The hooks' real issuer, counting what it asks of remote clusters."""

    def __init__(self, inner: KubernetesTokenIssuer) -> None:
        self.inner = inner
        self.token_requests: list[tuple[str, str]] = []
        self.lookups = 0

    def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
        self.token_requests.append((spec.namespace, spec.name))
        return self.inner.request_token(credential, spec)

    def service_account_annotations(self, credential: Credential, spec: TokenSpec) -> dict[str, str]:
        self.lookups += 1
        return self.inner.service_account_annotations(credential, spec)


@contextmanager
def counted_hooks(bed: Bed) -> Iterator[tuple[CompositeControllerDriver, CountingIssuer]]:
    settings = Settings()
    issuer = CountingIssuer(KubernetesTokenIssuer(settings))
    with in_process_hooks(create_app(settings, issuer), bed.files) as url:
        yield bed.driver(url), issuer


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def condition(bed: Bed, namespace: str, name: str, kind: str) -> dict:
    return next(c for c in get_import(bed, namespace, name)["status"]["conditions"] if c["type"] == kind)


def credential_token(bed: Bed, source: str) -> str:
    secret = k8s.CoreV1Api(bed.api1).read_namespaced_secret(credential_secret_name(source), NS)
    config = yaml.safe_load(base64.b64decode(secret.data[contract.CREDENTIAL_CONFIG_KEY]))
    token = str(config["users"][0]["user"]["token"])
    bed.tokens.add(token)
    return token


def importer_kubeconfig(bed: Bed, source: str, path: Path) -> Path:
    secret = k8s.CoreV1Api(bed.api1).read_namespaced_secret(credential_secret_name(source), NS)
    path.write_bytes(base64.b64decode(secret.data[contract.CREDENTIAL_CONFIG_KEY]))
    return path


def unauthorized(kubeconfig: Path) -> bool:
    result = kubectl(kubeconfig, "auth", "whoami", check=False)
    return result.returncode != 0 and "unauthorized" in result.stderr.lower()


def source_secrets(bed: Bed, target: str, kind: str) -> list[str]:
    selector = f"{importer.TARGET_CLUSTER_LABEL}={target}"
    items = k8s.CoreV1Api(bed.api2).list_namespaced_secret(NS, label_selector=selector).items
    return sorted(str(s.metadata.name) for s in items if s.type == kind)


def test_the_importer_and_remote_system_namespaces_are_refused_until_the_policy_opens_them(
    testbed: Bed, tmp_path: Path
) -> None:
    # As an attacker who may create imports in one namespace of cluster1, after a plain bootstrap.
    enable_namespace(testbed.api1, "attack")
    service_account_import(testbed.api1, "attack", "importer", "cluster2", NS, "cluster1")
    service_account_import(testbed.api1, "attack", "controllers", "cluster2", "kube-system", "default")
    try:
        with counted_hooks(testbed) as (driver, issuer):
            driver.sync_parent("attack", "importer")
            driver.sync_parent("attack", "controllers")
        assert issuer.token_requests == [] and issuer.lookups == 0
        refused = ready(testbed, "attack", "importer")
        assert (refused["status"], refused["reason"]) == ("False", "NotAllowed")
        assert (
            f'service account "cluster1" in namespace "{NS}" of cluster "cluster2" is never importable'
            in (refused["message"])
        )
        refused = ready(testbed, "attack", "controllers")
        assert (refused["status"], refused["reason"]) == ("False", "NotAllowed")
        assert 'namespace "kube-system" of cluster "cluster2" is off limits' in refused["message"]
        assert "run again the `kubemcsa bootstrap cluster1 cluster2`" in refused["message"]
        assert "--allow-remote-namespace kube-system" in refused["message"]
        for name in ("importer", "controllers"):
            assert imported_secret(testbed.api1, "attack", name) is None
        # Nor may a copy of the credential, used without the hooks: the source's admission policy refuses it.
        copied = importer_kubeconfig(testbed, "cluster2", tmp_path / "copied")
        credential_token(testbed, "cluster2")
        for namespace, name in ((NS, "cluster1"), ("kube-system", "default"), ("kube-public", "default"),
                                ("kube-node-lease", "default")):  # fmt: skip
            denied = kubectl(copied, "create", "token", name, "-n", namespace, check=False)
            assert denied.returncode != 0 and "denied request" in denied.stderr, (namespace, name)
            assert "the importer of cluster cluster1 may not create tokens of" in denied.stderr

        doctor = kubemcsa("doctor", "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster1", check=False)
        assert doctor.returncode == 1
        assert "FAIL  import attack/importer is refused: " in doctor.stdout
        assert "FAIL  import attack/controllers is refused: " in doctor.stdout

        # The admin opens kube-system: that import works, the importer still does not.
        opened = kubemcsa(
            "bootstrap", "--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2",
            "--allow-remote-namespace", "kube-system",
        ).stdout  # fmt: skip
        assert "note: the importer may create tokens in every namespace" in opened
        assert "remote system namespaces: kube-system opened" in opened
        assert 'updated validating admission policy "multicluster-service-account-importer-cluster1"' in opened
        # The API server applies an updated admission policy a moment later (as users' next sync would find).
        eventually(
            lambda: (
                kubectl(copied, "create", "token", "default", "-n", "kube-system", check=False).returncode == 0 or None
            ),
            "the opened admission policy to take effect",
        )
        with counted_hooks(testbed) as (driver, issuer):
            driver.sync_parent("attack", "controllers")
            driver.sync_parent("attack", "importer")
        assert issuer.token_requests == [("kube-system", "default")]
        assert ready(testbed, "attack", "controllers")["reason"] == "TokenIssued"
        token = base64.b64decode(secret_data(testbed, "attack", "controllers")["token"]).decode()
        assert claims(token)["sub"] == "system:serviceaccount:kube-system:default"
        assert ready(testbed, "attack", "importer")["reason"] == "NotAllowed"
        assert kubectl(copied, "create", "token", "default", "-n", "kube-system").stdout.count(".") == 2
        for namespace, name in ((NS, "cluster1"), ("kube-public", "default")):
            assert kubectl(copied, "create", "token", name, "-n", namespace, check=False).returncode != 0
    finally:
        kubemcsa("bootstrap", "--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2")  # the default policy
        group = k8s.CustomObjectsApi(testbed.api1)
        for name in ("importer", "controllers"):
            group.delete_namespaced_custom_object(GROUP, VERSION, "attack", contract.PLURAL, name)


def test_a_credential_naming_a_metadata_address_is_refused(testbed: Bed) -> None:
    endpoint = ClusterEndpoint("https://169.254.169.254", testbed.cluster2.ca_pem)
    core = k8s.CoreV1Api(testbed.api1)
    core.create_namespaced_secret(NS, credential_secret("c2-metadata", endpoint, "some-token"))
    try:
        enable_namespace(testbed.api1, "attack-metadata")
        service_account_import(testbed.api1, "attack-metadata", "imp", "c2-metadata", "default", "default")
        with counted_hooks(testbed) as (driver, issuer):
            driver.sync_parent("attack-metadata", "imp")
        assert issuer.token_requests == [] and issuer.lookups == 0
        refused = ready(testbed, "attack-metadata", "imp")
        assert refused["reason"] == "InvalidClusterCredential"
        assert "its server 169.254.169.254 is in the IPv4 link-local range" in refused["message"]
    finally:
        core.delete_namespaced_secret(credential_secret_name("c2-metadata"), NS)
    result = kubemcsa(
        "bootstrap", "--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2", "--source-name", "c2-metadata",
        "--source-server", "https://169.254.169.254", check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "the address is in the IPv4 link-local range" in result.stderr


def test_an_expiring_credential_works_says_when_it_expires_and_rotate_renews_it(testbed: Bed, tmp_path: Path) -> None:
    # Another target name, so that the importer (and its tokens) are not the bed's cluster1's.
    pair = ["--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2", "--target-name", "c1-exp",
            "--source-name", "c2-exp"]  # fmt: skip
    made = kubemcsa("bootstrap", *pair, "--credential-expiration", "10m").stdout
    try:
        assert "created credential anchor Secret" in made
        printed = re.search(r"it expires at (\S+)", made)
        assert printed is not None
        token = credential_token(testbed, "c2-exp")
        assert token not in made
        issued = claims(token)
        assert issued["exp"] - issued["iat"] == 600
        assert format_time_of(issued["exp"]) == printed.group(1)
        assert issued["sub"] == f"system:serviceaccount:{NS}:c1-exp"
        anchors = source_secrets(testbed, "c1-exp", importer.ANCHOR_TYPE)
        assert [issued["kubernetes.io"]["secret"]["name"]] == anchors
        assert source_secrets(testbed, "c1-exp", "kubernetes.io/service-account-token") == []  # no long-lived token
        first = importer_kubeconfig(testbed, "c2-exp", tmp_path / "first")
        assert not unauthorized(first)

        # An import through it works, and its status says when the credential expires.
        pod_lister(testbed.api2, "expiring")
        enable_namespace(testbed.api1, "expiring")
        service_account_import(testbed.api1, "expiring", "imp", "c2-exp", "expiring", "pod-lister")
        testbed.driver().sync_parent("expiring", "imp")
        assert ready(testbed, "expiring", "imp")["reason"] == "TokenIssued"
        status = get_import(testbed, "expiring", "imp")["status"]
        assert status["credentialExpirationTimestamp"] == printed.group(1)
        current = condition(testbed, "expiring", "imp", "CredentialExpiringSoon")
        assert (current["status"], current["reason"]) == ("False", "CredentialCurrent")
        metric = 'multicluster_service_account_credential_expiration_timestamp_seconds{cluster="c2-exp"}'
        text = next(t for t in testbed.hooks_get_each("/metrics") if metric in t)
        value = next(line for line in text.splitlines() if line.startswith(metric)).split()[-1]
        assert float(value) == issued["exp"]

        # Near its expiry (the hooks' clock 8 minutes on), the condition warns, naming the command that renews it.
        with hooks_later(testbed, 480) as driver:
            driver.sync_parent("expiring", "imp")
        near = condition(testbed, "expiring", "imp", "CredentialExpiringSoon")
        assert (near["status"], near["reason"]) == ("True", "CredentialExpiring")
        assert "renew it with `kubemcsa rotate c1-exp c2-exp`" in near["message"]
        doctor = kubemcsa("doctor", "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster1", check=False)
        section = doctor.stdout.split('for cluster "c2-exp":')[1].split('\ncluster credential "')[0]
        assert f"expires at {printed.group(1)}" in section

        # A second run keeps the token; rotate makes a new one and revokes the old one.
        again = kubemcsa("bootstrap", *pair, "--credential-expiration", "10m").stdout
        assert "created credential anchor" not in again and "already exists" in again
        assert credential_token(testbed, "c2-exp") == token
        rotated = kubemcsa("rotate", *pair).stdout
        assert "created credential anchor Secret" in rotated and "deleted old credential anchor Secret" in rotated
        renewed = claims(credential_token(testbed, "c2-exp"))
        assert renewed["exp"] - renewed["iat"] == 600 and renewed["exp"] >= issued["exp"]
        assert source_secrets(testbed, "c1-exp", importer.ANCHOR_TYPE) == [renewed["kubernetes.io"]["secret"]["name"]]
        eventually(lambda: unauthorized(first), "the old credential to be rejected (401)")
        assert not unauthorized(importer_kubeconfig(testbed, "c2-exp", tmp_path / "renewed"))
        testbed.driver().sync_parent("expiring", "imp")
        status = get_import(testbed, "expiring", "imp")["status"]
        assert status["credentialExpirationTimestamp"] == format_time_of(renewed["exp"])

        # Without the flag, bootstrap goes back to a long-lived token and revokes the expiring one.
        legacy = kubemcsa("bootstrap", *pair).stdout
        assert "deleted old credential anchor Secret" in legacy
        assert source_secrets(testbed, "c1-exp", importer.ANCHOR_TYPE) == []
        assert "exp" not in claims(credential_token(testbed, "c2-exp"))
        for output in (made, again, rotated, legacy):
            assert not any(secret in output for secret in testbed.tokens)
    finally:
        kubemcsa("teardown", *pair)
    assert source_secrets(testbed, "c1-exp", importer.ANCHOR_TYPE) == []


def format_time_of(seconds: int) -> str:
    return format_time(datetime.fromtimestamp(seconds, UTC))


def test_a_token_request_that_fails_leaves_no_anchor(testbed: Bed) -> None:
    pair = ["--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2", "--target-name", "c1-long",
            "--source-name", "c2-long"]  # fmt: skip
    try:
        # More than the TokenRequest API's 2^32 seconds: the API server refuses it.
        failed = kubemcsa("bootstrap", *pair, "--credential-expiration", "50000d", check=False)
        assert failed.returncode == 1 and len(failed.stderr.strip().splitlines()) == 1
        assert failed.stderr.startswith(f'error: cannot create a token for service account "{NS}/c1-long"')
        assert "created credential anchor Secret" in failed.stdout and "Traceback" not in failed.stderr
        assert source_secrets(testbed, "c1-long", importer.ANCHOR_TYPE) == []
    finally:
        kubemcsa("teardown", *pair)
