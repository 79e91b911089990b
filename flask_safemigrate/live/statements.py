"""What the pending revisions' ``upgrade()`` does to existing tables, statement by statement.

Pre-flight needs, for every table a pending revision locks, rewrites or scans, the statement
that does it and the line it sits on (lint's findings point at that line). This reads the
scripts as lint does (``ast``, never imported), keeps only the calls the live dialect
reaches in ``upgrade()``, and follows the plan in order: a table created or renamed earlier in
the plan is not a table of the live database yet.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_safemigrate import history
from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.index import collect_calls
from flask_safemigrate.lint.sql import (
    CREATE_TABLE,
    QNAME,
    alter_table,
    execute_sql,
    ident,
    sql_statements,
)
from flask_safemigrate.live.batch_copy import BatchCopy, batch_blocks, block_of, copies
from flask_safemigrate.live.statements_cache import StatementCache
from flask_safemigrate.text import display_path

__all__ = ["Statement", "pending_statements"]

#: Operations that act on an existing table, by the parameters that name it.
_TABLE_OPS = {
    "add_column": ("table_name",),
    "drop_column": ("table_name",),
    "alter_column": ("table_name",),
    "create_index": ("table_name",),
    "drop_index": ("table_name",),
    "create_unique_constraint": ("table_name",),
    "create_check_constraint": ("table_name",),
    "create_primary_key": ("table_name",),
    "create_exclude_constraint": ("table_name",),
    "create_foreign_key": ("source_table", "referent_table"),
    "drop_constraint": ("table_name",),
    "drop_table": ("table_name",),
    "rename_table": ("old_table_name",),
    "bulk_insert": (),
}

_SQL_KINDS = (
    (
        re.compile(
            rf"^CREATE (?:UNIQUE )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?(?:{QNAME} )?ON "
            rf"(?:ONLY )?({QNAME})",
            re.IGNORECASE,
        ),
        "create_index",
    ),
    (re.compile(rf"^UPDATE (?:ONLY )?({QNAME})", re.IGNORECASE), "update"),
    (re.compile(rf"^DELETE FROM (?:ONLY )?({QNAME})", re.IGNORECASE), "delete"),
    (re.compile(rf"^INSERT INTO ({QNAME})", re.IGNORECASE), "insert"),
    (re.compile(rf"^DROP TABLE (?:IF EXISTS )?({QNAME})", re.IGNORECASE), "drop_table"),
    (re.compile(rf"^(?:VACUUM FULL|CLUSTER) (?:VERBOSE )?({QNAME})", re.IGNORECASE), "rewrite"),
    (re.compile(rf"^TRUNCATE (?:TABLE )?({QNAME})", re.IGNORECASE), "truncate"),
)


@dataclass(frozen=True)
class Statement:
    """One statement of a pending revision on one table.

    ``kind`` is the Alembic operation (``create_index``, ``alter_column``...) or, for SQL,
    what the statement does (``alter_table``, ``update``...). ``table`` is the name the
    script gives; ``schema`` when it names one. ``created_in_plan`` names the pending
    revision that creates the table (it does not exist yet when the gate looks);
    ``renamed_from`` the table whose rows it will hold after a rename earlier in the plan.
    """

    revision: str
    path: str
    line: int
    kind: str
    table: str
    schema: str | None = None
    concurrently: bool = False
    batch: bool = False
    #: What an ``alter_column`` changes: ``type``, ``not_null`` or ``other``.
    change: str = ""
    created_in_plan: str | None = None
    renamed_from: str | None = None
    #: In a batch block: whether the block copies the table on SQLite (``None``: not
    #: known), and why (:mod:`.batch_copy`).
    batch_copy: BatchCopy | None = None

    @property
    def live_table(self) -> str:
        """The table of the live database whose size matters (the rename's source)."""
        return self.renamed_from or self.table


#: One statement of a script as read (and cached): ``(line, kind, table, schema,
#: concurrently, batch, change, new_name, copies, why)``; ``new_name`` is a rename's new
#: table name, ``copies`` and ``why`` the :class:`.BatchCopy` of its batch block (``why``
#: ``None``: no verdict).
Row = tuple[int, str, str, str | None, bool, bool, str, str | None, bool | None, str | None]


def pending_statements(
    scripts: Sequence[history.Script],
    dialect: str | None,
    *,
    bind: str | None = None,
    cache_dir: Path | None = None,
) -> list[Statement]:
    """Every statement of the scripts' ``upgrade()`` on a named table, in plan order.

    ``bind``: with the multi-database template, only ``upgrade_<bind>()`` runs on this
    database (``upgrade_()`` on the default one: pass ``""``). A script that cannot be read
    yields nothing (lint reports it); SQL built at run time names no table and is left out.
    ``cache_dir``: where each script's rows are kept between runs
    (:mod:`.statements_cache`); ``None`` reads every script.
    """
    cache = StatementCache(cache_dir) if cache_dir is not None else None
    created: dict[str, str] = {}  # table -> revision that creates it
    renamed: dict[str, str] = {}  # new name -> the live table it was
    out: list[Statement] = []
    for script in scripts:
        rows = _rows_of(script, dialect, bind, cache)
        if not rows:
            continue
        path = display_path(script.path)
        for line, kind, table, schema, concurrently, batch, change, new_name, copies_, why in rows:
            key = table.lower()
            if kind == "create_table":
                created.setdefault(key, script.revision)
                continue
            out.append(
                Statement(
                    revision=script.revision,
                    path=path,
                    line=line,
                    kind=kind,
                    table=table,
                    schema=schema,
                    concurrently=concurrently,
                    batch=batch,
                    change=change,
                    created_in_plan=created.get(key),
                    renamed_from=renamed.get(key),
                    batch_copy=BatchCopy(copies_, why) if why is not None else None,
                )
            )
            if kind == "rename_table" and new_name is not None and key not in created:
                renamed[new_name.lower()] = renamed.get(key, table)
    if cache is not None:
        cache.save()
    return out


def _rows_of(
    script: history.Script, dialect: str | None, bind: str | None, cache: StatementCache | None
) -> list[Row]:
    """The script's rows, from the cache when its bytes were read before."""
    try:
        data = script.path.read_bytes()
    except OSError:
        return []
    key = StatementCache.key(data, dialect, bind) if cache is not None else ""
    stored = cache.get(key) if cache is not None else None
    if stored is not None:
        try:
            return [_row(item) for item in stored]
        except (TypeError, ValueError):  # an entry of another shape: read the script again
            pass
    try:
        tree = history.parse_source(data, script.path)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    rows = _script_rows(tree, dialect, bind)
    if cache is not None:
        cache.put(key, [list(row) for row in rows])
    return rows


def _row(item: list[Any]) -> Row:
    line, kind, table, schema, concurrently, batch, change, new_name, copies_, why = item
    if not (
        isinstance(line, int)
        and isinstance(kind, str)
        and isinstance(table, str)
        and isinstance(schema, str | None)
        and isinstance(concurrently, bool)
        and isinstance(batch, bool)
        and isinstance(change, str)
        and isinstance(new_name, str | None)
        and isinstance(copies_, bool | None)
        and isinstance(why, str | None)
    ):
        raise TypeError("not a statement row")
    return (line, kind, table, schema, concurrently, batch, change, new_name, copies_, why)


def _script_rows(tree: ast.Module, dialect: str | None, bind: str | None) -> list[Row]:
    """The statements of one parsed script's ``upgrade()`` on a named table (creates
    included), on ``dialect``'s branches, in the script's order."""
    elsewhere = _other_binds(tree, bind)
    reached = [
        call
        for call in collect_calls(tree)
        if call.direction == "upgrade"
        and not (dialect and dialect not in call.dialects)
        and not any(first <= call.line <= last for first, last in elsewhere)
    ]
    verdicts = _batch_verdicts(tree, reached)
    rows: list[Row] = []
    for call in reached:
        verdict = verdicts.get(call.line)
        for kind, table, schema, concurrently in _call_tables(call):
            rows.append(
                (
                    call.line,
                    kind,
                    table,
                    schema,
                    concurrently,
                    call.receiver == "batch_op",
                    _change(call),
                    call.string("new_table_name") if kind == "rename_table" else None,
                    verdict.copies if verdict is not None else None,
                    verdict.why if verdict is not None else None,
                )
            )
    return rows


def _batch_verdicts(tree: ast.Module, calls: Sequence[Call]) -> dict[int, BatchCopy]:
    """Per line of a ``batch_op`` call: whether its block copies the table on SQLite."""
    if not any(call.receiver == "batch_op" for call in calls):
        return {}  # most scripts: no batch block to read
    blocks = batch_blocks(tree)
    members: dict[int, list[Call]] = {}  # block index -> its calls
    where: dict[int, int] = {}  # call line -> block index
    for call in calls:
        if call.receiver != "batch_op":
            continue
        block = block_of(blocks, call.line)
        if block is not None:
            index = blocks.index(block)
            members.setdefault(index, []).append(call)
            where[call.line] = index
    verdicts = {index: copies(blocks[index], found) for index, found in members.items()}
    return {line: verdicts[index] for line, index in where.items()}


def _other_binds(tree: ast.Module, bind: str | None) -> list[tuple[int, int]]:
    """Line ranges of the ``upgrade_<other bind>()`` functions (none without ``bind``)."""
    if bind is None:
        return []
    return [
        (stmt.lineno, stmt.end_lineno or stmt.lineno)
        for stmt in tree.body
        if isinstance(stmt, ast.FunctionDef)
        and stmt.name.startswith("upgrade_")
        and stmt.name != f"upgrade_{bind}"
    ]


def _change(call: Call) -> str:
    if call.name != "alter_column":
        return ""
    if call.param("type_") is not None:
        return "type"
    return "not_null" if call.value("nullable") is False else "other"


def _call_tables(call: Call) -> Iterator[tuple[str, str, str | None, bool]]:
    """``(kind, table, schema, concurrently)`` for each table the call acts on."""
    if call.name == "execute":
        yield from _sql_tables(execute_sql(call) or "")
        return
    if call.name == "create_table":
        table = call.string("table_name")
        if table is not None:
            yield "create_table", table, None, False
        return
    params = _TABLE_OPS.get(call.name)
    if params is None:
        return
    schema = call.string("schema") if call.receiver == "op" else None
    concurrently = call.flag("postgresql_concurrently")
    if call.name == "bulk_insert":
        node = call.param("table")
        name = getattr(node, "args", None)
        value = call.resolve(name[0]) if name else None
        if isinstance(value, str):
            yield "bulk_insert", value, schema, False
        return
    if call.receiver == "batch_op":
        if call.batch_table is not None:
            yield call.name, call.batch_table, schema, concurrently
        return
    for param in params:
        table = call.string(param)
        if table is not None:
            yield call.name, table, schema, concurrently


def _sql_tables(sql: str) -> Iterator[tuple[str, str, str | None, bool]]:
    for statement in sql_statements(sql):
        created = CREATE_TABLE.match(statement)
        if created is not None:
            yield "create_table", ident(created.group(1)), None, False
            continue
        altered = alter_table(statement)
        if altered is not None:
            yield "alter_table", altered[0], None, False
            continue
        for pattern, kind in _SQL_KINDS:
            match = pattern.match(statement)
            if match is None:
                continue
            if kind == "create_index":
                yield kind, ident(match.group(2)), None, bool(match.group(1))
            else:
                yield kind, ident(match.group(1)), None, False
            break
