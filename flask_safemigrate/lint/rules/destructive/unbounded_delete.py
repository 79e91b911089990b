"""SM106 unbounded-delete: A DELETE without WHERE, or a TRUNCATE, empties a whole table."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from flask_safemigrate.lint.helpers.moves import moves
from flask_safemigrate.lint.helpers.timeline import Timeline, timeline
from flask_safemigrate.lint.helpers.unbounded import (
    SQL,
    TRIVIAL_WHERE,
    VerbUse,
    verb_uses,
)
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, ident, split_top_level, sql_statements, sql_text
from flask_safemigrate.report import Severity

# --- unbounded-delete ------------------------------------------------------------------------

_DELETE = compiled_later(
    rf"^(?:WITH\b.*?\)\s*)?DELETE (?:(?:LOW_PRIORITY|QUICK|IGNORE) )*(?:({QNAME})\s+)?FROM "
    rf"(?:ONLY )?({QNAME})(.*)$",
    re.IGNORECASE | re.S,
)
_BOUNDED = compiled_later(r"\b(?:WHERE|JOIN)\b", re.IGNORECASE)
_TRUNCATE = compiled_later(
    rf"^TRUNCATE (?:TABLE )?(?:ONLY )?({QNAME}(?:\s*,\s*(?:ONLY )?{QNAME})*)", re.IGNORECASE
)
_SA_MODULES = frozenset(
    {"sa", "sqlalchemy", "sql", "expression", "sa.sql", "sqlalchemy.sql", "sa.sql.expression"}
)
_MENTIONS_DELETE = compiled_later("delete|truncate", re.IGNORECASE)
_QUERY = (
    "deletes every row of the queried model's table (query.delete() without a filter), which"
    " no downgrade can restore"
)
_CONSTRUCT = (
    "deletes every row of {table} (a delete() without .where()), which no downgrade can restore"
)


@register
class UnboundedDelete(Rule):
    """A DELETE without WHERE, or a TRUNCATE, empties a whole table.

    ## What it does
    Flags, in `upgrade()` and `downgrade()`: `DELETE FROM table` without a `WHERE` (or with
    `WHERE 1=1`/`WHERE true`) and `TRUNCATE` in `op.execute`/`conn.execute` SQL, and the
    SQLAlchemy forms `op.execute(table.delete())`, `conn.execute(sa.delete(table))` and
    `session.query(Model).delete()` with no `.where(...)`/`.filter(...)` in the chain. The
    SQL is read case-insensitively, ignoring comments. Not flagged: emptying a table created
    earlier in the same function, and deleting the rows of a table whose rows the same
    function copied to their new home first (`INSERT INTO archive SELECT ... FROM t`, then
    `DELETE FROM t`).

    A warning, not an error: nobody writes an unbounded delete into a migration by
    accident, and whether the rows matter is a fact about the application the script does
    not show. Often they are derived data the application regenerates (caches, serialized
    copies, parse errors), sometimes they are users' data. The warning asks a reviewer to
    check which; `severity` in `[tool.safemigrate.lint]` makes it an error for a project
    that wants every such delete to block.

    ## Why it matters
    Every row is deleted, and no downgrade brings them back. It is usually a seed-data
    cleanup that meant "the rows I inserted" and also removes everything users added since;
    on a large table a single unbatched DELETE also holds row locks and bloats the table.

    ## Example
    ```python
    def downgrade():
        op.execute("DELETE FROM roles")
    ```

    ## Use instead
    Delete exactly the rows the migration is responsible for:
    ```python
    def downgrade():
        op.execute("DELETE FROM roles WHERE name IN ('auditor', 'billing')")
    ```
    """

    code = "SM106"
    name = "unbounded-delete"
    severity = Severity.WARNING
    fix = "delete only the rows you mean, with a WHERE clause (in batches on big tables)"

    requires = (frozenset({"execute", "delete"}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        if not migration.mentions(_MENTIONS_DELETE, "delete", "truncate"):
            return  # the cheap test first: most scripts never delete anything
        line = timeline(migration)
        for use in verb_uses(migration, "delete", _SA_MODULES, line):
            if use.kind == SQL:
                yield from self._sql(migration, use, line)
            else:
                yield use.violation(_QUERY, _CONSTRUCT)

    def _sql(self, migration: Migration, use: VerbUse, line: Timeline) -> Iterator[Violation]:
        call = use.call
        if call is None:
            sql = sql_text(use.argument) if use.argument is not None else None
            statements = [(s, use.created) for s in sql_statements(sql)] if sql else []
        else:
            statements = list(line.statements(call))
        moved = moves(migration)
        for statement, known in statements:
            message = _unbounded(
                statement, known, lambda table: call is not None and moved.copied_out(call, table)
            )
            if message is not None:
                yield Violation(message, node=use.node)


def _unbounded(
    statement: str, created: frozenset[str], copied_out: Callable[[str], bool]
) -> str | None:
    match = _DELETE.match(statement)
    if match is not None:
        table, rest = ident(match.group(2)), match.group(3)
        if table in created or copied_out(table):
            return None
        if _BOUNDED.search(rest) and not TRIVIAL_WHERE.search(rest):
            return None
        return (
            f"deletes every row of {table} (DELETE without a WHERE clause), which no downgrade"
            " can restore"
        )
    match = _TRUNCATE.match(statement)
    if match is not None:
        names = [
            ident(re.sub(r"^ONLY\s+", "", n, flags=re.IGNORECASE))
            for n in split_top_level(match.group(1))
        ]
        lost = [n for n in names if n not in created]
        if lost:
            return (
                f"truncates {', '.join(lost)}, deleting every row, which no downgrade can restore"
            )
    return None
