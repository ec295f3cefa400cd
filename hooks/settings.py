"""Settings of the hooks service, read once from MCSA_-prefixed environment variables."""

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Final

from . import contract, names

ENV_PREFIX = "MCSA_"
#: hooks.sync.webhook.timeout of metacontroller/compositecontroller.yaml.
SYNC_HOOK_TIMEOUT_SECONDS = 8.0
#: The port of gunicorn's default bind, MCSA_BIND=0.0.0.0:8443 (hooks/gunicorn.conf.py).
DEFAULT_HOOKS_PORT = 8443
#: Fields read from a gunicorn bind address rather than from MCSA_<FIELD>: field name, variable.
BIND_FIELDS = {"hooks_port": ENV_PREFIX + "BIND", "webhook_port": ENV_PREFIX + "WEBHOOK_BIND"}


#: The plugin image of this release, as manifests/ and the test bed name it.
DEFAULT_CREDENTIAL_PLUGIN_IMAGE = "ghcr.io/admiraltyio/multicluster-service-account-credential-plugin:0.7.0"


def utc_now() -> datetime:
    return datetime.now(UTC)


#: Values are quoted in messages up to this many characters.
MAX_QUOTED = 100


def invalid(variable: str, value: str, allowed: str) -> ValueError:
    """The one line that stops the server for a bad setting: the variable, its value, and what it may be."""
    quoted = repr(value) if len(value) <= MAX_QUOTED else repr(value[:MAX_QUOTED]) + "..."
    return ValueError(f"{variable}={quoted} is invalid: give {allowed}")


BIND_FORMS = "HOST:PORT with a port from 1 to 65535 (e.g. 0.0.0.0:9443, or [::]:9443 for IPv6)"


def bind_port(variable: str, address: str) -> int:
    """The port of a TCP bind address HOST:PORT, as gunicorn takes it ("0.0.0.0:9443", "[::]:9443")."""
    host, colon, port = address.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    numeric = port.isascii() and port.isdigit()
    if not colon or not numeric or not 0 < int(port) < 65536 or (":" in host and not bracketed):
        raise invalid(variable, address, BIND_FORMS)
    return int(port)


def bind_address(variable: str, address: str) -> int | None:
    """The port of a gunicorn bind address: HOST:PORT, or None for unix:PATH and fd://N."""
    if address.startswith("unix:") and len(address) > len("unix:"):
        return None
    descriptor = address.removeprefix("fd://")
    if address.startswith("fd://") and descriptor.isascii() and descriptor.isdigit():
        return None
    try:
        return bind_port(variable, address)
    except ValueError:
        raise invalid(variable, address, f"{BIND_FORMS}, unix:PATH or fd://N") from None


LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_BIND: Final = f"0.0.0.0:{DEFAULT_HOOKS_PORT}"


@dataclass(frozen=True)
class ServerSettings:
    """What hooks/gunicorn.conf.py takes from the environment (the app's settings are Settings)."""

    log_level: str
    #: Each address to listen on, by the variable that sets it.
    binds: dict[str, str]
    workers: int
    allow_http: bool
    certfile: str | None
    keyfile: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServerSettings":
        """ValueError, in one line naming the variable, its value and what it may be, for a bad value."""
        environ = os.environ if environ is None else environ
        log_level = environ.get(ENV_PREFIX + "LOG_LEVEL", "").strip() or "INFO"
        if log_level.upper() not in LOG_LEVELS:
            raise invalid(
                ENV_PREFIX + "LOG_LEVEL", log_level, f"{', '.join(LOG_LEVELS[:-1])} or CRITICAL (default INFO)"
            )
        raw_workers = environ.get(ENV_PREFIX + "WORKERS", "").strip() or "2"
        try:
            workers = int(raw_workers)
        except ValueError:
            workers = 0
        if workers < 1:
            raise invalid(ENV_PREFIX + "WORKERS", raw_workers, "a whole number of processes, 1 or more (default 2)")
        binds = {BIND_FIELDS["hooks_port"]: environ.get(BIND_FIELDS["hooks_port"], "").strip() or DEFAULT_BIND}
        bind_address(BIND_FIELDS["hooks_port"], binds[BIND_FIELDS["hooks_port"]])
        if webhook_bind := environ.get(BIND_FIELDS["webhook_port"], "").strip():
            binds[BIND_FIELDS["webhook_port"]] = webhook_bind  # Settings.from_env checks it
        allow_http = environ.get(ENV_PREFIX + "ALLOW_HTTP", "").strip()
        if allow_http.lower() not in ("", "true", "false"):
            raise invalid(
                ENV_PREFIX + "ALLOW_HTTP",
                allow_http,
                "true (serve plain HTTP, for a local experiment) or false (default)",
            )
        certfile = environ.get(ENV_PREFIX + "TLS_CERT_FILE") or None
        keyfile = environ.get(ENV_PREFIX + "TLS_KEY_FILE") or None
        if not (certfile and keyfile) and allow_http.lower() != "true":
            raise ValueError(
                "set MCSA_TLS_CERT_FILE and MCSA_TLS_KEY_FILE to the serving certificate and key (the API server and "
                "Metacontroller call the hooks over HTTPS only), or MCSA_ALLOW_HTTP=true to serve plain HTTP for a "
                "local experiment"
            )
        return cls(log_level.upper(), binds, workers, allow_http.lower() == "true", certfile, keyfile)


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
        MCSA_WEBHOOK_BIND; others default. ValueError, in one line, for a bad value."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        raws: dict[str, str] = {}
        webhook_bind = environ.get(BIND_FIELDS["webhook_port"], "").strip()
        if webhook_bind:
            raws["webhook_port"] = webhook_bind
            try:
                values["webhook_port"] = bind_port(BIND_FIELDS["webhook_port"], webhook_bind)
            except ValueError:
                raise invalid(BIND_FIELDS["webhook_port"], webhook_bind, f"{BIND_FORMS}, or nothing") from None
        hooks_bind = environ.get(BIND_FIELDS["hooks_port"], "").strip()
        if hooks_bind:
            values["hooks_port"] = bind_address(BIND_FIELDS["hooks_port"], hooks_bind)
        for f in fields(cls):
            if f.name == "clock" or f.name in BIND_FIELDS:
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            raws[f.name] = raw
            try:
                value = int(raw) if f.type is int else float(raw) if f.type is float else raw
            except ValueError:
                raise invalid(ENV_PREFIX + f.name.upper(), raw, ALLOWED[f.name]) from None
            if isinstance(value, float) and not math.isfinite(value):
                raise invalid(ENV_PREFIX + f.name.upper(), raw, ALLOWED[f.name])
            values[f.name] = value
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate(raws)
        return settings

    def validate(self, raws: Mapping[str, str] | None = None) -> None:
        """ValueError, in one line naming the variable, if a setting is out of bounds; raws: the variables' text,
        by field, to quote (default: the value)."""
        raws = raws or {}

        def check(name: str, ok: bool, allowed: str = "") -> None:
            if not ok:
                raise invalid(
                    ENV_PREFIX + name.upper(), raws.get(name, str(getattr(self, name))), allowed or ALLOWED[name]
                )

        check("credentials_namespace", names.is_dns1123_label(self.credentials_namespace))
        check("renew_fraction", 0.1 <= self.renew_fraction <= 0.95)
        check("renew_margin_seconds", self.renew_margin_seconds >= 0)
        check("retry_max_seconds", self.retry_max_seconds > 0)
        check(
            "retry_min_seconds", 0 < self.retry_min_seconds <= self.retry_max_seconds,
            f"a number of seconds above 0 and at most {ENV_PREFIX}RETRY_MAX_SECONDS ({self.retry_max_seconds:g})",
        )  # fmt: skip
        check("threads", self.threads >= 2)
        check("remote_timeout_seconds", 0 < self.remote_timeout_seconds <= SYNC_HOOK_TIMEOUT_SECONDS - 2)
        image = self.credential_plugin_image
        check("credential_plugin_image", image == image.strip() and not any(c.isspace() for c in image))
        if self.webhook_port is not None and self.webhook_port == self.hooks_port:
            raise invalid(
                BIND_FIELDS["webhook_port"], raws.get("webhook_port", f"...:{self.webhook_port}"),
                f"another port than {BIND_FIELDS['hooks_port']} ({self.hooks_port}): the hooks tell the API server's "
                "calls from Metacontroller's by the port they arrive on",
            )  # fmt: skip


#: What each setting may be, as the message of a bad value says it (with the default).
ALLOWED: Final = {
    "credentials_namespace": f"a namespace name: lowercase letters, digits and '-', at most 63 (default "
    f"{contract.CREDENTIALS_NAMESPACE})",
    "renew_fraction": "a number from 0.1 to 0.95 (default 0.8)",
    "renew_margin_seconds": "a number of seconds, 0 or more (default 300)",
    "remote_timeout_seconds": f"a number of seconds above 0 and at most {SYNC_HOOK_TIMEOUT_SECONDS - 2:g}: the sync "
    f"hook's timeout in metacontroller/ is {SYNC_HOOK_TIMEOUT_SECONDS:g} s (default 4)",
    "retry_min_seconds": "a number of seconds above 0 and at most MCSA_RETRY_MAX_SECONDS (default 5)",
    "retry_max_seconds": "a number of seconds above 0 (default 300)",
    "threads": "a whole number, 2 or more: syncs may hold all of a worker's threads but one, which stays free for "
    "the webhook and the probes (default 8)",
    "credential_plugin_image": "the plugin's image, e.g. ghcr.io/OWNER/multicluster-service-account-credential-plugin"
    ":TAG, without white space; or nothing, to mount no plugin",
}
