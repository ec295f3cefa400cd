from datetime import timedelta

import pytest

from hooks.token import IssuedToken, issued, jwt_issued_at, parse_time

from .fakes import NOW, jwt


def test_iat_of_a_jwt() -> None:
    assert jwt_issued_at(jwt(NOW, NOW + timedelta(hours=1))) == NOW


@pytest.mark.parametrize("token", ["opaque", "a.b.c", "a.e30.c", "a.eyJpYXQiOiAieCJ9.c", "a.eyJpYXQiOiB0cnVlfQ.c"])
def test_non_jwt_or_bad_iat_is_none(token: str) -> None:
    assert jwt_issued_at(token) is None


@pytest.mark.parametrize("skew", [timedelta(0), timedelta(minutes=-30), timedelta(minutes=30), timedelta(days=2)])
def test_lifetime_is_the_servers_and_anchored_on_the_local_clock(skew: timedelta) -> None:
    server_iat = NOW + skew  # the remote cluster's clock differs from ours by skew
    token = issued(jwt(server_iat, server_iat + timedelta(hours=1)), server_iat + timedelta(hours=1), NOW)
    assert (token.issued_at, token.expires_at) == (NOW, NOW + timedelta(hours=1))


def test_without_iat_the_lifetime_runs_from_the_request() -> None:
    token = issued("opaque", NOW + timedelta(hours=1), NOW)
    assert (token.issued_at, token.expires_at) == (NOW, NOW + timedelta(hours=1))


def test_renew_at_and_repr_hides_the_token() -> None:
    token = IssuedToken("secret-token-value", NOW, NOW + timedelta(seconds=1000))
    assert token.renew_at(0.8) == NOW + timedelta(seconds=800)
    assert "secret-token-value" not in repr(token)


def test_parse_time() -> None:
    assert parse_time("2026-11-29T12:00:00Z") == NOW
    assert parse_time("nope") is None and parse_time(None) is None


@pytest.mark.parametrize("iat", ["1e400", "99999999999999999999", "-99999999999999999999"])
def test_absurd_iat_is_ignored(iat: str) -> None:
    import base64

    payload = base64.urlsafe_b64encode(f'{{"iat": {iat}}}'.encode()).decode().rstrip("=")
    assert jwt_issued_at(f"a.{payload}.c") is None


@pytest.mark.parametrize(
    ("lifetime", "renew_after"),
    [(timedelta(hours=1), timedelta(minutes=48)),  # 80%: its 12 minutes are more than the 5-minute margin
     (timedelta(minutes=20), timedelta(minutes=15)),  # the margin: 5 minutes before expiry (75%)
     (timedelta(minutes=10), timedelta(minutes=5))],  # the margin takes at most half the lifetime
)  # fmt: skip
def test_renewal_leaves_a_margin_before_expiry(lifetime: timedelta, renew_after: timedelta) -> None:
    token = IssuedToken("t", NOW, NOW + lifetime)
    assert token.renew_at(0.8, margin_seconds=300) == NOW + renew_after


def test_a_small_renew_fraction_still_renews_early() -> None:
    token = IssuedToken("t", NOW, NOW + timedelta(minutes=10))
    assert token.renew_at(0.1, margin_seconds=300) == NOW + timedelta(minutes=1)
