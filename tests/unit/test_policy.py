"""Credential policy and remote consent, through the sync hook."""

from datetime import timedelta

import pytest

from hooks import contract
from hooks.model import RemoteError
from hooks.policy import Policy, PolicyError, consents, parse
from hooks.sync import sync
from hooks.wire import Obj

from .fakes import NOW, FakeIssuer, credential, observed, parent, settings, sync_request
from .test_sync import ready

CONSENT = contract.IMPORTABLE_BY_ANNOTATION


def with_policy(**annotations: str) -> Obj:
    secret = credential()
    secret["metadata"]["annotations"] = annotations
    return secret


def policy(**annotations: str) -> Obj:
    keys = {
        "namespaces": contract.ALLOWED_NAMESPACES_ANNOTATION,
        "consent": contract.REQUIRE_CONSENT_ANNOTATION,
        "cluster": contract.IMPORTING_CLUSTER_ANNOTATION,
        "max": contract.MAX_EXPIRATION_ANNOTATION,
        "audiences": contract.ALLOWED_AUDIENCES_ANNOTATION,
    }
    return with_policy(**{keys[k]: v for k, v in annotations.items()})


def run(cred: Obj, issuer: FakeIssuer | None = None, spec: Obj | None = None, children: list[Obj] | None = None,
        when: timedelta = timedelta(0)) -> tuple[Obj, str, FakeIssuer]:  # fmt: skip
    issuer = issuer or FakeIssuer(now=NOW + when)
    request = sync_request(parent(spec=spec), children=children, related=[cred])
    response, outcome = sync(request, issuer, settings(NOW + when))
    return response, outcome, issuer


def test_no_policy_allows_everything() -> None:
    _, outcome, issuer = run(with_policy())
    assert outcome == "TokenIssued" and issuer.lookups == 0


@pytest.mark.parametrize(("allowed", "ok"), [("default", True), ("team-a, default", True), ("team-a", False),
                                             ("", False), ("*", True)])  # fmt: skip
def test_namespaces_allowed_to_import(allowed: str, ok: bool) -> None:
    response, outcome, issuer = run(policy(namespaces=allowed))
    assert (outcome == "TokenIssued") is ok
    if not ok:
        assert outcome == "NotAllowed" and not issuer.calls
        assert 'namespace "default" may not import from cluster "cluster2"' in ready(response)["message"]
        assert "kubemcsa bootstrap --allow-namespace" in ready(response)["message"]


def test_a_namespace_no_longer_allowed_loses_its_secret_at_once() -> None:
    first, _, _ = run(policy())
    response, outcome, issuer = run(policy(namespaces="team-a"), children=[observed(first["children"][0])])
    assert outcome == "NotAllowed" and response["children"] == [] and not issuer.calls
    assert "secretName" not in response["status"]


def test_audiences_outside_the_policy_are_refused() -> None:
    spec = {"clusterName": "cluster2", "namespace": "default", "name": "pod-lister", "audiences": ["vault", "evil"]}
    response, outcome, _ = run(policy(audiences="vault"), spec=spec)
    assert outcome == "NotAllowed" and "audiences evil are not allowed" in ready(response)["message"]
    spec["audiences"] = ["vault"]
    _, outcome, issuer = run(policy(audiences="vault"), spec=spec)
    assert outcome == "TokenIssued" and issuer.calls[0][1].audiences == ("vault",)


@pytest.mark.parametrize(("requested", "sent"), [(None, 3600), (600, 600), (86400, 3600)])
def test_lifetime_is_clamped_and_the_status_says_so(requested: int | None, sent: int) -> None:
    spec = {"clusterName": "cluster2", "namespace": "default", "name": "pod-lister"}
    if requested:
        spec["expirationSeconds"] = requested
    response, outcome, issuer = run(policy(max="3600"), spec=spec)
    assert outcome == "TokenIssued" and issuer.calls[0][1].expiration_seconds == sent
    clamped = "spec.expirationSeconds 86400 is clamped to 3600" in ready(response)["message"]
    assert clamped is (requested == 86400)


@pytest.mark.parametrize(
    ("annotation", "ok"),
    [(None, False), ("cluster1/default", True), ("cluster1/*", True), ("cluster1", True),
     ("cluster1/team-a", False), ("cluster3/default", False), ("cluster3/default, cluster1/default", True)],
)  # fmt: skip
def test_remote_consent(annotation: str | None, ok: bool) -> None:
    issuer = FakeIssuer(remote_annotations={CONSENT: annotation} if annotation else {})
    response, outcome, _ = run(policy(consent="true", cluster="cluster1"), issuer)
    assert issuer.lookups == 1
    assert (outcome == "TokenIssued") is ok
    if not ok:
        assert outcome == "NoConsent" and not issuer.calls
        assert f"annotation {CONSENT} naming cluster1/default" in ready(response)["message"]


def test_consent_is_checked_again_at_renewal_and_its_withdrawal_revokes() -> None:
    cred = policy(consent="true", cluster="cluster1")
    first, _, _ = run(cred, FakeIssuer(remote_annotations={CONSENT: "cluster1/default"}))
    child = observed(first["children"][0])
    # Before the renewal point, no remote lookup at all.
    _, outcome, issuer = run(cred, FakeIssuer(remote_annotations={}), children=[child], when=timedelta(minutes=10))
    assert outcome == "TokenCurrent" and issuer.lookups == 0
    # At renewal, the withdrawn consent stops it, and the Secret goes.
    later = timedelta(minutes=50)
    response, outcome, issuer = run(
        cred, FakeIssuer(now=NOW + later, remote_annotations={}), children=[child], when=later
    )
    assert outcome == "NoConsent" and issuer.lookups == 1 and not issuer.calls and response["children"] == []


def test_consent_lookup_failure_keeps_the_secret() -> None:
    cred = policy(consent="true", cluster="cluster1")
    first, _, _ = run(cred, FakeIssuer(remote_annotations={CONSENT: "cluster1"}))
    later = timedelta(minutes=50)
    issuer = FakeIssuer(now=NOW + later, remote_annotations=None)
    response, outcome, _ = run(cred, issuer, children=[observed(first["children"][0])], when=later)
    assert outcome == "RemoteServiceAccountNotFound" and response["children"] == first["children"]


@pytest.mark.parametrize(
    "annotations",
    [
        {contract.REQUIRE_CONSENT_ANNOTATION: "yes"},
        {contract.REQUIRE_CONSENT_ANNOTATION: "true"},  # without the importing cluster's name
        {contract.MAX_EXPIRATION_ANNOTATION: "1h"},
        {contract.MAX_EXPIRATION_ANNOTATION: "60"},
    ],
)
def test_unreadable_policy_is_an_invalid_credential(annotations: dict[str, str]) -> None:
    with pytest.raises(PolicyError):
        parse(annotations)
    _response, outcome, issuer = run(with_policy(**annotations))
    assert outcome == "InvalidClusterCredential" and not issuer.calls


def test_policy_round_trips_through_annotations() -> None:
    rules = Policy(frozenset({"a", "b"}), True, "cluster1", 7200, frozenset({"vault"}), frozenset({"kube-system"}))
    assert parse(rules.annotations()) == rules
    assert parse(Policy().annotations()) == Policy()


def test_consent_needs_the_importing_clusters_name() -> None:
    assert not consents(Policy(require_consent=True), {CONSENT: "cluster1"}, "default")


def test_token_expiring_soon_while_renewal_fails() -> None:
    first, _, _ = run(policy())
    child = observed(first["children"][0])
    assert ready(first, "TokenExpiringSoon")["status"] == "False"
    error = RemoteError("RemoteUnreachable", "down")
    before, _, _ = run(policy(), FakeIssuer(error=error), children=[child], when=timedelta(minutes=10))
    assert ready(before, "TokenExpiringSoon")["status"] == "False"  # (the token is fresh: no call made)
    late = timedelta(minutes=55)
    response, _, _ = run(policy(), FakeIssuer(error=error), children=[child], when=late)
    expiring = ready(response, "TokenExpiringSoon")
    assert (expiring["status"], expiring["reason"]) == ("True", "RenewalFailing")
    assert "expires at 2026-11-29T13:00:00Z" in expiring["message"]
