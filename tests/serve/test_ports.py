"""gunicorn as the manifests run it, on two loopback ports: the webhook's (MCSA_WEBHOOK_BIND) serves only
/mutate, the hooks' (MCSA_BIND) only /customize and /sync, and both the probes."""

import http.client
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.testbed.cluster import REPO, free_port

GUNICORN = [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "hooks" / "gunicorn.conf.py")]
REQUESTS = REPO / "examples" / "requests"


class Ports:
    def __init__(self, hooks: int, webhook: int, ca: Path) -> None:
        self.hooks, self.webhook = hooks, webhook
        self.context = ssl.create_default_context(cafile=str(ca))

    def call(self, port: int, path: str) -> tuple[int, Any]:
        """GET path, or POST the sample request of examples/requests/ for a hook path; status and JSON body."""
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=self.context)
        try:
            sample = REQUESTS / f"{path.strip('/')}.json"
            if sample.exists():
                connection.request("POST", path, sample.read_bytes(), {"Content-Type": "application/json"})
            else:
                connection.request("GET", path)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    files = tmp_path_factory.mktemp("ports")
    subprocess.run([sys.executable, "-m", "hooks.pki", str(files), "--host", "127.0.0.1"], check=True)
    hooks, webhook = free_port(), free_port()
    while webhook == hooks:
        webhook = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MCSA_")}
    log = (files / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [*GUNICORN, "hooks:create_app()"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={
            **environ,
            "MCSA_BIND": f"127.0.0.1:{hooks}",
            "MCSA_WEBHOOK_BIND": f"127.0.0.1:{webhook}",
            "MCSA_TLS_CERT_FILE": str(files / "tls.crt"),
            "MCSA_TLS_KEY_FILE": str(files / "tls.key"),
            "MCSA_WORKERS": "1",
        },
    )  # fmt: skip
    served = Ports(hooks, webhook, files / "ca.crt")
    try:
        deadline = time.monotonic() + 30
        for port in (hooks, webhook):
            while True:
                try:
                    if served.call(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert process.poll() is None, (files / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, f"gunicorn did not answer /healthz on port {port} within 30 s"
                time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def test_the_webhook_port_serves_only_mutate(ports: Ports) -> None:
    status, body = ports.call(ports.webhook, "/mutate")
    assert status == 200 and body["response"]["allowed"] is True, body
    for path in ("/sync", "/customize"):
        status, body = ports.call(ports.webhook, path)
        assert (status, body["error"]) == (404, "NotFound"), body
        assert body["message"].startswith(f"{path} is not served on the webhook port {ports.webhook}")
        assert f"on port {ports.hooks} (MCSA_BIND" in body["message"]


def test_the_hooks_port_serves_only_customize_and_sync(ports: Ports) -> None:
    status, body = ports.call(ports.hooks, "/customize")
    assert status == 200 and body["relatedResources"], body
    status, body = ports.call(ports.hooks, "/sync")
    assert status == 200 and "status" in body, body
    status, body = ports.call(ports.hooks, "/mutate")
    assert (status, body["error"]) == (404, "NotFound"), body
    assert body["message"].startswith(f"/mutate is not served on the hooks port {ports.hooks}")
    assert f"on port {ports.webhook} (MCSA_WEBHOOK_BIND" in body["message"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_on_both_ports(ports: Ports, path: str) -> None:
    assert ports.call(ports.webhook, path) == (200, {"status": "ok"})
    assert ports.call(ports.hooks, path) == (200, {"status": "ok"})
