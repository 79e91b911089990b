"""``flask db graph``: the revision history as a picture (SVG, Mermaid, DOT or text).

A thin command, as in :mod:`flask_safemigrate.cli`: the graph is
:func:`flask_safemigrate.graph.history_graph`'s, the pictures are ``render/graph_*.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_safemigrate.cli_support import command_directory, directory_option, handles_errors
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.graph.model import HistoryGraph
from flask_safemigrate.models_snapshot.files import write_atomic
from flask_safemigrate.render.graph_dot import render_graph_dot
from flask_safemigrate.render.graph_mermaid import render_graph_mermaid
from flask_safemigrate.render.graph_svg import render_graph_svg
from flask_safemigrate.render.graph_text import render_graph_text
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import display_path

__all__ = ["RENDERERS", "graph_command"]

#: ``--format`` choices and their renderers.
RENDERERS: dict[str, Callable[[HistoryGraph], str]] = {
    "text": render_graph_text,
    "svg": render_graph_svg,
    "mermaid": render_graph_mermaid,
    "dot": render_graph_dot,
}


@click.command("graph")
@directory_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(RENDERERS)),
    default="text",
    show_default=True,
    help="svg: a self-contained picture; mermaid: renders in GitHub; dot: for Graphviz.",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the picture to FILE (replaced atomically) instead of stdout.",
)
@click.option(
    "--full", is_flag=True, help="Show every revision (runs of plain revisions are folded)."
)
@click.option(
    "--no-db", is_flag=True, help="Do not read the database (no current or pending marks)."
)
@handles_errors
@with_appcontext
def graph_command(
    directory: str | None, output_format: str, output: Path | None, full: bool, no_db: bool
) -> None:
    """Draw the revision graph: heads, merges, branch labels, where the database stands,
    what is pending and what the ledger says each revision took."""
    from flask_safemigrate.graph import history_graph

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    model = history_graph(app, command_directory(directory), use_db=not no_db, full=full)
    picture = RENDERERS[output_format](model)
    if output is None:
        click.echo(picture, nl=not picture.endswith("\n"))  # the prompt on a line of its own
        return
    try:
        write_atomic(output, picture)
    except OSError as error:
        raise ConfigError(
            f"cannot write the graph to {display_path(output)}: {error.strerror or error}",
            hint="name a file in a directory that exists and that you may write to",
        ) from None
    click.echo(f"Wrote {display_path(output)} ({printable(model.database.note)}).", err=True)
