"""SM317 drop-constraint-without-name: ``drop_constraint(None, ...)`` always fails."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.alter_ops import ops
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register


@register
class DropConstraintWithoutName(Rule):
    """`drop_constraint(None, ...)` fails every time it runs.

    ## What it does
    Flags `op.drop_constraint(None, ...)` and `batch_op.drop_constraint(None, ...)`: a
    constraint name that is literally `None`. Autogenerate writes it into `downgrade()` for a
    constraint created without a name.

    ## Why it matters
    SQLAlchemy cannot drop a constraint it cannot name and raises "Constraint must have a
    name" (SQLite batch mode too), so the migration, or its downgrade, fails every time, often
    discovered only during an incident rollback.

    ## Example
    ```python
    def downgrade():
        op.drop_constraint(None, "orders", type_="foreignkey")
    ```

    ## Use instead
    Name the constraint when it is created (a naming convention on `MetaData` does it for
    every constraint), and drop it by that name:
    ```python
    def downgrade():
        op.drop_constraint("fk_orders_user_id_users", "orders", type_="foreignkey")
    ```
    """

    code = "SM317"
    name = "drop-constraint-without-name"
    fix = "pass the constraint's name (name constraints when creating them: naming_convention)"

    requires = (op_facts("drop_constraint"),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in ops(migration, "drop_constraint"):
            node = call.param("constraint_name")
            if node is not None and call.value("constraint_name") is None:
                kind = call.string("type_")
                what = f"{kind} constraint" if kind else "constraint"
                yield Violation(
                    f"drops a {what} on {table_label(call)} without a name (None), which"
                    " SQLAlchemy refuses: this step fails every time it runs",
                    node=call.node,
                )
