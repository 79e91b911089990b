"""The standalone ``safemigrate`` command: what runs without a Flask app (for pre-commit, CI)."""

from __future__ import annotations

import click

from flask_safemigrate import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="safemigrate")
def main() -> None:
    """Check Alembic migration scripts without a Flask app or a database."""
