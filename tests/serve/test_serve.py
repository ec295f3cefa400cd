"""The `make serve` and curl examples of docs/hooks.md, run as written (on a free port, in a temporary folder)."""

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testbed.cluster import REPO, free_port

README = REPO / "docs" / "hooks.md"
MARKER = "<!-- serve-examples"


def readme_commands() -> list[str]:
    text = README.read_text()
    block = re.search(re.escape(MARKER) + r".*?```sh\n(.*?)```", text, re.S)
    assert block, f"{README} has no serve-examples block"
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    serve_dir = tmp_path_factory.mktemp("serve")
    address = f"127.0.0.1:{free_port()}"
    log = (serve_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"SERVE_ADDRESS={address}", f"SERVE_DIR={serve_dir}"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run(
                ["curl", "-sf", "--cacert", str(serve_dir / "ca.crt"), f"https://{address}/healthz"],
                capture_output=True, check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                break
            assert process.poll() is None, (serve_dir / "serve.log").read_text()
            assert time.monotonic() < deadline, "make serve did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield address, serve_dir
    finally:
        os.killpg(process.pid, 15)
        process.wait(15)
        log.close()


def run(command: str, address: str, serve_dir: Path) -> subprocess.CompletedProcess[str]:
    command = command.replace("127.0.0.1:8443", address).replace(".serve/", f"{serve_dir}/")
    return subprocess.run(shlex.split(command), cwd=REPO, capture_output=True, text=True, check=False, timeout=30)


def test_readme_curl_examples(served: tuple[str, Path]) -> None:
    commands = readme_commands()
    assert len(commands) == 5
    outputs = {}
    for command in commands:
        result = run(command, *served)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        outputs[command.rsplit("/", 1)[-1]] = result.stdout
    assert json.loads(outputs["healthz"]) == {"status": "ok"}
    customize = json.loads(outputs["customize"])
    assert customize["relatedResources"][0]["labelSelector"]["matchLabels"] == {
        "multicluster.admiralty.io/cluster-name": "cluster2"
    }
    mutate = json.loads(outputs["mutate"])
    assert mutate["response"]["allowed"] is True and mutate["response"]["patchType"] == "JSONPatch"
    sync = json.loads(outputs["sync"])
    [condition] = [c for c in sync["status"]["conditions"] if c["type"] == "Ready"]
    assert (condition["status"], condition["reason"]) == ("False", "RemoteUnreachable")
    assert sync["children"] == [] and sync["resyncAfterSeconds"] == 5.0
    assert (
        'multicluster_service_account_token_requests_total{cluster="cluster2",outcome="RemoteUnreachable"}'
        in (outputs["metrics"])
    )


def test_readme_bad_request_example(served: tuple[str, Path]) -> None:
    text = README.read_text()
    command = next(line for line in text.splitlines() if line.startswith("curl") and "'{\"parent\": 1}'" in line)
    expected = text.split(command, 1)[1].splitlines()[1].lstrip("# ")
    result = run(command, *served)
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads(expected)
