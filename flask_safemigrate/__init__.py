"""Safe, verifiable, lint-checked Alembic migrations for Flask-Migrate apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask_safemigrate.extension import SafeMigrate

__all__ = ["SafeMigrate", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use, so `safemigrate lint` (a pre-commit hook) starts without paying
    # for Flask, SQLAlchemy and Alembic, which only the extension needs.
    if name == "SafeMigrate":
        from flask_safemigrate.extension import SafeMigrate

        return SafeMigrate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
