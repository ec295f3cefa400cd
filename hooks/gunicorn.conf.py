"""gunicorn settings for the hooks service: `gunicorn -c hooks/gunicorn.conf.py 'hooks:create_app()'`.

Set by the environment: MCSA_TLS_CERT_FILE and MCSA_TLS_KEY_FILE (required: the API server and
Metacontroller call the hooks over HTTPS only; MCSA_ALLOW_HTTP=true serves plain HTTP, for local
experiments), MCSA_BIND (0.0.0.0:8443), MCSA_WEBHOOK_BIND (unset), MCSA_WORKERS (2), MCSA_THREADS (8),
MCSA_LOG_LEVEL (INFO), MCSA_WORKER_TMP_DIR (the system's temporary directory), and the app's settings
(hooks/settings.py). A bad value of any stops the server before it starts, with one line that names the variable,
its value and what it may be.

With MCSA_WEBHOOK_BIND set (the manifests set 0.0.0.0:9443), gunicorn listens on both addresses and the app
serves each path on its own port only: /mutate on MCSA_WEBHOOK_BIND's, for the API server; /customize and
/sync on MCSA_BIND's, for Metacontroller (a NetworkPolicy can then admit only Metacontroller to that port).
Unset or empty, MCSA_BIND serves every path (local experiments). The probes and /metrics answer on both.
"""

import os
import shutil
import ssl
import tempfile
from typing import NoReturn

# One registry across workers, so /metrics adds them up. Set before prometheus_client is imported.
_metrics_dir = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mcsa-metrics-")

from gunicorn import glogging  # noqa: E402

from hooks.settings import ENV_PREFIX, ServerSettings, Settings, invalid  # noqa: E402


def _stop(reason: object) -> NoReturn:
    """Stop the server with one line (gunicorn prints a SystemExit's message), before it starts anything."""
    if _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
    raise SystemExit(f"multicluster-service-account hooks: {reason}")


def _check_files(server: ServerSettings, worker_tmp_dir: str) -> None:
    """The serving certificate and key load, and the workers' directory exists: else ValueError, naming the
    variable and the path (never what the files hold)."""
    files = {
        f"{ENV_PREFIX}TLS_CERT_FILE": (server.certfile, "the serving certificate"),
        f"{ENV_PREFIX}TLS_KEY_FILE": (server.keyfile, "its private key"),
    }
    for variable, (path, what) in files.items():
        if path and not os.path.isfile(path):
            raise invalid(variable, path, f"the path of {what} (a PEM file): no file is there")
    if server.certfile and server.keyfile:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(server.certfile, server.keyfile)
        except (OSError, ValueError):
            raise ValueError(
                f"{ENV_PREFIX}TLS_CERT_FILE={server.certfile!r} and {ENV_PREFIX}TLS_KEY_FILE={server.keyfile!r} are "
                "invalid: give a PEM certificate and its private key (not encrypted), readable by the server"
            ) from None
    if not os.path.isdir(worker_tmp_dir) or not os.access(worker_tmp_dir, os.W_OK):
        raise invalid(f"{ENV_PREFIX}WORKER_TMP_DIR", worker_tmp_dir, "a directory the server may write in")


# In the master, so that a bad setting stops the server with one line, not a worker traceback.
worker_tmp_dir = os.environ.get(f"{ENV_PREFIX}WORKER_TMP_DIR") or tempfile.gettempdir()
try:
    _server = ServerSettings.from_env()
    _settings = Settings.from_env()
    _check_files(_server, worker_tmp_dir)
except ValueError as err:
    _stop(err)

_log_level = _server.log_level
#: Each address to listen on, by the variable that sets it (named when the address is taken).
_binds = _server.binds
bind = list(_binds.values())
workers = _server.workers
worker_class = "gthread"
# A listening socket per worker (SO_REUSEPORT): the kernel spreads connections across the workers.
# With one shared socket, the worker that wins the accept race can take every keep-alive connection
# of the API server and Metacontroller and leave the others idle.
reuse_port = True
# Metacontroller's hook timeout is 10 s and the API server's webhook timeout at most 30 s.
timeout = 30
graceful_timeout = 10
keepalive = 75
certfile = _server.certfile
keyfile = _server.keyfile
# Each worker's app lets the sync hook hold all but one of these (hooks/app.py).
threads = _settings.threads
accesslog = None  # the app logs one JSON line per request


def _listening(cfg) -> str:  # type: ignore[no-untyped-def]
    """The addresses gunicorn listens at, with the variables that set them: with reuse_port, the workers listen
    and the master does not, so gunicorn's own startup line names none."""
    scheme = "https" if cfg.is_ssl else "http"
    variables = {address: variable for variable, address in _binds.items()}
    said = []
    for address in cfg.bind:
        url = address if address.startswith(("unix:", "fd://")) else f"{scheme}://{address}"
        said.append(f"{url} ({variables[address]})" if address in variables else url)
    return ", ".join(said)


class _Logger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger without its access log, which the app's own line replaces (gunicorn would
    otherwise build the access log's fields for every request, since logconfig_dict is set)."""

    def access(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        return None

    def info(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        if msg == "Listening at: %s (%s)" and args and not args[0]:
            args = (_listening(self.cfg), *args[1:])
        super().info(msg, *args, **kwargs)


logger_class = _Logger
errorlog = "-"
# One JSON object per line, gunicorn's own lines included.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "hooks.logs.JSONFormatter"}},
    "handlers": {"stderr": {"class": "hooks.logs.LineHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": _log_level},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": _log_level, "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}
_tls_cache: dict[str, object] = {}


def ssl_context(conf, default_ssl_context_factory):  # type: ignore[no-untyped-def]
    """The TLS context, loaded again when the certificate or key file changes (the kubelet updates a
    Secret volume in place when the certificate step renews it), else reused for each connection."""
    stamp = tuple(os.stat(path).st_mtime_ns for path in (conf.certfile, conf.keyfile))
    if _tls_cache.get("stamp") != stamp:
        _tls_cache.update(stamp=stamp, context=default_ssl_context_factory())
    return _tls_cache["context"]


def on_starting(server):  # type: ignore[no-untyped-def]
    """With reuse_port, the workers bind and the master does not: a port already in use would fail each
    worker in turn while the master stays up. Check each address once here and stop with one line."""
    import socket

    for variable, address in _binds.items():
        if address.startswith(("unix:", "fd://")):
            continue
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"  # noqa: S104 (the default bind is all addresses)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, int(port)))
            except (OSError, ValueError) as err:
                reason = err.strerror if isinstance(err, OSError) else str(err)
                _stop(f"cannot listen on {address} ({reason}); stop what uses it, or set {variable} to another address")


# No runtime control socket: nothing in the pod may reconfigure the server.
control_socket_disable = True


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """The app (loaded after the fork) keeps one thread for the webhook out of the worker's threads: tell it
    how many the worker really has, also when --threads or GUNICORN_CMD_ARGS overrode MCSA_THREADS."""
    os.environ["MCSA_THREADS"] = str(worker.cfg.threads)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server):  # type: ignore[no-untyped-def]
    if _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
