"""kubemcsa's ClusterProfile entry (bootstrap/clusterprofile.py): what it publishes, and its flag's errors."""

import base64
import json
from pathlib import Path

import pytest

from bootstrap import cli, clusterprofile
from hooks.kubeconfig import ClusterEndpoint

REPO = Path(__file__).resolve().parents[2]
ENDPOINT = ClusterEndpoint("https://127.0.0.2:6443", b"-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n")


def test_the_entry_holds_the_server_and_ca_and_no_secret() -> None:
    entry = clusterprofile.access_provider(ENDPOINT)
    assert entry == {
        "name": "multicluster-service-account",
        "cluster": {
            "server": "https://127.0.0.2:6443",
            "certificate-authority-data": base64.b64encode(ENDPOINT.ca_pem).decode(),
        },
    }
    assert clusterprofile.access_provider(ClusterEndpoint("https://a:6443", b"")) == {
        "name": "multicluster-service-account",
        "cluster": {"server": "https://a:6443"},
    }


def test_status_patch_and_new_profile() -> None:
    patch = clusterprofile.status_patch("fleet", "cluster2", [clusterprofile.access_provider(ENDPOINT)])
    assert patch["apiVersion"] == "multicluster.x-k8s.io/v1alpha1" and patch["kind"] == "ClusterProfile"
    assert patch["metadata"] == {"name": "cluster2", "namespace": "fleet"}
    assert set(patch) == {"apiVersion", "kind", "metadata", "status"}  # the status only: the spec is not ours
    profile = clusterprofile.profile("fleet", "cluster2")
    assert profile["spec"] == {"displayName": "cluster2", "clusterManager": {"name": "multicluster-service-account"}}
    assert profile["metadata"]["labels"] == {"x-k8s.io/cluster-manager": "multicluster-service-account"}


def test_the_shipped_provider_file_names_the_published_provider_and_the_plugin() -> None:
    providers = json.loads((REPO / "examples" / "clusterprofile" / "clusterprofile-provider-file.json").read_text())
    [provider] = providers["providers"]
    assert provider["name"] == clusterprofile.PROVIDER
    exec_config = provider["execConfig"]
    assert exec_config["command"] == "/var/run/secrets/admiralty.io/bin/mcsa-credential"
    assert exec_config["args"] == ["--imports-dir", "/var/run/secrets/admiralty.io/serviceaccountimports"]
    assert exec_config["provideClusterInfo"] is True


@pytest.mark.parametrize("command", ["bootstrap", "teardown"])
def test_a_bad_namespace_is_said_before_any_cluster_is_reached(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    code = cli.main([command, "--kubeconfig", str(missing), "cluster1", "cluster2", "--cluster-profile", "Fleet_1"])
    assert code == 1
    err = capsys.readouterr().err
    assert err == "error: --cluster-profile 'Fleet_1' is not a namespace name (give a namespace of TARGET)\n"


def test_the_crd_url_is_the_one_the_docs_give() -> None:
    assert clusterprofile.CRD_URL in (REPO / "docs" / "clusterprofile.md").read_text()
