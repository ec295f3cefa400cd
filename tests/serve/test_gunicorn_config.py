"""hooks/gunicorn.conf.py refuses, with one line, what would leave the hooks unreachable."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.testbed.cluster import REPO

GUNICORN = [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "hooks" / "gunicorn.conf.py")]


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MCSA_")}
    return subprocess.run(
        [*GUNICORN, "hooks:create_app()"], cwd=REPO, env={**environ, **env},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_a_port_in_use_stops_the_server(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "hooks.pki", str(tmp_path), "--host", "127.0.0.1"], check=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = start({
            "MCSA_BIND": address,
            "MCSA_TLS_CERT_FILE": str(tmp_path / "tls.crt"),
            "MCSA_TLS_KEY_FILE": str(tmp_path / "tls.key"),
        })  # fmt: skip
    assert result.returncode != 0
    assert f"cannot listen on {address} (Address already in use)" in result.stderr
    assert "Booting worker" not in result.stderr


def test_no_serving_certificate_stops_the_server() -> None:
    result = start({"MCSA_BIND": "127.0.0.1:0"})
    assert result.returncode != 0
    assert "set MCSA_TLS_CERT_FILE and MCSA_TLS_KEY_FILE" in result.stderr


def test_a_webhook_port_in_use_stops_the_server_and_names_its_variable(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "hooks.pki", str(tmp_path), "--host", "127.0.0.1"], check=True)
    with socket.socket() as free, socket.socket() as taken:
        free.bind(("127.0.0.1", 0))
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        hooks, webhook = (f"127.0.0.1:{s.getsockname()[1]}" for s in (free, taken))
        free.close()
        result = start({
            "MCSA_BIND": hooks,
            "MCSA_WEBHOOK_BIND": webhook,
            "MCSA_TLS_CERT_FILE": str(tmp_path / "tls.crt"),
            "MCSA_TLS_KEY_FILE": str(tmp_path / "tls.key"),
        })  # fmt: skip
    assert result.returncode != 0
    assert f"cannot listen on {webhook} (Address already in use); stop what uses it, or set MCSA_WEBHOOK_BIND" in (
        result.stderr
    )
    assert "Booting worker" not in result.stderr


def test_a_malformed_webhook_address_stops_the_server(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "hooks.pki", str(tmp_path), "--host", "127.0.0.1"], check=True)
    result = start({
        "MCSA_BIND": "127.0.0.1:0",
        "MCSA_WEBHOOK_BIND": "9443",
        "MCSA_TLS_CERT_FILE": str(tmp_path / "tls.crt"),
        "MCSA_TLS_KEY_FILE": str(tmp_path / "tls.key"),
    })  # fmt: skip
    assert result.returncode != 0
    assert "MCSA_WEBHOOK_BIND='9443' is not HOST:PORT" in result.stderr
