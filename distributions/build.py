"""Build the sdists and wheels of both distributions, or install the developers' editable kubemcsa.

    python -m distributions.build --out dist/   # multicluster_service_account-V and kubemcsa-V, .tar.gz and .whl
    python -m distributions.build --develop     # into this interpreter's venv (make venv)

Each distribution is staged in a scratch folder (the library: the files the repository's pyproject.toml reads;
kubemcsa: bootstrap/ and the hooks/ modules it imports, renamed, with its own pyproject.toml), then built by
`python -m build --no-isolation` with this venv's pinned setuptools: the sdist first, the wheel from the sdist.
"""

import argparse
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import spec
from .closure import Module, closure, requirements
from .editable import editable_files, wheel_name
from .imports import imports, rename_distribution, rewrite_imports

REPO = Path(__file__).resolve().parents[1]


class BuildError(RuntimeError):
    """A distribution could not be built; the message says why."""


def read_version(repo: Path = REPO) -> str:
    return spec.parse_version((repo / spec.VERSION_FILE).read_text(encoding="utf-8"))


def root_pyproject(repo: Path = REPO) -> dict[str, object]:
    with (repo / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def package_modules(repo: Path, package: str) -> dict[str, Module]:
    """Every importable module of a package folder of the repository, by dotted name."""
    modules = {}
    for path in sorted((repo / package).rglob("*.py")):
        parts = path.relative_to(repo).with_suffix("").parts
        if "__pycache__" in parts or not all(part.isidentifier() for part in parts):
            continue  # not importable (hooks/gunicorn.conf.py)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = Module(path.read_text(encoding="utf-8"), is_package)
    return modules


def stage_cli(into: Path, repo: Path = REPO) -> Path:
    """The kubemcsa project, staged in into/kubemcsa: returns its folder."""
    modules: dict[str, Module] = {}
    for package in spec.CLI_RENAMES:
        modules |= package_modules(repo, package)
    hollow = set(spec.CLI_RENAMES) - {spec.CLI_SOURCE}
    roots = [name for name in modules if name.split(".")[0] == spec.CLI_SOURCE]
    needed = closure(modules, roots, hollow=hollow)
    dependencies = requirements(needed.third_party, spec.REQUIREMENTS)
    project = into / spec.CLI
    staged: dict[Path, str] = {}
    for name in sorted(needed.modules):
        module = modules[name]
        source = rewrite_imports(module.source, spec.CLI_RENAMES, filename=name)
        source = rename_distribution(source, spec.LIBRARY, spec.CLI, filename=name)
        staged[_module_path(spec.cli_module(name), module.is_package)] = source
    for package in hollow:
        staged[_module_path(spec.cli_module(package), True)] = spec.HOOKS_INIT
    _check_staged(staged)
    for path, source in staged.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(source, encoding="utf-8")
    packages = sorted(".".join(path.parent.parts) for path in staged if path.name == "__init__.py")
    shutil.copy2(repo / "docs" / "kubemcsa.md", project / "README.md")
    shutil.copy2(repo / "LICENSE", project / "LICENSE")
    pyproject = spec.cli_pyproject(
        version=spec.python_version(read_version(repo)),
        dependencies=dependencies,
        packages=packages,
        root=root_pyproject(repo),
    )
    (project / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return project


def _module_path(name: str, is_package: bool) -> Path:
    parts = name.split(".")
    return Path(*parts, "__init__.py") if is_package else Path(*parts[:-1], parts[-1] + ".py")


def _check_staged(staged: dict[Path, str]) -> None:
    """Every staged module compiles and imports none of the checkout's names."""
    for path, source in staged.items():
        compile(source, str(path), "exec")
        name = ".".join(path.with_suffix("").parts)
        for imported in imports(source, name, is_package=path.name == "__init__.py"):
            if imported.module.split(".")[0] in spec.CLI_RENAMES:
                raise BuildError(f"staged {path}, line {imported.line}, still imports {imported.module}")


def stage_library(into: Path, repo: Path = REPO) -> Path:
    """The library's project (the repository's pyproject.toml, the files it reads, the package), staged in
    into/multicluster-service-account: returns its folder."""
    project = into / spec.LIBRARY
    project.mkdir(parents=True)
    for name in spec.LIBRARY_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, project / name)
    shutil.copytree(
        repo / spec.LIBRARY_PACKAGE, project / spec.LIBRARY_PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
    )
    return project


def missing_tools() -> list[str]:
    """What this interpreter lacks to build (pinned in requirements-dev.txt), if anything."""
    problems = []
    if importlib.util.find_spec("build") is None:
        problems.append("the module build is not installed")
    requires = root_pyproject()["build-system"]
    assert isinstance(requires, dict)
    for requirement in requires["requires"]:
        name, _, lowest = str(requirement).partition(">=")
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        if lowest and spec.release(have) < spec.release(lowest):
            problems.append(f"{name} {have} is installed, the build needs {requirement}")
    return problems


def build(project: Path, out: Path, *, sdist: bool = True) -> list[Path]:
    """Build project's sdist and then, from the sdist, its wheel (sdist=False: the wheel from the folder) into
    out; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)]
    if not sdist:
        command.insert(-1, "--wheel")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BuildError(f"building {project.name} failed ({' '.join(command)}):\n{tail}")
    return sorted(set(out.iterdir()) - before)


@dataclass(frozen=True)
class Built:
    #: The staged project folder the distribution was built from.
    project: Path
    #: Its sdist and wheel.
    files: list[Path]


def build_all(out: Path, work: Path, repo: Path = REPO) -> dict[str, Built]:
    """Both distributions' sdist and wheel, written to out, by distribution name; staged under work."""
    if problems := missing_tools():
        raise BuildError(f"cannot build: {'; '.join(problems)} (make venv installs requirements-dev.txt)")
    built = {}
    for name, stage in ((spec.LIBRARY, stage_library), (spec.CLI, stage_cli)):
        project = stage(work / name, repo)
        files = build(project, work / name / "out")
        out.mkdir(parents=True, exist_ok=True)
        built[name] = Built(project, [Path(shutil.move(file, out / file.name)) for file in files])
    return built


def develop(repo: Path = REPO) -> None:
    """Install the editable kubemcsa into this interpreter's environment (pip, no dependencies)."""
    version = spec.python_version(read_version(repo))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / wheel_name(version)
        _write_wheel(path, editable_files(version, str(repo)))
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(path)],
            check=True,
        )


def _write_wheel(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distributions.build", description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--out", type=Path, default=REPO / "dist", help="where to write the sdists and wheels (dist/)")
    what.add_argument("--develop", action="store_true", help="install the editable kubemcsa into this venv")
    args = parser.parse_args(argv)
    try:
        if args.develop:
            develop()
            return 0
        with tempfile.TemporaryDirectory() as work:
            built = build_all(args.out, Path(work))
    except (BuildError, ValueError, OSError, subprocess.CalledProcessError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for distribution in built.values():
        for file in distribution.files:
            print(file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
