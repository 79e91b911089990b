"""SM221 unique-on-existing-data: a unique constraint or index on rows that may hold duplicates."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted, keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import added_columns, column_name, ops
from flask_safemigrate.lint.helpers.functions import module_nodes_of
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.helpers.timeline import Timeline, timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


def _columns(call: Call) -> list[str] | None:
    """The literal column names of the constraint or index, else ``None``."""
    value = literal(call.param("columns"))
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None


def _query(table: str, columns: list[str]) -> str:
    listed = ", ".join(columns)
    return f"SELECT {listed}, COUNT(*) FROM {table} GROUP BY {listed} HAVING COUNT(*) > 1"


def _all_new(line: Timeline, call: Call, columns: list[str] | None) -> bool:
    """Whether every column was added earlier in the function: they hold only NULLs (which
    a unique constraint allows any number of) or what the migration wrote."""
    return columns is not None and all(line.added(call, call.table, c) for c in columns)


def _dropped_by_upgrade(migration: Migration) -> frozenset[str]:
    """Names of the indexes and constraints ``upgrade()`` drops: the downgrade puts them back
    (as an index or a constraint, whichever the renderer chose), restoring the old schema."""
    names = set()
    for call in migration.upgrade_calls:
        if call.name in {"drop_index", "drop_constraint"}:
            param = "index_name" if call.name == "drop_index" else "constraint_name"
            name = literal(call.param(param))
            if isinstance(name, str):
                names.add(name)
    return frozenset(names)


def _checked(migration: Migration) -> list[tuple[str, int]]:
    """``(table, line)`` of each ``guards.require_no_duplicates("table", [...])``: the rows
    were checked for duplicates before the constraint (what the autogenerate hook writes)."""
    if "require_no_duplicates" not in migration.source:
        return []
    found = []
    for node in module_nodes_of(migration, ast.Call):
        if (
            isinstance(node, ast.Call)
            and (dotted(node.func) or "").endswith("require_no_duplicates")
            and node.args
            and isinstance(table := literal(node.args[0]), str)
        ):
            found.append((table, node.lineno))
    return found


@register
class UniqueOnExistingData(Rule):
    """A unique constraint or index added over existing rows fails if any of them are
    duplicates.

    ## What it does
    Flags `create_unique_constraint` and `create_index(..., unique=True)` (on `op` and
    `batch_op`) on a table not created earlier in the same function (unless every column was
    also added in it), and `add_column` of a `unique=True` column with a `server_default`,
    which gives every existing row the same value. A warning (a table without duplicates is
    fine) that carries the query listing them. A `guards.require_no_duplicates(table, columns)`
    earlier in the script, which the autogenerate hook writes, is that check done and clears
    the finding. A `downgrade()` that puts back an index or constraint its `upgrade()` dropped
    is restoring the old schema and is not flagged.

    ## Why it matters
    Nothing checked the existing rows for duplicates, and production has more of them than any
    test database: the statement fails ("could not create unique index", "Duplicate entry") in
    the middle of the deploy, on every dialect, and on MySQL and SQLite the steps before it
    stay applied.

    ## Example
    ```python
    def upgrade():
        op.create_unique_constraint("uq_users_email", "users", ["email"])
    ```

    ## Use instead
    Run the query the finding gives on production data first, and clean the duplicates up in
    a data migration before the constraint:
    ```python
    def upgrade():
        # SELECT email, COUNT(*) FROM users GROUP BY email HAVING COUNT(*) > 1 -> no rows
        op.create_unique_constraint("uq_users_email", "users", ["email"])
    ```
    """

    code = "SM221"
    name = "unique-on-existing-data"
    severity = Severity.WARNING
    fix = "run the duplicates query on production data and clean up before adding it"

    requires = (op_facts("create_unique_constraint", "create_index", "add_column"),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        restored = _dropped_by_upgrade(migration)
        checked = _checked(migration)
        for call in ops(migration, "create_unique_constraint", "create_index"):
            if call.name == "create_index" and not call.flag("unique"):
                continue
            param = "index_name" if call.name == "create_index" else "constraint_name"
            if call.direction == "downgrade" and literal(call.param(param)) in restored:
                continue
            columns = _columns(call)
            if line.created(call) or _all_new(line, call, columns):
                continue
            if any(table == call.table and at < call.line for table, at in checked):
                continue
            table = table_label(call)
            kind = (
                "unique constraint" if call.name == "create_unique_constraint" else "unique index"
            )
            query = _query(table, columns) if columns else None
            yield Violation(
                f"adds a {kind} on existing rows of {table}, which fails if any are duplicates"
                + (f"; find them with: {query}" if query else ""),
                node=call.node,
            )
        for call, column in added_columns(migration):
            unique = literal(keyword(column, "unique")) is True
            default = keyword(column, "server_default")
            same_value = default is not None and literal(default) is not None
            if unique and same_value and not line.created(call):
                yield Violation(
                    f"adds unique column {table_label(call)}.{column_name(column)} with a"
                    " server default, which gives every existing row the same value: it"
                    " fails as soon as the table has two rows",
                    node=call.node,
                )
