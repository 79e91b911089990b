"""Tables an earlier revision of the same deploy created: they hold no rows when a later one runs.

``--since REV`` and ``--pending`` lint a set of revisions that deploy together (a branch's
new migrations, the next upgrade), and so do the revisions of one release when lint knows the
releases (``releases = "git-tags"``, :mod:`~flask_safemigrate.lint.release_tags`: users
upgrade release to release). A table one of them creates is empty, and unknown to the
servers still running the previous release, when a revision of the set that descends from
it runs: for that revision it is new, as a table created earlier in its own function is.
The lock, rewrite, NOT NULL and destructive rules read "created earlier" from
:class:`~flask_safemigrate.lint.helpers.timeline.Timeline`, which reads
:attr:`ScriptIndex.creations <flask_safemigrate.lint.script_index.ScriptIndex.creations>`;
:func:`mark_new` records such tables there, at line 0 of ``upgrade()`` (before its first
statement), so every one of those rules skips them with no change of its own.

Only ancestors count (``down_revision`` and ``depends_on``, followed through revisions of the
set): a sibling branch's revision may run after, or never. An ancestor that renames a table new
for it (``op.rename_table("a", "b")``, ``ALTER TABLE a RENAME TO b``, ``RENAME TABLE a TO b``)
and writes nothing into it makes the new name as new. When unsure, the finding stays: a
table two ancestors create, or that an ancestor which may run once it exists (the creator
itself, or any ancestor that is not the creator's) drops, renames to a name lint cannot
read, names in SQL that drops, renames or fills a table (``INSERT``, ``COPY``, ``INTO``) other
than a plain rename, or inserts into
(``t.insert()``, ``op.bulk_insert(t)``), is not new; nor is any table once such an ancestor
writes where lint cannot tell which table (an ORM session, an insert into a table it cannot
name, SQL with a name formatted in), nor ``CREATE TABLE ... AS SELECT``, nor a table named
by an expression. ``downgrade()`` is never read for this: an upgrade does not run it. A
whole-history lint without releases has no such set: nothing in a history says which
revisions were released, so it judges each script alone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flask_safemigrate import history
from flask_safemigrate.lint.model import Migration, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import (
    CREATE_TABLE,
    PLACEHOLDER,
    QNAME,
    execute_sql,
    ident,
    sql_statements,
)

__all__ = ["mark_new", "new_tables"]

#: Calls that put rows in the table they are given (``sa.insert(t)``, ``t.insert()``,
#: ``op.bulk_insert(t, rows)``) and calls whose table lint does not follow (psycopg's COPY).
_INSERTS = frozenset({"insert", "bulk_insert"})
_WRITE_CALLS = frozenset(
    {*_INSERTS, "bulk_save_objects", "bulk_insert_mappings", "copy_from", "copy_expert"}
)
#: SQL words of a statement that may drop, rename or fill a table (other than its own CREATE).
_UNSURE_SQL = re.compile(r"\b(?:drop|rename|insert|copy|into)\b", re.I)
#: What formats a table's name into SQL text.
_FORMATTED = re.compile(r"%s|%\(|\{")
#: What a script that may write rows has in its source (lower case).
_WRITE_WORDS = ("insert", "copy", "into", "drop", "rename", "session")
_PLAIN = _WORD = re.compile(r"[\w$]+")
#: Every table is unsure.
_ALL = "*"
#: A statement that only renames one table (``ALTER TABLE a RENAME TO b``, ``RENAME TABLE a
#: TO b``): its new name is as new as its old one was.
_RENAME = compiled_later(
    rf"^(?:ALTER TABLE (?:IF EXISTS )?({QNAME}) RENAME TO|RENAME TABLE ({QNAME}) TO)"
    rf" ({QNAME})$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Made:
    """What one revision does to tables, as far as this fact needs."""

    created: frozenset[str]  # tables its upgrade() creates (:func:`ident` form)
    # Tables it may drop, rename or fill: named by an operation, or a word of SQL that may
    # ("*": any table).
    unsure: frozenset[str]
    # (old, new) of each rename whose both names it says: the new name is made from the old
    # (new when the old one was new for this revision and it writes nothing into it).
    renames: tuple[tuple[str, str], ...] = ()


def _made(migration: Migration) -> _Made:
    created: set[str] = set()
    unsure: set[str] = set()
    renames: list[tuple[str, str]] = []
    statements: list[str] = []
    read: set[int] = set()  # the string constants of the execute calls read here
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
            old, new = names[0], names[-1]
            if call.name == "rename_table" and call.receiver == "op" and old and new:
                renames.append((ident(old), ident(new)))
                continue
            # A name lint cannot read may be any table.
            unsure.update(ident(name) if name is not None else _ALL for name in names)
        elif call.name == "execute":
            sql = execute_sql(call)
            if sql is not None:  # else its strings are judged as any other code's
                read.update(id(n) for n in ast.walk(call.node) if isinstance(n, ast.Constant))
            for statement in sql_statements(sql) if sql is not None else ():
                match = CREATE_TABLE.match(statement)
                renamed = _RENAME.match(statement)
                if match is not None and not re.search(r"\bselect\b", statement, re.I):
                    created.add(ident(match.group(1)))
                elif renamed is not None and PLACEHOLDER not in statement:
                    old = ident(renamed.group(1) or renamed.group(2))
                    renames.append((old, ident(renamed.group(3))))
                elif _UNSURE_SQL.search(statement):
                    statements.append(statement.lower())
                    if PLACEHOLDER in statement:  # a table named by an expression
                        unsure.add(_ALL)
    unsure.update(_written_by_code(migration, statements, read))
    for statement in statements:  # every word: a table's name is one (quoted or not)
        unsure.update(_WORD.findall(statement))
    return _Made(frozenset(created), frozenset(unsure), tuple(renames))


def _written_by_code(migration: Migration, statements: list[str], read: set[int]) -> set[str]:
    """The tables the script may write rows into other than by the SQL of its ``execute``
    calls (``"*"``: any): the table of an insert (``t.insert()``, ``sa.insert(t)``,
    ``op.bulk_insert(t, ...)``, ``t`` a name bound once to ``sa.table("x")`` or
    ``sa.Table("x", ...)``); any for another write call, an ORM session, or a string that
    reads as SQL dropping, renaming or filling a table and formats a name into it
    (``f"INSERT INTO {t}"``, ``"... %s" % t``, ``"..." + t``, ``.format``). Other such
    strings (SQL handed to code lint does not follow) join ``statements``, whose tables they
    name. Docstrings and comments are not code; nor, here, the strings of ``read`` (the SQL of
    the ``execute`` calls :func:`_made` read) and ``downgrade()``, which an upgrade never runs."""
    if not any(word in migration.lowered for word in _WRITE_WORDS):
        return set()  # the cheap test first
    tree = migration.tree
    tables: dict[str, str | None] | None = None
    parents: dict[int, ast.AST] | None = None
    written: set[str] = set()
    downgrade = {
        id(node)
        for function in tree.body
        if isinstance(function, ast.FunctionDef) and function.name == "downgrade"
        for node in ast.walk(function)
    }
    for node in ast.walk(tree):
        if id(node) in downgrade:
            continue
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in _WRITE_CALLS:
                continue
            if tables is None:
                tables = _bound_tables(tree)
            target = _insert_target(node, name, tables)
            written.add(ident(target) if target is not None else _ALL)
        elif isinstance(node, ast.Name | ast.Attribute):
            text = node.id if isinstance(node, ast.Name) else node.attr
            if "session" in text.lower():
                written.add(_ALL)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in read
            and _UNSURE_SQL.search(node.value)
        ):
            if parents is None:
                parents = {
                    id(child): parent
                    for parent in ast.walk(tree)
                    for child in ast.iter_child_nodes(parent)
                }
            parent = parents.get(id(node))
            if isinstance(parent, ast.Expr):
                continue  # a docstring, or a string standing alone: no code reads it
            found = sql_statements(node.value)  # string literals emptied: '{}' is no format
            if (
                isinstance(parent, ast.JoinedStr | ast.BinOp)
                or (isinstance(parent, ast.Attribute) and parent.attr == "format")
                or any(_FORMATTED.search(statement) for statement in found)
            ):
                written.add(_ALL)
                continue
            statements.extend(
                statement.lower() for statement in found if _UNSURE_SQL.search(statement)
            )
    return written


def _insert_target(node: ast.Call, name: str, tables: Mapping[str, str | None]) -> str | None:
    """The table an insert call writes into, when a name the script binds once says it."""
    if name not in _INSERTS:
        return None
    func = node.func
    if name == "insert" and not node.args and isinstance(func, ast.Attribute):
        target: ast.expr = func.value  # t.insert()
    elif node.args:
        target = node.args[0]  # sa.insert(t), op.bulk_insert(t, rows)
    else:
        return None
    if isinstance(target, ast.Name):
        return tables.get(target.id)
    return _table_call(target)


def _table_call(node: ast.expr) -> str | None:
    """``sa.table("t", ...)`` or ``sa.Table("t", metadata, ...)``: ``t``."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0]
    if called in {"table", "Table"} and isinstance(first, ast.Constant):
        return first.value if isinstance(first.value, str) else None
    return None


def _bound_tables(tree: ast.Module) -> dict[str, str | None]:
    """Names the script binds to a table (``t = sa.table("x", ...)``): the table, or
    ``None`` for a name also bound to anything else (another table, another value)."""
    found: dict[str, str | None] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        table = _table_call(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                found[target.id] = table if found.get(target.id, table) == table else None
    return found


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
    unsure_by: dict[str, set[str]] = {}  # a table (or "*") -> the revisions unsure of it
    lineage: dict[str, frozenset[str]] = {}

    def made_by(revision: str) -> _Made | None:
        if revision not in made:
            parsed = read(revision)
            found = made[revision] = _made(parsed) if isinstance(parsed, Migration) else None
            for table in found.unsure if found is not None else ():
                unsure_by.setdefault(table, set()).add(revision)
        return made[revision]

    def before(revision: str) -> frozenset[str]:
        if revision not in lineage:
            lineage[revision] = frozenset(_ancestors(together[revision], together))
        return lineage[revision]

    fresh: dict[str, frozenset[str]] = {}

    def new_for(revision: str) -> frozenset[str]:
        """The tables ``revision``'s ancestors in the set leave certainly new for it."""
        if revision in fresh:
            return fresh[revision]
        ancestors = before(revision)
        creators: dict[str, list[str]] = {}
        for ancestor in ancestors:
            found = made_by(ancestor)
            if found is None:  # an ancestor that does not parse: what it does is unknown
                fresh[revision] = frozenset()
                return fresh[revision]
            for table in found.created:
                creators.setdefault(table, []).append(ancestor)
            if found.renames:
                renamed = new_for(ancestor)  # new when it ran: the new name is as new
                for old, new in found.renames:
                    if old in renamed and not {old, _ALL} & found.unsure:
                        creators.setdefault(new, []).append(ancestor)
        fresh[revision] = frozenset(
            table
            for table, (creator, *again) in creators.items()
            if not again  # made twice: dropped in between, or on two branches
            and not any(
                # Unsure of it and may run once it exists: not one of the creator's ancestors.
                unsure in ancestors and unsure not in before(creator)
                for unsure in (*unsure_by.get(table, ()), *unsure_by.get(_ALL, ()))
            )
        )
        return fresh[revision]

    out: dict[str, frozenset[str]] = {}
    for script in judged:
        new = new_for(script.revision)
        if new:
            out[script.revision] = new
    return out


def mark_new(migration: Migration, tables: Iterable[str]) -> None:
    """Record ``tables`` as created before the first statement of ``migration``'s
    ``upgrade()`` (what :func:`new_tables` found for it)."""
    migration.index.creations.extend(("upgrade", 0, table) for table in sorted(tables))
