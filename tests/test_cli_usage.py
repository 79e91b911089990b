"""A usage error click raises (an unknown option, a bad choice) keeps ``--format json``'s promise:
one JSON object on stdout, exit 2, click's usage text still on stderr (docs/exit-codes.md);
``--log-format json`` makes it an ``error`` record; text output is click's, unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask

from flask_safemigrate import cli, console
from flask_safemigrate.cli_usage import JsonUsageCommand, chosen
from flask_safemigrate.render.json_log import LEVELS
from tests.support.apps import MakeApp
from tests.support.cli import invoke, run_flask
from tests.support.databases import sqlite_url

#: The newcomer's examples: args after ``flask db``, and the option the error is about.
FLASK_CASES = [
    ("safe-upgrade", ("--format", "json", "--bogus"), "--bogus", "No such option '--bogus'"),
    ("verify", ("--format", "json", "--bogus"), "--bogus", "No such option '--bogus'"),
    ("lint", ("--format", "json", "--fail-on", "nope"), "--fail-on", "'nope' is not one of"),
    ("safe-upgrade", ("--format", "json", "--log-format", "xml"), "--log-format", "'xml'"),
    ("verify", ("--bogus", "--format=json"), "--bogus", "No such option '--bogus'"),
    ("ledger show", ("--format", "json", "--bogus"), "--bogus", "No such option"),
    ("snapshot", ("--format", "json", "--bogus"), "--bogus", "No such option"),
    ("auto-merge-heads", ("--format", "json", "--bogus"), "--bogus", "No such option"),
    ("fleet-status", ("--format", "json", "--bogus"), "--bogus", "No such option"),
    ("ledger accept", ("--format", "json"), "REVISION", "Missing argument 'REVISION'"),
]


@pytest.fixture
def app(make_app: MakeApp, tmp_path: Path) -> Flask:
    return make_app(sqlite_url(tmp_path / "t.db"))


def usage_document(result: Result, command: str, where: str, words: str) -> dict[str, Any]:
    """The error object on stdout, checked against docs/exit-codes.md, and click's text on
    stderr."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert list(data)[:2] == ["schema_version", "ok"], data
    assert data["schema_version"] == 1 and data["ok"] is False
    assert data["error"] == "ConfigError" and data["exit_code"] == 2
    assert words in data["message"] and not data["message"].startswith("Error")
    assert data["where"] == where
    # The command as click's own text names it (a test runner's prefix is not `flask`).
    assert f"Try '{_path(result.stderr)} --help' for help." in result.stderr
    assert _path(result.stderr).endswith(command), result.stderr
    assert data["hint"] == f"run `{_path(result.stderr)} --help` for the options it takes"
    assert words in result.stderr  # people still read it
    return data


def _path(stderr: str) -> str:
    """The command path in click's ``Usage: PATH [OPTIONS]`` line."""
    first = stderr.splitlines()[0]
    assert first.startswith("Usage: "), stderr
    return first.removeprefix("Usage: ").split(" [OPTIONS]")[0]


@pytest.mark.parametrize(("command", "args", "where", "words"), FLASK_CASES)
def test_flask_db_usage_error_is_the_json_error_object(
    app: Flask, command: str, args: tuple[str, ...], where: str, words: str
) -> None:
    result = invoke(app, "db", *command.split(), *args)
    usage_document(result, f" db {command}", where, words)


def test_standalone_lint_usage_error_is_the_json_error_object() -> None:
    result = CliRunner().invoke(
        console.main, ["lint", "--format", "json", "--bogus"], prog_name="safemigrate"
    )
    usage_document(result, "safemigrate lint", "--bogus", "No such option '--bogus'")


def test_flask_in_a_process_names_flask_db(tmp_path: Path) -> None:
    """The real ``flask`` on the example app: the hint names the command the user typed."""
    done = run_flask(["db", "safe-upgrade", "--format", "json", "--bogus"], app="example_app")
    assert done.returncode == 2, done.stderr
    data = json.loads(done.stdout)
    assert data["hint"] == "run `flask db safe-upgrade --help` for the options it takes"
    assert done.stderr.startswith("Usage: flask db safe-upgrade [OPTIONS]"), done.stderr


def test_the_installed_entry_point_keeps_the_streams_apart(tmp_path: Path) -> None:
    """The console script as a process: stdout is only the object, stderr only click's text."""
    script = Path(sys.executable).parent / "safemigrate"
    done = subprocess.run(
        [str(script), "lint", "--format", "json", "--bogus"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    data = json.loads(done.stdout)
    assert (data["ok"], data["exit_code"], data["where"]) == (False, 2, "--bogus")
    assert done.stderr.startswith("Usage: safemigrate lint [OPTIONS]"), done.stderr
    assert "Error: No such option '--bogus'." in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("safe-upgrade", "--bogus"),
        ("safe-upgrade", "--format", "text", "--bogus"),
        ("lint", "--fail-on", "nope"),
        ("verify", "--format", "json", "--format", "text", "--bogus"),  # the last one wins
        ("lint", "--select", "--format", "json", "--bogus"),  # --select's value, not --format
    ],
)
def test_text_output_is_clicks_as_ever(app: Flask, args: tuple[str, ...]) -> None:
    result = invoke(app, "db", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert _path(result.stderr).endswith(f" db {args[0]}"), result.stderr
    assert "\nError: " in result.stderr


def records(stderr: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in stderr.splitlines()]
    for record in found:
        assert list(record)[:3] == ["timestamp", "level", "event"], record
        assert record["level"] in LEVELS
    return found


def test_log_format_json_makes_it_an_error_record(app: Flask) -> None:
    result = invoke(app, "db", "safe-upgrade", "--log-format", "json", "--bogus")
    assert result.exit_code == 2
    assert result.stdout == ""
    (record,) = records(result.stderr)
    assert (record["event"], record["level"]) == ("error", "error")
    assert record["message"] == "No such option '--bogus'."
    assert record["where"] == "--bogus"
    assert record["help"].endswith(" db safe-upgrade --help` for the options it takes")


def test_both_json_formats_give_the_object_and_the_record(app: Flask) -> None:
    result = invoke(
        app, "db", "lint", "--format", "json", "--log-format", "json", "--fail-on", "nope"
    )
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    (record,) = records(result.stderr)
    assert record["event"] == "error"
    assert record["message"] == data["message"] and record["where"] == data["where"] == "--fail-on"


@pytest.mark.parametrize("command", ["snapshot", "safe-upgrade"])
def test_an_error_after_parsing_is_a_record_with_json_output_too(
    app: Flask, tmp_path: Path, command: str
) -> None:
    """A missing migrations directory with both JSON formats: the object on stdout (safe-upgrade:
    its report's shape) and, for a log collector that reads only stderr, the ``error`` record."""
    nowhere = str(tmp_path / "nowhere")
    result = invoke(app, "db", "-d", nowhere, command, "--format", "json", "--log-format", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    message = data["problems"][0]["message"] if "problems" in data else data["message"]
    assert data["ok"] is False and "no migrations directory" in message
    (record,) = [r for r in records(result.stderr) if r["event"] == "error"]
    assert (record["level"], record["message"]) == ("error", message)


def _commands(group: click.Group, ctx: click.Context) -> list[click.Command]:
    found: list[click.Command] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _commands(command, ctx)
        elif command is not None:
            found.append(command)
    return found


def _offers_json(command: click.Command) -> bool:
    return any(
        param.name == "output_format"
        and isinstance(param.type, click.Choice)
        and "json" in param.type.choices
        for param in command.params
    )


def test_every_command_with_json_output_uses_the_class(app: Flask) -> None:
    """A command added later with ``--format json`` fails here until it takes the class."""
    group = app.cli.commands["db"]
    assert isinstance(group, cli.DbGroup)
    with app.app_context():
        commands = _commands(group, click.Context(group))
    commands += _commands(console.main, click.Context(console.main))
    with_json = [c for c in commands if _offers_json(c)]
    assert {c.name for c in with_json} >= {
        "safe-upgrade",
        "verify",
        "lint",
        "snapshot",
        "auto-merge-heads",
        "accept",
        "show",
        "fleet-status",
    }
    plain = [c.name for c in with_json if not isinstance(c, JsonUsageCommand)]
    assert not plain, f"--format json without JsonUsageCommand: {plain}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "json"], "json"),
        (["--format=json"], "json"),
        (["--format", "json", "--format=text"], "text"),
        (["--select", "--format", "json"], None),
        (["--", "--format", "json"], None),
        (["--format"], None),
        ([], None),
    ],
)
def test_chosen_reads_the_format_as_click_would(args: list[str], expected: str | None) -> None:
    lint = console.main.commands["lint"]
    assert chosen(lint, args, "--format") == expected
