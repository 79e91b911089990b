"""Click commands only: parse options, call one function, render its report, exit.

Everything below this module returns data or raises a :class:`SafeMigrateError`; this is
the one place that prints and chooses the exit status.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import flask_migrate.cli

from flask_safemigrate.errors import ExitCode, SafeMigrateError
from flask_safemigrate.report import Report, render_json, render_text, should_color

P = ParamSpec("P")
R = TypeVar("R")

#: Commands SafeMigrate adds to ``flask db``; each module that defines one registers it here.
COMMANDS: dict[str, click.Command] = {}


class DbGroup(click.Group):
    """One app's ``flask db``: Flask-Migrate's commands plus ours.

    It delegates to Flask-Migrate's module-level group instead of copying or mutating it, so
    commands that other extensions add there still show up, and two apps in one process each
    get their own group.
    """

    def __init__(self, name: str) -> None:
        base = flask_migrate.cli.db
        super().__init__(
            name=name,
            commands=dict(COMMANDS),
            params=list(base.params),
            callback=base.callback,
            help=base.help,
        )

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(flask_migrate.cli.db.list_commands(ctx)) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands.get(cmd_name) or flask_migrate.cli.db.get_command(ctx, cmd_name)


def format_option(*formats: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--format`` with the given choices; the value arrives as ``output_format``."""
    option: Callable[[Callable[P, R]], Callable[P, R]] = click.option(
        "--format",
        "output_format",
        type=click.Choice(formats or ("text", "json")),
        default="text",
        show_default=True,
        help="Output format.",
    )
    return option


def echo_report(report: Report, output_format: str) -> None:
    """Write the report to stdout in the chosen format."""
    if output_format == "json":
        click.echo(render_json(report))
        return
    color = should_color(sys.stdout)
    click.echo(render_text(report, color=color), color=color)


def fail(error: SafeMigrateError, output_format: str = "text") -> NoReturn:
    """Report an expected failure in one line (plus where/help) and exit with its code."""
    if output_format == "json":
        click.echo(json.dumps({"ok": False, **error.to_dict()}, indent=2, default=str))
    else:
        click.echo(f"Error: {error.message}", err=True)
        if error.where:
            click.echo(f"  where: {error.where}", err=True)
        if error.hint:
            click.echo(f"  help: {error.hint}", err=True)
    raise SystemExit(int(error.exit_code))


def exit_with(code: ExitCode) -> NoReturn:
    raise SystemExit(int(code))


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`SafeMigrateError` raised by a command into :func:`fail`."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SafeMigrateError as error:
            output_format: Any = kwargs.get("output_format", "text")
            fail(error, str(output_format))

    return wrapper
