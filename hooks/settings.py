"""Settings of the hooks service, read once from MCSA_-prefixed environment variables."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from . import contract

ENV_PREFIX = "MCSA_"
#: hooks.sync.webhook.timeout of metacontroller/compositecontroller.yaml.
SYNC_HOOK_TIMEOUT_SECONDS = 8.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    #: Namespace of the cluster credential Secrets that the customize hook asks for.
    credentials_namespace: str = contract.CREDENTIALS_NAMESPACE
    #: Renew a token once this fraction of the lifetime the remote server granted has passed.
    renew_fraction: float = 0.8
    #: Total timeout of each call to a remote cluster (connect and read), inside the sync hook's 8 s.
    remote_timeout_seconds: float = 4.0
    #: Bounds of the retry delay after a failure; the delay doubles while the failure lasts. After a
    #: timeout, the remote server is not dialled again for the minimum (quiet.py).
    retry_min_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    #: gunicorn threads per worker process (MCSA_THREADS). The sync hook may hold all but one of them
    #: (a sync can wait out the remote timeout), so the webhook and the probes always find a thread.
    threads: int = 8
    #: The clock; tests may pass another one.
    clock: Callable[[], datetime] = field(default=utc_now, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from MCSA_<FIELD> variables (e.g. MCSA_REMOTE_TIMEOUT_SECONDS); others default."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "clock":
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            try:
                values[f.name] = int(raw) if f.type is int else float(raw) if f.type is float else raw
            except ValueError:
                kind = "a whole number" if f.type is int else "a number"
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not {kind}") from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0.1 <= self.renew_fraction <= 0.95:
            raise ValueError(f"{ENV_PREFIX}RENEW_FRACTION must be between 0.1 and 0.95, got {self.renew_fraction}")
        if not 0 < self.retry_min_seconds <= self.retry_max_seconds:
            raise ValueError(
                f"{ENV_PREFIX}RETRY_MIN_SECONDS must be positive and at most {ENV_PREFIX}RETRY_MAX_SECONDS"
            )
        if self.threads < 2:
            raise ValueError(
                f"{ENV_PREFIX}THREADS must be at least 2 (one thread per worker is kept for the webhook and "
                f"the probes while syncs wait for remote clusters), got {self.threads}"
            )
        if not 0 < self.remote_timeout_seconds <= SYNC_HOOK_TIMEOUT_SECONDS - 2:
            raise ValueError(
                f"{ENV_PREFIX}REMOTE_TIMEOUT_SECONDS must be positive and at most {SYNC_HOOK_TIMEOUT_SECONDS - 2:g} "
                f"(the sync hook's timeout in metacontroller/ is {SYNC_HOOK_TIMEOUT_SECONDS:g} s)"
            )
