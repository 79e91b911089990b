"""Lint options as :class:`LintConfig`: merged from their sources and checked.

Every option is validated here, once, with a one-line error that names the option and a hint,
so the command line, Flask config and ``[tool.safemigrate.lint]`` fail the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint.model import (
    ALL_DIALECTS,
    RELEASE_SOURCES,
    LintConfig,
    sqlalchemy_version,
)
from flask_safemigrate.report import Severity


def config_from(
    *sources: Mapping[str, Any],
) -> LintConfig:
    """Merge option mappings, earlier sources winning, into a :class:`LintConfig`.

    Keys use the pyproject spelling (``fail-on``, ``plural-tables``); ``None`` means unset.
    """
    merged: dict[str, Any] = {}
    for source in reversed(sources):
        merged.update({k.replace("_", "-"): v for k, v in source.items() if v is not None})
    known = {
        "select",
        "ignore",
        "severity",
        "fail-on",
        "dialect",
        "exclude",
        "plural-tables",
        "schema",
        "report-unused-ignores",
        "sqlalchemy",
        "baseline",
        "releases",
    }
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ConfigError(
            f"unknown lint option {unknown[0]!r}",
            hint=f"known options: {', '.join(sorted(known))}",
        )
    levels = ", ".join(level.value for level in Severity)
    raw_severity = merged.get("severity", {})
    if not isinstance(raw_severity, Mapping):
        raise ConfigError(
            f"lint option severity must map rules to severities, not {raw_severity!r}",
            hint='for example severity = {"drop-column" = "warning"}',
        )
    severity = {}
    for rule, level in raw_severity.items():
        try:
            severity[str(rule)] = Severity(str(level).lower())
        except ValueError:
            raise ConfigError(
                f"lint option severity: {level!r} for {rule!r} is not a severity",
                hint=f"use one of {levels}",
            ) from None
    try:
        fail_on = Severity(str(merged.get("fail-on", "error")).lower())
    except ValueError:
        raise ConfigError(
            f"lint option fail-on: {merged.get('fail-on')!r} is not a severity",
            hint=f"use one of {levels}",
        ) from None
    dialect = str(merged.get("dialect", "auto")).lower()
    if dialect not in ALL_DIALECTS | {"auto"}:
        raise ConfigError(
            f"lint option dialect: unknown dialect {dialect!r}",
            hint="use postgresql, mysql, sqlite or auto",
        )
    sqlalchemy = merged.get("sqlalchemy")
    if sqlalchemy is not None:
        parsed = sqlalchemy_version(str(sqlalchemy))
        if parsed is None:
            raise ConfigError(
                f"lint option sqlalchemy: {sqlalchemy!r} is not a version",
                hint='give the major.minor the project runs, for example sqlalchemy = "1.4"',
            )
        sqlalchemy = f"{parsed[0]}.{parsed[1]}"
    baseline = merged.get("baseline")
    if baseline is not None and (not isinstance(baseline, str | Path) or not str(baseline)):
        raise ConfigError(
            f"lint option baseline must be a file name, not {baseline!r}",
            hint='for example baseline = "lint-baseline.json"',
        )
    releases = str(merged.get("releases", "off")).lower()
    if releases not in RELEASE_SOURCES:
        raise ConfigError(
            f"lint option releases: {merged.get('releases')!r} is not a source of releases",
            hint=f"use one of {', '.join(RELEASE_SOURCES)}",
        )
    return LintConfig(
        select=_names(merged.get("select")),
        ignore=_names(merged.get("ignore")) or (),
        severity=severity,
        fail_on=fail_on,
        dialect=dialect,
        exclude=_names(merged.get("exclude")) or (),
        plural_tables=_optional_flag(merged.get("plural-tables")),
        schema=merged.get("schema"),
        report_unused_ignores=bool(merged.get("report-unused-ignores", False)),
        sqlalchemy=sqlalchemy,
        baseline=Path(baseline) if baseline is not None else None,
        releases=releases,
    )


def _names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"expected a list of strings, got {value!r}",
            hint="check [tool.safemigrate.lint] in pyproject.toml",
        )
    return tuple(v.strip() for v in value if v.strip())


def _optional_flag(value: Any) -> bool | None:
    """``plural-tables``: ``true``, ``false`` or unset (``None``: lint decides)."""
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(
        f"lint option plural-tables must be true or false, not {value!r}",
        hint="plural-tables = true if your tables are named in the plural (users, orders);"
        " leave it out to follow the app's models",
    )
