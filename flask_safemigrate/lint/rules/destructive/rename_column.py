"""SM104 rename-column: Renaming a column breaks every server still running the previous release."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, literal
from flask_safemigrate.lint.helpers.alter_actions import alter_actions
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label, node_label
from flask_safemigrate.lint.helpers.moves import moves
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import COLUMN_WORD, IDENT, ident

_RENAME_COLUMN = compiled_later(
    rf"^(?:RENAME (?:COLUMN )?{COLUMN_WORD}({IDENT}) TO ({IDENT})"
    rf"|CHANGE (?:COLUMN )?({IDENT}) ({IDENT}))",
    re.IGNORECASE,
)


@register
class RenameColumn(Rule):
    """Renaming a column breaks every server still running the previous release.

    ## What it does
    Flags `alter_column(..., new_column_name=...)` (on `op` and `batch_op`) and
    `RENAME COLUMN` / MySQL `CHANGE` in literal SQL inside `upgrade()`, unless the column was
    added earlier in the same function, or a column takes the old name again later in the
    same function (a swap: `a` renamed to `a_old`, a new `a` added, or another column
    renamed to `a`), so the name servers use keeps existing; and a column of a table the
    same function drops later (that drop is the finding). MySQL's generated invisible
    primary key `my_row_id` is not reported either: the server added it, no model reads it.

    ## Why it matters
    The old model names the old column in every SELECT and INSERT: until every server runs
    the new code, requests fail with "column does not exist". Rolling back the code alone
    fails the same way.

    ## Example
    ```python
    def upgrade():
        op.alter_column("users", "name", new_column_name="full_name")
    ```

    ## Use instead
    Add the new column, backfill it and write to both (or map the attribute to the new column
    with a fallback), switch reads, then drop the old column in a later release.
    ```python
    def upgrade():
        op.add_column("users", sa.Column("full_name", sa.String(200), nullable=True))
        op.execute("UPDATE users SET full_name = name WHERE full_name IS NULL")
    ```
    """

    code = "SM104"
    name = "rename-column"
    fix = "add the new column, backfill and dual-write, switch reads, drop the old column later"

    requires = (
        op_facts("alter_column", upgrade=True) | UP_EXECUTE,
        UP_EXECUTE | {"new_column_name"},  # alter_column takes it by keyword only
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "alter_column" and call.receiver in {"op", "batch_op"}:
                node = call.param("new_column_name")
                new = literal(node)
                if node is None or new is None or new == call.column:
                    continue
                if call.column in INVISIBLE_KEYS:
                    continue
                if not line.added(call, call.table, call.column) and not _named_again(
                    migration, call, call.table, call.column
                ):
                    yield Violation(
                        f"renames column {column_label(call)} to {node_label(node)}, which breaks"
                        " servers whose model still uses the old name",
                        node=call.node,
                    )
            elif call.name == "execute":
                for table, match in alter_actions(line, call, _RENAME_COLUMN):
                    old = ident(match.group(1) or match.group(3))
                    new_name = ident(match.group(2) or match.group(4))
                    if (
                        old != new_name
                        and old not in INVISIBLE_KEYS
                        and not line.added(call, table, old)
                        and not _named_again(migration, call, table, old)
                    ):
                        yield Violation(
                            f"renames column {table}.{old} to {new_name} in SQL, which"
                            " breaks servers whose model still uses the old name",
                            node=call.node,
                        )


#: Columns the server adds itself and no model names: MySQL 8's generated invisible primary
#: key (``sql_generate_invisible_primary_key``). Renaming one breaks no running code.
INVISIBLE_KEYS = frozenset({"my_row_id"})


def _named_again(migration: Migration, call: Call, table: str | None, column: str | None) -> bool:
    """Whether a column of the table takes the old name again later in the function, or
    the function drops the table later (that drop is the finding)."""
    if table is None or column is None:
        return False
    found = moves(migration)
    return found.column_named_again(call, table, column) or found.dropped_later(call, table)
