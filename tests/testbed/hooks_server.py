"""The hooks served for the test bed: gunicorn with TLS on loopback (as in production), or in-process."""

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from werkzeug.serving import make_server

from .cluster import REPO, ControlPlaneError, free_port, tail


@dataclass(frozen=True)
class ServingFiles:
    ca: Path
    cert: Path
    key: Path

    @property
    def ca_pem(self) -> bytes:
        return self.ca.read_bytes()


def _wait_healthy(url: str, files: ServingFiles, check: "subprocess.Popen[bytes] | None", log: Path | None) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(files.ca))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if check is not None and check.poll() is not None:
            raise ControlPlaneError(
                f"the hooks server exited with code {check.returncode}:\n{tail(log) if log else ''}"
            )
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2, context=context) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ControlPlaneError(f"the hooks server at {url} did not become healthy in 30s")


@dataclass(frozen=True)
class Served:
    url: str
    pid: int  # gunicorn's master process


@contextmanager
def gunicorn_hooks(
    files: ServingFiles, log: Path, env: dict[str, str] | None = None, app: str = "hooks:create_app()"
) -> Iterator[Served]:
    """app (default: the hooks) under gunicorn with the project's gunicorn config, over TLS on loopback."""
    port = free_port()
    environ = {
        **os.environ,
        "MCSA_BIND": f"127.0.0.1:{port}",
        "MCSA_TLS_CERT_FILE": str(files.cert),
        "MCSA_TLS_KEY_FILE": str(files.key),
        **(env or {}),
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(gunicorn), "-c", str(REPO / "hooks" / "gunicorn.conf.py"), app],
            cwd=REPO,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"https://127.0.0.1:{port}"
    try:
        _wait_healthy(url, files, process, log)
        yield Served(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def in_process_hooks(app: Flask, files: ServingFiles) -> Iterator[str]:
    """app served over TLS from a thread of this process (for a hooks app with test settings)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.cert), str(files.key))
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_port}"
    try:
        _wait_healthy(url, files, None, None)
        yield url
    finally:
        server.shutdown()
        thread.join(10)
