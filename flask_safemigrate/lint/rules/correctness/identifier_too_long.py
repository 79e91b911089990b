"""SM316 identifier-too-long: a name longer than PostgreSQL (63 bytes) or MySQL (64
characters) allows."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted, keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import ops
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register

POSTGRESQL_LIMIT = 63  # NAMEDATALEN - 1
MYSQL_LIMIT = 64  # characters, not bytes
# Names SQLAlchemy renders itself; it refuses an explicit one that is too long.
_NAMED_PARAMS = {
    "create_index": ("index_name", "index"),
    "create_unique_constraint": ("constraint_name", "constraint"),
    "create_foreign_key": ("constraint_name", "constraint"),
    "create_check_constraint": ("constraint_name", "constraint"),
    "create_primary_key": ("constraint_name", "constraint"),
    "create_exclude_constraint": ("constraint_name", "constraint"),
    "create_table": ("table_name", "table"),
    "rename_table": ("new_table_name", "table"),
}
_CONSTRAINTS = frozenset(
    {
        "UniqueConstraint",
        "ForeignKeyConstraint",
        "CheckConstraint",
        "PrimaryKeyConstraint",
        "ExcludeConstraint",
    }
)


def _kind_of(node: ast.expr) -> str:
    return (dotted(node) or "").rsplit(".", 1)[-1]


def _inner_names(
    column_or_constraint: ast.expr | None,
) -> Iterator[tuple[str, ast.expr | None, ast.AST]]:
    """Names inside ``sa.Column(...)``, ``sa.UniqueConstraint(..., name=...)``, ``sa.Index``."""
    if not isinstance(column_or_constraint, ast.Call):
        return
    kind = _kind_of(column_or_constraint.func)
    if kind == "Column" and column_or_constraint.args:
        yield "column", column_or_constraint.args[0], column_or_constraint
    elif kind in _CONSTRAINTS:
        yield "constraint", keyword(column_or_constraint, "name"), column_or_constraint
    elif kind == "Index" and column_or_constraint.args:
        yield "index", column_or_constraint.args[0], column_or_constraint


def _hashed(node: ast.expr | None) -> bool:
    """``op.f("...")``: a name SQLAlchemy shortens with a hash instead of refusing."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "f"
    )


@register
class IdentifierTooLong(Rule):
    """A table, column, index or constraint name longer than the database allows.

    ## What it does
    Flags literal names longer than 63 bytes on PostgreSQL or 64 characters on MySQL, in
    `create_table` (the table, its columns and named constraints), `add_column`,
    `alter_column(new_column_name=...)`, `rename_table`, `create_index` and the
    `create_*_constraint`/`create_foreign_key`/`create_primary_key` operations. PostgreSQL
    counts bytes (`é` counts twice), MySQL characters. An index or constraint name in
    `op.f(...)` is left alone: SQLAlchemy shortens it with a hash, the same way every time.

    ## Why it matters
    SQLAlchemy refuses an index or constraint name over the limit ("Identifier ... exceeds
    maximum length"), so the migration fails at deploy time. MySQL refuses a long table or
    column name ("Identifier name is too long"). PostgreSQL silently truncates it to 63 bytes:
    the database then holds a name the models do not, autogenerate reports the difference on
    every run, existence checks by the full name miss it, and two long names that share their
    first 63 bytes collide.

    ## Example
    ```python
    def upgrade():
        op.create_index(
            "ix_customer_subscription_invoices_billing_period_start_and_currency",
            "customer_subscription_invoices", ["billing_period_start", "currency"],
        )
    ```

    ## Use instead
    A shorter name, or a naming convention (`MetaData(naming_convention=...)`), whose long
    names SQLAlchemy shortens with a hash on its own:
    ```python
    def upgrade():
        op.create_index(
            "ix_csi_billing_period_currency",
            "customer_subscription_invoices", ["billing_period_start", "currency"],
        )
    ```
    """

    code = "SM316"
    name = "identifier-too-long"
    dialects = frozenset({"postgresql", "mysql"})
    fix = "shorten the name to at most 63 bytes (PostgreSQL) / 64 (MySQL)"

    requires = (
        op_facts("create_table", "add_column", "alter_column", "rename_table", "create_index")
        | op_facts(*(name for name in _NAMED_PARAMS if "constraint" in name or "key" in name)),
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in ops(migration, *_NAMED_PARAMS, "add_column", "alter_column"):
            found: list[tuple[str, ast.expr | None, ast.AST]] = []
            if call.name in _NAMED_PARAMS:
                param, kind = _NAMED_PARAMS[call.name]
                found.append((kind, call.param(param), call.node))
            if call.name == "create_table":
                for argument in call.node.args[1:]:
                    found.extend(_inner_names(argument))
            elif call.name == "add_column":
                found.extend(_inner_names(call.param("column")))
            elif call.name == "alter_column":
                found.append(("column", call.param("new_column_name"), call.node))
            for kind, expression, node in found:
                name = literal(expression)
                if not isinstance(name, str) or (kind != "table" and _hashed(expression)):
                    continue
                size = len(name.encode("utf-8"))
                if size <= POSTGRESQL_LIMIT:
                    continue
                dialects = self.dialects if len(name) > MYSQL_LIMIT else frozenset({"postgresql"})
                reached = dialects & migration.config.dialects
                if not reached:
                    continue
                consequences = []
                if "postgresql" in reached:
                    # SQLAlchemy measures characters; PostgreSQL truncates by bytes.
                    if kind in {"index", "constraint"} and len(name) > POSTGRESQL_LIMIT:
                        consequences.append("SQLAlchemy refuses it for PostgreSQL (63 at most)")
                    else:
                        consequences.append(
                            "PostgreSQL truncates it to 63, so later operations and autogenerate"
                            " see another name"
                        )
                if "mysql" in reached:
                    consequences.append(f"MySQL refuses it ({len(name)} characters, 64 at most)")
                shown = name if len(name) <= 40 else name[:37] + "..."
                yield Violation(
                    f"{kind} name {shown!r} is {size} bytes: {'; '.join(consequences)}",
                    node=node,
                    dialects=dialects,
                )
