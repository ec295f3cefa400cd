from datetime import timedelta

import pytest

from hooks.token import IssuedToken, issued, jwt_issued_at, parse_time

from .fakes import NOW, jwt


def test_iat_of_a_jwt() -> None:
    assert jwt_issued_at(jwt(NOW, NOW + timedelta(hours=1))) == NOW


@pytest.mark.parametrize("token", ["opaque", "a.b.c", "a.e30.c", "a.eyJpYXQiOiAieCJ9.c", "a.eyJpYXQiOiB0cnVlfQ.c"])
def test_non_jwt_or_bad_iat_is_none(token: str) -> None:
    assert jwt_issued_at(token) is None


def test_issued_prefers_the_servers_iat_and_falls_back_to_the_request_time() -> None:
    server_iat = NOW - timedelta(seconds=30)  # clocks differ
    token = jwt(server_iat, server_iat + timedelta(hours=1))
    assert issued(token, server_iat + timedelta(hours=1), NOW).issued_at == server_iat
    assert issued("opaque", NOW + timedelta(hours=1), NOW).issued_at == NOW


def test_renew_at_and_repr_hides_the_token() -> None:
    token = IssuedToken("secret-token-value", NOW, NOW + timedelta(seconds=1000))
    assert token.renew_at(0.8) == NOW + timedelta(seconds=800)
    assert "secret-token-value" not in repr(token)


def test_parse_time() -> None:
    assert parse_time("2026-11-29T12:00:00Z") == NOW
    assert parse_time("nope") is None and parse_time(None) is None
