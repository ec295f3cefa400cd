"""gunicorn settings for the hooks service: `gunicorn -c hooks/gunicorn.conf.py 'hooks:create_app()'`.

Every value can be overridden by the environment: MCSA_BIND, MCSA_WORKERS, MCSA_THREADS,
MCSA_TLS_CERT_FILE and MCSA_TLS_KEY_FILE (both or neither; without them it serves plain HTTP, for
local use only: the API server and Metacontroller require HTTPS).
"""

import os
import shutil
import tempfile

# One registry across workers, so /metrics adds them up. Set before prometheus_client is imported.
_metrics_dir = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mcsa-metrics-")

from hooks import logs  # noqa: E402

bind = os.environ.get("MCSA_BIND", "0.0.0.0:8443")
workers = int(os.environ.get("MCSA_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("MCSA_THREADS", "4"))
# Metacontroller's hook timeout is 10 s and the API server's webhook timeout at most 30 s.
timeout = 30
graceful_timeout = 10
keepalive = 75
certfile = os.environ.get("MCSA_TLS_CERT_FILE") or None
keyfile = os.environ.get("MCSA_TLS_KEY_FILE") or None
accesslog = None  # the app logs one JSON line per request
errorlog = "-"
worker_tmp_dir = os.environ.get("MCSA_WORKER_TMP_DIR", tempfile.gettempdir())
logs.configure(os.environ.get("MCSA_LOG_LEVEL", "INFO"))


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server):  # type: ignore[no-untyped-def]
    if _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
