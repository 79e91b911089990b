"""Where lint options come from: the command line, then Flask config, then pyproject.toml."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask_safemigrate.lint.engine import LintConfig, config_from
from flask_safemigrate.settings import Settings, find_pyproject, read_tool_table


def pyproject_lint_table(search_from: Path) -> dict[str, Any]:
    """``[tool.safemigrate.lint]`` of the nearest pyproject.toml, ``{}`` when there is none."""
    path = find_pyproject(search_from)
    if path is None:
        return {}
    table = read_tool_table(path)
    lint = table.get("lint", {})
    out = dict(lint) if isinstance(lint, dict) else {}
    if "schema" not in out and isinstance(table.get("schema"), str):
        out["schema"] = table["schema"]
    return out


def flask_lint_options(settings: Settings) -> dict[str, Any]:
    """The ``SAFEMIGRATE_LINT_*`` keys in pyproject spelling; ``None`` means not set."""
    return {
        "select": settings.lint_select,
        "ignore": settings.lint_ignore,
        "severity": dict(settings.lint_severity) if settings.lint_severity else None,
        "fail-on": settings.lint_fail_on,
        "dialect": settings.lint_dialect,
        "exclude": settings.lint_exclude,
        "plural-tables": settings.lint_plural_tables,
        "schema": settings.lint_schema or settings.schema,
    }


def resolve(
    cli: Mapping[str, Any],
    *,
    settings: Settings | None,
    search_from: Path,
    app_dialect: str | None = None,
) -> LintConfig:
    """Merge the sources, the command line first; ``auto`` dialect becomes the app's engine."""
    flask = flask_lint_options(settings) if settings is not None else {}
    config = config_from(cli, flask, pyproject_lint_table(search_from))
    if config.dialect == "auto" and app_dialect is not None:
        config = dataclasses.replace(config, dialect=app_dialect)
    return config
