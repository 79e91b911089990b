"""The steps that make a column NOT NULL, read alike by set-not-null and
backfill-then-set-not-null: the two rules differ only in which of these steps they judge
(a column added earlier in the function, or not) and in their wording."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.alter_ops import alter_actions, ops
from flask_safemigrate.lint.helpers.timeline import Timeline
from flask_safemigrate.lint.model import Migration
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import IDENT, ident

_SET_NOT_NULL = compiled_later(rf"^ALTER (?:COLUMN )?({IDENT}) SET NOT NULL\b", re.IGNORECASE)


class NotNullStep(NamedTuple):
    """One step that sets ``table.column`` NOT NULL: an ``alter_column(..., nullable=False)``
    or, with ``in_sql``, an ``ALTER COLUMN ... SET NOT NULL`` in literal SQL."""

    call: Call
    table: str | None
    column: str | None
    in_sql: bool


def not_null_steps(migration: Migration, line: Timeline) -> Iterator[NotNullStep]:
    """Every step of the script that makes a column NOT NULL, the ``alter_column`` calls first
    (``existing_nullable=False`` changes nothing and is left out)."""
    for call in ops(migration, "alter_column"):
        if call.value("nullable") is not False or call.value("existing_nullable") is False:
            continue
        yield NotNullStep(call, call.table, call.column, in_sql=False)
    for call, table, action in alter_actions(migration, line):
        match = _SET_NOT_NULL.match(action)
        if match is not None:
            yield NotNullStep(call, table, ident(match.group(1)), in_sql=True)
