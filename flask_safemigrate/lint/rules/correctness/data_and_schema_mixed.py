"""SM312 data-and-schema-mixed: One `upgrade()` both changes the schema and changes data."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from flask_safemigrate.lint.calls import (
    Call,
    dotted,
    keyword,
    literal,
)
from flask_safemigrate.lint.helpers.bindings import module_assignments
from flask_safemigrate.lint.helpers.enums import type_name
from flask_safemigrate.lint.helpers.functions import calls_by_function, last_name
from flask_safemigrate.lint.index import EXECUTE, op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import literal_sql, sql_argument, strip_sql_comments, unwrap_sql
from flask_safemigrate.report import Severity

_DDL_OPS = frozenset(
    {
        "create_table",
        "drop_table",
        "rename_table",
        "add_column",
        "drop_column",
        "alter_column",
        "create_index",
        "drop_index",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "drop_constraint",
        "create_table_comment",
        "drop_table_comment",
    }
)
_SQL_START = r"^\s*"
_DDL_SQL = compiled_later(_SQL_START + r"(?:CREATE|ALTER|DROP|RENAME|COMMENT)\b", re.IGNORECASE)
_IDENT = r'((?:"[^"]+"|`[^`]+`|\w+)(?:\s*\.\s*(?:"[^"]+"|`[^`]+`|\w+))?)'
_DML_SQL = compiled_later(
    _SQL_START
    + r"(?:INSERT\s+(?:IGNORE\s+)?INTO\s+"
    + _IDENT
    + r"|UPDATE\s+(?:ONLY\s+)?"
    + _IDENT
    + r"|DELETE\s+FROM\s+(?:ONLY\s+)?"
    + _IDENT
    + r"|MERGE\s+INTO\s+"
    + _IDENT
    + r"|(?:INSERT|UPDATE|DELETE|MERGE)\b)",
    re.IGNORECASE,
)
_SA_MODULES = frozenset({"sa", "sqlalchemy", "sql", "sa.sql", "sqlalchemy.sql", "expression"})


def _table_variables(migration: Migration) -> dict[str, str]:
    """Names bound to ``sa.table("x")``, ``sa.Table("x", ...)`` or ``op.create_table("x")``."""
    found: dict[str, str] = {}
    for name, bindings in module_assignments(migration).items():
        for _, value in bindings:
            table = _table_literal(value)
            if table is not None:
                found[name] = table
    return found


def _table_literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Call) and last_name(node.func) in {"table", "Table", "create_table"}:
        value = literal(node.args[0]) if node.args else literal(keyword(node, "table_name"))
        if isinstance(value, str):
            return value
    return None


def _table_of(node: ast.AST | None, tables: Callable[[], dict[str, str]]) -> str | None:
    if isinstance(node, ast.Name):
        return tables().get(node.id)
    return _table_literal(node)


def _expression_dml(
    node: ast.AST | None, tables: Callable[[], dict[str, str]]
) -> tuple[str, str | None] | None:
    """``(verb, table)`` for ``sa.update(t)...``/``t.insert()...`` expression chains."""
    current = node
    while isinstance(current, ast.Call):
        func = current.func
        attr = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
        if attr in {"insert", "update", "delete"}:
            function_form = isinstance(func, ast.Name) or (
                isinstance(func, ast.Attribute) and dotted(func.value) in _SA_MODULES
            )
            if function_form:
                target = current.args[0] if current.args else keyword(current, "table")
            else:
                assert isinstance(func, ast.Attribute)
                target = func.value
            return attr, _table_of(target, tables)
        if not isinstance(func, ast.Attribute):
            return None
        current = func.value
    return None


def _sql_table(raw: str | None) -> str | None:
    return type_name(raw.replace("`", '"')) if raw else None


@register
class DataAndSchemaMixed(Rule):
    """One `upgrade()` both changes the schema and changes data.

    ## What it does
    Reports an `upgrade()` that runs DDL (`op`/`batch_op` create/drop/alter/add operations,
    or `CREATE`/`ALTER`/`DROP` SQL) and also changes rows: `op.bulk_insert()`, or an
    `op.execute()`/connection `execute()` of `INSERT`/`UPDATE`/`DELETE`/`MERGE` SQL or of an
    `sa.insert()`/`sa.update()`/`sa.delete()`/`table.update()` expression. Reported once, at
    the first data change. Filling a table created earlier in the same function (seeding a
    new lookup table) is not reported.

    ## Why it matters
    The data step runs while the DDL locks are held, so a backfill of a big table keeps the
    table locked for its whole duration. On MySQL the DDL has already committed when the data
    step fails, leaving the migration half-applied; and the two halves cannot be deployed or
    rolled back separately.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=True))
        op.execute("UPDATE users SET plan = 'free'")
    ```

    ## Use instead
    ```python
    # revision 1: the schema change
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=True))


    # revision 2 (its own migration): the backfill, in batches if the table is large
    def upgrade():
        op.execute("UPDATE users SET plan = 'free' WHERE plan IS NULL")
    ```
    """

    code = "SM312"
    name = "data-and-schema-mixed"
    severity = Severity.WARNING
    fix = "move the data change into its own migration (schema first, then data)"

    requires = (
        op_facts("execute", receivers=EXECUTE, upgrade=True)
        | op_facts("bulk_insert", upgrade=True),
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        found_tables: list[dict[str, str]] = []

        def tables() -> dict[str, str]:
            # Only a bulk_insert or an expression naming a table variable needs them.
            if not found_tables:
                found_tables.append(_table_variables(migration))
            return found_tables[0]

        for direction, _, calls in calls_by_function(migration):
            if direction != "upgrade":
                continue
            has_ddl = False
            first_dml: tuple[Call, str] | None = None
            for call in calls:
                if call.receiver in {"op", "batch_op"} and call.name in _DDL_OPS:
                    has_ddl = True
                    continue
                if call.name not in {"execute", "bulk_insert"}:
                    continue
                found = self._dml(call, tables)
                if found is None:
                    continue
                verb, table = found
                if verb == "DDL":
                    has_ddl = True
                elif first_dml is None and (
                    table is None or not migration.created_before(call, table)
                ):
                    first_dml = (call, f"{verb} {table}" if table else verb)
            if has_ddl and first_dml is not None:
                call, what = first_dml
                yield Violation(
                    f"changes data ({what}) in the same upgrade() that changes the schema; "
                    "the data step runs under the DDL locks and, on MySQL, a failure leaves "
                    "the DDL applied",
                    node=call.node,
                )

    @staticmethod
    def _dml(call: Call, tables: Callable[[], dict[str, str]]) -> tuple[str, str | None] | None:
        """``(verb, table)`` of a data change, ``("DDL", None)`` for DDL SQL, else ``None``."""
        if call.name == "bulk_insert":
            return "INSERT", _table_of(call.param("table"), tables)
        statement = sql_argument(call.node) if call.receiver == "connection" else call.sql_node
        sql = literal_sql(statement)
        if sql is not None:
            text = strip_sql_comments(sql)
            match = _DML_SQL.match(text)
            if match is not None:
                verb = text.split()[0].upper()
                raw = next((g for g in match.groups() if g), None)
                return verb, _sql_table(raw)
            return ("DDL", None) if _DDL_SQL.match(text) else None
        found = _expression_dml(unwrap_sql(statement), tables)
        if found is not None:
            return found[0].upper(), found[1]
        return None
