"""Safe, verifiable, lint-checked Alembic migrations for Flask-Migrate apps."""

from __future__ import annotations

from flask_safemigrate.extension import SafeMigrate

__all__ = ["SafeMigrate", "__version__"]
__version__ = "0.1.0"
