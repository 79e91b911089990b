"""What each point of a migration function has done before it: the tables created (or
emptied: ``DELETE FROM t`` without ``WHERE``, ``TRUNCATE t``, ``session.query(Model).delete()``
of a model the script declares, ``execute(t.delete())`` of a table it names) earlier in the
same function
(they hold no rows, so lock and rewrite rules skip them).
"""

from __future__ import annotations

import ast
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

from flask_safemigrate.lint.calls import Call, dotted
from flask_safemigrate.lint.inline import table_definitions
from flask_safemigrate.lint.model import Migration
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import (
    CREATE_TABLE,
    NOT_NULL_CHECK,
    NOT_NULL_CONDITION,
    NOT_VALID,
    PLACEHOLDER,
    VALIDATE,
    add_column_action,
    alter_table,
    execute_sql,
    ident,
    sql_statements,
    sql_text,
)


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
        # Tables made by a project's create_table() helper or metadata.create_all(bind).
        self._creations = migration.index.creations
        # Tables emptied through the ORM: they hold no rows for the lock rules (created()),
        # but the ORM may fill them again before a drop (added() does not read these).
        # Weakly: rules keep timelines in the script's shared cache (Migration.shared), and a
        # strong reference back would make each script a reference cycle, its whole tree then
        # freed by the cyclic garbage collector instead of on the spot (about a tenth of a
        # lint run's CPU on 1,000 scripts). A rule asks with the migration in hand.
        self._migration = weakref.ref(migration)
        self._orm_emptied: list[tuple[str, int, str]] | None = None  # read on first need
        current: dict[str, _Before] = {}
        for call in migration.calls:
            before = current.get(call.direction, _EMPTY)
            self._before[id(call)] = before
            if call.name in _CHANGES_TIMELINE:  # no other call changes what comes after
                after = _after(call, before)
                if after is not before:
                    current[call.direction] = after

    @property
    def migration(self) -> Migration | None:
        """The migration this timeline is of; ``None`` once it is gone."""
        return self._migration()

    def before(self, call: Call) -> _Before:
        before = self._before.get(id(call), _EMPTY)
        if self._creations:
            made = {
                ident(table)
                for direction, line, table in self._creations
                if direction == call.direction and line < call.line
            }
            if not made <= before.tables:
                before = _with(before, tables=before.tables | made)
        return before

    def created(self, call: Call, table: str | None = None) -> bool:
        """Whether ``table`` (default: the call's) was created (or emptied) earlier in the
        function."""
        table = table if table is not None else call.table_key
        if table is None:
            return False
        key = ident(table)
        if key in self.before(call).tables:
            return True
        if self._orm_emptied is None:
            migration = self.migration
            assert migration is not None, "a timeline outlived its migration"
            self._orm_emptied = _orm_emptied(migration)
        return any(
            direction == call.direction and line < call.line and ident(emptied) == key
            for direction, line, emptied in self._orm_emptied
        )

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
            match = CREATE_TABLE.match(statement)
            if match is not None:
                tables.add(ident(match.group(1)))


_CHANGES_TIMELINE = frozenset(
    {"create_table", "add_column", "create_check_constraint", "execute", "rename_table"}
)


def _after(call: Call, before: _Before) -> _Before:
    """What the function has done once ``call`` ran (``before`` itself when nothing changed)."""
    if call.name not in _CHANGES_TIMELINE:
        return before
    table = call.table
    if call.name == "rename_table":  # a new or emptied table keeps holding no rows
        new_name = call.string("new_table_name")
        if table is not None and new_name is not None and ident(table) in before.tables:
            return _with(before, tables=before.tables | {ident(new_name)})
        return before
    if call.name == "create_table" and call.receiver == "op":
        key = call.table_key  # a table named by an expression is matched by that expression
        return before if key is None else _with(before, tables=before.tables | {ident(key)})
    if call.name == "add_column" and table is not None and call.column is not None:
        return _with(before, columns=before.columns | {(ident(table), ident(call.column))})
    if call.name == "create_check_constraint" and table is not None:
        condition = NOT_NULL_CONDITION.match(
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


_NAME = r'(?:"[^"]+"|`[^`]+`|\w+)(?:\s*\.\s*(?:"[^"]+"|`[^`]+`|\w+))?'
# Every row deleted (no WHERE) or the table truncated: it holds no rows afterwards, like a
# table created in the same function.
_EMPTIED = compiled_later(
    rf"^\s*(?:DELETE\s+FROM\s+(?:ONLY\s+)?({_NAME})|TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?"
    rf"({_NAME}))\s*;?\s*$",
    re.IGNORECASE,
)


def _after_sql(statement: str, before: _Before) -> _Before:
    match = CREATE_TABLE.match(statement)
    if match is not None:
        return _with(before, tables=before.tables | {ident(match.group(1))})
    emptied = _EMPTIED.match(statement)
    if emptied is not None and PLACEHOLDER not in statement:
        return _with(before, tables=before.tables | {ident(emptied.group(1) or emptied.group(2))})
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
        check = NOT_NULL_CHECK.match(action)
        if check is not None:
            column = ident(check.group(2))
            if not NOT_VALID.search(action):
                after = _with(after, not_null_checked=after.not_null_checked | {(table, column)})
            elif check.group(1):
                entry = ((table, ident(check.group(1))), column)
                after = _with(after, pending=(*after.pending, entry))
            continue
        validate = VALIDATE.match(action)
        if validate is not None:
            key = (table, ident(validate.group(1)))
            column = dict(after.pending).get(key, "*")
            after = _with(after, not_null_checked=after.not_null_checked | {(table, column)})
    return after


def _orm_emptied(migration: Migration) -> list[tuple[str, int, str]]:
    """Tables emptied by code: ``session.query(Model).delete()`` without a filter, ``Model`` a
    declarative model of the script, and SQLAlchemy Core's ``execute(t.delete())`` or
    ``execute(sa.delete(t))`` without a ``where``, ``t`` a table of the script (``sa.table("t",
    ...)``, ``sa.Table("t", metadata, ...)``, a model): ``(direction, line, table)`` for
    each, the table holding no rows after it."""
    lowered = migration.lowered
    if "delete(" not in lowered:
        return []  # the cheap test first: most scripts never delete through code
    tables: dict[str, tuple[str, str]] | None = None
    found: list[tuple[str, int, str]] = []
    for function in migration.index.functions:
        for node in function.call_nodes:
            func = node.func
            if not isinstance(func, ast.Attribute):
                continue
            if func.attr == "delete" and not node.args and not node.keywords:
                query = func.value
                if not (
                    isinstance(query, ast.Call)
                    and isinstance(query.func, ast.Attribute)
                    and query.func.attr == "query"
                    and len(query.args) == 1
                    and isinstance(query.args[0], ast.Name)
                ):
                    continue
                if tables is None:
                    tables = _script_tables(migration.tree)
                model = tables.get(query.args[0].id)
                if model is not None:
                    found.append((function.direction, node.lineno, model[0]))
            elif func.attr in {"execute", "exec_"} and len(node.args) == 1:
                target = _core_delete(node.args[0])
                if target is None:
                    continue
                if tables is None:
                    tables = _script_tables(migration.tree)
                emptied = _deleted_table(target, tables)
                if emptied is not None:
                    found.append((function.direction, node.lineno, emptied))
    return found


def _core_delete(statement: ast.expr) -> ast.expr | None:
    """What ``t.delete()`` or ``delete(t)`` deletes every row of (no ``where``: one would be
    the outer call): ``t``."""
    if not isinstance(statement, ast.Call) or statement.keywords:
        return None
    func = statement.func
    if isinstance(func, ast.Attribute) and func.attr == "delete" and not statement.args:
        return func.value  # t.delete()
    if (dotted(func) or "").rsplit(".", 1)[-1] == "delete" and len(statement.args) == 1:
        return statement.args[0]  # sa.delete(t)
    return None


def _deleted_table(target: ast.expr, tables: dict[str, tuple[str, str]]) -> str | None:
    """The table name of ``target``, a table expression of the script (a name bound to a
    table or model, ``Model.__table__``, ``sa.table("t")``)."""
    if isinstance(target, ast.Name):
        known = tables.get(target.id)
        return known[0] if known is not None else None
    if isinstance(target, ast.Attribute) and target.attr == "__table__":
        owner = target.value  # Model.__table__
        known = tables.get(owner.id) if isinstance(owner, ast.Name) else None
        return known[0] if known is not None else None
    return _table_call(target)


def _table_call(node: ast.expr) -> str | None:
    """``sa.table("t", ...)`` or ``sa.Table("t", metadata, ...)``: ``t``."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    if (dotted(node.func) or "").rsplit(".", 1)[-1] not in {"table", "Table"}:
        return None
    name = node.args[0]
    return name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None


def _script_tables(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Names bound to a table of the script: :func:`table_definitions` (``sa.Table``,
    declarative models) and ``name = sa.table("t", ...)``, for names bound only once."""
    found = dict(table_definitions(tree))
    bound: dict[str, int] = {}
    light: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound[target.id] = bound.get(target.id, 0) + 1
                    table = _table_call(node.value)
                    if table is not None:
                        light[target.id] = table
    for name, table in light.items():
        if bound[name] == 1:
            found.setdefault(name, (table, ""))
    return found


_TIMELINE_CACHE: list[tuple[list[Call], Timeline]] = []


def timeline(migration: Migration) -> Timeline:
    """The :class:`Timeline` of a migration, built once and shared by the rules."""
    cached = _TIMELINE_CACHE[0] if _TIMELINE_CACHE else None  # one read: safe under threads
    # The same calls of the same script (a Migration given another's calls has its own).
    if cached is not None and cached[0] is migration.calls and cached[1].migration is migration:
        return cached[1]
    built = Timeline(migration)
    _TIMELINE_CACHE[:] = [(migration.calls, built)]
    return built
