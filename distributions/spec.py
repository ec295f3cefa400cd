"""The two distributions: their names, what they are made of, and the kubemcsa one's pyproject.toml (pure)."""

import json
import re
from collections.abc import Mapping, Sequence

from packaging.version import InvalidVersion, Version

#: The release version's file, at the repository's root (one line, e.g. 0.1.0).
VERSION_FILE = "VERSION"

#: The pod-side library: built by the repository's own pyproject.toml.
LIBRARY = "multicluster-service-account"
LIBRARY_PACKAGE = "multicluster_service_account"
#: What the library's build reads, copied as they are (pyproject.toml names them).
LIBRARY_FILES = ("pyproject.toml", "docs/library.md", "LICENSE", VERSION_FILE)

#: The CLI: bootstrap/ as the package kubemcsa, the modules of hooks/ it imports as kubemcsa._hooks.
CLI = "kubemcsa"
CLI_SOURCE = "bootstrap"
CLI_RENAMES: Mapping[str, str] = {"bootstrap": "kubemcsa", "hooks": "kubemcsa._hooks"}
#: The command and its function, in the checkout's names.
CLI_SCRIPT = ("kubemcsa", "bootstrap.cli:main")
CLI_DESCRIPTION = (
    "kubemcsa: bootstrap, rotate and tear down trust between Kubernetes clusters for multicluster-service-account; "
    "export and doctor"
)
#: The text of the __init__ of kubemcsa._hooks (hooks/__init__.py imports Flask: the hooks service's app).
HOOKS_INIT = '"""Modules of the hooks service that kubemcsa uses (from hooks/ of the repository)."""\n'

#: Each third-party import's requirement, as the distributions declare it (the lowest versions supported;
#: requirements.txt pins the versions tested). A module of a distribution that imports anything else fails the build.
REQUIREMENTS: Mapping[str, str] = {
    "cryptography": "cryptography>=42",
    "kubernetes": "kubernetes>=31",
    "urllib3": "urllib3>=2",
    "yaml": "PyYAML>=6",
}

#: A semantic version, as the images are tagged (tests/unit/test_versions.py checks VERSION is one).
_VERSION = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")


def parse_version(text: str) -> str:
    """The version in the VERSION file's text: one line, a semantic version (e.g. 0.1.0, 0.2.0-rc.1)."""
    version = text.strip()
    if not _VERSION.fullmatch(version):
        raise ValueError(f"{VERSION_FILE} holds {version[:40]!r}, not a version such as 0.1.0")
    return version


def python_version(version: str) -> str:
    """The distributions' version for a semantic version: its PEP 440 form (0.2.0-rc.1: 0.2.0rc1), as setuptools
    normalizes it. Raises ValueError for one with no PEP 440 form (pre-releases: -alpha.N, -beta.N, -rc.N)."""
    try:
        return str(Version(version))
    except InvalidVersion:
        raise ValueError(
            f"{VERSION_FILE} holds {version!r}, which has no Python package version "
            "(pre-releases: -alpha.N, -beta.N, -rc.N)"
        ) from None


def release(version: str) -> tuple[int, ...]:
    """The release numbers a version starts with (84.2.1rc1: (84, 2, 1)), to compare versions."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    if not match:
        raise ValueError(f"{version!r} is not a version")
    return tuple(int(n) for n in match.group().split("."))


def cli_module(name: str) -> str:
    """The name in the kubemcsa distribution of a module of bootstrap/ or hooks/."""
    top, _, rest = name.partition(".")
    new = CLI_RENAMES[top]
    return f"{new}.{rest}" if rest else new


def renamed_entry_point(entry_point: str, renames: Mapping[str, str]) -> str:
    """A `module:function` entry point in the distribution's names."""
    module, _, function = entry_point.partition(":")
    for old, new in renames.items():
        if module == old or module.startswith(old + "."):
            return f"{new}{module[len(old) :]}:{function}"
    raise ValueError(f"the entry point {entry_point} is in none of the packages {', '.join(renames)}")


def cli_pyproject(
    *, version: str, dependencies: Sequence[str], packages: Sequence[str], root: Mapping[str, object]
) -> str:
    """The staged kubemcsa project's pyproject.toml. root: the repository's pyproject.toml, parsed, for what the
    two distributions share (the build system, the Python versions, the license)."""
    project = root["project"]
    build_system = root["build-system"]
    assert isinstance(project, dict) and isinstance(build_system, dict)
    script, entry_point = CLI_SCRIPT
    lines = [
        "# Written by distributions/build.py from the repository's bootstrap/ and hooks/; do not edit.",
        "[build-system]",
        f"requires = {_array(build_system['requires'])}",
        f"build-backend = {_string(build_system['build-backend'])}",
        "",
        "[project]",
        f"name = {_string(CLI)}",
        f"version = {_string(version)}",
        f"description = {_string(CLI_DESCRIPTION)}",
        'readme = "README.md"',
        f"requires-python = {_string(project['requires-python'])}",
        f"license = {_string(project['license'])}",
        'license-files = ["LICENSE"]',
        f"dependencies = {_array(dependencies)}",
        "",
        "[project.scripts]",
        f"{script} = {_string(renamed_entry_point(entry_point, CLI_RENAMES))}",
        "",
        "[tool.setuptools]",
        f"packages = {_array(packages)}",
        "",
    ]
    return "\n".join(lines)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string in pyproject.toml, got {value!r}")
    return json.dumps(value)  # a JSON string is a TOML basic string


def _array(values: object) -> str:
    if not isinstance(values, list | tuple):
        raise TypeError(f"expected an array in pyproject.toml, got {values!r}")
    return "[" + ", ".join(_string(v) for v in values) + "]"
