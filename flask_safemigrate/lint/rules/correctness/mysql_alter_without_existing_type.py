"""SM323 mysql-alter-without-existing-type: an ``alter_column`` Alembic refuses on MySQL."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted, is_missing, literal
from flask_safemigrate.lint.helpers.alter_ops import ops
from flask_safemigrate.lint.helpers.functions import module_nodes_of
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register

_MYSQL = frozenset({"mysql"})
# The alter_column keywords that make Alembic's MySQLImpl emit CHANGE (a rename) or MODIFY,
# each with the value that leaves it out (Alembic 1.20.1, alembic/ddl/mysql.py: ``name is not
# None`` -> CHANGE; ``nullable``/``autoincrement`` not None or ``comment is not False`` ->
# MODIFY). ``type_`` also makes a MODIFY, but then the type is there.
_RESTATES: dict[str, object] = {
    "new_column_name": None,
    "nullable": None,
    "autoincrement": None,
    "comment": False,
}
_TYPES = ("type_", "existing_type")
# What CHANGE/MODIFY restates besides the type, and loses unless the new or the existing value
# is given: (the keyword that changes it, the one that keeps it, what happens otherwise). The
# comment is lost the same way; rarer, the docstring names it.
_KEPT = (
    ("nullable", "existing_nullable", "the column becomes nullable"),
    ("server_default", "existing_server_default", "its default is dropped"),
)


def _given(call: Call, name: str, absent: object) -> bool:
    """Whether keyword ``name`` is passed with a value other than ``absent`` (an expression
    lint cannot read counts as given: Alembic sees whatever it evaluates to)."""
    node = call.param(name)
    if node is None:
        return False
    value = call.resolve(node)
    return is_missing(value) or value is not absent


def _recreated_batch_calls(migration: Migration) -> frozenset[int]:
    """The ``id`` of every call inside ``with op.batch_alter_table(..., recreate="always")``:
    Alembic copies the table there (CREATE, INSERT ... SELECT, DROP, RENAME), reading the
    column from the reflected table, and never reaches MySQLImpl.alter_column."""

    def build() -> frozenset[int]:
        found: set[int] = set()
        for stmt in module_nodes_of(migration, ast.With):
            assert isinstance(stmt, ast.With)
            for item in stmt.items:
                expr = item.context_expr
                if (
                    isinstance(expr, ast.Call)
                    and (dotted(expr.func) or "").endswith("batch_alter_table")
                    and any(
                        kw.arg == "recreate" and literal(kw.value) == "always"
                        for kw in expr.keywords
                    )
                ):
                    found.update(id(node) for node in ast.walk(stmt) if isinstance(node, ast.Call))
        return frozenset(found)

    return migration.shared("mysql.recreated_batch_calls", build)


@register
class MysqlAlterWithoutExistingType(Rule):
    """An `alter_column` that Alembic refuses on MySQL and MariaDB because it does not give
    the column's type.

    ## What it does
    On MySQL and MariaDB, flags `op.alter_column` and `batch_op.alter_column` calls that
    rename the column (`new_column_name=`) or change its nullability (`nullable=`),
    `autoincrement=` or comment (`comment=`, also `comment=None`) without `existing_type=`
    or `type_=`. This mirrors Alembic's `MySQLImpl.alter_column` (checked against Alembic
    1.20.1): those arguments make it emit `CHANGE` or `MODIFY COLUMN`, which restate the whole
    column, and building either without a type raises `CommandError: All MySQL CHANGE/MODIFY
    COLUMN operations require the existing type.` A call that only sets or drops
    `server_default=` is not flagged (Alembic emits `ALTER COLUMN ... SET/DROP DEFAULT`, which
    needs no type), nor one inside `batch_alter_table(..., recreate="always")` (Alembic copies
    the table instead). Calls in a branch only other databases reach (`if
    bind.dialect.name == "postgresql":`) are not flagged.

    ## Why it matters
    The call fails every time it runs on MySQL, at deploy time. MySQL's DDL is not
    transactional: the statements of the revision before the failing call have already been
    applied and stay applied, so the database is left half-way through the revision, and its
    version row still names the revision before.

    `MODIFY`/`CHANGE` restate the column entirely, so give what it keeps as well:
    `existing_nullable=` (else the column becomes nullable), `existing_server_default=`
    (else its default is dropped) and `existing_comment=` (else its comment is dropped), as
    Alembic's documentation of `alter_column` says for MySQL.

    ## Example
    ```python
    def upgrade():
        with op.batch_alter_table("tags") as batch_op:
            batch_op.alter_column("label", new_column_name="name")
    ```

    ## Use instead
    ```python
    def upgrade():
        with op.batch_alter_table("tags") as batch_op:
            batch_op.alter_column(
                "label",
                new_column_name="name",
                existing_type=sa.String(length=50),
                existing_nullable=False,
            )
    ```
    """

    code = "SM323"
    name = "mysql-alter-without-existing-type"
    dialects = _MYSQL
    fix = (
        "add existing_type= (the column's current type, e.g. sa.String(length=50)), and"
        " existing_nullable=/existing_server_default= as the column is now"
    )

    requires = (op_facts("alter_column"),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        recreated: frozenset[int] | None = None
        for call in ops(migration, "alter_column"):
            if any(kw.arg is None for kw in call.node.keywords):
                continue  # alter_column(..., **options): lint cannot tell what it passes
            restated = [name for name, absent in _RESTATES.items() if _given(call, name, absent)]
            if not restated or any(_given(call, name, None) for name in _TYPES):
                continue
            if call.receiver == "batch_op":
                if recreated is None:
                    recreated = _recreated_batch_calls(migration)
                if id(call.node) in recreated:
                    continue
            yield Violation(
                _message(call, restated),
                node=call.node,
                help=_help(call),
            )


def _column(call: Call) -> str:
    column = call.string("column_name")
    where = f"{call.table}." if call.table else ""
    return f"{where}{column}" if column else "the column"


def _message(call: Call, restated: list[str]) -> str:
    statement = "CHANGE" if "new_column_name" in restated else "MODIFY"
    given = ", ".join(f"{name}=" for name in restated)
    return (
        f"{call.receiver}.alter_column() on {_column(call)} passes {given} without"
        f" existing_type=: Alembic's {statement} COLUMN for MySQL/MariaDB needs the type, so the"
        " migration fails when it runs ('All MySQL CHANGE/MODIFY COLUMN operations require the"
        " existing type'), after the revision's earlier statements were applied"
    )


def _help(call: Call) -> str:
    keep = [
        f"{existing}= (else {result})"
        for new, existing, result in _KEPT
        if call.param(new) is None and call.param(existing) is None
    ]
    text = "add existing_type= with the column's current type (e.g. sa.String(length=50))"
    if keep:
        text += "; MySQL rewrites the whole column, so also give " + ", ".join(keep)
    return text
