"""The sizing model of docs/sizing.md, from what Metacontroller v4.17.2 does per import (the double does the
same, and tests/e2e/test_burst.py checks both against the real one): its API calls go through one
client-side token bucket (--client-go-qps, --client-go-burst), its queue is first in, first out.

- A new import costs 3 calls in its first sync (create the Secret; a fresh GET of the import and the update
  of its status, which says Ready) and 1 in the sync its own writes set off (the GET: nothing differs).
- A renewal costs as many: the Secret updated in place, GET and status update, then a GET.
- Every import costs 1 GET each --cache-flush-interval (30 minutes), when the informers replay their cache.
"""

from datetime import UTC, datetime, timedelta

from hooks.settings import Settings
from hooks.token import IssuedToken

CALLS_BEFORE_READY = 3
CALLS_PER_IMPORT = 4
CACHE_FLUSH_SECONDS = 1800


def ready_after(imports: int, qps: float, burst: int) -> float:
    """Seconds until a burst of new imports is all Ready: every first sync comes before any second one."""
    return max(0.0, CALLS_BEFORE_READY * imports - burst) / qps


def renewal_interval(lifetime: timedelta, settings: Settings | None = None) -> float:
    """Seconds from a token's issue to its renewal, as the hooks schedule it."""
    settings = settings or Settings()
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    token = IssuedToken("t", issued, issued + lifetime)
    return (token.renew_at(settings.renew_fraction, settings.renew_margin_seconds) - issued).total_seconds()


def margin(lifetime: timedelta, settings: Settings | None = None) -> float:
    """Seconds a renewal may wait before the token expires."""
    return lifetime.total_seconds() - renewal_interval(lifetime, settings)


def steady_calls_per_second(imports: int, lifetime: timedelta) -> float:
    """Metacontroller's calls a second for imports that renew tokens of lifetime, and its cache flushes."""
    return CALLS_PER_IMPORT * imports / renewal_interval(lifetime) + imports / CACHE_FLUSH_SECONDS


def largest_burst(qps: float, steady: float, wait: float) -> int:
    """The most new imports that may be queued ahead of a renewal that can wait wait seconds: ahead of it are
    the first syncs of those not yet synced (3 calls each) and the second syncs of those that were (1 each),
    so at most 3 calls an import, at what qps leaves beyond the steady load."""
    return int(max(0.0, qps - steady) * wait / CALLS_BEFORE_READY)
