"""Where names and rows go inside one migration function.

Drop and rename rules judge one op at a time, but some sequences keep what each step seems
to take away:

- the table rebuild (SQLite's way to change what ``ALTER TABLE`` cannot): create ``t_new``,
  ``INSERT INTO t_new SELECT ... FROM t``, drop ``t``, rename ``t_new`` to ``t``. The name
  servers use keeps existing and holds the rows;
- the column swap: add ``a_new``, fill it from ``a``, drop ``a``, rename ``a_new`` to ``a``
  (or rename ``a`` to ``a_old``, add a new ``a``, fill it, drop ``a_old``);
- rows copied to their new home (``INSERT INTO archive SELECT ... FROM t``) before a
  ``DELETE FROM t``: the rows are not lost.

:func:`moves` reads every call of the script once, in order, and answers those questions
for a call: what the same function did before it and does after it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from flask_safemigrate.lint.calls import Call, dotted, nodes_below
from flask_safemigrate.lint.helpers.functions import FunctionNode, statements
from flask_safemigrate.lint.model import Migration
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import (
    IDENT,
    QNAME,
    add_column_action,
    alter_table,
    execute_sql,
    ident,
    split_top_level,
    sql_statements,
)

_INSERT_SELECT = compiled_later(
    rf"^INSERT (?:OR \w+ )?INTO ({QNAME})\s*(?:\([^)]*\)\s*)?(?:SELECT|WITH|\()\b", re.IGNORECASE
)
_SOURCE = compiled_later(rf"\b(?:FROM|JOIN)\s+({QNAME})", re.IGNORECASE)
_RENAME_TABLE = compiled_later(rf"^RENAME TABLE ({QNAME}) TO ({QNAME})", re.IGNORECASE)
_RENAME_TO = compiled_later(rf"^RENAME (?:TO|AS) ({QNAME})", re.IGNORECASE)
_RENAME_COLUMN = compiled_later(rf"^RENAME (?:COLUMN )?({IDENT}) TO ({IDENT})", re.IGNORECASE)
_DROP_TABLE = compiled_later(rf"^DROP TABLE (?:IF EXISTS )?({QNAME})", re.IGNORECASE)
_UPDATE_SET = compiled_later(rf"^UPDATE ({QNAME}) SET (.+?)(?: WHERE .*)?$", re.IGNORECASE)
_ASSIGNED = compiled_later(rf"^({IDENT})\s*=", re.IGNORECASE)
# An f-string's expression: it matches no other name (two of them may be different tables).
_UNKNOWN = "{...}"


_Run = tuple[str, frozenset[str]]  # a call's function (direction) and the dialects reaching it


@dataclass
class Moves:
    """The name and row moves of a script's functions, in call order."""

    tree: ast.Module
    calls: list[Call]
    position: dict[int, int] = field(default_factory=dict)  # id(call) -> its index
    # (index, target, sources): INSERT INTO target SELECT ... FROM sources
    copies: list[tuple[int, str, frozenset[str]]] = field(default_factory=list)
    # (index, old, new) table renames; (index, table, old, new) column renames
    table_renames: list[tuple[int, str, str]] = field(default_factory=list)
    column_renames: list[tuple[int, str, str, str]] = field(default_factory=list)
    # (index, table, column) columns added; columns filled by an UPDATE ... SET column
    added: list[tuple[int, str, str]] = field(default_factory=list)
    filled: list[tuple[int, str, str]] = field(default_factory=list)
    dropped_tables: list[tuple[int, str]] = field(default_factory=list)
    created_tables: list[tuple[int, str]] = field(default_factory=list)
    _functions: list[FunctionNode] | None = None
    # id(function) -> the nodes below it (``nodes_below``), walked once per function
    _function_nodes: dict[int, list[ast.AST]] = field(default_factory=dict)

    @property
    def functions(self) -> list[FunctionNode]:
        """The script's function definitions, each before the ones nested in it: found once
        per script, not once per question, among the statements alone (a definition is
        never inside an expression), not by a walk of every node of the module.

        Function definitions are nested or apart, so the ones around a line form a chain, and
        outer before inner is all that :func:`_enclosing` and :func:`_code_names` rely on."""
        if self._functions is None:
            self._functions = [
                node
                for node in statements(self.tree.body)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        return self._functions

    def nodes_of(self, function: FunctionNode) -> list[ast.AST]:
        """Every node below ``function`` (as ``ast.walk`` finds them, without expression
        contexts and operators), walked once however many calls ask about it."""
        found = self._function_nodes.get(id(function))
        if found is None:
            found = self._function_nodes[id(function)] = nodes_below(function)
        return found

    # (index, table, column): columns added as generated (``sa.Computed(...)``)
    computed: list[tuple[int, str, str]] = field(default_factory=list)

    def _where(self, call: Call) -> tuple[int, _Run]:
        return self.position.get(id(call), -1), (call.direction, call.dialects)

    def _same_function(self, index: int, run: _Run) -> bool:
        """Whether the call at ``index`` runs whenever the queried call does: the same
        function, and every dialect that reaches the queried call reaches it too."""
        other = self.calls[index]
        return other.direction == run[0] and other.dialects >= run[1]

    def _covered(self, run: _Run, indices: list[int]) -> bool:
        """Whether the calls at ``indices`` (of the same function) together run on every
        dialect that reaches the queried call: a drop may be spelled once per dialect branch
        (``DROP TABLE t CASCADE`` on PostgreSQL, ``op.drop_table("t")`` elsewhere)."""
        reached: set[str] = set()
        for index in indices:
            other = self.calls[index]
            if other.direction == run[0]:
                reached |= other.dialects
        return bool(indices) and reached >= run[1]

    def copied_out(self, call: Call, table: str) -> bool:
        """Whether the function copied ``table``'s rows into another table before ``call``."""
        here, direction = self._where(call)
        key = ident(table)
        if _UNKNOWN in key:
            return False
        return any(
            index < here and self._same_function(index, direction) and key in sources
            for index, target, sources in self.copies
            if target != key
        )

    def table_named_again(self, call: Call, table: str) -> bool:
        """Whether another table takes the name ``table`` after ``call`` (renamed to it)."""
        here, direction = self._where(call)
        key = ident(table)
        if _UNKNOWN in key:
            return False
        return any(
            index > here and self._same_function(index, direction) and new == key and old != key
            for index, old, new in self.table_renames
        )

    def table_rebuilt(self, call: Call, table: str) -> bool:
        """Whether ``call`` (a drop of ``table``) is the middle of a table rebuild: the
        table that takes its name after was filled with its rows before: by ``INSERT ...
        SELECT ... FROM table``, or by code in the same function that names both tables
        (``insert(sa.table("t_new", ...))`` of rows read from ``sa.table("t", ...)``)."""
        if self.copied_out(call, table) and self.table_named_again(call, table):
            return True
        here, direction = self._where(call)
        key = ident(table)
        if _UNKNOWN in key:
            return False
        copies = {
            old
            for index, old, new in self.table_renames
            if index > here and self._same_function(index, direction) and new == key
        }
        if not copies:
            return False
        body = _enclosing(call, self.functions)
        if body is None:
            return False
        named = _code_names(call, body.lineno, call.line, self)
        return key in named and bool(copies & named)

    def leftover(self, call: Call, table: str, column: str | None = None) -> bool:
        """Whether ``call`` (a drop under an existence check) removes what the same function
        makes again later under that name (``if "t_old" in tables: drop_table("t_old")``
        then ``rename_table("t", "t_old")``): the leftover of an earlier, interrupted run of
        this very migration, which no release's code uses."""
        if not self._conditional_on(call, column if column is not None else table):
            return False
        if column is not None:
            return self.column_named_again(call, table, column)
        here, direction = self._where(call)
        key = ident(table)
        if _UNKNOWN in key:
            return False
        made = [index for index, made in self.created_tables if made == key] + [
            index for index, old, new in self.table_renames if new == key and old != key
        ]
        return any(index > here and self._same_function(index, direction) for index in made)

    def _conditional_on(self, call: Call, name: str) -> bool:
        """Whether an ``if`` around ``call`` names ``name``: in its condition, or in what a
        name in the condition was assigned in the same function (``exists = "t_old" in
        tables``; ``if exists:``)."""
        if not call.ifs:
            return False
        key = ident(name)
        body = _enclosing(call, self.functions)
        for statement in call.ifs:
            for node in ast.walk(statement.test):
                if isinstance(node, ast.Constant | ast.JoinedStr):
                    value = call.resolve(node)
                    if isinstance(value, str) and ident(value) == key:
                        return True
                elif (
                    isinstance(node, ast.Name)
                    and body is not None
                    and key in _assigned_strings(self.nodes_of(body), node.id, call)
                ):
                    return True
        return False

    def regenerated(self, call: Call, table: str, column: str) -> bool:
        """Whether the function adds ``table.column`` back later as a generated column
        (``sa.Computed(...)``): the database computes its values again, under the same name."""
        here, direction = self._where(call)
        key = (ident(table), ident(column))
        return any(
            index > here and self._same_function(index, direction) and (t, c) == key
            for index, t, c in self.computed
        )

    def dropped_later(self, call: Call, table: str) -> bool:
        """Whether the same function drops ``table`` after ``call`` (on every dialect that
        runs ``call``): what ``call`` does to its columns is part of that drop (which is
        judged on its own)."""
        here, direction = self._where(call)
        key = ident(table)
        return _UNKNOWN not in key and self._covered(
            direction,
            [index for index, dropped in self.dropped_tables if index > here and dropped == key],
        )

    def swapped_in(self, call: Call, old: str | None, new: str) -> bool:
        """Whether ``call`` (a rename of ``old`` to ``new``) ends a table rebuild: ``new``
        was dropped earlier in the function, after its rows were copied into ``old``."""
        here, direction = self._where(call)
        source, target = ident(new), ident(old) if old is not None else None
        if target is None or _UNKNOWN in source:
            return False
        dropped = self._covered(
            direction,
            [index for index, table in self.dropped_tables if index < here and table == source],
        )
        return dropped and any(
            index < here and self._same_function(index, direction) and source in sources
            for index, copy, sources in self.copies
            if copy == target
        )

    def column_named_again(self, call: Call, table: str, column: str) -> bool:
        """Whether, after ``call``, a column of ``table`` takes the name ``column`` again:
        another column renamed to it (the swap), or a new column added under it."""
        here, direction = self._where(call)
        t, c = ident(table), ident(column)
        return any(
            index > here and self._same_function(index, direction) and (tt, new) == (t, c)
            for index, tt, old, new in self.column_renames
            if old != new
        ) or any(
            index > here and self._same_function(index, direction) and (tt, cc) == (t, c)
            for index, tt, cc in self.added
        )

    def swap_replaces(self, call: Call, table: str, column: str) -> bool:
        """Whether dropping ``table.column`` is a step of a column swap that keeps the name:
        a column added in the same function and filled takes the name after the drop."""
        here, direction = self._where(call)
        t, c = ident(table), ident(column)
        for index, tt, old, new in self.column_renames:
            if (
                index > here
                and self._same_function(index, direction)
                and (tt, new) == (t, c)
                and self._added_and_filled(index, direction, t, old)
            ):
                return True
        return False

    def swap_leftover(self, call: Call, table: str, column: str) -> bool:
        """Whether ``table.column`` got its name from a rename earlier in the function
        (``a`` to ``a_old``) and a new ``a``, added and filled since, holds the values."""
        here, direction = self._where(call)
        t, c = ident(table), ident(column)
        for index, tt, old, new in self.column_renames:
            if (
                index < here
                and self._same_function(index, direction)
                and (tt, new) == (t, c)
                and self._added_and_filled(here, direction, t, old, after=index)
            ):
                return True
        return False

    def _added_and_filled(
        self, before: int, direction: _Run, table: str, column: str, after: int = -1
    ) -> bool:
        """Whether ``table.column`` was added between the calls ``after`` and ``before``, and
        filled after it was added: by an ``UPDATE ... SET column`` the linter reads, or by
        code that names the column (``update(t).values(column=...)``, a backfill helper
        given its name) between the add and ``before``."""
        for index, t, c in self.added:
            if not (after < index < before and self._same_function(index, direction)):
                continue
            if (t, c) != (table, column):
                continue
            if any(index < i < before and (tt, cc) == (table, column) for i, tt, cc in self.filled):
                return True
            if _named_by_code(self.calls[index], self.calls[before], column, self):
                return True
        return False


def _named_by_code(added: Call, until: Call, column: str, moves: Moves) -> bool:
    """Whether a call that is not a migration op, in the function (or helper) body that adds
    the column, between the add and ``until``, names the column in a string."""
    return column in _code_names(added, added.line, until.line, moves)


def _enclosing(call: Call, functions: list[FunctionNode]) -> FunctionNode | None:
    """The innermost function definition around ``call``."""
    found = None
    for node in functions:
        if node.lineno <= call.line <= (node.end_lineno or node.lineno) and (
            found is None or node.lineno >= found.lineno
        ):
            found = node
    return found


def _assigned_strings(body_nodes: list[ast.AST], name: str, scope: Call) -> set[str]:
    """The strings in what ``name`` is assigned in a function, given the nodes below it
    (``ident``-ed)."""
    found: set[str] = set()
    for node in body_nodes:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Constant | ast.JoinedStr):
                    value = scope.resolve(sub)
                    if isinstance(value, str):
                        found.add(ident(value))
    return found


def _code_names(scope: Call, start: int, stop: int, moves: Moves) -> set[str]:
    """The strings (``ident``-ed; f-strings read with ``scope``'s bindings) in the calls that
    are not migration ops, in the function body around ``scope``, between lines ``start``
    and ``stop`` (both excluded)."""
    line = scope.line
    body = next(
        (
            node
            for node in moves.functions
            if node.lineno <= min(start, line)
            and max(stop, line) <= (node.end_lineno or node.lineno)
        ),
        None,
    )
    names: set[str] = set()
    if body is None or stop <= start:
        return names
    for node in moves.nodes_of(body):
        if not isinstance(node, ast.Call) or not start < node.lineno < stop:
            continue
        if (dotted(node.func) or "").startswith(("op.", "batch_op.")):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant | ast.JoinedStr):
                value = scope.resolve(sub)
                if isinstance(value, str):
                    names.add(ident(value))
    return names


def moves(migration: Migration) -> Moves:
    """The :class:`Moves` of a script (built once, shared by the rules)."""
    return migration.shared("moves", lambda: _build(migration))


def _build(migration: Migration) -> Moves:
    found = Moves(migration.tree, migration.calls)
    for index, call in enumerate(migration.calls):
        found.position[id(call)] = index
        name = call.name
        if name == "rename_table":
            old, new = call.table, call.string("new_table_name")
            if old is not None and new is not None:
                found.table_renames.append((index, ident(old), ident(new)))
        elif name == "drop_table" and call.table is not None:
            found.dropped_tables.append((index, ident(call.table)))
        elif name == "create_table" and call.receiver == "op" and call.table is not None:
            found.created_tables.append((index, ident(call.table)))
        elif name == "add_column" and call.table is not None and call.column is not None:
            found.added.append((index, ident(call.table), ident(call.column)))
            column = call.param("column")
            if isinstance(column, ast.Call) and any(
                isinstance(arg, ast.Call) and (dotted(arg.func) or "").endswith("Computed")
                for arg in column.args
            ):
                found.computed.append((index, ident(call.table), ident(call.column)))
        elif name == "alter_column" and call.table is not None and call.column is not None:
            new = call.value("new_column_name")
            if isinstance(new, str):
                found.column_renames.append(
                    (index, ident(call.table), ident(call.column), ident(new))
                )
        elif name == "execute":
            sql = execute_sql(call)
            if sql is not None:
                for statement in sql_statements(sql):
                    _read_sql(found, index, statement)
    return found


def _read_sql(found: Moves, index: int, statement: str) -> None:
    insert = _INSERT_SELECT.match(statement)
    if insert is not None:
        target = ident(insert.group(1))
        sources = frozenset(ident(m.group(1)) for m in _SOURCE.finditer(statement))
        found.copies.append((index, target, sources))
        return
    update = _UPDATE_SET.match(statement)
    if update is not None:
        table = ident(update.group(1))
        for assignment in split_top_level(update.group(2)):
            column = _ASSIGNED.match(assignment)
            if column is not None:
                found.filled.append((index, table, ident(column.group(1))))
        return
    drop = _DROP_TABLE.match(statement)
    if drop is not None:
        found.dropped_tables.append((index, ident(drop.group(1))))
        return
    rename = _RENAME_TABLE.match(statement)
    if rename is not None:
        found.table_renames.append((index, ident(rename.group(1)), ident(rename.group(2))))
        return
    parsed = alter_table(statement)
    if parsed is None:
        return
    table, actions = parsed
    for action in actions:
        to = _RENAME_TO.match(action)
        if to is not None:
            found.table_renames.append((index, table, ident(to.group(1))))
            continue
        column = _RENAME_COLUMN.match(action)
        if column is not None:
            found.column_renames.append(
                (index, table, ident(column.group(1)), ident(column.group(2)))
            )
            continue
        added = add_column_action(action)
        if added is not None:
            found.added.append((index, table, added[0]))
