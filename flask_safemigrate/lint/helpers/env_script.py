"""What a history's ``env.py`` says about how its migrations run.

Alembic runs every revision through ``env.py``; a project whose ``env.py`` opens the
migration's connection with ``isolation_level="AUTOCOMMIT"`` has no transaction around its
statements, so what PostgreSQL refuses inside one (``CREATE INDEX CONCURRENTLY``) runs. Only
``env.py`` next to the ``versions`` folder (or next to the script) is read; what it imports is
not followed.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

_AUTOCOMMIT = "autocommit"


def _names_autocommit(tree: ast.AST) -> bool:
    """Whether the module passes ``isolation_level="AUTOCOMMIT"`` (a keyword, or a
    ``{"isolation_level": "AUTOCOMMIT"}`` mapping) anywhere."""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "isolation_level":
            value = node.value
            if isinstance(value, ast.Constant) and str(value.value).lower() == _AUTOCOMMIT:
                return True
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "isolation_level"
                    and isinstance(value, ast.Constant)
                    and str(value.value).lower() == _AUTOCOMMIT
                ):
                    return True
    return False


@functools.lru_cache(maxsize=64)
def _env_autocommit(env: Path) -> bool:
    try:
        tree = ast.parse(env.read_bytes(), filename=str(env))
    except (OSError, SyntaxError, ValueError):
        return False
    return _names_autocommit(tree)


def runs_in_autocommit(script: Path) -> bool:
    """Whether the ``env.py`` of ``script``'s history runs migrations on an AUTOCOMMIT
    connection (the migrations folder's, else one next to the script)."""
    for folder in (script.parent.parent, script.parent):
        env = folder / "env.py"
        if env.is_file():
            return _env_autocommit(env.resolve())
    return False
