"""SM310 unnamed-constraint: A constraint is created (or dropped) without a name."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import (
    keyword,
    literal,
    nodes_below,
)
from flask_safemigrate.lint.helpers.arguments import column_name, name_value
from flask_safemigrate.lint.helpers.functions import last_name
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_CONSTRAINT_OPS = frozenset(
    {
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "drop_constraint",
    }
)
# Constraint classes whose name may be given positionally: class -> index of ``name``.
_CONSTRAINT_CLASSES: dict[str, int | None] = {
    "UniqueConstraint": None,
    "ForeignKeyConstraint": 2,
    "CheckConstraint": 1,
    "ForeignKey": 3,
}
_CONSTRAINT_WORDS = {
    "UniqueConstraint": "unique constraint",
    "ForeignKeyConstraint": "foreign key",
    "CheckConstraint": "check constraint",
    "ForeignKey": "foreign key",
}


#: The name a naming convention would give each kind, for the help's example.
_EXAMPLE_NAMES = {
    "unique constraint": "uq_{t}_COLUMN",
    "foreign key": "fk_{t}_COLUMN_OTHERTABLE",
    "check constraint": "ck_{t}_RULE",
    "primary key": "pk_{t}",
}


def _fix_for(what: str, table: str | None) -> str:
    """The rule's fix with an example name of the right kind (not a unique constraint's
    name for a foreign key)."""
    example = _EXAMPLE_NAMES.get(what, "uq_{t}_COLUMN").format(t=table or "TABLE")
    return (
        f'name it explicitly (e.g. "{example}") or through a naming convention rendered with op.f()'
    )


def _constraint_unnamed(call: ast.Call, position: int | None) -> bool:
    name = keyword(call, "name")
    if name is None and position is not None:
        args = call.args
        if any(isinstance(a, ast.Starred) for a in args[: position + 1]):
            return False
        name = args[position] if len(args) > position else None
    return name is None or literal(name) is None


@register
class UnnamedConstraint(Rule):
    """A constraint is created (or dropped) without a name.

    ## What it does
    Reports `create_unique_constraint`, `create_foreign_key`, `create_check_constraint`,
    `create_primary_key` and `drop_constraint` (`op` and `batch_op`) called with the name
    `None`, and, inside `create_table`/`add_column`, `sa.UniqueConstraint`,
    `sa.ForeignKeyConstraint`, `sa.CheckConstraint`, `sa.ForeignKey` and `unique=True`
    columns without a name. `op.f("uq_users_email")` is a name; primary keys created inside
    `create_table` are exempt.

    ## Why it matters
    The database invents the name, and each one invents a different one (`users_email_key`
    on PostgreSQL, `email` on MySQL, nothing usable on SQLite). A later migration that must
    drop or alter the constraint cannot name it portably, and `drop_constraint(None, ...)`
    fails outright. A naming convention on the metadata only helps while that metadata is
    unchanged; an explicit name keeps the script frozen in time.

    ## Example
    ```python
    op.create_unique_constraint(None, "users", ["email"])
    op.create_foreign_key(None, "orders", "users", ["user_id"], ["id"])
    ```

    ## Use instead
    ```python
    op.create_unique_constraint("uq_users_email", "users", ["email"])
    op.create_foreign_key("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"])
    ```
    """

    code = "SM310"
    name = "unnamed-constraint"
    severity = Severity.WARNING
    fix = (
        'name it explicitly (e.g. "uq_users_email") or through a naming convention '
        "rendered with op.f()"
    )

    requires = (op_facts(*_CONSTRAINT_OPS) | frozenset(_CONSTRAINT_CLASSES) | {"unique=True"},)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.receiver == "connection":
                continue
            if call.name in _CONSTRAINT_OPS:
                if name_value(call.param("constraint_name")) is None:
                    action = "drops" if call.name == "drop_constraint" else "creates"
                    what = call.name.removeprefix("create_").removeprefix("drop_")
                    words = what.replace("_", " ")
                    yield Violation(
                        f"{action} a {words} on {call.table or 'a table'} "
                        "with name None; the database picks a name that differs per dialect, "
                        "so later migrations cannot refer to it",
                        node=call.node,
                        help=_fix_for(
                            "unique constraint" if words == "constraint" else words, call.table
                        ),
                    )
                continue
            if call.name == "create_table" and call.receiver == "op":
                parts = [*call.node.args[1:], *(k.value for k in call.node.keywords)]
            elif call.name == "add_column":
                column = call.param("column")
                parts = [column] if column is not None else []
            else:
                continue
            for part in parts:
                yield from self._inline(part, call.table)

    @staticmethod
    def _inline(part: ast.AST, table: str | None) -> Iterator[Violation]:
        where = table or "a table"
        for sub in nodes_below(part):
            if not isinstance(sub, ast.Call):
                continue
            kind = last_name(sub.func)
            if kind in _CONSTRAINT_CLASSES:
                if _constraint_unnamed(sub, _CONSTRAINT_CLASSES[kind]):
                    yield Violation(
                        f"creates an unnamed {_CONSTRAINT_WORDS[kind]} on {where}; the "
                        "database picks a name that differs per dialect, so later migrations "
                        "cannot refer to it",
                        node=sub,
                        help=_fix_for(_CONSTRAINT_WORDS[kind], table),
                    )
            elif kind == "Column" and literal(keyword(sub, "unique")) is True:
                yield Violation(
                    f"column {where}.{column_name(sub)} has unique=True, which creates an "
                    "unnamed unique constraint whose name differs per dialect",
                    node=sub,
                    help=_fix_for("unique constraint", table),
                )
