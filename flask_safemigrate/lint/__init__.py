"""Static lint rules over Alembic migration scripts (``flask db lint``, ``safemigrate lint``)."""

from __future__ import annotations

from flask_safemigrate.lint.engine import LintConfig, Rule, Violation, config_from, lint

__all__ = ["LintConfig", "Rule", "Violation", "config_from", "lint"]
