"""Argo CD cluster Secrets: the format Argo CD's SecretToCluster reads (util/db/cluster.go), from the sync hook."""

import base64
import json
from pathlib import Path

import pytest
import yaml

from hooks import argocd, contract
from hooks.kubeconfig import decode_data
from hooks.sync import sync
from hooks.wire import Obj

from .fakes import ENDPOINT, FakeIssuer, observed, parent, settings, sync_request

REPO = Path(__file__).resolve().parents[2]
SPEC = {"clusterName": "cluster2", "namespace": "default", "name": "argocd-manager"}


def argo_sync(argo: object, status: Obj | None = None, children: list[Obj] | None = None) -> tuple[Obj, str]:
    request = sync_request(parent("cluster2", "argocd", {**SPEC, "argoCD": argo}, status), children)
    return sync(request, FakeIssuer(), settings())


def text(secret: Obj, key: str) -> str:
    value = decode_data(secret, key)
    assert value is not None, key
    return value.decode()


def test_an_import_with_argocd_gets_an_argo_cd_cluster_secret() -> None:
    response, outcome = argo_sync(
        {"name": "production", "project": "team-a", "namespaces": ["web", "jobs"], "clusterResources": True}
    )
    assert outcome == "TokenIssued"
    [secret] = response["children"]
    assert secret["metadata"]["labels"] == {
        contract.IMPORT_NAME_KEY: "cluster2",
        "argocd.argoproj.io/secret-type": "cluster",
    }
    assert set(secret["data"]) == {
        "name", "server", "config", "project", "namespaces", "clusterResources", "token", "ca.crt", "namespace",
    }  # fmt: skip
    assert text(secret, "name") == "production"
    assert text(secret, "server") == ENDPOINT.server
    assert text(secret, "project") == "team-a"
    assert text(secret, "namespaces") == "web,jobs"
    assert text(secret, "clusterResources") == "true"
    config = json.loads(text(secret, "config"))
    assert config == {
        "bearerToken": text(secret, "token"),
        "tlsClientConfig": {"insecure": False, "caData": base64.b64encode(ENDPOINT.ca_pem).decode()},
    }
    assert response["status"]["secretName"] == secret["metadata"]["name"]


def test_defaults_name_the_cluster_after_spec_cluster_name_and_leave_out_the_rest() -> None:
    response, _ = argo_sync({})
    [secret] = response["children"]
    assert text(secret, "name") == "cluster2"
    assert {"project", "namespaces", "clusterResources"}.isdisjoint(secret["data"])
    _, outcome = argo_sync({"namespaces": ["web"], "clusterResources": False})
    assert outcome == "TokenIssued"


def test_renewal_and_a_changed_project_rewrite_the_secret_keeping_the_format() -> None:
    first, _ = argo_sync({"project": "a"})
    [secret] = first["children"]
    # The same token, a new project: the Secret follows the spec without a new token.
    again, outcome = argo_sync({"project": "b"}, first["status"], [observed(secret)])
    assert outcome == "TokenCurrent"
    [rewritten] = again["children"]
    assert text(rewritten, "project") == "b" and text(rewritten, "token") == text(secret, "token")
    # A failing renewal keeps the last good Secret, Argo CD's label with it.
    kept, outcome = sync(
        sync_request(parent("cluster2", "argocd", {**SPEC, "argoCD": {}}, first["status"]), [observed(secret)], []),
        FakeIssuer(),
        settings(),
    )
    assert outcome == "ClusterNotBootstrapped"
    assert kept["children"][0]["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"


@pytest.mark.parametrize(
    ("argo", "problem"),
    [
        ("yes", "spec.argoCD must be an object"),
        ({"nmae": "x"}, "spec.argoCD has unknown fields: nmae"),
        ({"name": ""}, "spec.argoCD.name must be a string of 1 to 253 characters"),
        ({"project": "Team A"}, "spec.argoCD.project"),
        ({"namespaces": "web"}, "spec.argoCD.namespaces must be a list of namespace names"),
        ({"namespaces": ["Web"]}, "spec.argoCD.namespaces must be a list of namespace names"),
        ({"clusterResources": "true"}, "spec.argoCD.clusterResources must be true or false"),
    ],
)
def test_a_bad_argocd_field_is_an_invalid_spec(argo: object, problem: str) -> None:
    response, outcome = argo_sync(argo)
    assert outcome == "InvalidSpec"
    [ready] = [c for c in response["status"]["conditions"] if c["type"] == "Ready"]
    assert problem in ready["message"]
    assert response["children"] == []


def test_the_crd_schema_has_the_fields_the_hooks_read() -> None:
    crd = yaml.safe_load((REPO / "manifests" / "base" / "crd.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(spec[argocd.SPEC_FIELD]["properties"]) == {"name", "project", "namespaces", "clusterResources"}
