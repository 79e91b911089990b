"""Operations on tables that exist before the migration function runs, read alike by the
locking rules that flag a build under lock (an index, a validated foreign key): the step is
harmless on a table the same function created, and a keyword opts into the safe form."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.alter_ops import added_columns, keyword_is_set, ops
from flask_safemigrate.lint.helpers.timeline import Timeline
from flask_safemigrate.lint.model import Migration


def ops_without(migration: Migration, line: Timeline, name: str, safe: str) -> Iterator[Call]:
    """The ``op.<name>`` calls (``batch_op`` too) on a table the function did not create that
    do not set the keyword ``safe`` (``postgresql_concurrently``, ``postgresql_not_valid``)."""
    for call in ops(migration, name):
        if not (line.created(call) or keyword_is_set(call, safe)):
            yield call


def columns_added_to_existing(
    migration: Migration, line: Timeline
) -> Iterator[tuple[Call, ast.Call]]:
    """``(add_column call, its Column(...))`` for each column added to a table the function
    did not create."""
    for call, column in added_columns(migration):
        if not line.created(call):
            yield call, column
