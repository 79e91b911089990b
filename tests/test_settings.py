"""SAFEMIGRATE_* settings: defaults, strings from the environment, refusals, the docs table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.settings import SPECS, Settings, find_pyproject, read_tool_table

SETTINGS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "settings.md"

# One invalid value per key: every key must refuse something.
INVALID: dict[str, Any] = {
    "connect_timeout": "ten",
    "connect_retries": 1.5,
    "lock_wait": -1,
    "lock_timeout": True,
    "statement_timeout": "forever",
    "lock_retries": "-2",
    "lock_retry_pause": "-0.5",
    "backup": "sometimes",
    "backup_dir": "",
    "backup_timeout": "an hour",
    "backup_keep": -1,
    "heartbeat": "often",
    "large_table_rows": 1.5,
    "max_blocker_age": "a minute",
    "ledger": "maybe",
    "compat": "strict",
    "cancel_orphans": "sometimes",
    "idempotent": 2,
    "require_message": [],
    "schema": 5,
    "targets": "tenants.without.a.colon",
    "fleet_url": "",
    "fleet_connections": -3,
    "fleet_fork": "sometimes",
    "lint_select": 7,
    "lint_ignore": [1, 2],
    "lint_severity": {"drop-column": "fatal"},
    "lint_fail_on": "critical",
    "lint_dialect": "oracle",
    "lint_exclude": {"a": 1},
    "lint_plural_tables": "plural",
    "lint_schema": "  ",
    "lint_sqlalchemy": "two",
    "lint_releases": "branches",
}


def test_spec_table_and_dataclass_agree() -> None:
    assert [f.name for f in dataclasses.fields(Settings)] == [s.name for s in SPECS]
    defaults = Settings()
    for spec in SPECS:
        assert getattr(defaults, spec.name) == spec.parse(spec.default), spec.name


def test_defaults_from_an_empty_config() -> None:
    assert Settings.from_mapping({}) == Settings()


def test_strings_from_the_environment_are_parsed() -> None:
    settings = Settings.from_mapping(
        {
            "SAFEMIGRATE_CONNECT_TIMEOUT": "2.5",
            "SAFEMIGRATE_CONNECT_RETRIES": "4",
            "SAFEMIGRATE_LEDGER": "off",
            "SAFEMIGRATE_BACKUP": "yes",
            "SAFEMIGRATE_STATEMENT_TIMEOUT": "none",
            "SAFEMIGRATE_LINT_SELECT": "drop-column, SM102",
            "SAFEMIGRATE_LINT_DIALECT": "PostgreSQL",
            "SAFEMIGRATE_LINT_SEVERITY": {"drop-column": "WARNING"},
        }
    )
    assert settings.connect_timeout == 2.5
    assert settings.connect_retries == 4
    assert settings.ledger is False
    assert settings.backup is True
    assert settings.statement_timeout is None
    assert settings.lint_select == ("drop-column", "SM102")
    assert settings.lint_dialect == "postgresql"
    assert settings.lint_severity == (("drop-column", "warning"),)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_every_key_refuses_an_invalid_value(spec: Any) -> None:
    assert set(INVALID) == {s.name for s in SPECS}
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({spec.key: INVALID[spec.name]})
    assert info.value.exit_code == 2
    assert spec.key in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize("value", [-1, "-1", 1.5])
def test_a_negative_count_asks_for_a_whole_number(value: Any) -> None:
    """A count (SAFEMIGRATE_BACKUP_KEEP) is never described as a 'finite number'."""
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"SAFEMIGRATE_BACKUP_KEEP": value})
    assert "expected a whole number >= 0" in info.value.message
    assert "finite" not in info.value.message


def test_a_negative_duration_asks_for_a_finite_number() -> None:
    with pytest.raises(ConfigError, match="expected a finite number >= 0"):
        Settings.from_mapping({"SAFEMIGRATE_LOCK_WAIT": -1})


def test_unknown_key_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="SAFEMIGRATE_LOCKWAIT") as info:
        Settings.from_mapping({"SAFEMIGRATE_LOCKWAIT": 5})
    assert info.value.hint == "did you mean SAFEMIGRATE_LOCK_WAIT?"


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().lock_wait = 3  # type: ignore[misc]


def test_settings_page_documents_every_key_with_its_default() -> None:
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(SAFEMIGRATE_[A-Z_]+)` \| `([^`]*)` \|", page, re.M)
    assert dict(rows) == {spec.key: repr(spec.default) for spec in SPECS}


def test_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.lint]\nfail-on = "warning"\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    found = find_pyproject(nested)
    assert found == tmp_path / "pyproject.toml"
    assert read_tool_table(found) == {"lint": {"fail-on": "warning"}}


def test_unreadable_pyproject_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.safemigrate\n")
    with pytest.raises(ConfigError, match="cannot read") as info:
        read_tool_table(path)
    assert info.value.exit_code == 2
