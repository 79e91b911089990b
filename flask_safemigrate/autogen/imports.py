"""``from flask_safemigrate import guards`` in every script ``flask db revision`` and
``flask db migrate`` write while SafeMigrate is installed.

Autogenerate adds the import itself when it renders a guard (:mod:`.render`), but a script
from ``flask db revision`` is the project's ``script.py.mako`` with an empty ``upgrade()``:
Alembic renders it without running ``env.py``, so no ``process_revision_directives`` hook
sees it, and the guards docs/commands/migrate.md says to write by hand fail at deploy time with
``NameError``. So the command notes the scripts that were there before it ran
(:func:`script_files`) and gives each new one the import (:func:`add_guards_import`).
"""

from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from flask_safemigrate.autogen.render import IMPORT

__all__ = ["add_guards_import", "imports_guards", "script_files"]


def script_files(locations: Iterable[Path]) -> set[Path]:
    """The ``.py`` files in the version locations (their subdirectories too, as Alembic
    reads them with ``recursive_version_locations``)."""
    found: set[Path] = set()
    for location in locations:
        with suppress(OSError):
            found.update(path.absolute() for path in Path(location).rglob("*.py"))
    return found


def imports_guards(tree: ast.Module) -> bool:
    """Whether the script binds ``guards`` by an import (anywhere in it)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if isinstance(node, ast.Import):
                    bound = alias.asname or alias.name.split(".")[0]
                else:
                    bound = alias.asname or alias.name
                if bound == "guards":
                    return True
    return False


def add_guards_import(path: Path, *, only_when_used: bool = False) -> bool:
    """Give the script at ``path`` the guards import, after its last top-level import.

    Nothing happens (``False``) when it imports ``guards`` already, does not parse (Alembic
    reports that itself), or, with ``only_when_used``, calls no ``guards.*``. The file is
    replaced in one rename with its mode and line endings kept, never left half-written.
    """
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
        tree = ast.parse(data, filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return False
    if imports_guards(tree) or (only_when_used and "guards." not in text):
        return False
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    after = _insertion_line(tree)
    if after and not lines[after - 1].endswith(("\n", "\r")):
        lines[after - 1] += newline
    lines.insert(after, IMPORT + newline)
    _replace(path, "".join(lines).encode("utf-8"))
    return True


def _insertion_line(tree: ast.Module) -> int:
    """The line after which the import goes: the module's last top-level import before its
    first other statement, else its docstring, else the top of the file."""
    after = 0
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.Import | ast.ImportFrom) or (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            after = node.end_lineno or node.lineno
        else:
            break
    return after


def _replace(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        with suppress(OSError):
            temporary.unlink()
        raise
