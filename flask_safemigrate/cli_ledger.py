"""``flask db ledger``: read the ledger of applied migrations, or record a reviewed edit.

Thin commands, as in :mod:`flask_safemigrate.cli`: the work is in
:mod:`flask_safemigrate.ledger_review`, the words in :mod:`flask_safemigrate.render.ledger`."""

from __future__ import annotations

from typing import NoReturn

import click
from flask import current_app, g
from flask.cli import with_appcontext

from flask_safemigrate.cli_support import (
    command_directory,
    directory_option,
    exit_with,
    format_option,
    handles_errors,
)
from flask_safemigrate.cli_usage import JsonUsageCommand
from flask_safemigrate.render import render_json
from flask_safemigrate.report import Result

__all__ = ["ledger_group"]


@click.group("ledger")
@directory_option
@with_appcontext
def ledger_group(directory: str | None) -> None:
    """Read the ledger of applied migrations, or record a reviewed edit."""
    if directory is not None:
        # `flask db ledger -d DIR show`: as `flask db -d DIR` does, for the commands below
        # (their own -d still wins).
        g.directory = directory


@ledger_group.command("accept", cls=JsonUsageCommand)
@click.argument("revision")
@directory_option
@click.option(
    "--reason", metavar="TEXT", default=None, help="Why the edit is safe (kept in the ledger)."
)
@format_option("text", "json")
@handles_errors
@with_appcontext
def ledger_accept_command(
    revision: str, directory: str | None, reason: str | None, output_format: str
) -> None:
    """Record REVISION's edited script as reviewed: verify stops reporting edited-after-apply.

    Only for edits that change nothing the database sees (comments, formatting); any other
    change belongs in a new revision.
    """
    from flask_safemigrate import ledger_review

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = ledger_review.accept_edit(app, revision, reason, command_directory(directory))
    _echo_ledger(result, output_format)


@ledger_group.command("show", cls=JsonUsageCommand)
@directory_option
@format_option("text", "json")
@handles_errors
@with_appcontext
def ledger_show_command(directory: str | None, output_format: str) -> None:
    """List the ledger's rows (what safe-upgrade applied, failed, resolved or accepted)."""
    from flask_safemigrate import ledger_review

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _echo_ledger(ledger_review.show_ledger(app, command_directory(directory)), output_format)


def _echo_ledger(result: Result, output_format: str) -> NoReturn:
    from flask_safemigrate.render.ledger import render_ledger_text

    if output_format == "json":
        click.echo(render_json(result.report))
    else:
        click.echo(render_ledger_text(result.report))
    exit_with(result.exit_code)
