"""distributions/: the import rewriting, the closure of kubemcsa's modules, the staged project, the versions.

Builds nothing (tests/packages/test_wheels.py builds and installs the wheels)."""

import ast
import base64
import hashlib
import re
import tomllib
from pathlib import Path

import pytest

from distributions import build, spec
from distributions.closure import ClosureError, Module, closure, requirements
from distributions.editable import editable_files, wheel_name
from distributions.imports import Import, ImportRewriteError, imports, rename_distribution, rewrite_imports

REPO = Path(__file__).resolve().parents[2]
RENAMES = {"hooks": "kubemcsa._hooks", "bootstrap": "kubemcsa"}
#: The hooks service's server side: never needed by the CLI or the library.
SERVER_IMPORTS = {"flask", "werkzeug", "gunicorn", "prometheus_client", "orjson"}


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


# -- imports: reading ------------------------------------------------------------------------------------


def test_imports_resolves_relative_imports_in_a_module_and_in_a_package() -> None:
    source = "import os\nfrom . import contract, names\nfrom .wire import Obj\nfrom .. import other\n"
    assert imports(source, "pkg.sub.mod") == [
        Import("os", (), 1),
        Import("pkg.sub", ("contract", "names"), 2),
        Import("pkg.sub.wire", ("Obj",), 3),
        Import("pkg", ("other",), 4),
    ]
    assert imports("from .app import create_app\n", "hooks", is_package=True) == [
        Import("hooks.app", ("create_app",), 1)
    ]


def test_imports_finds_imports_inside_functions() -> None:
    source = "def f():\n    from .kube import Issuer\n    return Issuer\n"
    assert imports(source, "hooks.app") == [Import("hooks.kube", ("Issuer",), 2)]


def test_imports_refuses_a_relative_import_beyond_the_top_level_package() -> None:
    with pytest.raises(ImportRewriteError, match="beyond the top-level package"):
        imports("from .. import x\n", "hooks.app")


# -- imports: rewriting ----------------------------------------------------------------------------------


def test_rewrite_renames_absolute_imports_of_the_packages_and_their_modules() -> None:
    source = (
        "from hooks import contract, names\n"
        "from hooks.kubeconfig import ClusterEndpoint as CE, build_kubeconfig\n"
        "from bootstrap.cli import main\n"
        "import hooks.token as token\n"
    )
    assert rewrite_imports(source, RENAMES) == (
        "from kubemcsa._hooks import contract, names\n"
        "from kubemcsa._hooks.kubeconfig import ClusterEndpoint as CE, build_kubeconfig\n"
        "from kubemcsa.cli import main\n"
        "import kubemcsa._hooks.token as token\n"
    )


def test_rewrite_binds_the_same_name_for_a_bare_import_of_a_package() -> None:
    assert rewrite_imports("import os, hooks\n", RENAMES) == "import os, kubemcsa._hooks as hooks\n"


def test_rewrite_refuses_a_bare_import_of_a_submodule() -> None:
    with pytest.raises(ImportRewriteError, match=r"m\.py, line 2: `import hooks\.sync` binds 'hooks'"):
        rewrite_imports("import os\nimport hooks.sync\n", RENAMES, filename="m.py")


def test_rewrite_leaves_everything_else_byte_for_byte() -> None:
    source = (
        "# from hooks import contract\n"
        "import hooksy\n"
        "from hooksy.x import y\n"
        "from . import hooks\n"
        "from .hooks import z\n"
        'DOC = """\nfrom hooks import contract\n"""\n'
        "command = 'hooks:create_app()'\n"
    )
    assert rewrite_imports(source, RENAMES) == source


def test_rewrite_keeps_indentation_and_joins_a_parenthesized_import() -> None:
    source = (
        "def f():\n"
        "    from hooks.wire import (\n"
        "        Obj,  # a comment\n"
        "        mapping,\n"
        "    )\n"
        "    return Obj, mapping  # é\n"
        "x = 'é'; from hooks import names\n"
    )
    assert rewrite_imports(source, RENAMES) == (
        "def f():\n"
        "    from kubemcsa._hooks.wire import Obj, mapping\n"
        "    return Obj, mapping  # é\n"
        "x = 'é'; from kubemcsa._hooks import names\n"
    )


def test_rename_distribution_changes_only_importlib_metadata_calls() -> None:
    source = (
        "from importlib import metadata\n"
        "import importlib.metadata\n"
        'a = metadata.version("multicluster-service-account")\n'
        'b = importlib.metadata.version("multicluster-service-account")\n'
        'c = metadata.version("kubernetes")\n'
        'LABEL = "multicluster-service-account"\n'
        'd = other.version("multicluster-service-account")\n'
    )
    assert rename_distribution(source, "multicluster-service-account", "kubemcsa") == (
        "from importlib import metadata\n"
        "import importlib.metadata\n"
        'a = metadata.version("kubemcsa")\n'
        'b = importlib.metadata.version("kubemcsa")\n'
        'c = metadata.version("kubernetes")\n'
        'LABEL = "multicluster-service-account"\n'
        'd = other.version("multicluster-service-account")\n'
    )


# -- closure ---------------------------------------------------------------------------------------------

GRAPH = {
    "app": Module("from lib import used\nimport yaml\n", is_package=True),
    "app.cli": Module("import json\nfrom lib.helpers import h\nfrom . import other\nimport requests.adapters\n"),
    "app.other": Module("def f():\n    from lib import lazy\n"),
    "lib": Module("from .server import app\nimport flask\n", is_package=True),
    "lib.used": Module("from . import deeper\n"),
    "lib.deeper": Module("import yaml\n"),
    "lib.helpers": Module(""),
    "lib.lazy": Module(""),
    "lib.server": Module("import flask\n"),
    "lib.unused": Module("import orjson\n"),
}


def test_closure_follows_absolute_relative_and_lazy_imports_but_not_a_hollow_init() -> None:
    found = closure(GRAPH, ["app", "app.cli"], hollow={"lib"})
    assert found.modules == {"app", "app.cli", "app.other", "lib.used", "lib.deeper", "lib.helpers", "lib.lazy"}
    assert found.third_party == {"yaml": {"app", "lib.deeper"}, "requests": {"app.cli"}}


def test_closure_follows_an_init_that_is_not_hollow() -> None:
    found = closure(GRAPH, ["app"])
    assert {"lib", "lib.server"} <= found.modules
    assert "flask" in found.third_party


def test_closure_refuses_a_name_from_a_hollow_init() -> None:
    graph = {**GRAPH, "app.bad": Module("from lib import app\n")}
    with pytest.raises(ClosureError, match=r"app\.bad, line 1: imports app from lib's __init__"):
        closure(graph, ["app.bad"], hollow={"lib"})


def test_closure_refuses_a_module_that_does_not_exist() -> None:
    graph = {**GRAPH, "app.bad": Module("from lib.gone import x\n")}
    with pytest.raises(ClosureError, match=r"app\.bad, line 1: imports lib\.gone, which does not exist"):
        closure(graph, ["app.bad"], hollow={"lib"})


def test_requirements_are_known_or_the_build_says_which_import_needs_one() -> None:
    assert requirements({"yaml": {"a"}, "kubernetes": {"b"}}, spec.REQUIREMENTS) == ["kubernetes>=31", "PyYAML>=6"]
    with pytest.raises(ClosureError, match=r"requests \(imported by a, b\).*REQUIREMENTS"):
        requirements({"requests": {"b", "a"}}, spec.REQUIREMENTS)


def cli_closure() -> set[str]:
    modules = build.package_modules(REPO, "hooks") | build.package_modules(REPO, "bootstrap")
    roots = [name for name in modules if name.startswith("bootstrap")]
    found = closure(modules, roots, hollow={"hooks"})
    assert not (set(found.third_party) & SERVER_IMPORTS), found.third_party
    return set(found.modules)


def test_kubemcsa_needs_every_bootstrap_module_and_none_of_the_hooks_server() -> None:
    needed = cli_closure()
    assert {n for n in needed if n.startswith("bootstrap")} == {
        n for n in build.package_modules(REPO, "bootstrap") if n.startswith("bootstrap")
    }
    assert not {"hooks", "hooks.app", "hooks.metrics", "hooks.logs", "hooks.mutate"} & needed


# -- the staged kubemcsa project -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build.stage_cli(tmp_path_factory.mktemp("stage"))


def test_the_staged_project_has_the_closure_renamed_and_an_empty_hooks_init(staged: Path) -> None:
    modules = {
        ".".join(p.relative_to(staged).with_suffix("").parts).removesuffix(".__init__") for p in staged.rglob("*.py")
    }
    expected = {spec.cli_module(n) for n in cli_closure()} | {"kubemcsa._hooks"}
    assert modules == expected
    assert (staged / "kubemcsa/_hooks/__init__.py").read_text() == spec.HOOKS_INIT
    for path in staged.rglob("*.py"):
        name = ".".join(path.relative_to(staged).with_suffix("").parts)
        for imported in imports(path.read_text(), name, is_package=path.name == "__init__.py"):
            assert imported.module.split(".")[0] not in {"hooks", "bootstrap"}, (path, imported)
    unchanged = (REPO / "hooks/contract.py").read_text()
    assert (staged / "kubemcsa/_hooks/contract.py").read_text() == unchanged


def test_the_staged_pyproject_names_the_version_the_packages_and_the_command(staged: Path) -> None:
    project = tomllib.loads((staged / "pyproject.toml").read_text())
    assert project["project"]["name"] == "kubemcsa"
    assert project["project"]["version"] == (REPO / "VERSION").read_text().strip()
    assert project["project"]["scripts"] == {"kubemcsa": "kubemcsa.cli:main"}
    assert project["tool"]["setuptools"]["packages"] == ["kubemcsa", "kubemcsa._hooks"]
    root = pyproject()
    for key in ("requires-python", "license"):
        assert project["project"][key] == root["project"][key]
    assert project["build-system"] == root["build-system"]
    dependencies = project["project"]["dependencies"]
    assert set(dependencies) <= set(spec.REQUIREMENTS.values())
    assert not any(re.match(r"(?i)(flask|gunicorn|prometheus|orjson)", d) for d in dependencies)
    cli = ast.parse((staged / "kubemcsa/cli.py").read_text())
    assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in cli.body)


# -- the library, the version, the pins ------------------------------------------------------------------


def test_the_library_declares_exactly_what_its_package_imports() -> None:
    modules = build.package_modules(REPO, spec.LIBRARY_PACKAGE)
    found = closure(modules, list(modules))
    assert found.modules == set(modules)
    root = pyproject()["project"]
    assert sorted(root["dependencies"], key=str.lower) == requirements(found.third_party, spec.REQUIREMENTS)
    assert root["name"] == spec.LIBRARY
    assert pyproject()["tool"]["setuptools"]["packages"] == [spec.LIBRARY_PACKAGE]


def test_both_distributions_take_their_version_from_the_version_file(staged: Path) -> None:
    version = build.read_version()
    root = pyproject()
    assert "version" not in root["project"] and "version" in root["project"]["dynamic"]
    assert root["tool"]["setuptools"]["dynamic"]["version"] == {"file": spec.VERSION_FILE}
    assert tomllib.loads((staged / "pyproject.toml").read_text())["project"]["version"] == spec.python_version(version)
    assert wheel_name(version) == f"kubemcsa-{version}-py3-none-any.whl"


@pytest.mark.parametrize("text", ["", "0.1", "v0.1.0", "0.1.0\n0.2.0", "0.1.0 beta"])
def test_a_version_file_that_is_not_a_semantic_version_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a version such as 0\.1\.0"):
        spec.parse_version(text)


@pytest.mark.parametrize(
    ("version", "python"),
    [("0.1.0", "0.1.0"), ("0.2.0-rc.1", "0.2.0rc1"), ("1.0.0-alpha.2", "1.0.0a2"), ("1.0.0-beta.1", "1.0.0b1")],
)
def test_the_python_version_is_the_pep_440_form_of_the_version(version: str, python: str) -> None:
    assert spec.python_version(spec.parse_version(version)) == python


def test_a_pre_release_with_no_pep_440_form_is_refused() -> None:
    with pytest.raises(ValueError, match="no Python package version"):
        spec.python_version(spec.parse_version("0.2.0-x.7.z.92"))


def test_every_requirement_is_pinned_in_requirements_txt_at_a_version_it_allows() -> None:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip()):
            pins[match[1].lower()] = match[2]
    for requirement in spec.REQUIREMENTS.values():
        name, _, lowest = requirement.partition(">=")
        assert name.lower() in pins, requirement
        assert spec.release(pins[name.lower()]) >= spec.release(lowest), (requirement, pins[name.lower()])


def test_the_entry_point_is_renamed_into_the_distributions_package() -> None:
    assert spec.renamed_entry_point("bootstrap.cli:main", RENAMES) == "kubemcsa.cli:main"
    with pytest.raises(ValueError, match="in none of the packages"):
        spec.renamed_entry_point("tests.x:main", RENAMES)


# -- the developers' editable kubemcsa -------------------------------------------------------------------


def test_the_editable_wheel_runs_the_checkout_and_records_its_files() -> None:
    files = editable_files("0.1.0", "/src/checkout")
    assert files["__editable__.kubemcsa-0.1.0.pth"] == b"/src/checkout\n"
    assert files["kubemcsa-0.1.0.dist-info/entry_points.txt"] == b"[console_scripts]\nkubemcsa = bootstrap.cli:main\n"
    assert b"\nName: kubemcsa\nVersion: 0.1.0\n" in files["kubemcsa-0.1.0.dist-info/METADATA"]
    record = files["kubemcsa-0.1.0.dist-info/RECORD"].decode().splitlines()
    assert record[-1] == "kubemcsa-0.1.0.dist-info/RECORD,,"
    for line in record[:-1]:
        path, digest, size = line.split(",")
        data = files[path]
        assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert int(size) == len(data)
    assert len(record) == len(files)
