"""A service account token issued by a remote cluster, and when to renew it."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class IssuedToken:
    """A token and its lifetime, on the hooks' clock: issued_at is when it was requested, and
    expires_at that plus the lifetime the remote server granted. Anchoring on the local clock keeps
    renewal right when the clocks of the two clusters differ."""

    token: str
    issued_at: datetime
    expires_at: datetime

    def renew_at(self, fraction: float, margin_seconds: float = 0.0) -> datetime:
        """When to renew: once fraction of the lifetime the server granted has passed, or earlier, so as to
        leave at least margin_seconds before expiry for the renewal to happen in (a queue of syncs can delay
        it). The margin takes at most half the lifetime, so that a short token is not renewed at every sync."""
        lifetime = self.expires_at - self.issued_at
        margin = min(timedelta(seconds=margin_seconds), lifetime / 2)
        return self.expires_at - max(lifetime * (1 - fraction), margin)

    def __repr__(self) -> str:  # never print the token itself
        return f"IssuedToken(issued_at={format_time(self.issued_at)}, expires_at={format_time(self.expires_at)})"


def jwt_claims(token: str) -> dict[str, object] | None:
    """The claims of a JWT, read without verifying it, or None if token is not such a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def _claim_time(token: str, claim: str) -> datetime | None:
    value = (jwt_claims(token) or {}).get(claim)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def jwt_issued_at(token: str) -> datetime | None:
    """The `iat` claim of a JWT, read without verifying it, or None if token is not such a JWT."""
    return _claim_time(token, "iat")


def jwt_expires_at(token: str) -> datetime | None:
    """The `exp` claim of a JWT (None: no such claim, as in a legacy service-account token)."""
    return _claim_time(token, "exp")


def issued(token: str, expires_at: datetime, requested_at: datetime) -> IssuedToken:
    """The token requested at requested_at (local clock) that the server says expires at expires_at
    (its clock). The lifetime granted is expires_at minus the token's `iat` claim, both written by the
    server; without a usable `iat`, it is measured from requested_at."""
    requested_at = requested_at.replace(microsecond=0)  # as the Secret's annotations record it
    iat = jwt_issued_at(token)
    lifetime = expires_at - iat if iat is not None and iat < expires_at else expires_at - requested_at
    return IssuedToken(token=token, issued_at=requested_at, expires_at=requested_at + max(lifetime, timedelta(0)))


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
