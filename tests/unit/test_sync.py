"""The sync hook's pure logic: desired Secret, status and resync, per Metacontroller's v2 contract."""

import base64
from datetime import timedelta
from typing import Any

import pytest
import yaml

from hooks import contract
from hooks.kubeconfig import decode_data
from hooks.model import RemoteError
from hooks.sync import sync
from hooks.wire import BadRequest, Obj

from .fakes import NOW, FakeIssuer, credential, observed, parent, settings, sync_request


def ready(response: Obj, kind: str = "Ready") -> Obj:
    [condition] = [c for c in response["status"]["conditions"] if c["type"] == kind]
    return condition


def first_sync() -> tuple[Obj, FakeIssuer]:
    issuer = FakeIssuer()
    response, outcome = sync(sync_request(), issuer, settings())
    assert outcome == "TokenIssued"
    return response, issuer


def test_new_import_gets_a_kubeconfig_secret_in_the_seed_format() -> None:
    response, issuer = first_sync()
    [secret] = response["children"]
    assert secret["metadata"]["name"] == "cluster2-default-pod-lister-token"
    assert secret["metadata"]["labels"] == {contract.IMPORT_NAME_KEY: "cluster2-default-pod-lister"}
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert set(secret["data"]) == {"config", "exec-config", "token", "ca.crt", "namespace", "server"}
    token = issuer.calls[0]
    assert decode_data(secret, "token") == token_of(response).encode()
    assert decode_data(secret, "namespace") == b"default"
    assert decode_data(secret, "server") == b"https://127.0.0.1:6443"
    # base64 on one line, as the API server stores it, so Metacontroller sees no diff.
    assert all("\n" not in v for v in secret["data"].values())
    assert token[1].cluster == "cluster2" and token[1].namespace == "default" and token[1].name == "pod-lister"


def token_of(response: Obj) -> str:
    value = decode_data(response["children"][0], "token")
    assert value is not None
    return value.decode()


def test_kubeconfig_names_everything_after_the_import_and_has_token_and_token_file() -> None:
    response, _ = first_sync()
    config = yaml.safe_load(decode_data(response["children"][0], "config") or b"")
    name = "cluster2-default-pod-lister"
    assert config["current-context"] == name
    assert [c["name"] for c in config["clusters"]] == [name]
    assert [u["name"] for u in config["users"]] == [name]
    assert config["contexts"] == [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}]
    user = config["users"][0]["user"]
    assert user["token"] == token_of(response)
    assert user["tokenFile"] == "token"  # relative to the kubeconfig: follows the mount
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE-----")


def test_exec_config_is_the_same_kubeconfig_running_the_plugin_on_the_mounted_token() -> None:
    response, issuer = first_sync()
    secret = response["children"][0]
    config = yaml.safe_load(decode_data(secret, "config") or b"")
    exec_config = yaml.safe_load(decode_data(secret, "exec-config") or b"")
    name = "cluster2-default-pod-lister"
    # Same names, cluster and context: a client may be pointed at either, and both can be joined in KUBECONFIG.
    assert {k: v for k, v in exec_config.items() if k != "users"} == {k: v for k, v in config.items() if k != "users"}
    [user] = exec_config["users"]
    assert user == {
        "name": name,
        "user": {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "/var/run/secrets/admiralty.io/bin/mcsa-credential",
                # Absolute: clients run plugins from their own working directory, not the kubeconfig's.
                "args": ["--token-file", f"/var/run/secrets/admiralty.io/serviceaccountimports/{name}/token"],
                "interactiveMode": "Never",  # client-go requires it with v1
            }
        },
    }
    # No token in it, inline or as a file: the clients that prefer a token to the plugin would never run it.
    assert token_of(response) not in (decode_data(secret, "exec-config") or b"").decode()
    assert len(issuer.calls) == 1


def test_status_and_resync_at_80_percent_of_the_lifetime() -> None:
    response, _ = first_sync()
    condition = ready(response)
    assert (condition["status"], condition["reason"]) == ("True", "TokenIssued")
    assert condition["observedGeneration"] == 1
    status = response["status"]
    assert status["secretName"] == "cluster2-default-pod-lister-token"
    assert status["secrets"] == [{"name": "cluster2-default-pod-lister-token"}]
    assert status["tokenExpirationTimestamp"] == "2026-11-29T13:00:00Z"
    assert response["resyncAfterSeconds"] == pytest.approx(0.8 * 3600)


@pytest.mark.parametrize(
    ("elapsed", "renews"),
    [(timedelta(0), False), (timedelta(minutes=47), False), (timedelta(minutes=48), True), (timedelta(hours=2), True)],
)
def test_token_is_kept_until_80_percent_of_its_lifetime(elapsed: timedelta, renews: bool) -> None:
    first, _ = first_sync()
    later = FakeIssuer(now=NOW + elapsed)
    request = sync_request(parent(status=first["status"]), children=[observed(first["children"][0])])
    response, outcome = sync(request, later, settings(NOW + elapsed))
    assert len(later.calls) == (1 if renews else 0)
    assert outcome == ("TokenIssued" if renews else "TokenCurrent")
    assert (token_of(response) != token_of(first)) is renews
    if not renews:
        # The same desired child as before: Metacontroller makes no write.
        assert response["children"] == first["children"]
        assert response["status"] == first["status"]
        assert response["resyncAfterSeconds"] == pytest.approx((timedelta(minutes=48) - elapsed).total_seconds())


def test_renewal_uses_the_lifetime_the_server_returned_not_the_requested_one() -> None:
    issuer = FakeIssuer(lifetime=timedelta(hours=24))  # the server may grant more (or less) than asked
    request = sync_request(
        parent(spec={"clusterName": "cluster2", "namespace": "default", "name": "pod-lister", "expirationSeconds": 600})
    )
    response, _ = sync(request, issuer, settings())
    assert issuer.calls[0][1].expiration_seconds == 600
    assert response["resyncAfterSeconds"] == pytest.approx(0.8 * 24 * 3600)


@pytest.mark.parametrize(
    "change",
    [
        {"namespace": "other"},
        {"name": "other"},
        {"audiences": ["vault"]},
        {"expirationSeconds": 7200},
    ],
)
def test_spec_change_gets_a_new_token_at_once(change: Obj) -> None:
    first, _ = first_sync()
    spec = {"clusterName": "cluster2", "namespace": "default", "name": "pod-lister", **change}
    issuer = FakeIssuer()
    sync(sync_request(parent(spec=spec), children=[observed(first["children"][0])]), issuer, settings())
    assert len(issuer.calls) == 1
    assert issuer.calls[0][1].audiences == tuple(change.get("audiences", ()))


def test_new_credential_endpoint_gets_a_new_token() -> None:
    first, _ = first_sync()
    moved = credential()
    moved["data"]["config"] = base64.b64encode(
        base64.b64decode(moved["data"]["config"]).replace(b"127.0.0.1:6443", b"10.0.0.1:6443")
    ).decode()
    issuer = FakeIssuer()
    response, _ = sync(sync_request(children=[observed(first["children"][0])], related=[moved]), issuer, settings())
    assert len(issuer.calls) == 1
    assert decode_data(response["children"][0], "server") == b"https://10.0.0.1:6443"


FAILURES = [
    (RemoteError("RemoteUnreachable", "cannot create token: unreachable"), "RemoteUnreachable"),
    (RemoteError("Forbidden", "cannot create token: 403 forbidden", 403), "Forbidden"),
    (RemoteError("RemoteServiceAccountNotFound", "cannot create token: 404", 404), "RemoteServiceAccountNotFound"),
    (RemoteError("Unauthorized", "cannot create token: 401", 401), "Unauthorized"),
]


@pytest.mark.parametrize(("error", "reason"), FAILURES)
def test_remote_failure_keeps_the_last_good_secret(error: RemoteError, reason: str) -> None:
    first, _ = first_sync()
    due = NOW + timedelta(minutes=50)
    request = sync_request(parent(status=first["status"]), children=[observed(first["children"][0])])
    response, outcome = sync(request, FakeIssuer(error=error), settings(due))
    assert outcome == reason
    assert response["children"] == first["children"]  # same data, same annotations: nothing lost
    condition = ready(response)
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert "keeps the previous token until 2026-11-29T13:00:00Z" in condition["message"]
    assert response["status"]["secretName"] == "cluster2-default-pod-lister-token"
    assert response["status"]["tokenExpirationTimestamp"] == "2026-11-29T13:00:00Z"
    assert response["resyncAfterSeconds"] == 5.0


def test_kept_secret_drops_server_filled_fields_and_metacontroller_annotations() -> None:
    first, _ = first_sync()
    request = sync_request(children=[observed(first["children"][0])])
    response, _ = sync(
        request, FakeIssuer(error=RemoteError("RemoteUnreachable", "down")), settings(NOW + timedelta(hours=1))
    )
    meta = response["children"][0]["metadata"]
    assert set(meta) == {"name", "namespace", "labels", "annotations"}
    assert "controller-uid" not in meta["labels"]
    assert not any(k.startswith("metacontroller.k8s.io/") for k in meta["annotations"])


def test_retry_delay_doubles_while_a_failure_lasts_and_is_capped() -> None:
    error = RemoteError("RemoteUnreachable", "down")
    request = sync_request()
    delays, status, now = [], None, NOW
    for _ in range(10):
        response, _ = sync(
            sync_request(parent(status=status)) if status else request, FakeIssuer(error=error), settings(now)
        )
        delay = response["resyncAfterSeconds"]
        delays.append(delay)
        status = response["status"]
        now += timedelta(seconds=delay)
    assert delays[:5] == [5.0, 5.0, 10.0, 20.0, 40.0]
    assert delays[-1] == 300.0
    # lastTransitionTime stays when the failure goes on, so status writes stop too.
    assert status is not None and status["conditions"][0]["lastTransitionTime"] == "2026-11-29T12:00:00Z"


def test_recovery_turns_ready_true_with_a_new_transition_time() -> None:
    failed, _ = sync(sync_request(), FakeIssuer(error=RemoteError("RemoteUnreachable", "down")), settings())
    later = NOW + timedelta(minutes=1)
    response, outcome = sync(sync_request(parent(status=failed["status"])), FakeIssuer(now=later), settings(later))
    assert outcome == "TokenIssued"
    condition = ready(response)
    assert condition["status"] == "True" and condition["lastTransitionTime"] == "2026-11-29T12:01:00Z"


def test_missing_credential_is_cluster_not_bootstrapped_with_the_fix() -> None:
    issuer = FakeIssuer()
    response, outcome = sync(sync_request(related=[]), issuer, settings())
    assert outcome == "ClusterNotBootstrapped" and not issuer.calls
    assert response["children"] == []
    assert "kubemcsa bootstrap <this cluster> cluster2" in ready(response)["message"]


def test_credential_of_another_cluster_is_not_used() -> None:
    _response, outcome = sync(sync_request(related=[credential("cluster3")]), FakeIssuer(), settings())
    assert outcome == "ClusterNotBootstrapped"


def test_two_credentials_for_one_cluster_are_refused() -> None:
    other = credential()
    other["metadata"]["name"] = "another"
    response, outcome = sync(sync_request(related=[credential(), other]), FakeIssuer(), settings())
    assert outcome == "InvalidClusterCredential"
    assert "multicluster-service-account/another" in ready(response)["message"]


@pytest.mark.parametrize(
    "config",
    [b"", b"not: [valid", b"apiVersion: v1\nkind: Config\n", b"- a list"],
)
def test_unusable_credential_is_reported_without_quoting_it(config: bytes) -> None:
    bad = credential()
    bad["data"]["config"] = base64.b64encode(config + b"\n# importer-secret-material").decode()
    issuer = FakeIssuer()
    response, outcome = sync(sync_request(related=[bad]), issuer, settings())
    assert outcome == "InvalidClusterCredential" and not issuer.calls
    assert "importer-secret-material" not in str(response)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({}, "spec.clusterName is required"),
        ({"clusterName": "Cluster_2", "namespace": "default", "name": "p"}, "invalid spec.clusterName"),
        ({"clusterName": "c", "namespace": "default", "name": "p", "expirationSeconds": 60}, "at least 600"),
        ({"clusterName": "c", "namespace": "default", "name": "p", "audiences": "vault"}, "spec.audiences"),
    ],
)
def test_invalid_spec_requests_nothing_and_says_what_to_fix(spec: Obj, fragment: str) -> None:
    issuer = FakeIssuer()
    response, outcome = sync(sync_request(parent(spec=spec)), issuer, settings())
    assert outcome == "InvalidSpec" and not issuer.calls
    assert fragment in ready(response)["message"]


def test_invalid_spec_keeps_an_existing_secret() -> None:
    first, _ = first_sync()
    request = sync_request(parent(spec={"clusterName": ""}), children=[observed(first["children"][0])])
    response, _ = sync(request, FakeIssuer(), settings())
    assert response["children"] == first["children"]


def test_long_import_name_is_invalid_spec() -> None:
    response, outcome = sync(sync_request(parent(name="x" * 64)), FakeIssuer(), settings())
    assert outcome == "InvalidSpec" and "at most 63 characters" in ready(response)["message"]


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"parent": "x"},
        {"parent": {"metadata": {"name": "a"}}},
        {"parent": {"metadata": {"name": "a", "namespace": "b"}}, "children": []},
        {"parent": {"metadata": {"name": "a", "namespace": "b"}}, "related": {"Secret.v1": []}},
    ],
)
def test_malformed_requests_are_bad_requests(request_body: Obj) -> None:
    with pytest.raises(BadRequest):
        sync(request_body, FakeIssuer(), settings())


def test_empty_children_and_related_maps_are_fine() -> None:
    request = {"parent": parent(), "children": {"Secret.v1": {}}, "related": {}}
    _, outcome = sync(request, FakeIssuer(), settings())
    assert outcome == "ClusterNotBootstrapped"


def credential_with(user: Obj | None = None, cluster: Obj | None = None) -> Obj:
    secret = credential()
    config = yaml.safe_load(base64.b64decode(secret["data"]["config"]))
    config["users"][0]["user"].update(user or {})
    config["clusters"][0]["cluster"].update(cluster or {})
    secret["data"]["config"] = base64.b64encode(yaml.safe_dump(config).encode()).decode()
    return secret


@pytest.mark.parametrize(
    ("user", "cluster", "refused"),
    [
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "touch"}}, None, "exec"),
        ({"auth-provider": {"name": "oidc"}}, None, "auth-provider"),
        ({"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}, None, "tokenFile"),
        ({"client-certificate": "/etc/passwd", "client-key": "/etc/shadow"}, None, "client-certificate"),
        ({"username": "admin", "password": "x"}, None, "password"),
        ({"as": "system:admin"}, None, "as"),
        (None, {"insecure-skip-tls-verify": True}, "insecure-skip-tls-verify"),
        (None, {"proxy-url": "http://evil"}, "proxy-url"),
        (None, {"certificate-authority": "/etc/ssl/ca.crt"}, "certificate-authority"),
    ],
)
def test_credentials_that_could_run_or_read_things_in_the_hooks_pod_are_refused(
    user: Obj | None, cluster: Obj | None, refused: str
) -> None:
    issuer = FakeIssuer()
    response, outcome = sync(sync_request(related=[credential_with(user, cluster)]), issuer, settings())
    assert outcome == "InvalidClusterCredential" and not issuer.calls
    assert refused in ready(response)["message"]


def test_the_issuer_gets_only_the_allowed_fields_of_a_credential() -> None:
    issuer = FakeIssuer()
    sync(sync_request(related=[credential_with(cluster={"tls-server-name": "kubernetes"})]), issuer, settings())
    [(used, _)] = issuer.calls
    assert used.config["users"] == [{"name": "credential", "user": {"token": "importer-token"}}]
    assert used.config["clusters"][0]["cluster"]["tls-server-name"] == "kubernetes"


def test_garbled_observed_secret_gets_a_new_token_not_an_error() -> None:
    first, _ = first_sync()
    child = observed(first["children"][0])
    child["data"]["token"] = base64.b64encode(b"\xff\xfe").decode()
    issuer = FakeIssuer()
    _, outcome = sync(sync_request(children=[child]), issuer, settings())
    assert outcome == "TokenIssued" and len(issuer.calls) == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda req: req["related"]["Secret.v1"]["multicluster-service-account/cluster-cluster2"]["metadata"].update(
            labels=None
        ),
        lambda req: req["related"]["Secret.v1"]["multicluster-service-account/cluster-cluster2"].update(metadata=[]),
        lambda req: req["parent"].update(status={"conditions": "Ready"}),
        lambda req: next(iter(req["children"]["Secret.v1"].values()))["metadata"].update(annotations=[]),
        lambda req: next(iter(req["children"]["Secret.v1"].values())).update(data=None),
    ],
)
def test_odd_shapes_inside_objects_do_not_break_sync(mangle: Any) -> None:
    first, _ = first_sync()
    request = sync_request(children=[observed(first["children"][0])])
    mangle(request)
    response, outcome = sync(request, FakeIssuer(), settings())
    assert outcome in ("TokenCurrent", "TokenIssued", "ClusterNotBootstrapped")
    assert response["status"]["conditions"]


def test_renewal_status_is_stable_on_the_next_sync() -> None:
    now = NOW.replace(microsecond=654321)
    issuer = FakeIssuer(now=now)
    first, _ = sync(sync_request(), issuer, settings(now))
    later = now + timedelta(seconds=1)
    request = sync_request(parent(status=first["status"]), children=[observed(first["children"][0])])
    second, outcome = sync(request, FakeIssuer(now=later), settings(later))
    assert outcome == "TokenCurrent"
    assert second["status"] == first["status"] and second["children"] == first["children"]


def test_a_second_sync_on_a_view_from_before_the_first_status_update_answers_the_same_status() -> None:
    # Metacontroller's informers: the Secret's event can set off the next sync before the import's own update
    # reaches the view. Its answer must equal what was written, or Metacontroller writes it again (and syncs).
    issuer = FakeIssuer(now=NOW)
    first, _ = sync(sync_request(), issuer, settings(NOW))
    later = NOW + timedelta(seconds=3)
    second, outcome = sync(sync_request(children=[observed(first["children"][0])]), FakeIssuer(now=later),
                           settings(later))  # fmt: skip
    assert outcome == "TokenCurrent"
    assert second["status"] == first["status"]


@pytest.mark.parametrize(("later", "waits"), [(timedelta(seconds=1), True), (timedelta(seconds=29), True),
                                              (timedelta(seconds=31), False)])  # fmt: skip
def test_a_view_without_the_secret_just_written_waits_rather_than_ask_again(later: timedelta, waits: bool) -> None:
    # Metacontroller's informers: the sync set off by the first one's writes may not see its Secret yet.
    first, _ = first_sync()
    issuer = FakeIssuer(now=NOW + later)
    request = sync_request(parent(status=first["status"]), children=[])
    response, outcome = sync(request, issuer, settings(NOW + later))
    if waits:
        assert outcome == "StaleView" and issuer.calls == [] and response["children"] == []
        assert response["status"] == first["status"] and response["resyncAfterSeconds"] == 2.0
    else:  # long enough: the Secret is really gone (deleted by someone), and is made again
        assert outcome == "TokenIssued" and len(issuer.calls) == 1 and response["children"]


def test_a_view_with_the_secret_from_before_a_renewal_waits_too() -> None:
    first, _ = first_sync()
    old = observed(first["children"][0])
    renewal = NOW + timedelta(minutes=48)
    renewed, outcome = sync(sync_request(parent(status=first["status"]), children=[old]), FakeIssuer(now=renewal),
                            settings(renewal))  # fmt: skip
    assert outcome == "TokenIssued"
    # The next sync sees the new status but still the old Secret: no second TokenRequest, the old one kept.
    issuer, soon = FakeIssuer(now=renewal), renewal + timedelta(seconds=1)
    response, outcome = sync(sync_request(parent(status=renewed["status"]), children=[old]), issuer, settings(soon))
    assert outcome == "StaleView" and issuer.calls == []
    assert response["children"][0]["data"] == old["data"]
    # Once the view has the new Secret: current.
    new = observed(renewed["children"][0])
    response, outcome = sync(sync_request(parent(status=renewed["status"]), children=[new]), issuer, settings(soon))
    assert outcome == "TokenCurrent" and issuer.calls == []
