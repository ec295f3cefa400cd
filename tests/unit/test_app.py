"""The Flask app through its test client: routes, JSON errors, metrics, and no secrets in logs."""

import dataclasses
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from hooks import create_app
from hooks.app import Refusals, credential_expiry_seconds
from hooks.model import Credential, RemoteError, TokenSpec
from hooks.token import IssuedToken
from hooks.wire import Obj

from .fakes import FakeIssuer, observed, settings, sync_request
from .test_mutate import pod, review

REQUESTS = Path(__file__).parents[2] / "examples" / "requests"


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer()


@pytest.fixture
def client(issuer: FakeIssuer) -> FlaskClient:
    return create_app(settings(), issuer).test_client()


def test_customize_asks_for_the_credential_secret_of_the_cluster(client: FlaskClient) -> None:
    response = client.post("/customize", json={"controller": {}, "parent": sync_request()["parent"]})
    assert response.status_code == 200
    assert response.json == {
        "relatedResources": [
            {
                "apiVersion": "v1",
                "resource": "secrets",
                "namespace": "multicluster-service-account",
                "labelSelector": {"matchLabels": {"multicluster.admiralty.io/cluster-name": "cluster2"}},
            }
        ]
    }


def test_customize_without_a_usable_cluster_name_asks_for_nothing(client: FlaskClient) -> None:
    response = client.post("/customize", json={"parent": {"spec": {"clusterName": "Not_Valid"}}})
    assert response.json == {"relatedResources": []}


def test_sync_answers_only_v2_response_fields(client: FlaskClient) -> None:
    response = client.post("/sync", json=sync_request())
    assert response.status_code == 200
    # Metacontroller decodes v2 responses strictly: unknown fields are errors.
    assert set(response.json or {}) <= {"status", "children", "resyncAfterSeconds", "finalized"}


def test_sync_failure_is_still_200_with_status(client: FlaskClient, issuer: FakeIssuer) -> None:
    issuer.error = RemoteError("RemoteUnreachable", "cluster2 is down")
    response = client.post("/sync", json=sync_request())
    assert response.status_code == 200
    assert response.json is not None and response.json["status"]["conditions"][0]["reason"] == "RemoteUnreachable"


def test_mutate_returns_an_admission_review(client: FlaskClient) -> None:
    response = client.post("/mutate", json=review(pod("a")))
    body = response.json or {}
    assert response.status_code == 200
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert body["response"]["patchType"] == "JSONPatch"


@pytest.mark.parametrize("path", ["/customize", "/sync", "/mutate"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{", "application/json"),
        ("[]", "application/json"),
        ("null", "application/json"),
        ("\xff", "application/json"),
        ("{}", "text/plain"),
        ("", None),
    ],
)
def test_malformed_input_gets_a_400_json_error(client: FlaskClient, path: str, data: str, content_type: str) -> None:
    response = client.post(path, data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.is_json
    assert (response.json or {})["error"] == "BadRequest" and (response.json or {})["message"]


@pytest.mark.parametrize(("method", "path", "code"), [("GET", "/sync", 405), ("POST", "/nope", 404), ("GET", "/", 404)])
def test_http_errors_are_json(client: FlaskClient, method: str, path: str, code: int) -> None:
    response = client.open(path, method=method)
    assert response.status_code == code and response.is_json


def test_too_large_bodies_are_413_json(client: FlaskClient) -> None:
    response = client.post("/mutate", data="x" * (9 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413 and response.is_json


def test_health_and_metrics(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}
    client.post("/sync", json=sync_request())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'multicluster_service_account_hook_requests_total{endpoint="sync",outcome="TokenIssued"}' in text
    assert 'multicluster_service_account_token_requests_total{cluster="cluster2",outcome="TokenIssued"}' in text
    assert "multicluster_service_account_hook_request_duration_seconds_bucket" in text
    labels = 'cluster="cluster2",name="cluster2-default-pod-lister",namespace="default"'
    expiry = f"multicluster_service_account_token_expiration_timestamp_seconds{{{labels}}}"
    assert f"{expiry} 1.7959572e+09" in text  # 2026-11-29T13:00:00Z


def test_one_log_line_per_request_without_secrets(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = client.post("/sync", json=sync_request())
    body = json.dumps(response.json)
    lines = [r for r in caplog.records if r.name == "hooks.app"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.namespace, record.object_name, record.outcome) == (
        "default",
        "cluster2-default-pod-lister",
        "TokenIssued",
    )  # type: ignore[attr-defined]
    logged = caplog.text + json.dumps({k: str(v) for k, v in vars(record).items()})
    token = json.loads(body)["children"][0]["data"]["token"]
    assert token not in logged and "importer-token" not in logged and "signature-" not in logged


def test_unexpected_errors_are_500_json_without_details(issuer: FakeIssuer) -> None:
    class Broken:
        def request_token(self, *_: object) -> None:
            raise RuntimeError("token=abc")

    client = create_app(settings(), Broken()).test_client()  # type: ignore[arg-type]
    response = client.post("/sync", json=sync_request())
    assert response.status_code == 500 and response.is_json
    assert "abc" not in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["customize", "sync", "mutate"])
def test_sample_requests_in_examples_are_accepted(client: FlaskClient, name: str) -> None:
    body: Obj = json.loads((REQUESTS / f"{name}.json").read_text())
    response = client.post(f"/{name}", json=body)
    assert response.status_code == 200, response.json


def test_deeply_nested_json_is_a_400(client: FlaskClient) -> None:
    response = client.post("/sync", data="[" * 100000 + "]" * 100000, content_type="application/json")
    assert response.status_code == 400 and response.is_json


def test_internal_errors_are_counted(issuer: FakeIssuer) -> None:
    class Broken:
        def request_token(self, *_: object) -> None:
            raise RuntimeError("boom")

    client = create_app(settings(), Broken()).test_client()  # type: ignore[arg-type]
    client.post("/sync", json=sync_request())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hook_requests_total{endpoint="sync",outcome="InternalError"}' in text


def _levels(client: FlaskClient, caplog: pytest.LogCaptureFixture, path: str, body: Obj) -> list[str]:
    caplog.clear()
    client.post(path, json=body)
    return [r.levelname for r in caplog.records if r.name == "hooks.app"]


def test_routine_requests_log_at_debug_and_events_above(
    client: FlaskClient, issuer: FakeIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _levels(client, caplog, "/mutate", review(pod("a"))) == ["DEBUG"]
    assert _levels(client, caplog, "/mutate", review(pod("Not_Valid"))) == ["WARNING"]  # denied
    assert _levels(client, caplog, "/customize", {"parent": sync_request()["parent"]}) == ["DEBUG"]
    assert _levels(client, caplog, "/sync", sync_request()) == ["INFO"]  # a token issued
    current = client.post("/sync", json=sync_request()).json
    assert current is not None
    fresh = sync_request(children=[observed(child) for child in current["children"]])
    assert _levels(client, caplog, "/sync", fresh) == ["DEBUG"]  # the token in the Secret is current
    issuer.error = RemoteError("RemoteUnreachable", "cluster2 is down")
    assert _levels(client, caplog, "/sync", sync_request()) == ["WARNING"]


def test_syncs_hold_at_most_all_threads_but_one() -> None:
    """A sync that waits for a hanging remote cluster holds a thread; with MCSA_THREADS=3 two may wait,
    a third is refused at once (429, Retry-After), and the webhook still answers."""
    release = threading.Event()
    waiting = threading.Semaphore(0)

    class Hanging(FakeIssuer):
        def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
            waiting.release()
            release.wait(10)
            return super().request_token(credential, spec)

    app = create_app(dataclasses.replace(settings(), threads=3), Hanging())
    with ThreadPoolExecutor(2) as pool:
        hanging = [pool.submit(app.test_client().post, "/sync", json=sync_request()) for _ in range(2)]
        try:
            assert waiting.acquire(timeout=5) and waiting.acquire(timeout=5)
            refused = app.test_client().post("/sync", json=sync_request())
            admitted = app.test_client().post("/mutate", json=review(pod("a")))
        finally:
            release.set()
        assert [f.result().status_code for f in hanging] == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json is not None and refused.json["error"] == "TooManyRequests"
    assert "2 syncs are already in progress" in refused.json["message"]
    assert admitted.status_code == 200
    # The slots are given back: the next sync is served.
    assert app.test_client().post("/sync", json=sync_request()).status_code == 200


def test_refusals_log_a_warning_at_most_once_per_interval() -> None:
    now = [100.0]
    refusals = Refusals(10.0, clock=lambda: now[0])
    assert refusals.refused() == 1  # the first is logged at once
    assert [refusals.refused() for _ in range(3)] == [0, 0, 0]
    now[0] += 10
    assert refusals.refused() == 4  # the three held back, and this one


def test_a_failed_sync_gives_its_thread_back() -> None:
    """With one sync slot (MCSA_THREADS=2), syncs that end in a 400, a 413 or a 500 each free it."""

    class FailsOnce(FakeIssuer):
        failed = False

        def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
            if not self.failed:
                self.failed = True
                raise RuntimeError("boom")
            return super().request_token(credential, spec)

    client = create_app(dataclasses.replace(settings(), threads=2), FailsOnce()).test_client()
    assert client.post("/sync", data="{", content_type="application/json").status_code == 400
    assert client.post("/sync", data="x" * (9 * 1024 * 1024), content_type="application/json").status_code == 413
    assert client.post("/sync", json=sync_request()).status_code == 500
    assert client.post("/sync", json=sync_request()).status_code == 200


WEBHOOK_PORT, HOOKS_PORT = "9443", "8443"


@pytest.fixture
def two_ports(issuer: FakeIssuer) -> FlaskClient:
    """The app as the manifests run it: the webhook on 9443 (MCSA_WEBHOOK_BIND), the hooks on 8443."""
    return create_app(dataclasses.replace(settings(), webhook_port=9443, hooks_port=8443), issuer).test_client()


def _post(client: FlaskClient, path: str, port: str) -> tuple[int, Obj]:
    body = review(pod("a")) if path == "/mutate" else sync_request()
    response = client.post(path, json=body, environ_overrides={"SERVER_PORT": port})
    assert response.is_json
    return response.status_code, response.json or {}


@pytest.mark.parametrize(
    ("port", "path", "code"),
    [
        (WEBHOOK_PORT, "/mutate", 200),
        (WEBHOOK_PORT, "/sync", 404),
        (WEBHOOK_PORT, "/customize", 404),
        (HOOKS_PORT, "/mutate", 404),
        (HOOKS_PORT, "/sync", 200),
        (HOOKS_PORT, "/customize", 200),
        ("80", "/mutate", 404),  # any port but the webhook's is a hooks port
        ("80", "/sync", 200),
    ],
)
def test_with_two_ports_each_path_is_served_on_its_own(two_ports: FlaskClient, port: str, path: str, code: int) -> None:
    status, body = _post(two_ports, path, port)
    assert status == code, body
    if code == 404:
        assert body["error"] == "NotFound" and body["code"] == 404


@pytest.mark.parametrize("port", [WEBHOOK_PORT, HOOKS_PORT])
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_answer_on_both_ports(two_ports: FlaskClient, port: str, path: str) -> None:
    assert two_ports.get(path, environ_overrides={"SERVER_PORT": port}).status_code == 200


def test_a_refused_path_says_which_port_serves_it(two_ports: FlaskClient) -> None:
    _, body = _post(two_ports, "/sync", WEBHOOK_PORT)
    assert body["message"].startswith("/sync is not served on the webhook port 9443 (MCSA_WEBHOOK_BIND)")
    assert "Metacontroller calls /customize and /sync on port 8443 (MCSA_BIND" in body["message"]
    _, body = _post(two_ports, "/mutate", HOOKS_PORT)
    assert body["message"].startswith("/mutate is not served on the hooks port 8443 (MCSA_BIND)")
    assert "the API server calls /mutate on port 9443 (MCSA_WEBHOOK_BIND" in body["message"]


def test_a_refused_sync_does_no_work_and_is_counted_and_logged_without_request_data(
    two_ports: FlaskClient, issuer: FakeIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _post(two_ports, "/sync", WEBHOOK_PORT)[0] == 404
    assert issuer.calls == [] and issuer.lookups == 0
    [record] = [r for r in caplog.records if r.name == "hooks.app"]
    assert record.levelname == "WARNING"
    assert (record.endpoint, record.outcome, record.port) == ("sync", "WrongPort", WEBHOOK_PORT)  # type: ignore[attr-defined]
    logged = caplog.text + json.dumps({k: str(v) for k, v in vars(record).items()})
    assert "cluster2-default-pod-lister" not in logged and "importer-token" not in logged
    text = two_ports.get("/metrics").get_data(as_text=True)
    assert 'hook_requests_total{endpoint="sync",outcome="WrongPort"}' in text


def test_a_refused_sync_holds_no_sync_slot(issuer: FakeIssuer) -> None:
    """With one sync slot (MCSA_THREADS=2), refused syncs on the webhook port leave it free."""
    app = create_app(dataclasses.replace(settings(), threads=2, webhook_port=9443), issuer)
    for _ in range(3):
        assert _post(app.test_client(), "/sync", WEBHOOK_PORT)[0] == 404
    assert _post(app.test_client(), "/sync", HOOKS_PORT)[0] == 200


@pytest.mark.parametrize("path", ["/mutate", "/sync", "/customize"])
def test_without_a_webhook_port_one_port_serves_every_path(client: FlaskClient, path: str) -> None:
    assert _post(client, path, WEBHOOK_PORT)[0] == 200
    assert _post(client, path, HOOKS_PORT)[0] == 200


def test_credential_expiry_for_the_metric() -> None:
    assert credential_expiry_seconds({"credentialExpirationTimestamp": "2027-02-26T12:00:00Z"}) == 1803643200.0
    never = {"conditions": [{"type": "CredentialExpiringSoon", "reason": "CredentialDoesNotExpire"}]}
    assert credential_expiry_seconds(never) == float("inf")
    assert credential_expiry_seconds({"conditions": [{"type": "Ready", "reason": "ClusterNotBootstrapped"}]}) is None
