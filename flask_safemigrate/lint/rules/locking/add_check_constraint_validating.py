"""SM208 add-check-constraint-validating."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.dialects import ALL
from flask_safemigrate.lint.helpers.alter_ops import (
    NOT_VALID,
    alter_actions,
    constraint_name,
    keyword_is_set,
    ops,
)
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.helpers.restores import restores_constraint
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT
from flask_safemigrate.report import Severity

_NOT_SQLITE = ALL - {"sqlite"}
_ADD_CHECK = compiled_later(rf"^ADD (?:CONSTRAINT ({IDENT}) )?CHECK\b", re.IGNORECASE)


@register
class AddCheckConstraintValidating(Rule):
    """Adding a check constraint to an existing table scans it under a lock.

    ## What it does
    Flags `create_check_constraint` (on `op` and `batch_op`) on a table not created earlier
    in the same function, without `postgresql_not_valid=True`, and
    `ADD [CONSTRAINT ...] CHECK` without `NOT VALID` in literal SQL. When the lint dialect
    is MySQL or SQLite, which cannot skip the check, `postgresql_not_valid=True` does not
    silence it.

    ## Why it matters
    PostgreSQL checks every row while holding `ACCESS EXCLUSIVE`: reads and writes stop
    for a full scan. MySQL 8 copies the table to add a check; SQLite rebuilds it in batch
    mode.

    ## Example
    ```python
    def upgrade():
        op.create_check_constraint("ck_orders_total", "orders", "total >= 0")
    ```

    ## Use instead
    On PostgreSQL, add it without checking old rows, then validate it (which lets reads
    and writes go on) in a later migration:
    ```python
    def upgrade():
        op.create_check_constraint(
            "ck_orders_total", "orders", "total >= 0", postgresql_not_valid=True
        )

    # in the next migration:
    def upgrade():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_total")
    ```
    On MySQL, run it in a quiet window or with an online schema-change tool.
    """

    code = "SM208"
    name = "add-check-constraint-validating"
    severity = Severity.WARNING
    fix = "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later migration"

    requires = (op_facts("create_check_constraint") | ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        postgresql = "postgresql" in migration.config.dialects
        help_text = (
            None
            if postgresql
            else (
                "this dialect always validates (MySQL copies the table): run it in a quiet window"
                " or with an online schema-change tool"
            )
        )
        for call in ops(migration, "create_check_constraint"):
            if line.created(call) or restores_constraint(migration, call):
                continue
            if postgresql and keyword_is_set(call, "postgresql_not_valid"):
                continue
            yield Violation(
                f"adds check constraint{constraint_name(call)} on {table_label(call)} and"
                " validates it at once, which scans the whole table while blocking writes",
                node=call.node,
                help=help_text,
                # SQLite's batch mode rebuilds the table for any constraint: nothing to avoid.
                dialects=_NOT_SQLITE if call.receiver == "batch_op" else None,
            )
        for call, table, action in alter_actions(migration, line):
            if _ADD_CHECK.match(action) and not (postgresql and NOT_VALID.search(action)):
                yield Violation(
                    f"adds a check constraint on {table} in SQL and validates it at once, which"
                    " scans the whole table while blocking writes",
                    node=call.node,
                    help=help_text
                    or "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT later",
                )
