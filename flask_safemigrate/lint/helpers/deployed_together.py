"""Tables an earlier revision of the same deploy created: they hold no rows when a later one runs.

``--since REV`` and ``--pending`` lint a set of revisions that deploy together (a branch's
new migrations, the next upgrade). A table one of them creates is empty, and unknown to the
servers still running the previous release, when a revision of the set that descends from
it runs: for that revision it is new, as a table created earlier in its own function is.
The lock, rewrite, NOT NULL and destructive rules read "created earlier" from
:class:`~flask_safemigrate.lint.helpers.timeline.Timeline`, which reads
:attr:`ScriptIndex.creations <flask_safemigrate.lint.script_index.ScriptIndex.creations>`;
:func:`mark_new` records such tables there, at line 0 of ``upgrade()`` (before its first
statement), so every one of those rules skips them with no change of its own.

Only ancestors count (``down_revision`` and ``depends_on``, followed through revisions of the
set): a sibling branch's revision may run after, or never. When unsure, the finding stays:
a table an ancestor of the set drops, renames (either name), or whose name it mentions in SQL
that drops, renames or writes rows, or in a script that writes rows at all (``insert``,
``bulk_insert``, a session, ``COPY``, ``INTO``), is not new; nor is ``CREATE TABLE ... AS
SELECT``, nor a table named by an expression. A whole-history lint has no such set: nothing
says which revisions were released, so it judges each script alone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flask_safemigrate import history
from flask_safemigrate.lint.model import Migration, Violation
from flask_safemigrate.lint.sql import (
    CREATE_TABLE,
    PLACEHOLDER,
    execute_sql,
    ident,
    sql_statements,
)

__all__ = ["mark_new", "new_tables"]

#: Calls that may put rows in a table (``sa.insert(t)``, ``t.insert()``, ``op.bulk_insert``,
#: a session's ``add``/``merge``, psycopg's ``copy_from``...).
_WRITE_CALLS = frozenset(
    {
        "insert",
        "bulk_insert",
        "bulk_save_objects",
        "bulk_insert_mappings",
        "add",
        "add_all",
        "merge",
        "copy_from",
        "copy_expert",
        "executemany",
    }
)
#: SQL words of a statement that may drop, rename or fill a table (other than its own CREATE).
_UNSURE_SQL = re.compile(r"\b(?:drop|rename|insert|copy|into|select|merge|replace)\b", re.I)
#: Words of a string that may be SQL filling a table.
_WRITE_SQL = re.compile(r"\b(?:insert|copy|into|merge|replace)\b", re.I)
#: What a script that may write rows has in its source (lower case).
_WRITE_WORDS = ("insert", "copy", "into", "merge", "replace", "add", "session", "executemany")
_PLAIN = re.compile(r"[\w$]+")
#: Every table is unsure.
_ALL = "*"


@dataclass(frozen=True)
class _Made:
    """What one revision does to tables, as far as this fact needs."""

    created: frozenset[str]  # tables its upgrade() creates (:func:`ident` form)
    unsure: frozenset[str]  # tables it drops or renames ("*": any table)
    unsure_sql: tuple[str, ...]  # SQL statements that may drop, rename or fill a table


def _made(migration: Migration) -> _Made:
    created: set[str] = set()
    unsure: set[str] = set()
    statements: list[str] = []
    for direction, _line, made in migration.index.creations:
        if direction == "upgrade" and _PLAIN.fullmatch(ident(made)):
            created.add(ident(made))  # an expression's key ("{name}") never matches
    for call in migration.upgrade_calls:
        table = call.table
        if call.name == "create_table" and call.receiver == "op" and table is not None:
            created.add(ident(table))
        elif call.name in {"drop_table", "rename_table"}:
            names = (
                (table, call.string("new_table_name")) if call.name == "rename_table" else (table,)
            )
            # A name lint cannot read may be any table.
            unsure.update(ident(name) if name is not None else _ALL for name in names)
        elif call.name == "execute":
            sql = execute_sql(call)
            for statement in sql_statements(sql) if sql is not None else ():
                match = CREATE_TABLE.match(statement)
                if match is not None and not re.search(r"\bselect\b", statement, re.I):
                    created.add(ident(match.group(1)))
                elif _UNSURE_SQL.search(statement):
                    statements.append(statement.lower())
                    if PLACEHOLDER in statement:  # a table named by an expression
                        unsure.add(_ALL)
    if _writes_by_code(migration, statements):
        unsure.add(_ALL)
    return _Made(frozenset(created), frozenset(unsure), tuple(statements))


def _writes_by_code(migration: Migration, statements: list[str]) -> bool:
    """Whether the script may write rows other than by the SQL ``statements`` read from its
    ``execute`` calls: a call of :data:`_WRITE_CALLS`, a session, or a string that reads as
    SQL filling a table and is none of those statements (``f"INSERT INTO {table}"``, a
    string handed to code lint does not follow). Docstrings and comments are not code."""
    lowered = migration.lowered
    if not any(word in lowered for word in _WRITE_WORDS):
        return False  # the cheap test first
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(migration.tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    known = " ".join(statements)
    for node in ast.walk(migration.tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _WRITE_CALLS:
                return True
        elif isinstance(node, ast.Name):
            if "session" in node.id.lower():
                return True
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _WRITE_SQL.search(node.value)
            and " ".join(node.value.lower().split()) not in known
        ):
            return True
    return False


def _mentions(text: str, table: str) -> bool:
    return re.search(rf"(?<![\w$]){re.escape(table)}(?![\w$])", text) is not None


def _ancestors(script: history.Script, together: Mapping[str, history.Script]) -> list[str]:
    """The revisions of ``together`` that run before ``script``, reached through ``together``."""
    found: list[str] = []
    todo = [*script.down_revisions, *script.depends_on]
    while todo:
        revision = todo.pop()
        parent = together.get(revision)
        if parent is None or revision in found or revision == script.revision:
            continue
        found.append(revision)
        todo.extend((*parent.down_revisions, *parent.depends_on))
    return found


def new_tables(
    judged: Iterable[history.Script],
    together: Mapping[str, history.Script],
    read: Callable[[str], Migration | Violation],
) -> dict[str, frozenset[str]]:
    """For each script of ``judged`` (revisions of ``together``, the set that deploys
    together, by revision), the tables its ancestors in the set create and nothing in them
    leaves unsure, by revision; only scripts with some. ``read`` parses the script of a
    revision (each ancestor's once)."""
    made: dict[str, _Made | None] = {}

    def made_by(revision: str) -> _Made | None:
        if revision not in made:
            parsed = read(revision)
            made[revision] = _made(parsed) if isinstance(parsed, Migration) else None
        return made[revision]

    out: dict[str, frozenset[str]] = {}
    for script in judged:
        ancestors = [made_by(revision) for revision in _ancestors(script, together)]
        if any(found is None for found in ancestors):
            continue  # an ancestor that does not parse: nothing is known of what it does
        known = [found for found in ancestors if found is not None]
        created = frozenset().union(*(found.created for found in known))
        new = frozenset(
            table
            for table in created
            if not any(
                table in found.unsure
                or _ALL in found.unsure
                or any(_mentions(statement, table) for statement in found.unsure_sql)
                for found in known
            )
        )
        if new:
            out[script.revision] = new
    return out


def mark_new(migration: Migration, tables: Iterable[str]) -> None:
    """Record ``tables`` as created before the first statement of ``migration``'s
    ``upgrade()`` (what :func:`new_tables` found for it)."""
    migration.index.creations.extend(("upgrade", 0, table) for table in sorted(tables))
