"""Error handling shared by every command, and the standalone `safemigrate` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flask_safemigrate import __version__
from flask_safemigrate.cli import format_option, handles_errors
from flask_safemigrate.console import main
from flask_safemigrate.errors import (
    ChecksFailed,
    ConfigError,
    DatabaseUnreachable,
    LockTimeout,
    SafeMigrateError,
)


def _command(error: SafeMigrateError) -> click.Command:
    @click.command()
    @format_option("text", "json")
    @handles_errors
    def cmd(output_format: str) -> None:
        raise error

    return cmd


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ChecksFailed("2 problems"), 1),
        (ConfigError("no migrations directory at ./migrations"), 2),
        (DatabaseUnreachable("cannot connect to postgresql://app:***@db/app"), 3),
        (LockTimeout("lock held by another migrator"), 5),
    ],
)
def test_errors_exit_with_their_code_in_one_line(error: SafeMigrateError, code: int) -> None:
    result = CliRunner().invoke(_command(error), [])
    assert result.exit_code == code
    assert result.output == f"Error: {error.message}\n"
    assert "Traceback" not in result.output


def test_error_where_and_hint_lines() -> None:
    error = ConfigError("bad value", where="app.config", hint="set it to a number")
    result = CliRunner().invoke(_command(error), [])
    assert result.output.splitlines() == [
        "Error: bad value",
        "  where: app.config",
        "  help: set it to a number",
    ]


def test_error_as_json_is_one_object_on_stdout() -> None:
    error = LockTimeout("waited 600s", data={"holder": "pid 12"})
    result = CliRunner().invoke(_command(error), ["--format", "json"])
    assert result.exit_code == 5
    assert json.loads(result.stdout) == {
        "schema_version": 1,
        "ok": False,
        "error": "LockTimeout",
        "exit_code": 5,
        "message": "waited 600s",
        "holder": "pid 12",
    }


def test_unknown_option_is_usage_error() -> None:
    result = CliRunner().invoke(_command(ChecksFailed("x")), ["--nope"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_console_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "safemigrate"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "without a Flask app" in done.stdout
