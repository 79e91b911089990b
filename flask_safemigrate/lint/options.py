"""Where lint options come from: the command line, then Flask config, then pyproject.toml."""

from __future__ import annotations

import configparser
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask_safemigrate.errors import ConfigError
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
    if isinstance(out.get("baseline"), str) and out["baseline"]:
        # Relative to the pyproject.toml that names it, wherever lint runs from.
        out["baseline"] = str(path.parent / out["baseline"])
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
        "sqlalchemy": settings.lint_sqlalchemy,
        "releases": settings.lint_releases,
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
    pyproject = pyproject_lint_table(search_from)
    try:
        config = config_from(cli, flask, pyproject)
    except ConfigError as error:
        raise _located(error, cli, flask, pyproject, search_from) from None
    if config.dialect == "auto" and app_dialect is None:
        app_dialect = alembic_ini_dialect(search_from)
    if config.dialect == "auto" and app_dialect is not None:
        config = dataclasses.replace(config, dialect=app_dialect)
    return config


#: How far up from the migrations directory an ``alembic.ini`` is looked for: Flask-Migrate
#: keeps it in the migrations directory, a plain Alembic project next to it.
_INI_LEVELS = 2


def alembic_ini_dialect(search_from: Path) -> str | None:
    """The dialect of ``sqlalchemy.url`` in the nearest ``alembic.ini`` (the migrations
    directory or up to two levels above it), when it names one of ours; else ``None``.

    Only the URL's scheme is read, so nothing else of it (a password) is ever kept.
    """
    from flask_safemigrate.lint.dialects import family

    directory = search_from.resolve() if search_from.exists() else search_from
    for candidate in [directory, *directory.parents][: _INI_LEVELS + 1]:
        ini = candidate / "alembic.ini"
        if not ini.is_file():
            continue
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read(ini, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            return None
        for section in parser.sections():
            url = parser.get(section, "sqlalchemy.url", fallback="").strip()
            if "://" in url or url.startswith("sqlite:"):
                return family(url.split(":", 1)[0])
        return None
    return None


def _located(
    error: ConfigError,
    cli: Mapping[str, Any],
    flask: Mapping[str, Any],
    pyproject: Mapping[str, Any],
    search_from: Path,
) -> ConfigError:
    """The error, naming the source that holds the bad value: each source is checked alone."""
    path = find_pyproject(search_from)
    sources = (
        (cli, "on the command line"),
        (flask, "in the SAFEMIGRATE_LINT_* settings"),
        (pyproject, f"in [tool.safemigrate.lint] of {path}"),
    )
    for source, where in sources:
        try:
            config_from(source)
        except ConfigError as alone:
            return ConfigError(f"{alone.message} ({where})", hint=alone.hint)
    return error
