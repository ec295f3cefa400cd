"""Credential policy, consent, health and revocation, on the real API servers."""

import base64
import json
import time
from pathlib import Path

import yaml
from kubernetes import client as k8s

from bootstrap.credential import credential_secret_name
from hooks import contract
from tests.testbed.bed import Bed
from tests.testbed.scenario import (
    enable_namespace,
    eventually,
    imported_secret,
    kubectl,
    kubemcsa,
    mount,
    pod_lister,
    service_account_import,
)

from .helpers import GROUP, VERSION, hooks_later, ready, secret_data

CONSENT = contract.IMPORTABLE_BY_ANNOTATION
NS = contract.CREDENTIALS_NAMESPACE


def claims(token_b64: str) -> dict:
    payload = base64.b64decode(token_b64).decode().split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def annotate_remote(bed: Bed, namespace: str, value: str | None) -> None:
    body = {"metadata": {"annotations": {CONSENT: value}}}
    k8s.CoreV1Api(bed.api2).patch_namespaced_service_account("pod-lister", namespace, body)


def test_policy_from_bootstrap_denies_and_allows_as_documented(testbed: Bed, tmp_path: Path) -> None:
    # cluster2 as "c2-strict" for cluster1 as "c1-strict" (an importer of its own: the source's admission policy
    # is the importer's): one namespace may import, consent required, 20 min, audience vault.
    pair = ["--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2", "--target-name", "c1-strict",
            "--source-name", "c2-strict"]  # fmt: skip
    kubemcsa(
        "bootstrap", *pair,
        "--allow-namespace", "strict-a", "--require-consent", "--max-expiration", "20m", "--allow-audience", "vault",
    )  # fmt: skip
    try:
        pod_lister(testbed.api2, "consent")
        for namespace in ("strict-a", "strict-b"):
            enable_namespace(testbed.api1, namespace)
            service_account_import(testbed.api1, namespace, "imp", "c2-strict", "consent", "pod-lister")

        # Local policy: strict-b may not import; no token was asked for.
        testbed.driver().sync_parent("strict-b", "imp")
        assert ready(testbed, "strict-b", "imp")["reason"] == "NotAllowed"
        assert imported_secret(testbed.api1, "strict-b", "imp") is None

        # Remote consent: missing, then given for strict-a.
        testbed.driver().sync_parent("strict-a", "imp")
        condition = ready(testbed, "strict-a", "imp")
        assert (condition["status"], condition["reason"]) == ("False", "NoConsent")
        assert f"{CONSENT} naming c1-strict/strict-a" in condition["message"]
        annotate_remote(testbed, "consent", "c1-strict/strict-a")
        testbed.driver().sync_parent("strict-a", "imp")
        assert ready(testbed, "strict-a", "imp")["reason"] == "TokenIssued"
        token = claims(secret_data(testbed, "strict-a", "imp")["token"])
        assert token["exp"] - token["iat"] == 1200  # the default lifetime (1 h) clamped to 20 min by the policy

        # Audiences: vault is allowed (the token says so), another is not.
        group = k8s.CustomObjectsApi(testbed.api1)
        patch = {"spec": {"audiences": ["vault"]}}
        group.patch_namespaced_custom_object(GROUP, VERSION, "strict-a", contract.PLURAL, "imp", patch)
        testbed.driver().sync_parent("strict-a", "imp")
        assert claims(secret_data(testbed, "strict-a", "imp")["token"])["aud"] == ["vault"]
        patch = {"spec": {"audiences": ["vault", "billing"]}}
        group.patch_namespaced_custom_object(GROUP, VERSION, "strict-a", contract.PLURAL, "imp", patch)
        testbed.driver().sync_parent("strict-a", "imp")
        assert "audiences billing are not allowed" in ready(testbed, "strict-a", "imp")["message"]
        group.patch_namespaced_custom_object(
            GROUP, VERSION, "strict-a", contract.PLURAL, "imp", {"spec": {"audiences": []}}
        )
        testbed.driver().sync_parent("strict-a", "imp")
        assert ready(testbed, "strict-a", "imp")["reason"] == "TokenIssued"

        # Consent is checked again at renewal: withdrawn, the next renewal stops and the Secret goes.
        annotate_remote(testbed, "consent", None)
        testbed.driver().sync_parent("strict-a", "imp")  # before the renewal point: nothing asked, kept
        assert ready(testbed, "strict-a", "imp")["reason"] == "TokenIssued"
        with hooks_later(testbed, 1000) as driver:
            driver.sync_parent("strict-a", "imp")
        assert ready(testbed, "strict-a", "imp")["reason"] == "NoConsent"
        assert imported_secret(testbed.api1, "strict-a", "imp") is None

        # kubemcsa doctor shows the policy.
        doctor = kubemcsa("doctor", "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster1", check=False)
        section = doctor.stdout.split(f'"multicluster-service-account/{credential_secret_name("c2-strict")}"')[1]
        assert (
            "policy: namespaces: strict-a; remote consent: required (as c1-strict); max token lifetime: 1200s;"
            in section
        )

        # The credential used without the hooks: the source's admission policy still caps the lifetime.
        importer = tmp_path / "importer"
        secret = k8s.CoreV1Api(testbed.api1).read_namespaced_secret(credential_secret_name("c2-strict"), NS)
        importer.write_bytes(base64.b64decode(secret.data[contract.CREDENTIAL_CONFIG_KEY]))
        testbed.tokens.add(yaml.safe_load(importer.read_text())["users"][0]["user"]["token"])
        denied = kubectl(importer, "create", "token", "pod-lister", "-n", "consent", "--duration", "1h", check=False)
        assert denied.returncode != 0
        assert "may not create tokens valid for more than 1200 seconds" in denied.stderr
        assert kubectl(importer, "create", "token", "pod-lister", "-n", "consent", "--duration", "20m").stdout
    finally:
        kubemcsa("teardown", *pair)


def test_metrics_show_the_expiry_of_a_real_import(testbed: Bed) -> None:
    pod_lister(testbed.api2, "metered")
    enable_namespace(testbed.api1, "metered")
    service_account_import(testbed.api1, "metered", "metered", "cluster2", "metered", "pod-lister")
    testbed.driver().sync_parent("metered", "metered")
    expires = claims(secret_data(testbed, "metered", "metered")["token"])["exp"]
    # Each replica counts what it served: the one that synced has the series.
    text = next(t for t in testbed.hooks_get_each("/metrics") if 'name="metered"' in t)
    line = next(
        line for line in text.splitlines()
        if line.startswith("multicluster_service_account_token_expiration_timestamp_seconds{")
        and 'name="metered"' in line
    )  # fmt: skip
    assert abs(float(line.split()[-1]) - expires) <= 2
    assert 'multicluster_service_account_token_requests_total{cluster="cluster2",outcome="TokenIssued"}' in text


def test_a_deleted_imports_token_works_until_it_expires(testbed: Bed, tmp_path: Path) -> None:
    """Revocation, measured: deleting an import deletes its Secret, not its token, which the remote API
    server accepts until it expires (600 s at the least). The README says so."""
    pod_lister(testbed.api2, "revoked")
    enable_namespace(testbed.api1, "revoked")
    service_account_import(testbed.api1, "revoked", "gone", "cluster2", "revoked", "pod-lister", expirationSeconds=600)
    testbed.driver().sync_parent("revoked", "gone")
    secret = imported_secret(testbed.api1, "revoked", "gone")
    assert secret is not None
    testbed.remember(secret)
    kubeconfig = mount(secret, tmp_path / "gone")
    k8s.CustomObjectsApi(testbed.api1).delete_namespaced_custom_object(
        GROUP, VERSION, "revoked", contract.PLURAL, "gone"
    )
    eventually(lambda: imported_secret(testbed.api1, "revoked", "gone") is None, "the Secret to be deleted", 60)
    deleted_at = time.time()
    assert kubectl(kubeconfig, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    remaining = claims(secret.data["token"])["exp"] - deleted_at
    assert 0 < remaining <= 600  # it works for the rest of its lifetime (most of the 600 s here)
