"""SM103 rename-table: Renaming a table breaks every server still running the previous release."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import node_label, table_label
from flask_safemigrate.lint.helpers.moves import moves
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, alter_table, ident

_RENAME_TABLE = compiled_later(rf"^RENAME TABLE ({QNAME})(?: TO ({QNAME}))?", re.IGNORECASE)
_RENAME_TO = compiled_later(rf"^RENAME (?:TO|AS)\b(?: ({QNAME}))?", re.IGNORECASE)


@register
class RenameTable(Rule):
    """Renaming a table breaks every server still running the previous release.

    ## What it does
    Flags `op.rename_table(...)`, `ALTER TABLE ... RENAME TO` and MySQL's `RENAME TABLE` in
    literal SQL inside `upgrade()`, unless the table was created earlier in the same function,
    or the rename ends a table rebuild: the table under the new name was dropped earlier in
    the same function after its rows were copied into the renamed table (`INSERT INTO t_new
    SELECT ... FROM t`, `DROP TABLE t`, `ALTER TABLE t_new RENAME TO t`), so the name
    servers use keeps existing and keeps its rows.

    ## Why it matters
    A rename is instant, but code is not: while the deploy rolls out, servers running the
    previous release still query the old name and fail, and a rollback of the code (without
    the migration) fails the same way.

    ## Example
    ```python
    def upgrade():
        op.rename_table("customer", "customers")
    ```

    ## Use instead
    Move in steps: create the new table (or, on PostgreSQL, rename and leave an updatable
    view under the old name), copy the rows and write to both, switch reads to the new name,
    then drop the old table in a later release.
    ```python
    def upgrade():
        op.rename_table("customer", "customers")  # safemigrate: ignore[rename-table]
        op.execute("CREATE VIEW customer AS SELECT * FROM customers")
    ```
    """

    code = "SM103"
    name = "rename-table"
    fix = "create the new table (or a view), copy and dual-write, switch reads, drop the old later"

    requires = (op_facts("rename_table", receivers=("op",), upgrade=True) | UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "rename_table" and call.receiver == "op":
                new_name = call.string("new_table_name")
                swapped = new_name is not None and moves(migration).swapped_in(
                    call, call.table, new_name
                )
                if not line.created(call) and not swapped:
                    new = node_label(call.param("new_table_name"))
                    yield Violation(
                        f"renames table {table_label(call, 'old_table_name')} to {new}, which"
                        " breaks servers still running code that uses the old name",
                        node=call.node,
                    )
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    table, new_name = _renamed_table(statement)
                    if table is None or table in created:
                        continue
                    if new_name is None or not moves(migration).swapped_in(call, table, new_name):
                        yield Violation(
                            f"renames table {table} in SQL, which breaks servers still"
                            " running code that uses the old name",
                            node=call.node,
                        )


def _renamed_table(statement: str) -> tuple[str | None, str | None]:
    """The table a statement renames, and its new name when the statement says it."""
    match = _RENAME_TABLE.match(statement)
    if match is not None:
        new = match.group(2)
        return ident(match.group(1)), ident(new) if new else None
    parsed = alter_table(statement)
    if parsed is not None:
        for action in parsed[1]:
            to = _RENAME_TO.match(action)
            if to is not None:
                return parsed[0], ident(to.group(1)) if to.group(1) else None
    return None, None
