"""``flask db snapshot``: write ``migrations/models.snapshot.json`` from the models.

A thin command, as in :mod:`flask_safemigrate.cli`: the work is in
:mod:`flask_safemigrate.models_snapshot`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_safemigrate.cli_support import (
    command_directory,
    directory_option,
    exit_with,
    format_option,
    handles_errors,
    x_args,
)
from flask_safemigrate.cli_usage import JsonUsageCommand
from flask_safemigrate.render import render_json
from flask_safemigrate.safe_text import printable

__all__ = ["snapshot_command"]


@click.command("snapshot", cls=JsonUsageCommand)
@directory_option
@format_option("text", "json")
@handles_errors
@with_appcontext
def snapshot_command(directory: str | None, output_format: str) -> None:
    """Write the models snapshot (models.snapshot.json in the migrations directory).

    `flask db migrate` refreshes it with every revision it writes; `flask db verify`
    reports a committed one that no longer matches the models; `flask db verify
    --compat-with REF` compares a release's snapshot with what the migrations build.
    """
    from flask_safemigrate import models_snapshot

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = models_snapshot.take(app, command_directory(directory), x_args())
    if output_format == "json":
        click.echo(render_json(result.report))
    else:  # one line, without verify's "All checks passed." (nothing was checked)
        for note in result.report.notes:
            click.echo(printable(note))
    exit_with(result.exit_code)
