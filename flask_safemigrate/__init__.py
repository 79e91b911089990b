"""Safe, verifiable, lint-checked Alembic migrations for Flask-Migrate apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask_safemigrate.extension import SafeMigrate

from flask_safemigrate.version import __version__

__all__ = ["SafeMigrate", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `safemigrate lint` (a pre-commit hook) starts without paying
    # for Flask, SQLAlchemy and Alembic, which only the extension needs (measured: the console
    # imports in about 0.09 s, the extension alone 0.8 s). tests/test_imports.py counts this
    # import as an edge; it closes no cycle because no module of the package takes a name
    # from this __init__ (the version lives in `version`).
    if name == "SafeMigrate":
        from flask_safemigrate.extension import SafeMigrate

        return SafeMigrate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
