"""SM218 mysql-add-foreign-key: MySQL copies the table to add a checked foreign key."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.alter_ops import (
    added_columns,
    alter_actions,
    column_arg,
    column_name,
    constraint_name,
    ops,
)
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label, table_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT, execute_sql, sql_statements

_MYSQL = frozenset({"mysql"})
_ADD_FOREIGN_KEY = compiled_later(rf"^ADD (?:CONSTRAINT ({IDENT}) )?FOREIGN KEY\b", re.IGNORECASE)
_CHECKS_OFF = compiled_later(
    r"^SET (?:(?:SESSION|@@SESSION\.|@@)\s*)?FOREIGN_KEY_CHECKS\s*=\s*(?:0|OFF)\b", re.IGNORECASE
)


def _checks_off_before(migration: Migration, call: Call) -> bool:
    """Whether the same function turned ``foreign_key_checks`` off before ``call``."""
    for other in migration.calls:
        if other is call:
            return False
        same = other.direction == call.direction and other.name == "execute"
        if same and any(_CHECKS_OFF.match(s) for s in sql_statements(execute_sql(other) or "")):
            return True
    return False


@register
class MysqlAddForeignKey(Rule):
    """Adding a foreign key to an existing MySQL table copies the whole table.

    ## What it does
    Off by default (select it with `--select mysql-add-foreign-key` or in
    `[tool.safemigrate.lint]`): every new relationship autogenerate writes is such a foreign
    key, and on a small table the copy takes moments. On MySQL, flags `create_foreign_key` (on
    `op` and `batch_op`), `add_column` of a `sa.Column(..., sa.ForeignKey(...))`, and `ADD
    [CONSTRAINT ...] FOREIGN KEY` in literal SQL, on a table not created earlier in the same
    function, unless the same function set `foreign_key_checks = 0` before it.

    ## Why it matters
    With `foreign_key_checks=1` (the default) InnoDB can only add a foreign key with the COPY
    algorithm: it rebuilds the table row by row and blocks writes to it for the whole copy,
    which on a large table is an outage.

    ## Example
    ```python
    def upgrade():
        op.create_foreign_key("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"])
    ```

    ## Use instead
    Check the existing rows first, then add the key in place with the checks off for this
    session (InnoDB then skips the copy and the validation), or use an online schema change
    tool (gh-ost, pt-online-schema-change):
    ```python
    def upgrade():
        # SELECT COUNT(*) FROM orders LEFT JOIN users ON users.id = orders.user_id
        #   WHERE orders.user_id IS NOT NULL AND users.id IS NULL   -- must be 0
        op.execute("SET foreign_key_checks = 0")
        op.create_foreign_key("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"])
        op.execute("SET foreign_key_checks = 1")
    ```
    """

    code = "SM218"
    name = "mysql-add-foreign-key"
    dialects = _MYSQL
    # Off by default: autogenerate writes exactly this for every new relationship, and on a
    # small table the copy is harmless. Teams with large MySQL tables select it.
    default_enabled = False
    fix = "check the rows, then add it with SET foreign_key_checks = 0 (in place), or use gh-ost"

    requires = (op_facts("create_foreign_key", "add_column") | ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in ops(migration, "create_foreign_key"):
            if not line.created(call) and not _checks_off_before(migration, call):
                source = table_label(call, "source_table")
                yield Violation(
                    f"adds foreign key{constraint_name(call)} on {source},"
                    " which MySQL does by copying the table while blocking writes",
                    node=call.node,
                )
        for call, column in added_columns(migration):
            if column_arg(column, "ForeignKey") is None or line.created(call):
                continue
            if not _checks_off_before(migration, call):
                yield Violation(
                    f"adds column {column_label(call, column_name(column))} with a foreign key,"
                    " which MySQL does by copying the table while blocking writes",
                    node=call.node,
                )
        for call, table, action in alter_actions(migration, line):
            if _ADD_FOREIGN_KEY.match(action) and not _checks_off_before(migration, call):
                yield Violation(
                    f"adds a foreign key on {table} in SQL, which MySQL does by copying the table"
                    " while blocking writes",
                    node=call.node,
                )
