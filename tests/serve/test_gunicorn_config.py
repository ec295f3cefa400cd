"""hooks/gunicorn.conf.py refuses, with one line, what would leave the hooks unreachable."""

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from hooks.settings import BIND_FIELDS, Settings
from tests.testbed.cluster import REPO, free_port

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
    result = start({"MCSA_BIND": "127.0.0.1:1"})
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
        "MCSA_BIND": "127.0.0.1:1",
        "MCSA_WEBHOOK_BIND": "9443",
        "MCSA_TLS_CERT_FILE": str(tmp_path / "tls.crt"),
        "MCSA_TLS_KEY_FILE": str(tmp_path / "tls.key"),
    })  # fmt: skip
    assert result.returncode != 0
    assert "MCSA_WEBHOOK_BIND='9443' is invalid: give HOST:PORT" in result.stderr


# -- every setting: a bad value stops the server with one line ---------------------------------------------------

MISSING = "/nonexistent/mcsa-setting"
#: A bad value of each variable, and what the line says it may be. (A TLS file is named by its path, never quoted.)
BAD = [
    ("MCSA_WORKERS", "abc", "give a whole number of processes, 1 or more (default 2)"),
    ("MCSA_LOG_LEVEL", "loud", "give DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)"),
    ("MCSA_BIND", "127.0.0.1:https", "give HOST:PORT with a port from 1 to 65535"),
    ("MCSA_WEBHOOK_BIND", "9443", "give HOST:PORT with a port from 1 to 65535"),
    ("MCSA_ALLOW_HTTP", "yes", "give true (serve plain HTTP, for a local experiment) or false (default)"),
    ("MCSA_TLS_CERT_FILE", MISSING, "give the path of the serving certificate (a PEM file): no file is there"),
    ("MCSA_TLS_KEY_FILE", MISSING, "give the path of its private key (a PEM file): no file is there"),
    ("MCSA_WORKER_TMP_DIR", MISSING, "give a directory the server may write in"),
    ("MCSA_THREADS", "1", "give a whole number, 2 or more"),
    ("MCSA_CREDENTIALS_NAMESPACE", "Not_A_Namespace", "give a namespace name"),
    ("MCSA_RENEW_FRACTION", "2", "give a number from 0.1 to 0.95 (default 0.8)"),
    ("MCSA_RENEW_MARGIN_SECONDS", "-5", "give a number of seconds, 0 or more (default 300)"),
    ("MCSA_REMOTE_TIMEOUT_SECONDS", "soon", "give a number of seconds above 0 and at most 6"),
    ("MCSA_RETRY_MIN_SECONDS", "0", "give a number of seconds above 0 and at most MCSA_RETRY_MAX_SECONDS (300)"),
    ("MCSA_RETRY_MAX_SECONDS", "nan", "give a number of seconds above 0 (default 300)"),
    ("MCSA_CREDENTIAL_PLUGIN_IMAGE", "image with spaces", "without white space; or nothing, to mount no plugin"),
]


def variables_read() -> set[str]:
    """Every MCSA_ variable that hooks/settings.py and hooks/gunicorn.conf.py read."""
    found = {f"MCSA_{f.name.upper()}" for f in fields(Settings) if f.name != "clock" and f.name not in BIND_FIELDS}
    found |= set(BIND_FIELDS.values())
    for name in ("settings.py", "gunicorn.conf.py"):
        text = (REPO / "hooks" / name).read_text()
        found |= set(re.findall(r"\bMCSA_[A-Z][A-Z_]*[A-Z]\b", text))
        found |= {
            f"MCSA_{v}" for v in re.findall(r'ENV_PREFIX \+ "([A-Z_]+)"|\{ENV_PREFIX\}([A-Z_]+)', text) for v in v if v
        }
    return found


def test_every_setting_has_a_bad_value_below() -> None:
    assert {variable for variable, _, _ in BAD} == variables_read()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    files = tmp_path_factory.mktemp("tls")
    subprocess.run([sys.executable, "-m", "hooks.pki", str(files), "--host", "127.0.0.1"], check=True)
    return {"MCSA_TLS_CERT_FILE": str(files / "tls.crt"), "MCSA_TLS_KEY_FILE": str(files / "tls.key")}


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_setting_stops_the_server_with_one_line(
    tls: dict[str, str], variable: str, value: str, allowed: str
) -> None:
    result = start({"MCSA_BIND": f"127.0.0.1:{free_port()}", "MCSA_WORKERS": "1", **tls, variable: value})
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"multicluster-service-account hooks: {variable}={value!r} is invalid: give ")
    assert allowed in lines[0]


def test_a_certificate_and_key_that_do_not_pair_stop_the_server(tls: dict[str, str]) -> None:
    ca = str(Path(tls["MCSA_TLS_CERT_FILE"]).parent / "ca.crt")
    result = start({"MCSA_BIND": f"127.0.0.1:{free_port()}", **tls, "MCSA_TLS_KEY_FILE": ca})
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"multicluster-service-account hooks: MCSA_TLS_CERT_FILE={tls['MCSA_TLS_CERT_FILE']!r} and "
        f"MCSA_TLS_KEY_FILE={ca!r} are invalid: give a PEM certificate and its private key (not encrypted), readable "
        "by the server"
    ]


# -- the startup line names the addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize("webhook", [False, True], ids=["one address", "two addresses"])
def test_the_startup_line_names_the_addresses(tls: dict[str, str], webhook: bool) -> None:
    hooks_port, webhook_port = free_port(), free_port()
    environ = {"MCSA_BIND": f"127.0.0.1:{hooks_port}", "MCSA_WORKERS": "1", **tls}
    expected = f"https://127.0.0.1:{hooks_port} (MCSA_BIND)"
    if webhook:
        environ["MCSA_WEBHOOK_BIND"] = f"127.0.0.1:{webhook_port}"
        expected += f", https://127.0.0.1:{webhook_port} (MCSA_WEBHOOK_BIND)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCSA_")}
    process = subprocess.Popen(
        [*GUNICORN, "hooks:create_app()"], cwd=REPO, env={**clean, **environ}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "Listening at" in line or len(lines) > 20:
                break
    finally:
        process.terminate()
        process.wait(15)
        if process.stderr is not None:
            process.stderr.close()
    said = json.loads(lines[-1])["msg"]
    assert said == f"Listening at: {expected} ({process.pid})", lines
