"""client-go's client-side rate limit, for the Metacontroller test double.

Metacontroller's API clients are built from one rest.Config with `--client-go-qps` (default 5) and
`--client-go-burst` (default 10): each client gets a token bucket that holds `burst` tokens and refills
at `qps` a second, and every request takes one, waiting for it if the bucket is empty (client-go's
flowcontrol.NewTokenBucketRateLimiter). The dynamic client, which makes every read and write of parents
and children and the informers' lists, is the one that bounds a CompositeController.
"""

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """burst tokens, refilled at qps a second; take() waits for one. qps None: no limit."""

    def __init__(
        self,
        qps: float | None,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps is not None and (qps <= 0 or burst < 1):
            raise ValueError(f"a rate limit needs qps > 0 and burst >= 1, got qps={qps}, burst={burst}")
        self.qps, self.burst = qps, burst
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()
        self.taken = 0
        self.waited = 0.0

    def reserve(self) -> float:
        """One token without waiting (rate.Limiter's Reserve().Delay(), as the workqueue's bucket limiter
        uses it): how long the caller should wait for it. It is taken now, so later callers wait behind it."""
        with self._lock:
            self.taken += 1
            if self.qps is None:
                return 0.0
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def take(self) -> float:
        """One token, waiting for it; the seconds waited. Callers are served in the order they reserve."""
        wait = self.reserve()
        if self.qps is None:
            return 0.0
        with self._lock:
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait
