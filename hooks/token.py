"""A service account token issued by a remote cluster, and when to renew it."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: datetime
    expires_at: datetime

    def renew_at(self, fraction: float) -> datetime:
        """The moment when fraction of the lifetime the server granted has passed."""
        return self.issued_at + (self.expires_at - self.issued_at) * fraction

    def __repr__(self) -> str:  # never print the token itself
        return f"IssuedToken(issued_at={format_time(self.issued_at)}, expires_at={format_time(self.expires_at)})"


def jwt_issued_at(token: str) -> datetime | None:
    """The `iat` claim of a JWT, read without verifying it, or None if token is not such a JWT.

    The issue time the server wrote is the start of the lifetime it granted; using it (rather than
    the local clock) keeps renewal right when clocks differ.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
        iat = claims["iat"] if isinstance(claims, dict) else None
    except (binascii.Error, ValueError, KeyError):
        return None
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        return None
    return datetime.fromtimestamp(iat, UTC)


def issued(token: str, expires_at: datetime, requested_at: datetime) -> IssuedToken:
    """The token as issued: its lifetime starts at its `iat` claim, else when it was requested."""
    iat = jwt_issued_at(token)
    if iat is None or not (requested_at - timedelta(days=1) < iat < expires_at):
        iat = requested_at
    return IssuedToken(token=token, issued_at=iat, expires_at=expires_at)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
