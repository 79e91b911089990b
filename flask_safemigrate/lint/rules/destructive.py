"""Lint rules: destructive operations (1xx).

These rules find operations that lose data or break the application servers that are still
running the previous release while a migration is applied: dropping or renaming tables and
columns, changing a column's type, deleting every row of a table.

The module also holds the helpers that the locking rules (``locking.py``) share with these:
reading the SQL of ``op.execute``/``conn.execute`` calls (:func:`sql_statements`,
:func:`alter_table`), and :class:`Timeline`, which knows which tables and columns a function
created before a given call (such objects are new and empty: nothing can be lost or locked).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask_safemigrate.lint.calls import Call, direction_of, dotted, is_missing, literal
from flask_safemigrate.lint.engine import Migration, Rule, Violation
from flask_safemigrate.lint.index import EXECUTE, op_facts
from flask_safemigrate.lint.rules import register

__all__ = [
    "AlterColumnType",
    "DropColumn",
    "DropTable",
    "RenameColumn",
    "RenameTable",
    "Timeline",
    "UnboundedDelete",
    "alter_table",
    "column_label",
    "direction_functions",
    "execute_sql",
    "ident",
    "split_top_level",
    "sql_statements",
    "sql_text",
    "table_label",
    "timeline",
]

# --------------------------------------------------------------------------------------------
# SQL text: literal strings, f-strings and ``"..." % x`` / ``"...".format(x)`` templates.
# --------------------------------------------------------------------------------------------

# A placeholder for the parts of an f-string that are not literal: it reads as an identifier.
PLACEHOLDER = "__expr__"
_TEXT_FUNCS = frozenset({"sa.text", "text", "sqlalchemy.text", "sa.sql.text", "sql.text"})
# Calls whose receiver is the SQL: text(...).bindparams(...), "...".format(...).
_TEXT_METHODS = frozenset({"bindparams", "columns", "execution_options", "params", "format"})


def sql_text(node: ast.AST | None) -> str | None:
    """The SQL a node spells, when it is written out in the script; ``None`` otherwise.

    Accepts a string literal, an f-string (its expressions read as :data:`PLACEHOLDER`), a
    ``"..." % args`` or ``"...".format(...)`` template, and any of them wrapped in
    ``sa.text(...)`` with ``.bindparams(...)``-style calls chained on.
    """
    while isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _TEXT_METHODS:
            node = func.value
        elif dotted(func) in _TEXT_FUNCS and node.args:
            node = node.args[0]
        else:
            return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        node = node.left
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append(PLACEHOLDER)
        return "".join(parts)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def execute_sql(call: Call) -> str | None:
    """The SQL text of an ``op.execute``/``conn.execute`` call, when it is written out."""
    if call.name != "execute":
        return None
    return sql_text(call.sql_node)


_SQL_TOKENS = re.compile(
    r"--[^\n]*|/\*.*?\*/|\$(\w*)\$.*?\$\1\$|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`",
    re.S,
)


def _blank(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.startswith(("--", "/*")):
        return " "
    if token.startswith("$"):
        return "$$"  # a dollar-quoted body (function, DO block) is opaque
    if token.startswith("'"):
        return "''"  # string contents never count as keywords
    return token  # quoted identifiers stay


@functools.lru_cache(maxsize=1024)
def sql_statements(sql: str) -> tuple[str, ...]:
    """The statements of a SQL text: comments removed, string literals emptied, ``;``-split,
    whitespace collapsed to single spaces. Keywords keep their case; match them with
    ``re.IGNORECASE``."""
    cleaned = _SQL_TOKENS.sub(_blank, sql)
    out = []
    for part in cleaned.split(";"):
        statement = " ".join(part.split())
        if statement:
            out.append(statement)
    return tuple(out)


IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
QNAME = rf"{IDENT}(?:\s*\.\s*{IDENT})*"
_SCHEMA_DOT = re.compile(rf"\s*\.\s*(?={IDENT}\s*$)")


@functools.lru_cache(maxsize=4096)
def ident(name: str) -> str:
    """A table or column name as rules compare them: unquoted, schema dropped, lower case."""
    last = name.strip()
    if "." in last:  # the split needs a dot: most names have none
        last = _SCHEMA_DOT.split(last)[-1]
    if last[:1] in {'"', "`", "["}:
        last = last[1:-1]
    # An f-string's expression stays visible as such in messages (and matches no table).
    return last.lower().replace(PLACEHOLDER, "{...}")


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (the actions of an ALTER TABLE)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_ALTER_TABLE = re.compile(
    rf"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({QNAME})\s*\*?\s+(.+)$", re.IGNORECASE | re.S
)


@functools.lru_cache(maxsize=1024)
def alter_table(statement: str) -> tuple[str, tuple[str, ...]] | None:
    """``(table, actions)`` for an ``ALTER TABLE`` statement from :func:`sql_statements`."""
    match = _ALTER_TABLE.match(statement)
    if match is None:
        return None
    return ident(match.group(1)), tuple(split_top_level(match.group(2)))


_CREATE_TABLE = re.compile(
    rf"^CREATE (?:OR REPLACE )?(?:(?:GLOBAL|LOCAL) )?(?:TEMP |TEMPORARY |UNLOGGED )?TABLE "
    rf"(?:IF NOT EXISTS )?({QNAME})",
    re.IGNORECASE,
)
_ADD_COLUMN = re.compile(
    rf"^ADD (?:COLUMN )?(?:IF NOT EXISTS )?(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|UNIQUE|FOREIGN"
    rf"|CHECK|PARTITION|FULLTEXT|SPATIAL|EXCLUDE|PERIOD)\b)({IDENT})(?:\s+(.*))?$",
    re.IGNORECASE | re.S,
)
_VALIDATE = re.compile(rf"^VALIDATE CONSTRAINT ({IDENT})", re.IGNORECASE)
_NOT_NULL_CHECK = re.compile(
    rf"^ADD (?:CONSTRAINT ({IDENT}) )?CHECK ?\( ?\(? ?({IDENT}) IS NOT NULL ?\)? ?\)",
    re.IGNORECASE,
)
_NOT_NULL_CONDITION = re.compile(rf"^\(? ?({IDENT}) IS NOT NULL ?\)?$", re.IGNORECASE)
_NOT_VALID = re.compile(r"\bNOT VALID\b", re.IGNORECASE)


def add_column_action(action: str) -> tuple[str, str] | None:
    """``(column, definition)`` for an ``ADD [COLUMN]`` action of an ALTER TABLE."""
    match = _ADD_COLUMN.match(action)
    if match is None:
        return None
    return ident(match.group(1)), match.group(2) or ""


# --------------------------------------------------------------------------------------------
# What a function created before a call.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Before:
    tables: frozenset[str] = frozenset()
    columns: frozenset[tuple[str, str]] = frozenset()
    # (table, column) with a validated CHECK (column IS NOT NULL); column "*" for a
    # VALIDATE CONSTRAINT of a constraint defined elsewhere (presumably such a check).
    not_null_checked: frozenset[tuple[str, str]] = frozenset()
    # NOT VALID checks of this function waiting for validation: (table, name) -> column.
    pending: tuple[tuple[tuple[str, str], str], ...] = ()


_EMPTY = _Before()


def _with(
    before: _Before,
    *,
    tables: frozenset[str] | None = None,
    columns: frozenset[tuple[str, str]] | None = None,
    not_null_checked: frozenset[tuple[str, str]] | None = None,
    pending: tuple[tuple[tuple[str, str], str], ...] | None = None,
) -> _Before:
    """``dataclasses.replace`` for :class:`_Before`, without its generic (slow) machinery."""
    return _Before(
        before.tables if tables is None else tables,
        before.columns if columns is None else columns,
        before.not_null_checked if not_null_checked is None else not_null_checked,
        before.pending if pending is None else pending,
    )


class Timeline:
    """For each call, what the same function did before it.

    Built in one pass over :attr:`Migration.calls`. Tables come from ``op.create_table`` and
    from ``CREATE TABLE`` in literal SQL; columns from ``add_column`` and ``ADD COLUMN``.
    It also follows ``CHECK (column IS NOT NULL)`` constraints until they are validated,
    which makes a later ``SET NOT NULL`` of that column cheap on PostgreSQL 12+.
    """

    def __init__(self, migration: Migration) -> None:
        self._before: dict[int, _Before] = {}
        current: dict[str, _Before] = {}
        for call in migration.calls:
            before = current.get(call.direction, _EMPTY)
            self._before[id(call.node)] = before
            if call.name in _CHANGES_TIMELINE:  # no other call changes what comes after
                after = _after(call, before)
                if after is not before:
                    current[call.direction] = after

    def before(self, call: Call) -> _Before:
        return self._before.get(id(call.node), _EMPTY)

    def created(self, call: Call, table: str | None = None) -> bool:
        """Whether ``table`` (default: the call's) was created earlier in the function."""
        table = table if table is not None else call.table
        return table is not None and ident(table) in self.before(call).tables

    def added(self, call: Call, table: str | None, column: str | None) -> bool:
        """Whether ``table.column`` was added, or its table created, earlier in the function."""
        if table is None or column is None:
            return False
        before = self.before(call)
        return ident(table) in before.tables or (ident(table), ident(column)) in before.columns

    def not_null_checked(self, call: Call, table: str | None, column: str | None) -> bool:
        """Whether a ``CHECK (column IS NOT NULL)`` was validated earlier in the function."""
        if table is None or column is None:
            return False
        checked = self.before(call).not_null_checked
        return (ident(table), ident(column)) in checked or (ident(table), "*") in checked

    def statements(self, call: Call) -> Iterator[tuple[str, frozenset[str]]]:
        """Each SQL statement of an execute call, with the tables created before it (earlier
        in the function or earlier in the same SQL text)."""
        sql = execute_sql(call)
        if sql is None:
            return
        tables = set(self.before(call).tables)
        for statement in sql_statements(sql):
            yield statement, frozenset(tables)
            match = _CREATE_TABLE.match(statement)
            if match is not None:
                tables.add(ident(match.group(1)))


_CHANGES_TIMELINE = frozenset({"create_table", "add_column", "create_check_constraint", "execute"})


def _after(call: Call, before: _Before) -> _Before:
    """What the function has done once ``call`` ran (``before`` itself when nothing changed)."""
    if call.name not in _CHANGES_TIMELINE:
        return before
    table = call.table
    if call.name == "create_table" and call.receiver == "op" and table is not None:
        return _with(before, tables=before.tables | {ident(table)})
    if call.name == "add_column" and table is not None and call.column is not None:
        return _with(before, columns=before.columns | {(ident(table), ident(call.column))})
    if call.name == "create_check_constraint" and table is not None:
        condition = _NOT_NULL_CONDITION.match(
            " ".join((sql_text(call.param("condition")) or "").split())
        )
        if condition is None:
            return before
        column = (ident(table), ident(condition.group(1)))
        if not call.flag("postgresql_not_valid"):
            return _with(before, not_null_checked=before.not_null_checked | {column})
        name = call.string("constraint_name")
        if name is not None:
            return _with(before, pending=(*before.pending, ((column[0], ident(name)), column[1])))
        return before
    sql = execute_sql(call)
    if sql is None:
        return before
    after = before
    for statement in sql_statements(sql):
        after = _after_sql(statement, after)
    return after


def _after_sql(statement: str, before: _Before) -> _Before:
    match = _CREATE_TABLE.match(statement)
    if match is not None:
        return _with(before, tables=before.tables | {ident(match.group(1))})
    parsed = alter_table(statement)
    if parsed is None:
        return before
    table, actions = parsed
    after = before
    for action in actions:
        added = add_column_action(action)
        if added is not None:
            after = _with(after, columns=after.columns | {(table, added[0])})
            continue
        check = _NOT_NULL_CHECK.match(action)
        if check is not None:
            column = ident(check.group(2))
            if not _NOT_VALID.search(action):
                after = _with(after, not_null_checked=after.not_null_checked | {(table, column)})
            elif check.group(1):
                entry = ((table, ident(check.group(1))), column)
                after = _with(after, pending=(*after.pending, entry))
            continue
        validate = _VALIDATE.match(action)
        if validate is not None:
            key = (table, ident(validate.group(1)))
            column = dict(after.pending).get(key, "*")
            after = _with(after, not_null_checked=after.not_null_checked | {(table, column)})
    return after


_TIMELINE_CACHE: list[tuple[list[Call], Timeline]] = []


def timeline(migration: Migration) -> Timeline:
    """The :class:`Timeline` of a migration, built once and shared by the rules."""
    cached = _TIMELINE_CACHE[0] if _TIMELINE_CACHE else None  # one read: safe under threads
    if cached is not None and cached[0] is migration.calls:
        return cached[1]
    built = Timeline(migration)
    _TIMELINE_CACHE[:] = [(migration.calls, built)]
    return built


def direction_functions(migration: Migration) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The module's ``upgrade``/``downgrade`` functions (and multi-db ``upgrade_<bind>``)."""
    for node in migration.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and direction_of(node.name):
            yield node


# --------------------------------------------------------------------------------------------
# Naming things in messages.
# --------------------------------------------------------------------------------------------


def _label(node: ast.AST | None) -> str:
    value = literal(node)
    if isinstance(value, str):
        return value
    if node is None:
        return "?"
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def table_label(call: Call, param: str = "table_name") -> str:
    """The table an operation acts on, as messages name it (``schema.table`` when given)."""
    batch = call.receiver == "batch_op"
    name = (call.batch_table or "?") if batch else _label(call.param(param))
    schema = call.string("schema") if call.receiver == "op" else None
    return f"{schema}.{name}" if schema else name


def column_label(call: Call, column: str | None = None) -> str:
    """``table.column`` for an operation on a column."""
    name = column if column is not None else call.column
    if name is None:
        name = _label(call.param("column_name"))
    return f"{table_label(call)}.{name}"


# --------------------------------------------------------------------------------------------
# The rules.
# --------------------------------------------------------------------------------------------

_UP_EXECUTE = op_facts("execute", receivers=EXECUTE, upgrade=True)
_DROP_TABLE = re.compile(rf"^DROP TABLE (?:IF EXISTS )?({QNAME}(?:\s*,\s*{QNAME})*)", re.I)
_RENAME_TABLE = re.compile(rf"^RENAME TABLE ({QNAME})", re.IGNORECASE)
_COLUMN_WORD = r"(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|FOREIGN|CHECK|PARTITION|DEFAULT|TO|AS)\b)"
_DROP_COLUMN = re.compile(
    rf"^DROP (?:COLUMN )?(?:IF EXISTS )?{_COLUMN_WORD}({IDENT})", re.IGNORECASE
)
_RENAME_TO = re.compile(r"^RENAME (?:TO|AS)\b", re.IGNORECASE)
_RENAME_COLUMN = re.compile(
    rf"^(?:RENAME (?:COLUMN )?{_COLUMN_WORD}({IDENT}) TO ({IDENT})"
    rf"|CHANGE (?:COLUMN )?({IDENT}) ({IDENT}))",
    re.IGNORECASE,
)
_ALTER_TYPE = re.compile(rf"^ALTER (?:COLUMN )?({IDENT}) (?:SET DATA )?TYPE\b", re.IGNORECASE)


@register
class DropTable(Rule):
    """Dropping a table in an upgrade loses its data and breaks code that still uses it.

    ## What it does
    Flags `op.drop_table(...)` and `DROP TABLE` in literal SQL inside `upgrade()`. A table
    created earlier in the same `upgrade()` (a scratch table) is not flagged, and neither is
    `downgrade()`, where dropping what the upgrade created is the normal reverse.

    ## Why it matters
    The rows are gone for good: the downgrade can recreate the table, not its contents. And
    while the deploy rolls out, servers still running the previous release query the table
    and fail with "relation does not exist".

    ## Example
    ```python
    def upgrade():
        op.drop_table("legacy_orders")
    ```

    ## Use instead
    Drop in two releases: first deploy code that no longer reads or writes the table, then
    drop it in a later migration, after a backup (or keep the data by renaming the table to
    an archive name once nothing uses it).
    ```python
    # release 1: remove the model and every use of it; no migration
    # release 2, once no server runs release 1:
    def upgrade():
        op.drop_table("legacy_orders")  # safemigrate: ignore[drop-table] -- unused since 2.3
    ```
    """

    code = "SM101"
    name = "drop-table"
    fix = "stop using the table in one release, then drop it in a later migration after a backup"

    requires = (op_facts("drop_table", receivers=("op",), upgrade=True) | _UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "drop_table" and call.receiver == "op":
                if not line.created(call):
                    yield Violation(
                        f"drops table {table_label(call)}, losing its rows for good and breaking"
                        " servers that still run code using it",
                        node=call.node,
                    )
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    match = _DROP_TABLE.match(statement)
                    if match is None:
                        continue
                    names = [ident(n) for n in split_top_level(match.group(1))]
                    lost = [n for n in names if n not in created]
                    if lost:
                        yield Violation(
                            f"drops table {', '.join(lost)} in SQL, losing its rows for good"
                            " and breaking servers that still run code using it",
                            node=call.node,
                        )


@register
class DropColumn(Rule):
    """Dropping a column in an upgrade loses its data and breaks the running servers.

    ## What it does
    Flags `op.drop_column(...)`, `batch_op.drop_column(...)` and `ALTER TABLE ... DROP COLUMN`
    in literal SQL inside `upgrade()`, unless the column (or its table) was added earlier in
    the same `upgrade()`. `downgrade()` is not checked: dropping what the upgrade added is the
    normal reverse.

    ## Why it matters
    The values are gone for good. Worse, SQLAlchemy names every mapped column in its
    SELECTs and INSERTs, so until every server runs code whose model no longer has the
    column, requests fail with "column does not exist" - during every deploy window.

    ## Example
    ```python
    def upgrade():
        op.drop_column("users", "nickname")
    ```

    ## Use instead
    Remove the column from the model (or mark it `deferred()` and stop using it) and deploy;
    drop it in a later migration, once no server runs the old model.
    ```python
    # release 1: delete `nickname = db.Column(...)` from the User model; no migration
    # release 2:
    def upgrade():
        op.drop_column("users", "nickname")  # safemigrate: ignore[drop-column] -- unmapped in 2.3
    ```
    """

    code = "SM102"
    name = "drop-column"
    fix = "remove the column from the model and deploy first; drop it in a later migration"

    requires = (op_facts("drop_column", upgrade=True) | _UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "drop_column" and call.receiver in {"op", "batch_op"}:
                if not line.added(call, call.table, call.column):
                    yield Violation(
                        f"drops column {column_label(call)}, losing its values for good and"
                        " breaking servers whose model still selects it",
                        node=call.node,
                    )
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    parsed = alter_table(statement)
                    if parsed is None or parsed[0] in created:
                        continue
                    table, actions = parsed
                    for action in actions:
                        match = _DROP_COLUMN.match(action)
                        if match is not None and not line.added(call, table, match.group(1)):
                            yield Violation(
                                f"drops column {table}.{ident(match.group(1))} in SQL, losing"
                                " its values for good and breaking servers whose model still"
                                " selects it",
                                node=call.node,
                            )


@register
class RenameTable(Rule):
    """Renaming a table breaks every server still running the previous release.

    ## What it does
    Flags `op.rename_table(...)`, `ALTER TABLE ... RENAME TO` and MySQL's `RENAME TABLE` in
    literal SQL inside `upgrade()`, unless the table was created earlier in the same function.

    ## Why it matters
    A rename is instant, but code is not: while the deploy rolls out, servers running the
    previous release still query the old name and fail, and a rollback of the code (without
    the migration) fails the same way.

    ## Example
    ```python
    def upgrade():
        op.rename_table("customer", "customers")
    ```

    ## Use instead
    Move in steps: create the new table (or, on PostgreSQL, rename and leave an updatable
    view under the old name), copy the rows and write to both, switch reads to the new name,
    then drop the old table in a later release.
    ```python
    def upgrade():
        op.rename_table("customer", "customers")  # safemigrate: ignore[rename-table]
        op.execute("CREATE VIEW customer AS SELECT * FROM customers")
    ```
    """

    code = "SM103"
    name = "rename-table"
    fix = "create the new table (or a view), copy and dual-write, switch reads, drop the old later"

    requires = (op_facts("rename_table", receivers=("op",), upgrade=True) | _UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "rename_table" and call.receiver == "op":
                if not line.created(call):
                    new = _label(call.param("new_table_name"))
                    yield Violation(
                        f"renames table {table_label(call, 'old_table_name')} to {new}, which"
                        " breaks servers still running code that uses the old name",
                        node=call.node,
                    )
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    table = _renamed_table(statement)
                    if table is not None and table not in created:
                        yield Violation(
                            f"renames table {table} in SQL, which breaks servers still"
                            " running code that uses the old name",
                            node=call.node,
                        )


def _renamed_table(statement: str) -> str | None:
    match = _RENAME_TABLE.match(statement)
    if match is not None:
        return ident(match.group(1))
    parsed = alter_table(statement)
    if parsed is not None and any(_RENAME_TO.match(action) for action in parsed[1]):
        return parsed[0]
    return None


@register
class RenameColumn(Rule):
    """Renaming a column breaks every server still running the previous release.

    ## What it does
    Flags `alter_column(..., new_column_name=...)` (on `op` and `batch_op`) and
    `RENAME COLUMN` / MySQL `CHANGE` in literal SQL inside `upgrade()`, unless the column was
    added earlier in the same function.

    ## Why it matters
    The old model names the old column in every SELECT and INSERT: until every server runs
    the new code, requests fail with "column does not exist". Rolling back the code alone
    fails the same way.

    ## Example
    ```python
    def upgrade():
        op.alter_column("users", "name", new_column_name="full_name")
    ```

    ## Use instead
    Add the new column, backfill it and write to both (or map the attribute to the new column
    with a fallback), switch reads, then drop the old column in a later release.
    ```python
    def upgrade():
        op.add_column("users", sa.Column("full_name", sa.String(200), nullable=True))
        op.execute("UPDATE users SET full_name = name WHERE full_name IS NULL")
    ```
    """

    code = "SM104"
    name = "rename-column"
    fix = "add the new column, backfill and dual-write, switch reads, drop the old column later"

    requires = (
        op_facts("alter_column", upgrade=True) | _UP_EXECUTE,
        _UP_EXECUTE | {"new_column_name"},  # alter_column takes it by keyword only
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "alter_column" and call.receiver in {"op", "batch_op"}:
                node = call.param("new_column_name")
                new = literal(node)
                if node is None or new is None or new == call.column:
                    continue
                if not line.added(call, call.table, call.column):
                    yield Violation(
                        f"renames column {column_label(call)} to {_label(node)}, which breaks"
                        " servers whose model still uses the old name",
                        node=call.node,
                    )
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    parsed = alter_table(statement)
                    if parsed is None or parsed[0] in created:
                        continue
                    table, actions = parsed
                    for action in actions:
                        match = _RENAME_COLUMN.match(action)
                        if match is None:
                            continue
                        old = ident(match.group(1) or match.group(3))
                        new_name = ident(match.group(2) or match.group(4))
                        if old != new_name and not line.added(call, table, old):
                            yield Violation(
                                f"renames column {table}.{old} to {new_name} in SQL, which"
                                " breaks servers whose model still uses the old name",
                                node=call.node,
                            )


# --- alter-column-type -----------------------------------------------------------------------

_VARCHAR = frozenset({"String", "VARCHAR", "Unicode"})
_TEXT = frozenset({"Text", "TEXT", "UnicodeText", "CLOB"})
_NUMERIC = frozenset({"Numeric", "NUMERIC", "DECIMAL"})
_PYTHON_SIDE = frozenset({"asdecimal", "decimal_return_scale", "_expect_unicode"})
# MySQL stores a VARCHAR's length in 1 byte up to 255 bytes: 63 characters in utf8mb4.
_MYSQL_ONE_BYTE_PREFIX = 63


@dataclass(frozen=True)
class _Type:
    """A column type as written: its class name, family and sizes, for comparing two."""

    name: str
    family: str | None  # "varchar" | "text" | "numeric" | None (anything else)
    size: tuple[Any, ...]
    rest: tuple[str, ...]  # everything else that reaches the DDL (collation, ...), dumped


def _parse_type(node: ast.expr) -> _Type | None:
    if isinstance(node, ast.Call):
        name = dotted(node.func)
        args = [a for a in node.args if not isinstance(a, ast.Starred)]
        if len(args) != len(node.args) or any(kw.arg is None for kw in node.keywords):
            return None
        kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}
    else:
        name, args, kwargs = dotted(node), [], {}
    if name is None:
        return None
    last = name.rsplit(".", 1)[-1]

    def take(position: int, keyword: str) -> Any:
        value = kwargs.pop(keyword, None)
        if value is None and position < len(args):
            value = args[position]
        return None if value is None else literal(value)

    family: str | None = None
    size: tuple[Any, ...] = ()
    if last in _VARCHAR or last in _TEXT:
        family = "varchar" if last in _VARCHAR else "text"
        size = (take(0, "length"),)
        args = args[1:]
    elif last in _NUMERIC:
        family = "numeric"
        precision, scale = take(0, "precision"), take(1, "scale")
        if precision is not None and scale is None:
            scale = 0
        size = (precision, scale)
        args = []  # further positional arguments (asdecimal, ...) only affect Python
        for key in _PYTHON_SIDE:
            kwargs.pop(key, None)
    if any(
        is_missing(v) or isinstance(v, bool) or not (v is None or isinstance(v, int)) for v in size
    ):
        family = None  # a size we cannot read: only an identical type is known to be safe
        size = ()
        kwargs = {kw.arg: kw.value for kw in getattr(node, "keywords", []) if kw.arg}
        args = list(getattr(node, "args", []))
    rest = tuple(ast.dump(a) for a in args) + tuple(
        f"{k}={ast.dump(v)}" for k, v in sorted(kwargs.items())
    )
    return _Type(last, family, size, rest)


def _safe_change(old: _Type, new: _Type, mysql: bool) -> bool:
    """Whether changing ``old`` to ``new`` is a known metadata-only widening."""
    if old.family is None or new.family is None or old.rest != new.rest:
        return old.name == new.name and old.size == new.size and old.rest == new.rest
    if old.family == "varchar":
        (n,) = old.size
        if new.family == "text":
            return not mysql
        if new.family != "varchar":
            return False
        (m,) = new.size
        if n is None or m is None:
            return m is None and (n is None or not mysql)
        if m < n:
            return False
        return not mysql or m == n or m <= _MYSQL_ONE_BYTE_PREFIX or n > _MYSQL_ONE_BYTE_PREFIX
    if old.family == "text":
        return new.family == "text" and (not mysql or old.size == new.size)
    if new.family != "numeric":
        return False
    (p1, s1), (p2, s2) = old.size, new.size
    if (p1, s1) == (p2, s2):
        return True
    if mysql:
        return False
    if p2 is None:
        return s2 is None  # an unconstrained NUMERIC holds every value
    return p1 is not None and p2 >= p1 and s1 == s2


@register
class AlterColumnType(Rule):
    """Changing a column's type can rewrite the table and break existing values or code.

    ## What it does
    Flags `alter_column(..., type_=...)` (on `op` and `batch_op`) and
    `ALTER COLUMN ... TYPE` in literal SQL inside `upgrade()`, for a column that was not
    added earlier in the same function. Changes known to be metadata-only are not flagged:
    widening a `String`/`VARCHAR` (to a longer length, to no length, or to `Text`),
    raising a `Numeric`'s precision with the same scale (or dropping the precision), and an
    unchanged type. Judging needs `existing_type=`; without it the change is flagged,
    because it cannot be shown to be safe. The length is read from `sa.String(50)`,
    `sa.String(length=50)`, `sa.VARCHAR(50)`, `mysql.VARCHAR(length=50)` and the like.

    With `dialect = "mysql"` the MySQL rules apply: a VARCHAR stays in place only while its
    length prefix keeps its size (up to 63 characters in utf8mb4, or already above), and
    VARCHAR to TEXT or any DECIMAL change copies the table.

    ## Why it matters
    Most type changes rewrite the table and its indexes under an exclusive lock (PostgreSQL
    `ACCESS EXCLUSIVE`, a table copy on MySQL, a table rebuild on SQLite): reads and writes
    stop for as long as that takes. Narrowing fails on, or silently truncates, existing
    values, and code still running the previous release may write values the new type
    rejects.

    ## Example
    ```python
    def upgrade():
        op.alter_column("orders", "id", type_=sa.BigInteger(), existing_type=sa.Integer())
    ```

    ## Use instead
    Widen where the database can do it in place, saying what the column was:
    ```python
    def upgrade():
        op.alter_column(
            "users", "email", type_=sa.String(320), existing_type=sa.String(120)
        )
    ```
    For other changes, add a new column of the new type, backfill it in batches while the
    code writes both, switch reads, and drop the old column in a later release.
    """

    code = "SM105"
    name = "alter-column-type"
    fix = "add a column of the new type, backfill and dual-write, switch, drop the old one later"

    requires = (
        op_facts("alter_column", upgrade=True) | _UP_EXECUTE,
        _UP_EXECUTE | {"type_"},  # alter_column takes it by keyword only
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        mysql = migration.config.dialect == "mysql"
        for call in migration.upgrade_calls:
            if call.name == "alter_column" and call.receiver in {"op", "batch_op"}:
                violation = self._alter_column(call, line, mysql)
                if violation is not None:
                    yield violation
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    parsed = alter_table(statement)
                    if parsed is None or parsed[0] in created:
                        continue
                    table, actions = parsed
                    for action in actions:
                        match = _ALTER_TYPE.match(action)
                        if match is not None and not line.added(call, table, match.group(1)):
                            yield Violation(
                                f"changes the type of {table}.{ident(match.group(1))} in SQL,"
                                " which cannot be shown to be a safe widening and may rewrite"
                                " the table under an exclusive lock",
                                node=call.node,
                            )

    def _alter_column(self, call: Call, line: Timeline, mysql: bool) -> Violation | None:
        new_node = call.param("type_")
        if new_node is None or literal(new_node) is None:
            return None
        if line.added(call, call.table, call.column):
            return None
        old_node = call.param("existing_type")
        new = _parse_type(new_node)
        if old_node is None or literal(old_node) is None:
            return Violation(
                f"changes the type of {column_label(call)} to {_label(new_node)} without"
                " `existing_type=`,"
                " so it cannot be shown to be a safe widening; most type changes rewrite the"
                " table under an exclusive lock",
                node=call.node,
                help="pass existing_type= so that a safe widening is recognised; otherwise "
                + self.fix,
            )
        old = _parse_type(old_node)
        if old is not None and new is not None and _safe_change(old, new, mysql):
            return None
        # Only now the message: naming a type that is not a literal means unparsing it.
        change = (
            f"changes the type of {column_label(call)} from {_label(old_node)}"
            f" to {_label(new_node)}"
        )
        # A widening MySQL cannot do in place:
        if old is not None and new is not None and _safe_change(old, new, mysql=False):
            return Violation(
                f"{change}, which MySQL cannot do in place: it copies the table while"
                " blocking writes",
                node=call.node,
            )
        return Violation(
            f"{change}, which rewrites the table under an exclusive lock and can fail on or"
            " alter existing values",
            node=call.node,
        )


# --- unbounded-delete ------------------------------------------------------------------------

_DELETE = re.compile(
    rf"^(?:WITH\b.*?\)\s*)?DELETE (?:(?:LOW_PRIORITY|QUICK|IGNORE) )*(?:({QNAME})\s+)?FROM "
    rf"(?:ONLY )?({QNAME})(.*)$",
    re.IGNORECASE | re.S,
)
_BOUNDED = re.compile(r"\b(?:WHERE|JOIN)\b", re.IGNORECASE)
_TRIVIAL_WHERE = re.compile(
    r"\bWHERE (?:TRUE|1 ?= ?1|'' ?= ?'')(?: RETURNING\b.*)?$", re.IGNORECASE
)
_TRUNCATE = re.compile(
    rf"^TRUNCATE (?:TABLE )?(?:ONLY )?({QNAME}(?:\s*,\s*(?:ONLY )?{QNAME})*)", re.IGNORECASE
)
_SA_MODULES = frozenset(
    {"sa", "sqlalchemy", "sql", "expression", "sa.sql", "sqlalchemy.sql", "sa.sql.expression"}
)
_FILTERS = frozenset({"where", "filter", "filter_by"})
_MENTIONS_DELETE = re.compile("delete|truncate", re.IGNORECASE)


def _delete_target(node: ast.AST) -> tuple[bool, ast.expr | None, bool] | None:
    """For a SQLAlchemy delete construct: ``(bounded, table, is_orm_query)``, else ``None``.

    Recognises ``sa.delete(t)``, ``delete(t)``, ``t.delete()`` and
    ``session.query(M)...delete()``, with any chain of method calls around them.
    """
    chain: list[tuple[str, ast.Call]] = []
    current: ast.AST = node
    while isinstance(current, ast.Call):
        func = current.func
        if isinstance(func, ast.Attribute):
            chain.append((func.attr, current))
            current = func.value
        elif isinstance(func, ast.Name):
            chain.append((func.id, current))
            current = func
            break
        else:
            break
    root = dotted(current) if isinstance(current, ast.Name | ast.Attribute) else None
    names = [name for name, _ in chain]
    if "delete" not in names:
        return None
    index = names.index("delete")
    delete = chain[index][1]
    bounded = any(name in _FILTERS for name in names) or any(
        kw.arg == "whereclause" for kw in delete.keywords
    )
    function_form = index == len(chain) - 1 and (
        isinstance(delete.func, ast.Name) or root in _SA_MODULES
    )
    if function_form:
        table = delete.args[0] if delete.args else None
        return bounded or len(delete.args) > 1, table, False
    if "query" in names[index + 1 :]:
        return bounded, None, True
    owner = delete.func.value if isinstance(delete.func, ast.Attribute) else None
    return bounded or bool(delete.args), owner, False


def _table_of(node: ast.expr | None) -> str | None:
    """``users`` for ``users``, ``self.users``, ``sa.table("users", ...)``."""
    if isinstance(node, ast.Call) and node.args:
        value = literal(node.args[0])
        return value if isinstance(value, str) else None
    if isinstance(node, ast.Name | ast.Attribute):
        name = dotted(node)
        return name.rsplit(".", 1)[-1] if name else None
    return None


@register
class UnboundedDelete(Rule):
    """A DELETE without WHERE, or a TRUNCATE, empties a whole table.

    ## What it does
    Flags, in `upgrade()` and `downgrade()`: `DELETE FROM table` without a `WHERE` (or with
    `WHERE 1=1`/`WHERE true`) and `TRUNCATE` in `op.execute`/`conn.execute` SQL, and the
    SQLAlchemy forms `op.execute(table.delete())`, `conn.execute(sa.delete(table))` and
    `session.query(Model).delete()` with no `.where(...)`/`.filter(...)` in the chain. The
    SQL is read case-insensitively, ignoring comments. Emptying a table created earlier in
    the same function is not flagged.

    ## Why it matters
    Every row is deleted, and no downgrade brings them back. It is usually a seed-data
    cleanup that meant "the rows I inserted" and also removes everything users added since;
    on a large table a single unbatched DELETE also holds row locks and bloats the table.

    ## Example
    ```python
    def downgrade():
        op.execute("DELETE FROM roles")
    ```

    ## Use instead
    Delete exactly the rows the migration is responsible for:
    ```python
    def downgrade():
        op.execute("DELETE FROM roles WHERE name IN ('auditor', 'billing')")
    ```
    """

    code = "SM106"
    name = "unbounded-delete"
    fix = "delete only the rows you mean, with a WHERE clause (in batches on big tables)"

    requires = (frozenset({"execute", "delete"}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        if not migration.mentions(_MENTIONS_DELETE, "delete", "truncate"):
            return  # the cheap test first: most scripts never delete anything
        line = timeline(migration)
        by_node = {id(call.node): call for call in migration.calls}
        for function in direction_functions(migration):
            for node in migration.index.calls_in(function):
                if not isinstance(node.func, ast.Attribute):
                    continue
                call = by_node.get(id(node))
                if node.func.attr == "execute":
                    yield from self._execute(node, call, line)
                elif node.func.attr == "delete":
                    target = _delete_target(node)
                    if target is not None and target[2] and not target[0]:
                        yield Violation(
                            "deletes every row of the queried model's table (query.delete()"
                            " without a filter), which no downgrade can restore",
                            node=node,
                        )

    def _execute(self, node: ast.Call, call: Call | None, line: Timeline) -> Iterator[Violation]:
        created = line.before(call).tables if call is not None else frozenset()
        argument = call.sql_node if call is not None else (node.args[0] if node.args else None)
        if argument is None:
            return
        target = _delete_target(argument)
        if target is not None:
            bounded, table_node, _ = target
            table = _table_of(table_node)
            if not bounded and (table is None or ident(table) not in created):
                yield Violation(
                    f"deletes every row of {table or 'the table'} (a delete() without"
                    " .where()), which no downgrade can restore",
                    node=node,
                )
            return
        if call is None:
            sql = sql_text(argument)
            statements = [(s, created) for s in sql_statements(sql)] if sql else []
        else:
            statements = list(line.statements(call))
        for statement, known in statements:
            message = _unbounded(statement, known)
            if message is not None:
                yield Violation(message, node=node)


def _unbounded(statement: str, created: frozenset[str]) -> str | None:
    match = _DELETE.match(statement)
    if match is not None:
        table, rest = ident(match.group(2)), match.group(3)
        if table in created:
            return None
        if _BOUNDED.search(rest) and not _TRIVIAL_WHERE.search(rest):
            return None
        return (
            f"deletes every row of {table} (DELETE without a WHERE clause), which no downgrade"
            " can restore"
        )
    match = _TRUNCATE.match(statement)
    if match is not None:
        names = [
            ident(re.sub(r"^ONLY\s+", "", n, flags=re.IGNORECASE))
            for n in split_top_level(match.group(1))
        ]
        lost = [n for n in names if n not in created]
        if lost:
            return (
                f"truncates {', '.join(lost)}, deleting every row, which no downgrade can restore"
            )
    return None
