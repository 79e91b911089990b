"""SAFEMIGRATE_TARGETS and --shard: what is refused, on one line with exit 2, and the split."""

from __future__ import annotations

from pathlib import Path

import pytest

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.fleet import Shard, parse_shard
from flask_safemigrate.fleet.targets import FleetTarget, load
from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import sqlite_url


def _load(
    make_app: MakeApp, tmp_path: Path, spec: str, url: str | None = None
) -> list[FleetTarget]:
    app = make_app(url or sqlite_url(tmp_path / "app.db"), config={"SAFEMIGRATE_TARGETS": spec})
    with app.app_context():
        return load(app, app.extensions["safemigrate"].get_settings(app))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("tests.fleet.no_such_module:tenants", "cannot import 'tests.fleet.no_such_module'"),
        ("tests.fleet.callables:missing", "has no 'missing'"),
        ("tests.fleet.callables:NOT_CALLABLE", "is a int, not a callable"),
        ("tests.fleet.callables:returns_a_string", "returned a str, not a list"),
        ("tests.fleet.callables:duplicates", "twice"),
        ("tests.fleet.callables:bad_item", "target 2: 42 is not a schema name"),
        ("tests.fleet.callables:schemas", "the app's database is not PostgreSQL"),
        ("tests.fleet.callables:raises_with_password", "raised RuntimeError"),
    ],
)
def test_a_bad_callable_is_one_line_exit_2(
    make_app: MakeApp, tmp_path: Path, spec: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(make_app, tmp_path, spec)
    assert info.value.exit_code == 2
    assert words in info.value.message
    assert "\n" not in info.value.message
    assert "hunter2" not in info.value.message


def test_a_password_raised_by_the_callable_is_masked_on_the_command_line(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(
        sqlite_url(tmp_path / "app.db"),
        config={"SAFEMIGRATE_TARGETS": "tests.fleet.callables:raises_with_password"},
    )
    (tmp_path / "migrations").mkdir()
    result = invoke(app, "db", "safe-upgrade", "--fleet")
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "admin:***@db" in result.output


def test_named_targets_keep_their_names_and_hide_passwords(
    make_app: MakeApp, tmp_path: Path
) -> None:
    targets = _load(make_app, tmp_path, "tests.fleet.callables:named")
    assert [t.key for t in targets] == ["acme", "globex"]
    assert [t.kind for t in targets] == ["url", "url"]
    assert targets[1].url is not None and targets[1].url.password == "secret"


def test_an_unnamed_url_target_is_keyed_by_its_masked_url(
    make_app: MakeApp, tmp_path: Path
) -> None:
    targets = _load(make_app, tmp_path, "tests.fleet.callables:url_with_password")
    assert [t.key for t in targets] == ["postgresql://u:***@h/db1"]


def test_fleet_options_need_fleet(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    result = invoke(app, "db", "safe-upgrade", "--parallel", "3")
    assert result.exit_code == 2
    assert "--parallel need(s) --fleet" in result.output


def test_fleet_without_the_setting_says_what_to_set(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    (tmp_path / "migrations").mkdir()
    result = invoke(app, "db", "safe-upgrade", "--fleet")
    assert result.exit_code == 2
    assert "SAFEMIGRATE_TARGETS" in result.output


@pytest.mark.parametrize(
    ("given", "env", "words"),
    [
        ("2", {}, "is not I/N or auto"),
        ("a/b", {}, "whole numbers"),
        ("4/4", {}, "0 to count - 1"),
        ("0/0", {}, "0 to count - 1"),
        ("auto", {"JOB_COMPLETION_INDEX": "1"}, "JOB_COMPLETIONS is not set"),
    ],
)
def test_a_bad_shard_is_refused(given: str, env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shard(given, env)
    assert words in info.value.message
    assert info.value.exit_code == 2


def test_shard_auto_reads_the_indexed_job() -> None:
    env = {"JOB_COMPLETION_INDEX": "2", "JOB_COMPLETIONS": "3"}
    assert parse_shard("auto", env) == Shard(2, 3)
    assert parse_shard("1/4", {}) == Shard(1, 4)
    assert parse_shard(None, env) is None


def test_shards_split_every_target_exactly_once_and_stably() -> None:
    targets = [FleetTarget(f"tenant_{n}", "schema", schema=f"tenant_{n}") for n in range(200)]
    shards = [Shard(i, 4).select(targets) for i in range(4)]
    keys = [t.key for shard in shards for t in shard]
    assert sorted(keys) == sorted(t.key for t in targets)
    assert all(20 < len(shard) < 80 for shard in shards)  # spread, not all in one
    # A target keeps its shard when the rest of the fleet changes (no reshuffle).
    fewer = targets[5:12]
    for index in range(4):
        assert [t.key for t in Shard(index, 4).select(fewer)] == [
            t.key for t in shards[index] if t in fewer
        ]
