"""Tables no code reads: what dropping them cannot break."""

from __future__ import annotations

from flask_safemigrate.lint.sql import ident

# Alembic's batch mode copies a table to ``_alembic_tmp_<table>``, then drops the original
# and renames the copy; a batch that failed half way leaves the copy behind.
ALEMBIC_SCRATCH = "_alembic_tmp_"


def scratch_table(table: str) -> bool:
    """Whether ``table`` is a batch operation's temporary copy (``_alembic_tmp_<table>``)."""
    return ident(table).startswith(ALEMBIC_SCRATCH)
