"""SM111 drop-foreign-key: a foreign key dropped in an upgrade stops enforcing a relationship."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.alter_ops import alter_actions
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT, ident
from flask_safemigrate.report import Severity

_DROP_FOREIGN_KEY = compiled_later(
    rf"^DROP (?:FOREIGN KEY |CONSTRAINT (?:IF EXISTS )?)({IDENT})", re.I
)
_FK_NAME = compiled_later(r"(?:^fk_|_fkey$|_fk$|_fk_)", re.IGNORECASE)


def _goes_anyway(migration: Migration) -> dict[str, set[str]]:
    """Per table, the columns ``upgrade()`` drops (``"*"`` for a dropped table): a foreign key
    on them goes with them, and ``drop-column``/``drop-table`` already report that."""
    gone: dict[str, set[str]] = {}
    for call in migration.upgrade_calls:
        if call.table is None:
            continue
        if call.name == "drop_column" and call.column:
            gone.setdefault(call.table, set()).add(call.column)
        elif call.name == "drop_table":
            gone.setdefault(call.table, set()).add("*")
    return gone


@register
class DropForeignKey(Rule):
    """Dropping a foreign key in an upgrade stops the database enforcing the relationship.

    ## What it does
    Flags `drop_constraint(..., type_="foreignkey")` (on `op` and `batch_op`) and MySQL's
    `DROP FOREIGN KEY` in literal SQL inside `upgrade()`, on a table not created earlier in the
    same function, unless the same upgrade drops the key's column or table (named in the key's
    name), which `drop-column`/`drop-table` report. Information only: dropping a key on
    purpose is normal.

    ## Why it matters
    From now on nothing stops orphan rows (an order whose user is gone), and putting the key
    back later fails on the orphans that arrived in between, or needs a long validation. It
    is worth a second look in review, especially when the key is dropped only to be recreated.

    ## Example
    ```python
    def upgrade():
        op.drop_constraint("fk_orders_user_id_users", "orders", type_="foreignkey")
    ```

    ## Use instead
    Keep the key, or, when changing it, create the new one before dropping the old (on
    PostgreSQL `NOT VALID` then `VALIDATE` in a later transaction), so the relationship is
    enforced throughout.
    """

    code = "SM111"
    name = "drop-foreign-key"
    severity = Severity.INFO
    fix = "make sure nothing relies on the database enforcing this relationship"

    requires = (op_facts("drop_constraint", upgrade=True) | UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        gone = _goes_anyway(migration)
        for call in migration.upgrade_calls:
            if call.name != "drop_constraint" or call.receiver not in {"op", "batch_op"}:
                continue
            if call.string("type_") == "foreignkey" and not line.created(call):
                name = call.string("constraint_name")
                dropped = gone.get(call.table or "", set())
                if "*" in dropped or any(name and column in name for column in dropped):
                    continue  # its column (or table) is dropped too: drop-column says so
                yield Violation(
                    f"drops foreign key {name or '(unnamed)'} on {table_label(call)}: the database"
                    " stops enforcing the relationship",
                    node=call.node,
                )
        for call, table, action in alter_actions(migration, line):
            if call.direction != "upgrade":
                continue
            match = _DROP_FOREIGN_KEY.match(action)
            if match is None:
                continue
            name = ident(match.group(1))
            if action.upper().startswith("DROP FOREIGN KEY") or _FK_NAME.search(name):
                yield Violation(
                    f"drops foreign key {name} on {table} in SQL: the database stops enforcing"
                    " the relationship",
                    node=call.node,
                )
