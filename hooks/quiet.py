"""Remote API servers that just timed out, so that the hooks stop dialling them for a while.

A server that hangs (it accepts connections and answers nothing) makes every call wait out the remote
timeout, holding a hooks thread and one of Metacontroller's workers each time. After a timeout, this
process answers further calls to that server at once with the same failure for `hold` seconds; then one
call (the probe) dials it again while the others still fail at once, and an answer ends the quiet.
Per process and in memory: a restart forgets it, which costs one timeout.
"""

import threading
import time
from collections.abc import Callable


class QuietServers:
    def __init__(self, hold: float, probe: float, clock: Callable[[], float] = time.monotonic) -> None:
        #: Seconds without a call after a timeout; seconds the probe may take before another may probe.
        self.hold, self.probe, self.clock = hold, probe, clock
        self._lock = threading.Lock()
        self._quiet: dict[str, tuple[float, str]] = {}

    def failure(self, server: str) -> str | None:
        """The failure to answer at once if server is quiet, else None (and the caller dials it; if the
        quiet has just ended, it is the probe)."""
        with self._lock:
            entry = self._quiet.get(server)
            if entry is None:
                return None
            until, failure = entry
            now = self.clock()
            if now < until:
                return failure
            self._quiet[server] = (now + self.probe, failure)
            return None

    def timed_out(self, server: str, failure: str) -> None:
        with self._lock:
            self._quiet[server] = (self.clock() + self.hold, failure)

    def answered(self, server: str) -> None:
        with self._lock:
            self._quiet.pop(server, None)
