"""The two distributions as users get them: built (sdist, then the wheel from it) by distributions/build.py, each
wheel installed alone into a fresh virtualenv (no pip in it), its dependencies from PyPI pinned by
requirements.txt as constraints (downloaded once: tests/packages/wheelhouse.py).

kubemcsa: `kubemcsa --version` and `--help` work, every module imports. The library: it loads an import
mounted as the kubelet mounts it (files the sync hook's own code makes). Neither puts a top-level `hooks` or
`bootstrap` in site-packages, nor installs the hooks service's server (Flask, gunicorn, ...).
"""

import base64
import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from distributions import build, spec
from hooks.kubeconfig import ClusterEndpoint, imported_secret_data
from tests.testbed.secret_volume import kubelet_write

from .wheelhouse import pip, wheelhouse

REPO = Path(__file__).resolve().parents[2]
VERSION = spec.python_version(build.read_version())
#: The hooks service's server: in neither distribution's venv.
SERVER = {"flask", "werkzeug", "gunicorn", "prometheus-client", "orjson"}
CA = b"-----BEGIN CERTIFICATE-----\nnot a real CA\n-----END CERTIFICATE-----\n"
TOKEN = "token-of-the-wheel-test-0123"  # fake; never printed


@dataclass(frozen=True)
class Venv:
    root: Path
    wheel: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return self.root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
        """A command of the venv, with no PYTHON* variable of this process (nothing but the venv is importable)."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | (env or {})
        return subprocess.run(args, capture_output=True, text=True, check=False, env=clean, cwd=cwd, timeout=120)

    def script(self, code: str, *, env: dict[str, str] | None = None, cwd: Path) -> Any:
        """What code, run by the venv's python in isolated mode (-I), prints as JSON."""
        result = self.run(str(self.python), "-I", "-c", code, env=env, cwd=cwd)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def distributions(self, cwd: Path) -> set[str]:
        code = (
            "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
        )
        names = self.script(code, cwd=cwd)
        assert isinstance(names, list)
        return {str(n).lower().replace("_", "-") for n in names}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, build.Built]:
    if problems := build.missing_tools():
        message = f"cannot build the distributions: {'; '.join(problems)} (run make venv)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true needs them")
        pytest.skip(message)
    return build.build_all(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("work"))


def wheel(built: dict[str, build.Built], name: str) -> Path:
    [path] = [p for p in built[name].files if p.suffix == ".whl"]
    return path


def install(venv: Venv) -> None:
    """A fresh venv without pip, with the wheel and its dependencies (not byte-compiled: faster, and the
    tests import what they use)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv.root)], check=True)
    pip(
        *("--python", str(venv.python), "install", "--quiet", "--no-compile", "--no-index"),
        *("--find-links", str(wheelhouse(venv.wheel)), "--constraint", str(REPO / "requirements.txt")),
        str(venv.wheel),
    )


@pytest.fixture(scope="module")
def venvs(built: dict[str, build.Built], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    """A fresh venv per distribution, with only its wheel installed (and the wheel's dependencies)."""
    root = tmp_path_factory.mktemp("venvs")
    made = {name: Venv(root / name, wheel(built, name)) for name in built}
    with ThreadPoolExecutor(len(made)) as pool:
        list(pool.map(install, made.values()))
    return made


def top_level(wheel_file: Path) -> set[str]:
    """The top-level names a wheel installs (from its RECORD), but its .dist-info."""
    with zipfile.ZipFile(wheel_file) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        lines = archive.read(record).decode().splitlines()
    return {line.split(",")[0].split("/")[0] for line in lines} - {record.split("/")[0]}


def record_of(wheel_file: Path) -> set[str]:
    with zipfile.ZipFile(wheel_file) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        return set(archive.read(record).decode().splitlines())


def test_each_distribution_is_an_sdist_and_a_wheel_of_the_version(built: dict[str, build.Built]) -> None:
    names = {name: sorted(p.name for p in b.files) for name, b in built.items()}
    assert names == {
        spec.LIBRARY: [
            f"multicluster_service_account-{VERSION}-py3-none-any.whl",
            f"multicluster_service_account-{VERSION}.tar.gz",
        ],
        spec.CLI: [f"kubemcsa-{VERSION}-py3-none-any.whl", f"kubemcsa-{VERSION}.tar.gz"],
    }


@pytest.mark.parametrize(("name", "package"), [(spec.LIBRARY, spec.LIBRARY_PACKAGE), (spec.CLI, "kubemcsa")])
def test_each_wheel_installs_one_top_level_package_of_its_own_name(
    built: dict[str, build.Built], name: str, package: str
) -> None:
    assert top_level(wheel(built, name)) == {package}


@pytest.mark.parametrize("name", [spec.LIBRARY, spec.CLI])
def test_the_sdist_builds_the_same_wheel_as_the_staged_project(
    built: dict[str, build.Built], name: str, tmp_path: Path
) -> None:
    [direct] = [p for p in build.build(built[name].project, tmp_path, sdist=False) if p.suffix == ".whl"]
    assert direct.name == wheel(built, name).name
    assert record_of(direct) == record_of(wheel(built, name))


def test_kubemcsa_runs_from_its_own_venv(venvs: dict[str, Venv], tmp_path: Path) -> None:
    venv = venvs[spec.CLI]
    kubemcsa = str(venv.root / "bin" / "kubemcsa")
    version = venv.run(kubemcsa, "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout, version.stderr) == (0, f"kubemcsa {VERSION}\n", "")
    helped = venv.run(kubemcsa, "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: kubemcsa ")
    for command in ("bootstrap", "rotate", "teardown", "export", "doctor"):
        assert command in helped.stdout
    code = (
        "import importlib, json, pkgutil, kubemcsa;"
        "names = [m.name for m in pkgutil.walk_packages(kubemcsa.__path__, 'kubemcsa.')];"
        "[importlib.import_module(n) for n in names];"
        "print(json.dumps([kubemcsa.__file__, sorted(names)]))"
    )
    file, modules = venv.script(code, cwd=tmp_path)
    assert Path(file).is_relative_to(venv.site_packages)
    assert {"kubemcsa.cli", "kubemcsa._hooks", "kubemcsa._hooks.credentials"} <= set(modules)


def test_kubemcsa_says_in_one_line_that_a_cluster_is_unreachable(venvs: dict[str, Venv], tmp_path: Path) -> None:
    """A command that goes as far as calling the API (the Kubernetes client, urllib3, the hooks' modules)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],  # nothing listens
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "c1", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    venv = venvs[spec.CLI]
    doctor = venv.run(
        str(venv.root / "bin/kubemcsa"), "doctor", "--kubeconfig", str(kubeconfig), "--context", "c1", cwd=tmp_path
    )
    assert doctor.returncode == 1, doctor.stderr
    assert doctor.stderr.startswith("error: ") and doctor.stderr.count("\n") == 1, doctor.stderr
    assert TOKEN not in doctor.stdout + doctor.stderr


def test_the_library_loads_a_mounted_import_in_its_own_venv(venvs: dict[str, Venv], tmp_path: Path) -> None:
    root = tmp_path / "imports"
    name = "cluster2-default-pod-lister"
    data = imported_secret_data(name, ClusterEndpoint("https://10.1.2.3:6443", CA), "team-a", TOKEN)
    kubelet_write(root / name, {key: base64.b64decode(value) for key, value in data.items()})
    code = (
        "import json, os, multicluster_service_account as mcsa;"
        "configuration, namespace = mcsa.service_account_import_config_and_namespace();"
        "bearer = configuration.get_api_key_with_prefix('BearerToken');"
        "print(json.dumps({'file': mcsa.__file__, 'names': mcsa.service_account_import_names(),"
        " 'host': configuration.host, 'namespace': namespace,"
        " 'token': bearer == 'Bearer ' + os.environ['EXPECTED_TOKEN']}))"
    )
    venv = venvs[spec.LIBRARY]
    loaded = venv.script(
        code, env={"MCSA_SERVICE_ACCOUNT_IMPORTS_ROOT": str(root), "EXPECTED_TOKEN": TOKEN}, cwd=tmp_path
    )
    assert isinstance(loaded, dict)
    assert Path(loaded.pop("file")).is_relative_to(venv.site_packages)
    assert loaded == {"names": [name], "host": "https://10.1.2.3:6443", "namespace": "team-a", "token": True}


@pytest.mark.parametrize(
    ("name", "absent"),
    [
        # kubemcsa needs cryptography: hooks/credentials.py (doctor, bootstrap, rotate) reads client certificates.
        (spec.CLI, SERVER | {spec.LIBRARY}),
        (spec.LIBRARY, SERVER | {"cryptography", "kubemcsa"}),
    ],
)
def test_a_venv_holds_its_distribution_and_dependencies_only(
    venvs: dict[str, Venv], name: str, absent: set[str], tmp_path: Path
) -> None:
    venv = venvs[name]
    installed = venv.distributions(tmp_path)
    assert name in installed and "kubernetes" in installed
    assert not installed & absent
    assert "pip" not in installed
    assert not {"hooks", "bootstrap"} & {p.name for p in venv.site_packages.iterdir()}
