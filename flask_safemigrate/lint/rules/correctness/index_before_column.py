"""SM304 index-before-column."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.functions import calls_by_function
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


@register
class IndexBeforeColumn(Rule):
    """An index is created on a column that the same function only adds later.

    ## What it does
    Reports `create_index` (`op` or `batch_op`) naming, in `columns`, a column that an
    `add_column` on the same table adds further down the same `upgrade()`/`downgrade()`.

    ## Why it matters
    Operations run in order: the index is created before its column exists, so the migration
    fails ("column does not exist"). On MySQL the statements that ran before it stay
    committed, leaving a half-applied migration to repair by hand.

    ## Example
    ```python
    def upgrade():
        op.create_index("ix_users_email", "users", ["email"])
        op.add_column("users", sa.Column("email", sa.String(120), nullable=True))
    ```

    ## Use instead
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120), nullable=True))
        op.create_index("ix_users_email", "users", ["email"])
    ```
    """

    code = "SM304"
    name = "index-before-column"
    severity = Severity.ERROR
    fix = "move the create_index after the add_column of its column"

    requires = (op_facts("create_index"), op_facts("add_column"))

    def check(self, migration: Migration) -> Iterator[Violation]:
        for _, _, calls in calls_by_function(migration):
            first_added: dict[tuple[str | None, str | None], int] = {}
            for position, call in enumerate(calls):
                if call.name == "add_column" and call.receiver != "connection":
                    first_added.setdefault((call.table, call.column), position)
            for position, call in enumerate(calls):
                if call.name != "create_index" or call.receiver == "connection":
                    continue
                columns = call.value("columns")
                if not isinstance(columns, list | tuple):
                    continue
                for column in columns:
                    if not isinstance(column, str):
                        continue
                    added = first_added.get((call.table, column))
                    if added is not None and added > position:
                        index = call.string("index_name") or "an index"
                        yield Violation(
                            f"creates {index} on {call.table}.{column} before that column is "
                            f"added (line {calls[added].line}), so the migration fails",
                            node=call.node,
                        )
                        break
