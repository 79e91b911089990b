"""What a history's ``env.py`` says about how its migrations run.

Alembic runs every revision through ``env.py``; a project whose ``env.py`` opens the
migration's connection with ``isolation_level="AUTOCOMMIT"`` has no transaction around its
statements, so what PostgreSQL refuses inside one (``CREATE INDEX CONCURRENTLY``) runs. Only
``env.py`` next to the ``versions`` folder (or next to the script) is read; what it imports is
not followed.

So an ``env.py`` that never calls ``context.run_migrations()`` itself, and hands the work to a
function of the project (Dagster's ``run_migrations_online(context, ...)``, which opens an
AUTOCOMMIT connection), runs its migrations in a way lint cannot see: :func:`transaction_mode`
says ``"unknown"`` and a rule that depends on the transaction reports at most a warning, as a
dialect-specific finding does when the dialect is unknown.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Literal

_AUTOCOMMIT = "autocommit"

#: How the history's migrations run: in Alembic's transaction (the stock ``env.py``, or no
#: ``env.py`` to read), on an AUTOCOMMIT connection, or through code lint does not read.
TransactionMode = Literal["transaction", "autocommit", "unknown"]


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


def _runs_migrations_itself(tree: ast.AST) -> bool:
    """Whether the module calls ``<something>.run_migrations()`` (``context.run_migrations()``
    in every ``env.py`` Alembic and Flask-Migrate write)."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run_migrations"
        for node in ast.walk(tree)
    )


@functools.lru_cache(maxsize=64)
def _env_mode(env: Path) -> TransactionMode:
    try:
        tree = ast.parse(env.read_bytes(), filename=str(env))
    except (OSError, SyntaxError, ValueError):
        return "transaction"
    if _names_autocommit(tree):
        return "autocommit"
    return "transaction" if _runs_migrations_itself(tree) else "unknown"


def transaction_mode(script: Path) -> TransactionMode:
    """How the ``env.py`` of ``script``'s history (the migrations folder's, else one next to
    the script) runs the migrations; ``"transaction"`` when there is none to read."""
    for folder in (script.parent.parent, script.parent):
        env = folder / "env.py"
        if env.is_file():
            return _env_mode(env.resolve())
    return "transaction"
