"""Which modules a distribution needs: the transitive closure of imports over the repository's packages.

Pure: the modules are given as source text by name; build.py reads them from the repository.
"""

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .imports import Import, imports


class ClosureError(ValueError):
    """An import the staged distribution could not satisfy."""


@dataclass(frozen=True)
class Module:
    """A module of the repository: its source, and whether it is a package's __init__."""

    source: str
    is_package: bool = False


@dataclass(frozen=True)
class Closure:
    #: The repository modules needed, by dotted name.
    modules: frozenset[str]
    #: The top-level names of the other imports that are not the standard library's, each with the modules
    #: importing it.
    third_party: Mapping[str, frozenset[str]] = field(default_factory=dict)


def closure(modules: Mapping[str, Module], roots: Iterable[str], *, hollow: Iterable[str] = ()) -> Closure:
    """The modules that roots import, directly or not, among modules (which hold every module of the
    repository's packages that may be imported), and the third-party imports among them.

    hollow: packages whose __init__ the distribution replaces by one that imports nothing (their own
    __init__ is not followed); importing anything from one but its submodules is a ClosureError."""
    hollow = frozenset(hollow)
    local = {name.split(".")[0] for name in modules}
    needed: set[str] = set()
    third_party: dict[str, set[str]] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        if name not in modules:
            raise ClosureError(f"{name} is not a module of the repository")
        needed.add(name)
        module = modules[name]
        for imported in imports(module.source, name, is_package=module.is_package):
            top = imported.module.split(".")[0]
            if top in local:
                pending.extend(_targets(imported, name, modules, hollow))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.setdefault(top, set()).add(name)
    return Closure(frozenset(needed), {top: frozenset(users) for top, users in third_party.items()})


def _targets(imported: Import, importer: str, modules: Mapping[str, Module], hollow: frozenset[str]) -> list[str]:
    """The repository modules an import runs: the module named, its packages' __init__s (but hollow
    ones), and the submodules a `from package import name` names."""
    if imported.module not in modules:
        raise ClosureError(f"{importer}, line {imported.line}: imports {imported.module}, which does not exist")
    parts = imported.module.split(".")
    targets = [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p not in hollow]
    for name in imported.names:
        submodule = f"{imported.module}.{name}"
        if submodule in modules:
            targets.append(submodule)
        elif imported.module in hollow:
            raise ClosureError(
                f"{importer}, line {imported.line}: imports {name} from {imported.module}'s __init__, which the "
                f"distribution leaves empty; import it from the module that defines it"
            )
    return targets


def requirements(third_party: Mapping[str, Iterable[str]], known: Mapping[str, str]) -> list[str]:
    """The requirements (sorted) that third-party imports need, from known (import name: requirement).

    An import known does not list is a ClosureError naming the modules that import it."""
    unknown = {top: users for top, users in third_party.items() if top not in known}
    if unknown:
        listed = "; ".join(f"{top} (imported by {', '.join(sorted(users))})" for top, users in sorted(unknown.items()))
        raise ClosureError(
            f"no requirement is known for the import(s) {listed}: add each to REQUIREMENTS in distributions/spec.py"
        )
    return sorted({known[top] for top in third_party}, key=str.lower)
