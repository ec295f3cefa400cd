"""kubemcsa on two real clusters: least privilege, idempotency, names, rotate, teardown, export, doctor."""

import base64
import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from bootstrap.credential import credential_secret, credential_secret_name
from hooks import contract
from hooks.kubeconfig import ClusterEndpoint
from hooks.token import jwt_claims
from tests.testbed.bed import Bed
from tests.testbed.scenario import (
    KUBECTL,
    KUBEMCSA,
    enable_namespace,
    eventually,
    imported_secret,
    kubectl,
    kubemcsa,
    mount,
    nginx,
    pod_lister,
    service_account_import,
)

from .helpers import synced_import

NS = contract.CREDENTIALS_NAMESPACE


def credential_kubeconfig(bed: Bed, source: str, path: Path) -> Path:
    """The importer's kubeconfig from cluster1's credential Secret for source, as a file."""
    secret = k8s.CoreV1Api(bed.api1).read_namespaced_secret(credential_secret_name(source), NS)
    path.write_bytes(base64.b64decode(secret.data[contract.CREDENTIAL_CONFIG_KEY]))
    bed.tokens.add(yaml.safe_load(path.read_text())["users"][0]["user"]["token"])
    return path


def can_i(kubeconfig: Path, *args: str) -> str:
    return kubectl(kubeconfig, "auth", "can-i", *args, check=False).stdout.strip()


def unauthorized(kubeconfig: Path) -> bool:
    result = kubectl(kubeconfig, "auth", "whoami", check=False)
    return result.returncode != 0 and "unauthorized" in result.stderr.lower()


def test_importer_may_only_get_service_accounts_and_create_tokens(testbed: Bed, tmp_path: Path) -> None:
    importer = credential_kubeconfig(testbed, "cluster2", tmp_path / "importer")
    pod_lister(testbed.api2, "default")
    assert can_i(importer, "create", "serviceaccounts", "--subresource=token", "-A") == "yes"
    assert can_i(importer, "get", "serviceaccounts", "-A") == "yes"
    for verb in ("get", "list", "watch"):
        assert can_i(importer, verb, "secrets", "-A") == "no"
    for verb in ("list", "create", "delete"):
        assert can_i(importer, verb, "serviceaccounts", "-A") == "no"
    assert can_i(importer, "list", "pods", "-A") == "no"
    # For real, not only as the authorizer says.
    assert kubectl(importer, "create", "token", "pod-lister", "-n", "default").stdout.count(".") == 2
    denied = kubectl(importer, "get", "secrets", "-n", NS, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def unchanged(line: str) -> bool:
    """A line of bootstrap's output that reports no change: an object already there, the policy, or the note
    on the importer's reach."""
    return "already exists" in line or line.startswith(("  policy", "note: "))


def test_bootstrap_twice_changes_nothing(testbed: Bed) -> None:
    core = k8s.CoreV1Api(testbed.api2)
    before = sorted(s.metadata.name for s in core.list_namespaced_secret(NS).items)
    token = testbed.importer_token("cluster2")
    result = kubemcsa("bootstrap", "--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2")
    lines = result.stdout.splitlines()
    assert lines and all(unchanged(line) for line in lines), result.stdout
    assert sum(line.startswith("note: the importer may create tokens in every namespace") for line in lines) == 1
    assert sorted(s.metadata.name for s in core.list_namespaced_secret(NS).items) == before
    assert testbed.importer_token("cluster2") == token
    assert token not in result.stdout + result.stderr


def test_names_must_be_dns_subdomains_with_the_seeds_hint(testbed: Bed, tmp_path: Path) -> None:
    config = yaml.safe_load(testbed.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["name"] = cluster["name"].replace("cluster", "cluster_")
    for context in config["contexts"]:
        context["context"]["cluster"] = context["context"]["cluster"].replace("cluster", "cluster_")
    underscored = tmp_path / "kubeconfig"
    underscored.write_text(yaml.safe_dump(config))

    failed = kubemcsa("bootstrap", "--kubeconfig", str(underscored), "cluster1", "cluster2", check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        'error: invalid cluster name "cluster_1", must be a DNS-1123 subdomain of at most 63 characters '
        "(rename it in the kubeconfig or use --target-name)"
    )
    assert "Traceback" not in failed.stderr
    named = kubemcsa(
        "bootstrap", "--kubeconfig", str(underscored), "cluster1", "cluster2",
        "--target-name", "cluster1", "--source-name", "cluster2",
    )  # fmt: skip
    assert all(unchanged(line) for line in named.stdout.splitlines()), named.stdout


def test_namespaced_bootstrap_doctor_and_teardown(testbed: Bed, tmp_path: Path) -> None:
    pod_lister(testbed.api2, "team-x")
    pair = [
        "--kubeconfig", str(testbed.kubeconfig),
        "--target-context", "cluster1", "--target-name", "limited",
        "--source-context", "cluster2", "--source-name", "cluster2-limited",
    ]  # fmt: skip
    created = kubemcsa("bootstrap", *pair, "--namespace", "team-x")
    assert 'created role binding "team-x/multicluster-service-account-importer-limited"' in created.stdout
    importer = credential_kubeconfig(testbed, "cluster2-limited", tmp_path / "limited")
    assert can_i(importer, "create", "serviceaccounts", "--subresource=token", "-n", "team-x") == "yes"
    assert can_i(importer, "create", "serviceaccounts", "--subresource=token", "-n", "default") == "no"
    assert can_i(importer, "create", "serviceaccounts", "--subresource=token", "-A") == "no"
    assert can_i(importer, "get", "secrets", "-n", "team-x") == "no"

    # An import of a namespace the credential does not cover says Forbidden, with the fix.
    enable_namespace(testbed.api1, "limited")
    service_account_import(testbed.api1, "limited", "outside", "cluster2-limited", "default", "pod-lister")
    service_account_import(testbed.api1, "limited", "inside", "cluster2-limited", "team-x", "pod-lister")
    for name in ("outside", "inside"):
        testbed.driver().sync_parent("limited", name)
    assert imported_secret(testbed.api1, "limited", "inside") is not None
    assert imported_secret(testbed.api1, "limited", "outside") is None

    doctor = kubemcsa("doctor", "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster1", check=False)
    section = doctor.stdout.split('cluster credential "multicluster-service-account/cluster-cluster2-limited"')[1]
    assert "ok    may not get Secrets" in section
    assert "may create service account tokens in some namespaces only" in section
    assert 'ok    may create tokens in namespace "team-x" (for import limited/inside)' in section
    assert 'FAIL  may create tokens in namespace "default" (for import limited/outside)' in section
    assert "FAIL  limited/outside: Ready=False (Forbidden)" in doctor.stdout
    assert doctor.returncode == 1
    assert not any(token in doctor.stdout for token in testbed.tokens)

    removed = kubemcsa("teardown", *pair)
    assert 'deleted service account "multicluster-service-account/limited"' in removed.stdout
    assert "stays in" in removed.stdout  # cluster1's importer still uses the cluster role
    eventually(lambda: unauthorized(importer), "the torn-down credential to be rejected (401)")
    core1, rbac2 = k8s.CoreV1Api(testbed.api1), k8s.RbacAuthorizationV1Api(testbed.api2)
    assert credential_secret_name("cluster2-limited") not in [
        s.metadata.name for s in core1.list_namespaced_secret(NS).items
    ]
    assert not rbac2.list_role_binding_for_all_namespaces(
        label_selector="multicluster.admiralty.io/target-cluster=limited"
    ).items


def test_rotate_replaces_the_credential_and_imports_keep_working(testbed: Bed, tmp_path: Path) -> None:
    old = credential_kubeconfig(testbed, "cluster2", tmp_path / "old")
    rotated = kubemcsa("rotate", "--kubeconfig", str(testbed.kubeconfig), "cluster1", "cluster2")
    assert "updated cluster credential Secret" in rotated.stdout and "deleted old token Secret" in rotated.stdout
    new = credential_kubeconfig(testbed, "cluster2", tmp_path / "new")
    assert not any(token in rotated.stdout + rotated.stderr for token in testbed.tokens)
    eventually(lambda: unauthorized(old), "the old credential to be rejected (401)")
    assert not unauthorized(new)
    # The hooks use the new credential at the next sync.
    synced_import(testbed, "after-rotate", "fresh")
    assert imported_secret(testbed.api1, "after-rotate", "fresh") is not None


def test_export_applied_in_the_other_cluster_gives_a_working_kubeconfig(testbed: Bed, tmp_path: Path) -> None:
    pod_lister(testbed.api2, "exported")
    nginx(testbed.api2, "exported", name="nginx-exported")
    exported = kubemcsa(
        "export", "pod-lister", "-n", "exported", "--as", "by-hand", "--expiration", "20m",
        "--server", f"https://localhost:{testbed.cluster2.port}",
        "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster2",
    )  # fmt: skip
    printed = exported.stdout
    assert exported.stderr.startswith("note: the token expires at ") and "is not renewed" in exported.stderr
    enable_namespace(testbed.api1, "by-hand")
    kubectl(testbed.kubeconfig, "--context", "cluster1", "apply", "-n", "by-hand", "-f", "-", stdin=printed)
    secret = imported_secret(testbed.api1, "by-hand", "by-hand")
    assert secret is not None and secret.metadata.labels[contract.IMPORT_NAME_KEY] == "by-hand"
    testbed.remember(secret)
    kubeconfig = mount(secret, tmp_path / "by-hand")
    assert "https://localhost:" in kubeconfig.read_text()  # --server
    assert kubectl(kubeconfig, "get", "pods", "-o", "name").stdout.split() == ["pod/nginx-exported"]


def test_an_exported_kubeconfig_renews_its_token_when_asked_to(testbed: Bed, tmp_path: Path) -> None:
    """`export -o kubeconfig --renew`: no token in the file; kubectl runs `kubemcsa token` (on PATH), which asks
    cluster2 for a new token with the context's credentials, expiring a minute early."""
    pod_lister(testbed.api2, "renewed")
    nginx(testbed.api2, "renewed", name="nginx-renewed")
    exported = kubemcsa(
        "export", "pod-lister", "-n", "renewed", "-o", "kubeconfig", "--renew", "--expiration", "10m",
        "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster2",
    )  # fmt: skip
    assert exported.stderr.startswith("note: the kubeconfig runs `kubemcsa token`")
    config = yaml.safe_load(exported.stdout)
    [user] = config["users"]
    assert set(user["user"]) == {"exec"} and user["user"]["exec"]["command"] == "kubemcsa"
    kubeconfig = tmp_path / "renewed.kubeconfig"
    kubeconfig.write_text(exported.stdout)
    # A user's shell: the exported file in KUBECONFIG (the plugin still reads the kubeconfig pinned at export).
    env = {
        **os.environ,
        "PATH": f"{Path(KUBEMCSA).parent}{os.pathsep}{os.environ['PATH']}",
        "KUBECONFIG": str(kubeconfig),
    }
    listed = subprocess.run(
        [KUBECTL, "get", "pods", "-o", "name"], env=env, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["pod/nginx-renewed"]
    # The plugin itself: a fresh token each run, its expiry a minute before the token's.
    runs = [
        json.loads(
            subprocess.run(
                [KUBEMCSA, *user["user"]["exec"]["args"]], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    assert all(r["apiVersion"] == "client.authentication.k8s.io/v1" and r["kind"] == "ExecCredential" for r in runs)
    assert runs[0]["status"]["token"] != runs[1]["status"]["token"]
    for run in runs:
        testbed.tokens.add(run["status"]["token"])
        claims = jwt_claims(run["status"]["token"]) or {}
        expiry = datetime.fromisoformat(run["status"]["expirationTimestamp"].replace("Z", "+00:00")).timestamp()
        assert claims["exp"] - expiry == 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "pod-lister", "--renew"], "--renew renews the token of a kubeconfig, not of a Secret"),
        (["export", "nope", "-n", "default"], 'cannot create a token for service account "default/nope"'),
        (["export", "nope", "-o", "kubeconfig", "--renew"], 'cannot create a token for service account "default/nope"'),
        (["export", "pod-lister", "--expiration", "5m"], "at least 10m"),
        (["export", "pod-lister", "--expiration", "soon"], 'invalid duration "soon"'),
        (["bootstrap", "cluster1", "cluster1"], "with itself"),
        (["bootstrap", "cluster1", "cluster9"], 'cannot find context "cluster9"'),
        # Before any step: the API is not installed (the client test removes the CRD it installs).
        (
            ["bootstrap", "cluster1", "cluster2", "--cluster-profile", "fleet"],
            "the ClusterProfile API (clusterprofiles.multicluster.x-k8s.io) is not installed in target cluster "
            '"cluster1" (install it first: kubectl apply --server-side -f https://raw.githubusercontent.com/',
        ),
    ],
)
def test_errors_are_one_line_with_a_hint(testbed: Bed, args: list[str], message: str) -> None:
    result = kubemcsa(*args, "--kubeconfig", str(testbed.kubeconfig), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == "" or args[0] == "export", result.stdout  # bootstrap did nothing


def test_doctor_reports_a_rejected_credential(testbed: Bed) -> None:
    bogus = credential_secret("cluster9", ClusterEndpoint(testbed.cluster2.server, testbed.cluster2.ca_pem), "bogus")
    core = k8s.CoreV1Api(testbed.api1)
    core.create_namespaced_secret(NS, bogus)
    try:
        doctor = kubemcsa("doctor", "--kubeconfig", str(testbed.kubeconfig), "--context", "cluster1", check=False)
    finally:
        core.delete_namespaced_secret(bogus["metadata"]["name"], NS)
    assert doctor.returncode == 1
    section = doctor.stdout.split('for cluster "cluster9":')[1].split('\ncluster credential "')[0]
    assert "FAIL  the remote API server refused the credential: 401" in section
    assert "kubemcsa rotate" in section


def test_credential_embeds_the_ca_when_the_kubeconfig_points_at_files(testbed: Bed, tmp_path: Path) -> None:
    config = yaml.safe_load(testbed.kubeconfig.read_text())
    for cluster in config["clusters"]:
        ca = tmp_path / f"{cluster['name']}-ca.crt"
        ca.write_bytes(base64.b64decode(cluster["cluster"].pop("certificate-authority-data")))
        cluster["cluster"]["certificate-authority"] = str(ca)
    for user in config["users"]:
        for key in ("client-certificate", "client-key"):
            path = tmp_path / f"{user['name']}.{key}"
            path.write_bytes(base64.b64decode(user["user"].pop(f"{key}-data")))
            user["user"][key] = str(path)
    files = tmp_path / "kubeconfig"
    files.write_text(yaml.safe_dump(config))
    pair = ["--kubeconfig", str(files), "cluster1", "cluster2", "--target-name", "files", "--source-name", "c2-files"]
    kubemcsa("bootstrap", *pair)
    try:
        importer = credential_kubeconfig(testbed, "c2-files", tmp_path / "importer")
        cluster = yaml.safe_load(importer.read_text())["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]) == testbed.cluster2.ca_pem
        assert "certificate-authority" not in cluster
        assert kubectl(importer, "auth", "whoami", "-o", "name", check=False).returncode == 0
    finally:
        kubemcsa("teardown", *pair)


def test_source_server_names_the_address_the_target_reaches(testbed: Bed, tmp_path: Path) -> None:
    # The test bed's API server certificates name localhost too, and the API servers listen on loopback.
    other = f"https://localhost:{testbed.cluster2.port}"
    pair = [
        "--kubeconfig",
        str(testbed.kubeconfig),
        "cluster1",
        "cluster2",
        "--target-name",
        "via",
        "--source-name",
        "c2-via",
    ]
    kubemcsa("bootstrap", *pair, "--source-server", other)
    try:
        server = lambda: yaml.safe_load(credential_kubeconfig(testbed, "c2-via", tmp_path / "c").read_text())[  # noqa: E731
            "clusters"
        ][0]["cluster"]["server"]
        assert server() == other
        assert kubectl(tmp_path / "c", "auth", "whoami", check=False).returncode == 0
        kubemcsa("rotate", *pair)  # keeps the server that bootstrap wrote
        assert server() == other
    finally:
        kubemcsa("teardown", *pair)
