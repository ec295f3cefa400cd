"""Settings of the hooks service, read once from MCSA_-prefixed environment variables."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from . import contract

ENV_PREFIX = "MCSA_"
#: hooks.sync.webhook.timeout of metacontroller/compositecontroller.yaml.
SYNC_HOOK_TIMEOUT_SECONDS = 8.0
#: The port of gunicorn's default bind, MCSA_BIND=0.0.0.0:8443 (hooks/gunicorn.conf.py).
DEFAULT_HOOKS_PORT = 8443
#: Fields read from a gunicorn bind address rather than from MCSA_<FIELD>: field name, variable.
BIND_FIELDS = {"hooks_port": ENV_PREFIX + "BIND", "webhook_port": ENV_PREFIX + "WEBHOOK_BIND"}


#: The plugin image of this release, as manifests/ and the test bed name it.
DEFAULT_CREDENTIAL_PLUGIN_IMAGE = "ghcr.io/admiraltyio/multicluster-service-account-credential-plugin:0.1.0"


def utc_now() -> datetime:
    return datetime.now(UTC)


def bind_port(variable: str, address: str) -> int:
    """The port of a TCP bind address HOST:PORT, as gunicorn takes it ("0.0.0.0:9443", "[::]:9443")."""
    host, colon, port = address.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 or (":" in host and not bracketed):
        raise ValueError(
            f"{variable}={address!r} is not HOST:PORT with a port from 1 to 65535 "
            "(e.g. 0.0.0.0:9443, or [::]:9443 for IPv6)"
        )
    return int(port)


@dataclass(frozen=True)
class Settings:
    #: Namespace of the cluster credential Secrets that the customize hook asks for.
    credentials_namespace: str = contract.CREDENTIALS_NAMESPACE
    #: Renew a token once this fraction of the lifetime the remote server granted has passed.
    renew_fraction: float = 0.8
    #: ... or earlier, to leave at least this long before expiry for the renewal: Metacontroller's queue can
    #: hold a renewal back behind a burst of new imports (see the README's sizing). This margin takes at most
    #: half the lifetime (a smaller renew_fraction still renews earlier).
    renew_margin_seconds: float = 300.0
    #: Total timeout of each call to a remote cluster (connect and read), inside the sync hook's 8 s.
    remote_timeout_seconds: float = 4.0
    #: Bounds of the retry delay after a failure; the delay doubles while the failure lasts. After a
    #: timeout, the remote server is not dialled again for the minimum (quiet.py).
    retry_min_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    #: gunicorn threads per worker process (MCSA_THREADS). The sync hook may hold all but one of them
    #: (a sync can wait out the remote timeout), so the webhook and the probes always find a thread.
    threads: int = 8
    #: The port of MCSA_WEBHOOK_BIND, where only the webhook (/mutate) is served, for the API server; the other
    #: port (MCSA_BIND) then serves only /customize and /sync, for Metacontroller. None (MCSA_WEBHOOK_BIND unset
    #: or empty): one port serves every path. The probes and /metrics answer on both.
    webhook_port: int | None = None
    #: The port of MCSA_BIND (None for a Unix socket), named in the answer to a path asked on the wrong port.
    hooks_port: int | None = DEFAULT_HOOKS_PORT
    #: The image of the credential plugin (credential-plugin/Dockerfile) that the webhook's init container copies
    #: into pods that mount imports, for their `exec-config`. Empty: no init container (clients then use `config`).
    credential_plugin_image: str = DEFAULT_CREDENTIAL_PLUGIN_IMAGE
    #: The clock; tests may pass another one.
    clock: Callable[[], datetime] = field(default=utc_now, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from MCSA_<FIELD> variables (e.g. MCSA_REMOTE_TIMEOUT_SECONDS), the ports from MCSA_BIND and
        MCSA_WEBHOOK_BIND; others default."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        webhook_bind = environ.get(BIND_FIELDS["webhook_port"], "").strip()
        if webhook_bind:
            values["webhook_port"] = bind_port(BIND_FIELDS["webhook_port"], webhook_bind)
        hooks_bind = environ.get(BIND_FIELDS["hooks_port"], "").strip()
        if hooks_bind:
            try:
                values["hooks_port"] = bind_port(BIND_FIELDS["hooks_port"], hooks_bind)
            except ValueError:  # a Unix socket or a file descriptor: gunicorn checks it
                values["hooks_port"] = None
        for f in fields(cls):
            if f.name == "clock" or f.name in BIND_FIELDS:
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
        if self.renew_margin_seconds < 0:
            raise ValueError(f"{ENV_PREFIX}RENEW_MARGIN_SECONDS must be 0 or more, got {self.renew_margin_seconds}")
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
        image = self.credential_plugin_image
        if image != image.strip() or any(c.isspace() for c in image):
            raise ValueError(
                f"{ENV_PREFIX}CREDENTIAL_PLUGIN_IMAGE={image!r} is not an image reference (it holds white space); "
                "set it to the plugin's image, e.g. ghcr.io/OWNER/multicluster-service-account-credential-plugin:TAG, "
                "or to nothing to mount no plugin"
            )
        if self.webhook_port is not None and self.webhook_port == self.hooks_port:
            raise ValueError(
                f"{ENV_PREFIX}WEBHOOK_BIND must name another port than {ENV_PREFIX}BIND (both {self.webhook_port}): "
                "the hooks tell the API server's calls from Metacontroller's by the port they arrive on"
            )
