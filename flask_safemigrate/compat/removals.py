"""What the pending scripts' ``upgrade()`` removes or renames: tables and columns, read
statically (``ast``, as lint reads them; nothing is imported or run).

safe-upgrade predicts the schema after its plan from the models of the release it deploys.
That holds for what the models map; a table or column the models stopped mapping may still
be in the database (the expand step of expand/contract keeps it for the release running
now). So a table or column the running release maps and the new models do not is a break
only when a pending script drops or renames it; a statement that cannot be read that far
(raw SQL that alters a table) counts for its whole table, and one on a table whose name is a
variable counts for every table.

A column rename is also kept with its new name (:meth:`Removals.renamed_column`): the
comparison reports it as one rename, and the new name's NOT NULL or unique key, which the
column had under its old name, not as added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask_safemigrate import history
from flask_safemigrate.lint.index import collect_calls
from flask_safemigrate.lint.sql import (
    COLUMN_WORD,
    IDENT,
    QNAME,
    alter_table,
    execute_sql,
    ident,
    sql_statements,
)

__all__ = ["Removals", "removals_of"]

_DROP_TABLE = re.compile(rf"^DROP TABLE (?:IF EXISTS )?({QNAME})", re.IGNORECASE)
_REMOVING = re.compile(r"^\s*(?:DROP|RENAME|CHANGE)\b", re.IGNORECASE)
#: ``ALTER TABLE t RENAME TO u``: the table itself goes (not one of its columns).
_RENAMED_TO = re.compile(r"^\s*RENAME\s+(?:TO|AS)\b", re.IGNORECASE)
#: MySQL's ``RENAME TABLE a TO b[, c TO d]``.
_RENAME_TABLE = re.compile(r"^RENAME TABLES? (.*)$", re.IGNORECASE | re.DOTALL)
_RENAME_PAIR = re.compile(rf"\s*({QNAME})\s+TO\s+{QNAME}\s*", re.IGNORECASE)
#: An ``ALTER TABLE`` action that renames a column: ``RENAME [COLUMN] a TO b`` (PostgreSQL,
#: SQLite, MySQL 8, MariaDB 10.5) or MySQL's ``CHANGE [COLUMN] a b <definition>``.
_RENAME_COLUMN = re.compile(
    rf"^(?:RENAME (?:COLUMN )?{COLUMN_WORD}({IDENT}) TO ({IDENT})"
    rf"|CHANGE (?:COLUMN )?({IDENT}) ({IDENT}))",
    re.IGNORECASE,
)


@dataclass
class Removals:
    """Names are as lint compares them: unquoted, lower case, schema dropped."""

    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)
    #: Tables a statement changes in a way not read as far as its columns (raw SQL).
    unknown: set[str] = field(default_factory=set)
    #: A table is dropped or renamed whose name is not read (a variable: a loop over a list
    #: built at run time, a function's result): it may be any table.
    any_table: bool = False
    #: Columns dropped or renamed on a table whose name is not read (``None``: a column whose
    #: name is not read either, so any column of any table).
    any_table_columns: set[str | None] = field(default_factory=set)
    #: Columns renamed, ``(table, old name)`` to the name the last pending script leaves
    #: (``a`` to ``b``, then ``b`` to ``c``: ``a`` to ``c``, and ``b`` to ``c``: a snapshot
    #: taken between the two maps ``b``).
    renamed: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Columns renamed on a table whose name is not read: old name to new, on any table.
    any_table_renamed: dict[str, str] = field(default_factory=dict)

    def drops_table(self, table: str) -> bool:
        return self.any_table or ident(table) in self.tables

    def drops_column(self, table: str, column: str) -> bool:
        name = ident(table)
        return (
            self.drops_table(table)
            or name in self.unknown
            or (name, column.lower()) in self.columns
            or None in self.any_table_columns
            or column.lower() in self.any_table_columns
        )

    def renamed_column(self, table: str, column: str) -> str | None:
        """The name (lower case) the plan gives ``table.column``, or ``None`` when it keeps
        its name (or is renamed back)."""
        old = column.lower()
        new = self.renamed.get((ident(table), old), self.any_table_renamed.get(old))
        return new if new is not None and new != old else None

    def rename(self, table: str, old: str, new: str) -> None:
        """Record ``table.old`` renamed to ``new`` (names as :func:`ident` gives them)."""
        self.columns.add((table, old))
        for key, current in self.renamed.items():
            if key[0] == table and current == old:  # renamed before: follow it
                self.renamed[key] = new
        if new != old:
            self.renamed[(table, old)] = new


def _sql(removals: Removals, sql: str) -> None:
    for statement in sql_statements(sql):
        dropped = _DROP_TABLE.match(statement)
        if dropped is not None:
            removals.tables.add(ident(dropped.group(1)))
            continue
        renamed = _RENAME_TABLE.match(statement)
        if renamed is not None:
            for pair in renamed.group(1).split(","):
                old = _RENAME_PAIR.fullmatch(pair)
                if old is not None:
                    removals.tables.add(ident(old.group(1)))
            continue
        altered = alter_table(statement)
        if altered is None:
            continue
        table, actions = altered
        if any(_RENAMED_TO.match(action) for action in actions):
            removals.tables.add(table)
            continue
        for action in actions:
            names = _renamed_column(action)
            if names is not None:
                removals.rename(table, *names)
            elif _REMOVING.match(action):  # a drop, or a CHANGE that keeps the name
                removals.unknown.add(table)


def _renamed_column(action: str) -> tuple[str, str] | None:
    """``(old, new)`` for an ``ALTER TABLE`` action that renames a column."""
    match = _RENAME_COLUMN.match(action)
    if match is None:
        return None
    old = ident(match.group(1) or match.group(3))
    new = ident(match.group(2) or match.group(4))
    return (old, new) if old != new else None


def removals_of(scripts: Sequence[history.Script], dialect: str | None) -> Removals:
    """What the ``upgrade()`` of ``scripts`` drops or renames on ``dialect`` (a script that
    cannot be read adds nothing: lint reports it)."""
    removals = Removals()
    for script in scripts:
        try:
            tree = history.parse_source(script.path.read_bytes(), script.path)
        except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        for call in collect_calls(tree):
            if call.direction != "upgrade" or (dialect and dialect not in call.dialects):
                continue
            table = call.table
            if call.name == "execute":
                _sql(removals, execute_sql(call) or "")
            elif call.name == "drop_table" or call.name == "rename_table":
                name = call.string("old_table_name") if call.name == "rename_table" else None
                name = name or table
                if name is None:
                    removals.any_table = True  # the table is a variable: it may be any
                else:
                    removals.tables.add(ident(name))
            elif call.name == "drop_column" or (
                call.name == "alter_column" and call.string("new_column_name") is not None
            ):
                column, new = call.column, call.string("new_column_name")
                if table is None:
                    removals.any_table_columns.add(None if column is None else column.lower())
                    if column is not None and new is not None:
                        removals.any_table_renamed[column.lower()] = new.lower()
                elif column is None:
                    removals.unknown.add(ident(table))
                elif new is not None:
                    removals.rename(ident(table), column.lower(), new.lower())
                else:
                    removals.columns.add((ident(table), column.lower()))
    return removals
