"""The test bed's entry point without root: it says so and falls back, except in CI."""

import os
import sys
from pathlib import Path

import pytest

from tests.testbed import isolated
from tests.testbed.bed import running_bed
from tests.testbed.cluster import ControlPlaneError


@pytest.fixture
def not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CI", raising=False)


def test_without_root_it_says_so_in_one_line_and_runs_the_command(
    not_root: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["isolated", "--", sys.executable, "-c", "raise SystemExit(3)"])
    assert isolated.main() == 3
    assert capsys.readouterr().err == isolated.NO_ROOT + "\n"


def test_in_ci_without_root_it_fails_and_runs_nothing(
    not_root: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    marker = tmp_path / "ran"
    monkeypatch.setattr(sys, "argv", ["isolated", "--", "touch", str(marker)])
    assert isolated.main() == 1
    assert "CI=true: the real node is required" in capsys.readouterr().err
    assert not marker.exists()


def test_in_ci_the_bed_refuses_to_start_outside_its_network_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv(isolated.ENV_NETNS, raising=False)
    with pytest.raises(ControlPlaneError, match="CI=true needs the real node"), running_bed(tmp_path):
        pass
    assert not (tmp_path / "clusters").exists()


def test_the_node_is_only_inside_the_namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(isolated.ENV_NETNS, raising=False)
    with (
        pytest.raises(ControlPlaneError, match="only inside the test bed's network namespace"),
        running_bed(tmp_path, node=True),
    ):
        pass
