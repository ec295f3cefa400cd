"""The import statements of a module's source, read and rewritten through its syntax tree (never by text search).

Pure functions on source text: what a module imports (relative imports resolved), the same source with some
top-level packages renamed in its import statements, and with a distribution's name changed where the module
asks importlib.metadata about it.
"""

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: importlib.metadata's functions that take a distribution name first.
METADATA_FUNCTIONS = frozenset({"version", "distribution", "metadata", "files", "requires"})


class ImportRewriteError(ValueError):
    """An import that renaming the module in its statement would break."""


@dataclass(frozen=True)
class Import:
    """One imported module: `import module` (names empty) or `from module import names`."""

    module: str
    names: tuple[str, ...]
    line: int


def imports(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import in source (module-level or not), in order, relative ones resolved against module's package.

    module: the dotted name of the module whose source this is (its package's name if is_package)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            found.append(Import(_absolute(node, package, module), names, node.lineno))
    return sorted(found, key=lambda i: i.line)


def _absolute(node: ast.ImportFrom, package: str, module: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    if node.level - 1 >= len(parts):
        raise ImportRewriteError(f"{module}, line {node.lineno}: a relative import beyond the top-level package")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def renamed(module: str, renames: Mapping[str, str]) -> str | None:
    """module's new name if it is one of renames' packages or under one, else None."""
    for old, new in renames.items():
        if module == old or module.startswith(old + "."):
            return new + module[len(old) :]
    return None


def rewrite_imports(source: str, renames: Mapping[str, str], *, filename: str = "<source>") -> str:
    """source with every absolute import of a package of renames (or a module under it) naming the new name.

    Only those import statements change, each written again (ast.unparse, on one line, comments inside it
    dropped); relative imports, other code, strings and comments stay byte for byte. `import old` becomes
    `import new as old`, which binds the same name. Raises ImportRewriteError for `import old.sub` without
    `as`, whose code goes on to say `old.sub.…` (which a rename of the statement alone would break)."""
    edits: list[tuple[ast.stmt, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            new = renamed(node.module, renames)
            if new is not None:
                edits.append((node, ast.unparse(ast.ImportFrom(module=new, names=node.names, level=0))))
        elif isinstance(node, ast.Import) and any(renamed(a.name, renames) for a in node.names):
            aliases = [_renamed_alias(alias, renames, filename, node.lineno) for alias in node.names]
            edits.append((node, ast.unparse(ast.Import(names=aliases))))
    return _replace(source, [(node, node.end_lineno, node.end_col_offset, text) for node, text in edits])


def _renamed_alias(alias: ast.alias, renames: Mapping[str, str], filename: str, line: int) -> ast.alias:
    new = renamed(alias.name, renames)
    if new is None:
        return alias
    if alias.asname:
        return ast.alias(name=new, asname=alias.asname)
    if "." in alias.name:
        package, _, last = alias.name.rpartition(".")
        raise ImportRewriteError(
            f"{filename}, line {line}: `import {alias.name}` binds {alias.name.split('.')[0]!r}, which the rename "
            f"to {new!r} would break; write `from {package} import {last}`"
        )
    return ast.alias(name=new, asname=alias.name)


def rename_distribution(source: str, old: str, new: str, *, filename: str = "<source>") -> str:
    """source with the distribution name old, where it is the first argument of an importlib.metadata call
    (`metadata.version(old)`, `importlib.metadata.version(old)`, `version(old)`, ...), replaced by new."""
    edits: list[tuple[ast.expr, int | None, int | None, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _is_metadata_call(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and first.value == old:
                edits.append((first, first.end_lineno, first.end_col_offset, json.dumps(new)))
    return _replace(source, edits)


def _is_metadata_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in METADATA_FUNCTIONS
    if isinstance(func, ast.Attribute) and func.attr in METADATA_FUNCTIONS:
        owner = func.value
        return (isinstance(owner, ast.Name) and owner.id == "metadata") or (
            isinstance(owner, ast.Attribute) and owner.attr == "metadata"
        )
    return False


def _replace(source: str, edits: Sequence[tuple[ast.stmt | ast.expr, int | None, int | None, str]]) -> str:
    """source with each node's text (from its start to the given end line and column) replaced."""
    if not edits:
        return source
    lines = source.encode("utf-8").splitlines(keepends=True)  # ast's columns are UTF-8 byte offsets
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    data = b"".join(lines)
    spans = []
    for node, end_line, end_col, text in edits:
        assert end_line is not None and end_col is not None  # ast.parse sets them
        spans.append((starts[node.lineno - 1] + node.col_offset, starts[end_line - 1] + end_col, text))
    for start, end, text in sorted(spans, reverse=True):
        data = data[:start] + text.encode("utf-8") + data[end:]
    return data.decode("utf-8")
