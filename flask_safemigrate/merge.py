"""``flask db auto-merge-heads``: join several heads into one, refusing when the branches collide.

``alembic merge heads`` joins any heads, even when two feature branches both altered
``users.email``; the merged history then fails (or silently keeps whichever change ran last)
on the first database that applies both. Before writing the merge revision this module compares
what each branch does since the fork, statically: each script's ``upgrade()`` is read with the
lint engine's call model (``op.*``, ``batch_op.*``, literal SQL in ``execute``), never imported.

Raw SQL is read best effort: ``CREATE/DROP TABLE``, ``CREATE/DROP INDEX``, ``ALTER TABLE``
actions and ``INSERT/UPDATE/DELETE`` targets are recognised; SQL that is built at run time is
listed as unchecked. The merge revision itself is written by Alembic from the project's
``script.py.mako`` and ``file_template``, to a temporary file that replaces into place; no
existing script is ever rewritten or deleted.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import re
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from alembic import util as alembic_util
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from flask import Flask

from flask_safemigrate import history, safe_text
from flask_safemigrate.errors import ChecksFailed, ConfigError, ExitCode, PreflightError
from flask_safemigrate.lint.calls import Call, dotted, literal
from flask_safemigrate.lint.index import collect_calls
from flask_safemigrate.lint.sql import (
    IDENT,
    QNAME,
    add_column_action,
    alter_table,
    execute_sql,
    ident,
    sql_statements,
)
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.text import display_path, one_line, plural

__all__ = [
    "Change",
    "Conflict",
    "MergeResult",
    "Plan",
    "Side",
    "auto_merge_heads",
    "exit_code",
    "find_conflicts",
    "merge_heads",
    "plan_merge",
]

COMMAND = "auto-merge-heads"
CONFLICT_CHECK = "branch-conflict"

# --------------------------------------------------------------------------- what scripts touch


@dataclass(frozen=True)
class _Mention:
    """A schema object named by one operation.

    ``kind`` is ``table``/``column``/``index``/``constraint``; ``role`` is ``create``,
    ``drop`` (or renamed away) or ``change`` when the operation defines the object, ``use``
    when it only refers to it (an index on a column, a foreign key to a table).
    """

    kind: str
    key: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class _Touch:
    mention: _Mention
    revision: str
    operation: str
    line: int


_CONSTRAINT_OPS = frozenset(
    {
        "create_unique_constraint",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "create_foreign_key",
        "drop_constraint",
    }
)
_EMBEDDED_CONSTRAINTS = frozenset(
    {"UniqueConstraint", "CheckConstraint", "PrimaryKeyConstraint", "ForeignKeyConstraint"}
)


def _norm(name: object) -> str | None:
    """Names compare case-insensitively and without schema: erring towards a reported conflict."""
    if not isinstance(name, str) or not name.strip():
        return None
    return name.strip().rsplit(".", 1)[-1].lower()


def _strings(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _table(kind_role: str, name: object) -> Iterator[_Mention]:
    table = _norm(name)
    if table is not None:
        yield _Mention("table", (table,), kind_role)


def _columns(table: str | None, columns: Iterable[object], role: str) -> Iterator[_Mention]:
    if table is None:
        return
    for column in columns:
        name = _norm(column)
        if name is not None:
            yield _Mention("column", (table, name), role)


def _named(kind: str, name: object, role: str = "create") -> Iterator[_Mention]:
    normalized = _norm(name)
    if normalized is not None:
        yield _Mention(kind, (normalized,), role)


def _reference(target: object) -> Iterator[_Mention]:
    """``"users.id"`` in a foreign key: a use of the table and of the column."""
    if not isinstance(target, str) or "." not in target:
        return
    table, _, column = target.rpartition(".")
    yield from _table("use", table)
    yield from _columns(_norm(table), [column], "use")


def _embedded(node: ast.AST) -> Iterator[_Mention]:
    """Constraints, indexes and foreign keys declared inside ``create_table``/``add_column``."""
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        kind = (dotted(sub.func) or "").rpartition(".")[2]
        name = next((literal(kw.value) for kw in sub.keywords if kw.arg == "name"), None)
        if kind == "ForeignKey" and sub.args:
            yield from _reference(literal(sub.args[0]))
            yield from _named("constraint", name)
        elif kind in _EMBEDDED_CONSTRAINTS:
            yield from _named("constraint", name)
            if kind == "ForeignKeyConstraint" and len(sub.args) > 1:
                for target in _strings(literal(sub.args[1])):
                    yield from _reference(target)
        elif kind == "Index" and sub.args:
            yield from _named("index", literal(sub.args[0]))


def _call_mentions(call: Call) -> Iterator[_Mention]:
    """What one ``op.*``/``batch_op.*`` call names (execute calls: see :func:`_sql_mentions`)."""
    name = call.name
    table = _norm(call.table)
    if name == "create_table":
        yield from _table("create", table)
        for arg in [*call.node.args[1:], *(kw.value for kw in call.node.keywords)]:
            yield from _embedded(arg)
        return
    if name == "drop_table":
        yield from _table("drop", table)
        return
    if name == "rename_table":
        yield from _table("drop", table)
        yield from _table("create", call.string("new_table_name"))
        return
    if name == "bulk_insert":
        target = call.param("table")
        if isinstance(target, ast.Call) and target.args:
            yield from _table("use", literal(target.args[0]))
        return
    yield from _table("use", table)
    if name in {"add_column", "drop_column", "alter_column"}:
        yield from _columns(table, [call.column], "change")
        if name == "alter_column":
            yield from _columns(table, [call.string("new_column_name")], "change")
        column = call.param("column") if name == "add_column" else None
        if column is not None:
            yield from _embedded(column)
    elif name in {"create_index", "drop_index"}:
        yield from _named("index", call.value("index_name"), name.partition("_")[0])
        yield from _columns(table, _strings(call.value("columns")), "use")
    elif name in _CONSTRAINT_OPS:
        yield from _named("constraint", call.value("constraint_name"), name.partition("_")[0])
        if name == "create_foreign_key":
            referent = _norm(call.value("referent_table"))
            yield from _table("use", referent)
            yield from _columns(table, _strings(call.value("local_cols")), "use")
            yield from _columns(referent, _strings(call.value("remote_cols")), "use")
        else:
            yield from _columns(table, _strings(call.value("columns")), "use")


_SQL_CREATE_TABLE = re.compile(
    rf"^CREATE (?:OR REPLACE )?(?:(?:GLOBAL|LOCAL) )?(?:TEMP |TEMPORARY |UNLOGGED )?TABLE "
    rf"(?:IF NOT EXISTS )?({QNAME})",
    re.IGNORECASE,
)
_SQL_DROP_TABLE = re.compile(
    rf"^DROP TABLE (?:IF EXISTS )?({QNAME}(?:\s*,\s*{QNAME})*)", re.IGNORECASE
)
_SQL_RENAME_TABLE = re.compile(rf"^RENAME TABLE ({QNAME}) TO ({QNAME})", re.IGNORECASE)
_SQL_CREATE_INDEX = re.compile(
    rf"^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?({QNAME}) ON "
    rf"(?:ONLY )?({QNAME})",
    re.IGNORECASE,
)
_SQL_DROP_INDEX = re.compile(
    rf"^DROP INDEX (?:CONCURRENTLY )?(?:IF EXISTS )?({QNAME})(?: ON ({QNAME}))?", re.IGNORECASE
)
_SQL_DATA = re.compile(
    rf"^(?:UPDATE (?:ONLY )?|INSERT (?:IGNORE )?INTO |DELETE FROM (?:ONLY )?)({QNAME})",
    re.IGNORECASE,
)
_SQL_SPLIT_NAMES = re.compile(rf"({QNAME})")
# ALTER TABLE actions, most specific first.
_ACT_CONSTRAINT = re.compile(
    rf"^(?:ADD CONSTRAINT|DROP CONSTRAINT (?:IF EXISTS )?|DROP FOREIGN KEY|ALTER CONSTRAINT|"
    rf"VALIDATE CONSTRAINT) ({IDENT})",
    re.IGNORECASE,
)
_ACT_RENAME_CONSTRAINT = re.compile(rf"^RENAME CONSTRAINT ({IDENT}) TO ({IDENT})", re.IGNORECASE)
_ACT_INDEX = re.compile(
    rf"^(?:ADD|DROP) (?:UNIQUE |FULLTEXT |SPATIAL )?(?:INDEX|KEY) (?:IF (?:NOT )?EXISTS )?"
    rf"(?!\()({IDENT})",
    re.IGNORECASE,
)
_ACT_RENAME_INDEX = re.compile(rf"^RENAME (?:INDEX|KEY) ({IDENT}) TO ({IDENT})", re.IGNORECASE)
_ACT_RENAME_COLUMN = re.compile(rf"^RENAME (?:COLUMN )?({IDENT}) TO ({IDENT})", re.IGNORECASE)
_ACT_RENAME_TABLE = re.compile(rf"^RENAME (?:TO |AS )?({QNAME})$", re.IGNORECASE)
_ACT_CHANGE = re.compile(rf"^CHANGE (?:COLUMN )?({IDENT}) ({IDENT})", re.IGNORECASE)
_ACT_COLUMN = re.compile(
    rf"^(?:DROP|ALTER|MODIFY) (?:COLUMN )?(?:IF EXISTS )?(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|"
    rf"FOREIGN|CHECK|DEFAULT|PARTITION|UNIQUE)\b)({IDENT})",
    re.IGNORECASE,
)


def _sql_name(raw: str) -> str | None:
    name = ident(raw)
    return None if "{...}" in name or not name else name


def _alter_actions(table: str, actions: Sequence[str]) -> Iterator[_Mention]:
    for action in actions:
        if match := _ACT_RENAME_CONSTRAINT.match(action):
            yield from _named("constraint", _sql_name(match.group(1)), "drop")
            yield from _named("constraint", _sql_name(match.group(2)))
        elif match := _ACT_CONSTRAINT.match(action):
            yield from _named("constraint", _sql_name(match.group(1)), "change")
        elif match := _ACT_RENAME_INDEX.match(action):
            yield from _named("index", _sql_name(match.group(1)), "drop")
            yield from _named("index", _sql_name(match.group(2)))
        elif match := _ACT_INDEX.match(action):
            yield from _named("index", _sql_name(match.group(1)), "change")
        elif (match := _ACT_CHANGE.match(action)) or (match := _ACT_RENAME_COLUMN.match(action)):
            names = [_sql_name(match.group(1)), _sql_name(match.group(2))]
            yield from _columns(table, names, "change")
        elif match := _ACT_RENAME_TABLE.match(action):
            yield from _table("drop", table)
            yield from _table("create", _sql_name(match.group(1)))
        elif added := add_column_action(action):
            yield from _columns(table, [_sql_name(added[0])], "change")
        elif match := _ACT_COLUMN.match(action):
            yield from _columns(table, [_sql_name(match.group(1))], "change")


def _sql_mentions(sql: str) -> Iterator[_Mention]:
    """What literal SQL names, best effort (see the module docstring)."""
    for statement in sql_statements(sql):
        if match := _SQL_CREATE_TABLE.match(statement):
            yield from _table("create", _sql_name(match.group(1)))
        elif match := _SQL_DROP_TABLE.match(statement):
            for raw in _SQL_SPLIT_NAMES.findall(match.group(1)):
                yield from _table("drop", _sql_name(raw))
        elif match := _SQL_RENAME_TABLE.match(statement):
            yield from _table("drop", _sql_name(match.group(1)))
            yield from _table("create", _sql_name(match.group(2)))
        elif match := _SQL_CREATE_INDEX.match(statement):
            yield from _named("index", _sql_name(match.group(1)))
            yield from _table("use", _sql_name(match.group(2)))
        elif match := _SQL_DROP_INDEX.match(statement):
            yield from _named("index", _sql_name(match.group(1)), "drop")
            if match.group(2):
                yield from _table("use", _sql_name(match.group(2)))
        elif match := _SQL_DATA.match(statement):
            yield from _table("use", _sql_name(match.group(1)))
        elif altered := alter_table(statement):
            table = _sql_name(altered[0])
            if table is not None:
                yield from _table("use", table)
                yield from _alter_actions(table, altered[1])


@dataclass(frozen=True)
class _Revision:
    """What one revision's upgrade() touches, and what could not be read."""

    touches: tuple[_Touch, ...]
    unchecked: tuple[str, ...]


def _read_revision(script: history.Script) -> _Revision:
    try:
        tree = history.parse_source(script.path.read_bytes(), script.path)
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        # The graph read this file a moment ago: it changed or vanished since.
        return _Revision((), (f"{script.revision}: the script cannot be read ({exc})",))
    calls = [call for call in collect_calls(tree) if call.direction == "upgrade"]
    touches: list[_Touch] = []
    unchecked: list[str] = []
    for call in calls:
        if call.name == "execute":
            sql = execute_sql(call)
            if sql is None:
                unchecked.append(
                    f"{script.revision} ({display_path(script.path)}:{call.line}) runs SQL that is"
                    " built at run time; it was not compared"
                )
                continue
            mentions: Iterable[_Mention] = _sql_mentions(sql)
            operation = "execute (SQL)"
        else:
            mentions = _call_mentions(call)
            operation = call.name
        touches.extend(
            _Touch(mention, script.revision, operation, call.line)
            for mention in dict.fromkeys(mentions)
        )
    return _Revision(tuple(touches), tuple(unchecked))


# --------------------------------------------------------------------------- conflicts


@dataclass(frozen=True)
class Change:
    """What one revision of a branch does to the conflicting object."""

    revision: str
    message: str | None
    path: Path
    line: int
    operations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "message": self.message,
            "path": display_path(self.path),
            "line": self.line,
            "operations": list(self.operations),
        }


@dataclass(frozen=True)
class Side:
    """One branch of a conflict: its head, branch labels, and the revisions that collide."""

    head: str
    labels: tuple[str, ...]
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "labels": list(self.labels),
            "revisions": [change.to_dict() for change in self.changes],
        }


_KIND_TEXT = {
    "column": "column {} is changed on more than one branch",
    "index": "index {} is created or changed on more than one branch",
    "constraint": "constraint {} is created or changed on more than one branch",
    "table-created": "table {} is created on more than one branch",
    "table-dropped": "table {} is dropped or renamed on one branch and used on another",
}


@dataclass(frozen=True)
class Conflict:
    """Two branches that both touch one object: ``kind`` is a key of ``_KIND_TEXT``."""

    kind: str
    object: str
    sides: tuple[Side, Side]

    @property
    def revisions(self) -> list[str]:
        return list(dict.fromkeys(c.revision for side in self.sides for c in side.changes))

    @property
    def message(self) -> str:
        return _KIND_TEXT[self.kind].format(self.object)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object": self.object,
            "message": self.message,
            "revisions": self.revisions,
            "branches": [side.to_dict() for side in self.sides],
        }


@dataclass
class _Branch:
    head: str
    revisions: set[str]
    labels: tuple[str, ...]
    touches: dict[tuple[str, tuple[str, ...]], list[_Touch]] = field(default_factory=dict)

    def roles(self, kind: str, key: tuple[str, ...]) -> set[str]:
        return {t.mention.role for t in self.touches.get((kind, key), ())}


def _closure(graph: history.RevisionGraph, revision: str) -> set[str]:
    return graph.ancestors(revision) | {revision}


def _labels(graph: history.RevisionGraph, revisions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({label for rev in revisions for label in graph.scripts[rev].branch_labels}))


def _branch(
    graph: history.RevisionGraph,
    head: str,
    revisions: set[str],
    read: Mapping[str, _Revision],
) -> _Branch:
    branch = _Branch(head, revisions, _labels(graph, revisions))
    for revision in sorted(revisions):
        for touch in read[revision].touches:
            key = (touch.mention.kind, touch.mention.key)
            branch.touches.setdefault(key, []).append(touch)
    return branch


def _side(
    graph: history.RevisionGraph, branch: _Branch, keys: Iterable[Any], order: Mapping[str, int]
) -> Side:
    touches = [t for key in keys for t in branch.touches.get(key, ())]
    revisions = sorted({t.revision for t in touches}, key=lambda r: (order.get(r, 0), r))
    changes = []
    for revision in revisions:
        mine = [t for t in touches if t.revision == revision]
        script = graph.scripts[revision]
        changes.append(
            Change(
                revision=revision,
                message=script.message,
                path=script.path,
                line=min(t.line for t in mine),
                operations=tuple(dict.fromkeys(t.operation for t in mine)),
            )
        )
    return Side(branch.head, branch.labels, tuple(changes))


def _order(graph: history.RevisionGraph) -> dict[str, int]:
    """Each revision's position in upgrade order, so a side lists its revisions as applied."""
    try:
        return {script.revision: i for i, script in enumerate(graph.path((), "heads"))}
    except (history.RevisionCycleError, history.RevisionLookupError):
        return {}


def _pair_conflicts(
    graph: history.RevisionGraph, a: _Branch, b: _Branch, order: Mapping[str, int]
) -> list[Conflict]:
    found: list[Conflict] = []

    def add(kind: str, shown: str, keys: list[Any]) -> None:
        sides = (_side(graph, a, keys, order), _side(graph, b, keys, order))
        found.append(Conflict(kind, shown, sides))

    shared = sorted(set(a.touches) & set(b.touches))
    conflicted_tables: set[str] = set()
    for kind, key in shared:
        if kind != "table":
            continue
        roles_a, roles_b = a.roles(kind, key), b.roles(kind, key)
        if "create" in roles_a and "create" in roles_b:
            add("table-created", key[0], [(kind, key)])
        elif "drop" in roles_a or "drop" in roles_b:
            add("table-dropped", key[0], [(kind, key)])
        else:
            continue
        conflicted_tables.add(key[0])
    for kind, key in shared:
        if kind == "column":
            if key[0] in conflicted_tables:
                continue
            if "change" in a.roles(kind, key) | b.roles(kind, key):
                add("column", ".".join(key), [(kind, key)])
        elif kind in {"index", "constraint"}:
            add(kind, key[0], [(kind, key)])
    return found


def find_conflicts(
    graph: history.RevisionGraph, heads: Sequence[str] | None = None
) -> tuple[list[Conflict], list[str]]:
    """Conflicts between every pair of heads, and notes on what could not be compared.

    Each pair is compared on the revisions each head brings that the other does not (its
    branch since their common ancestors), so changes that an earlier merge already joined
    are not reported again.
    """
    heads = list(graph.heads if heads is None else heads)
    closures = {head: _closure(graph, head) for head in heads}
    involved: set[str] = set()
    pairs: list[tuple[str, str, set[str], set[str]]] = []
    for left, right in combinations(heads, 2):
        only_left = closures[left] - closures[right]
        only_right = closures[right] - closures[left]
        pairs.append((left, right, only_left, only_right))
        involved |= only_left | only_right
    read = {revision: _read_revision(graph.scripts[revision]) for revision in sorted(involved)}
    order = _order(graph)
    conflicts: list[Conflict] = []
    seen: set[Any] = set()
    for left, right, only_left, only_right in pairs:
        a = _branch(graph, left, only_left, read)
        b = _branch(graph, right, only_right, read)
        for conflict in _pair_conflicts(graph, a, b, order):
            key = (
                conflict.kind,
                conflict.object,
                frozenset(frozenset(c.revision for c in s.changes) for s in conflict.sides),
            )
            if key not in seen:
                seen.add(key)
                conflicts.append(conflict)
    notes = [note for revision in sorted(read) for note in read[revision].unchecked]
    return conflicts, notes


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """Everything decided before anything is written."""

    directory: Path
    locations: tuple[Path, ...]
    graph: history.RevisionGraph
    heads: tuple[str, ...]
    conflicts: tuple[Conflict, ...]
    notes: tuple[str, ...]

    def facts(self, merge_revision: str | None = None, path: Path | None = None) -> dict[str, Any]:
        """The JSON keys of DESIGN.md for this command."""
        return {
            "heads": list(self.heads),
            "merge_revision": merge_revision,
            "path": display_path(path) if path is not None else None,
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
        }


def _directory_of(target: Flask | str | os.PathLike[str]) -> Path:
    if isinstance(target, Flask):
        state = target.extensions.get("migrate")
        if state is None:
            raise ConfigError(
                "Flask-Migrate is not registered on this app", hint="call SafeMigrate(app, db)"
            )
        return Path(state.directory)
    return Path(target)


def _empty_facts() -> dict[str, Any]:
    return {"heads": [], "merge_revision": None, "path": None, "conflicts": []}


def _broken(graph: history.RevisionGraph) -> PreflightError | None:
    problems = [p for p in graph.problems if p.check != "multiple-heads"]
    if not problems:
        return None
    first = problems[0]
    more = f" (and {len(problems) - 1} more; `flask db verify` lists them)" if problems[1:] else ""
    return PreflightError(
        f"the revision history is broken, nothing was merged: {first.message}{more}",
        where=display_path(first.path) if first.path is not None else None,
        hint=first.hint,
        data={
            **_empty_facts(),
            "heads": list(graph.heads),
            "problems": [
                {"check": p.check, "message": p.message, "revisions": list(p.revisions)}
                for p in problems
            ],
        },
    )


def plan_merge(target: Flask | str | os.PathLike[str]) -> Plan:
    """Read the history of an app (or a migrations directory) and find the branch conflicts.

    Raises :class:`ConfigError` without a migrations directory and :class:`PreflightError`
    when the history is broken (a cycle, a missing parent, a duplicate or unreadable script):
    merging would only hide that.
    """
    directory = _directory_of(target)
    if not directory.is_dir():
        raise ConfigError(
            f"no migrations directory at {directory}",
            hint="run `flask db init`, or pass the directory to SafeMigrate(directory=...)",
            data=_empty_facts(),
        )
    try:
        locations = history.version_locations(directory)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="fix alembic.ini", data=_empty_facts()) from None
    graph = history.load_graph(locations)
    broken = _broken(graph)
    if broken is not None:
        raise broken
    conflicts: list[Conflict] = []
    notes: list[str] = []
    if len(graph.heads) > 1:
        conflicts, notes = find_conflicts(graph)
    return Plan(directory, tuple(locations), graph, graph.heads, tuple(conflicts), tuple(notes))


def default_message(graph: history.RevisionGraph, heads: Sequence[str]) -> str:
    """``merge heads 1a2b3c (feature), 4d5e6f``: names each head and its branch labels."""
    named = []
    closures = {head: _closure(graph, head) for head in heads}
    common = set.intersection(*closures.values()) if closures else set()
    for head in heads:
        labels = _labels(graph, closures[head] - common)
        named.append(f"{head} ({', '.join(labels)})" if labels else head)
    return f"merge heads {', '.join(named)}"


# --------------------------------------------------------------------------- writing


class _AtomicScriptDirectory(ScriptDirectory):
    """Alembic's ``ScriptDirectory`` writing a new script whole or not at all.

    The template is rendered to a hidden temporary file next to the target (Alembic ignores
    names that do not end in ``.py``), then replaced into place; an existing file of the same
    name is never overwritten.
    """

    @classmethod
    def wrapping(cls, base: ScriptDirectory) -> _AtomicScriptDirectory:
        script = cls.__new__(cls)
        script.__dict__.update(vars(base))
        return script

    def _generate_template(self, src: Path, dest: Path, **kw: Any) -> None:
        dest = Path(dest)
        if dest.exists():
            raise alembic_util.CommandError(f"{dest} already exists; not overwriting it")
        temporary = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        try:
            with alembic_util.status(f"Generating {dest.absolute()}", **self.messaging_opts):
                alembic_util.template_to_file(src, temporary, self.output_encoding, **kw)
                temporary.replace(dest)
        finally:
            temporary.unlink(missing_ok=True)


def _config(target: Flask | str | os.PathLike[str], directory: Path) -> Config:
    """Flask-Migrate's config for an app (configure callbacks included), else a plain one."""
    if isinstance(target, Flask):
        config: Config = target.extensions["migrate"].migrate.get_config(
            str(directory), opts=["quiet"]
        )
        return config
    ini = directory / "alembic.ini"
    config = Config(str(ini) if ini.is_file() else None)
    config.set_main_option("script_location", str(directory))
    config.cmd_opts = argparse.Namespace(quiet=True, x=[])
    return config


def _python_files(locations: Iterable[Path]) -> set[Path]:
    return {
        path
        for location in locations
        if location.is_dir()
        for path in location.iterdir()
        if path.suffix == ".py"
    }


def _remove_written(locations: Iterable[Path], before: set[Path], revision: str) -> None:
    """Delete only files that did not exist before and that hold the new revision id."""
    for path in _python_files(locations) - before:
        with contextlib.suppress(OSError):
            if revision in path.read_text(encoding="utf-8", errors="replace"):
                path.unlink()


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keep Alembic's progress lines and its post-write hooks off stdout.

    Alembic prints "Generating ..." with ``print``-like writes and runs hooks such as
    ``ruff format`` (which reports on stdout) as subprocesses; either would break the one
    JSON object of ``--format json``. File descriptor 1 is pointed at 2 for as long as the
    write lasts, which is process-wide.
    """
    sys.stdout.flush()
    saved: int | None = None
    with contextlib.suppress(OSError):  # no real descriptors (embedded): Python-level only
        duplicate = os.dup(1)
        try:
            os.dup2(2, 1)
            saved = duplicate
        except OSError:
            os.close(duplicate)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _generate(
    target: Flask | str | os.PathLike[str], plan: Plan, message: str, revision: str
) -> Path:
    config = _config(target, plan.directory)
    template_args: dict[str, Any] = {"config": config}
    script = _AtomicScriptDirectory.wrapping(ScriptDirectory.from_config(config))
    if alembic_util.asbool(config.get_alembic_option("revision_environment")):
        # As `alembic merge` does: env.py runs first, so templates can read its context.
        with EnvironmentContext(
            config, script, fn=lambda rev, context: [], as_sql=False, template_args=template_args
        ):
            script.run_env()
    written = script.generate_revision(
        revision, message, refresh=True, head=list(plan.heads), **template_args
    )
    if written is None:
        raise alembic_util.CommandError("Alembic wrote no revision script")
    return Path(written.path)


def _graph_after(plan: Plan, before: set[Path]) -> history.RevisionGraph:
    """The history as it is now, reading only the files that are new.

    The plan read (and found sound) every other script; reading a long history again would
    cost more than Alembic's own merge.
    """
    scripts = [*plan.graph.scripts.values()]
    problems = list(plan.graph.problems)
    for added in sorted(_python_files(plan.locations) - before):
        read = history.read_script(added)
        if isinstance(read, history.Script):
            scripts.append(read)
        else:
            problems.append(read)
    return history.RevisionGraph(scripts, problems)


def _write(
    target: Flask | str | os.PathLike[str], plan: Plan, message: str | None
) -> tuple[str, Path]:
    """Have Alembic write the merge revision, then check the history has one head.

    On any failure the file written here (and only that one) is removed.
    """
    revision = alembic_util.rev_id()
    # The template places the message in the script's source (`"""${message}`): escaped, a
    # quote or a line break stays text and reads back as the message, never as code.
    message = safe_text.in_python_string(message or default_message(plan.graph, plan.heads))
    before = _python_files(plan.locations)
    context = target.app_context() if isinstance(target, Flask) else contextlib.nullcontext()
    try:
        with context, _stdout_to_stderr():
            path = _generate(target, plan, message, revision)
    except Exception as exc:  # Alembic imports every script: any error may surface here
        _remove_written(plan.locations, before, revision)
        raise PreflightError(
            f"Alembic could not write the merge revision: {one_line(exc)}",
            where=str(plan.directory),
            hint="`flask db heads` shows Alembic's own error; check the scripts and script.py.mako",
            data=plan.facts(),
        ) from None
    after = _graph_after(plan, before)
    if after.heads != (revision,) or _broken(after) is not None:
        _remove_written(plan.locations, before, revision)
        raise ChecksFailed(
            f"the merge revision did not leave one head (heads: {', '.join(after.heads)});"
            " it was removed",
            where=display_path(path),
            hint="check `file_template` and `version_locations` in alembic.ini",
            data=plan.facts(),
        )
    return revision, path


# --------------------------------------------------------------------------- entry points


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_heads` did: ``merge_revision``/``path`` are None when nothing was
    written (zero or one head)."""

    heads: tuple[str, ...]
    merge_revision: str | None
    path: Path | None
    conflicts: tuple[Conflict, ...]
    notes: tuple[str, ...]

    @property
    def merged(self) -> bool:
        return self.merge_revision is not None


def merge_heads(
    target: Flask | str | os.PathLike[str], message: str | None = None, force: bool = False
) -> MergeResult:
    """Merge several heads into one; for pipelines such as ``safe-upgrade --auto-merge``.

    Raises :class:`ChecksFailed` (exit 1) when the branches conflict and ``force`` is false;
    its ``data`` holds the heads and conflicts. With an app, call it inside or outside an
    app context: the template is rendered inside one.
    """
    plan = plan_merge(target)
    if len(plan.heads) < 2:
        return MergeResult(plan.heads, None, None, (), plan.notes)
    if plan.conflicts and not force:
        raise ChecksFailed(
            f"not merging heads {', '.join(plan.heads)}: "
            f"{plural(len(plan.conflicts), 'conflict')} between the branches "
            f"({'; '.join(c.message for c in plan.conflicts)})",
            hint=_REFUSE_HINT,
            data=plan.facts(),
        )
    revision, path = _write(target, plan, message)
    return MergeResult(plan.heads, revision, path, plan.conflicts, plan.notes)


_REFUSE_HINT = (
    "make the branches agree (change one of the unreleased migrations), or merge anyway with"
    " `flask db auto-merge-heads --force` and add a migration that reconciles them"
)


def auto_merge_heads(
    target: Flask | str | os.PathLike[str],
    *,
    message: str | None = None,
    check: bool = False,
    force: bool = False,
) -> Report:
    """The report of ``flask db auto-merge-heads``; writes the merge unless refused or ``check``.

    Conflicts are errors (warnings with ``force``); ``check`` adds a ``multiple-heads`` error
    when there are several heads and never writes.
    """
    plan = plan_merge(target)
    notes = [_history_note(plan)]
    findings = [conflict_finding(c, forced=force and not check) for c in plan.conflicts]
    if len(plan.heads) < 2:
        notes.append(
            f"Nothing to merge: one head ({plan.heads[0]})."
            if plan.heads
            else "Nothing to merge: there are no revisions."
        )
        return Report(COMMAND, findings, facts=plan.facts(), notes=notes)
    notes.extend(_fork_notes(plan))
    if plan.notes:
        notes.append("Raw SQL is compared best effort; not compared:")
        notes.extend(f"  {note}" for note in plan.notes)
    if check:
        findings.insert(0, _multiple_heads(plan))
        notes.append("--check: nothing was written.")
        return Report(COMMAND, findings, facts=plan.facts(), notes=notes)
    if plan.conflicts and not force:
        notes.append(
            f"Not merged: {plural(len(plan.conflicts), 'conflict')} between the branches"
            " (below). Nothing was written."
        )
        return Report(COMMAND, findings, facts=plan.facts(), notes=notes)
    revision, path = _write(target, plan, message)
    if plan.conflicts:
        notes.append(f"Merging despite {plural(len(plan.conflicts), 'conflict')} (--force).")
    notes.append(f"Wrote merge revision {revision}: {display_path(path)}")
    return Report(COMMAND, findings, facts=plan.facts(revision, path), notes=notes)


def exit_code(report: Report) -> ExitCode:
    """1 when the merge was refused or ``--check`` found several heads, else 0."""
    return ExitCode.CHECKS_FAILED if report.fails(Severity.ERROR) else ExitCode.OK


# --------------------------------------------------------------------------- rendering helpers


def _history_note(plan: Plan) -> str:
    heads = ", ".join(plan.heads) or "none"
    return (
        f"History: {plural(len(plan.graph.scripts), 'revision')},"
        f" {plural(len(plan.heads), 'head')} ({heads})."
    )


def _fork_notes(plan: Plan) -> list[str]:
    graph = plan.graph
    closures = {head: _closure(graph, head) for head in plan.heads}
    common = set.intersection(*closures.values())
    parents = {p for rev in common for p in graph.scripts[rev].down_revisions}
    forks = sorted(common - parents)
    where = (
        f"after {', '.join(forks)}" if forks else "with no common ancestor (independent branches)"
    )
    lines = [f"The heads diverge {where}:"]
    for head in plan.heads:
        own = closures[head] - common
        labels = _labels(graph, own)
        label = f" [{', '.join(labels)}]" if labels else ""
        lines.append(f"  {head}{label}: {plural(len(own), 'revision')} on its branch")
    return lines


def _describe(change: Change) -> str:
    message = f' "{change.message}"' if change.message else ""
    return (
        f"{change.revision}{message}  {display_path(change.path)}:{change.line}"
        f"  {', '.join(change.operations)}"
    )


def conflict_finding(conflict: Conflict, *, forced: bool) -> Finding:
    """A conflict as a finding (an error, or a warning once ``--force`` merged anyway)."""
    lines = []
    for side in conflict.sides:
        labels = f" [{', '.join(side.labels)}]" if side.labels else ""
        lines.append(f"    branch of head {side.head}{labels}:")
        lines.extend(f"      {_describe(change)}" for change in side.changes)
    return Finding(
        rule=CONFLICT_CHECK,
        severity=Severity.WARNING if forced else Severity.ERROR,
        message=conflict.message,
        details=tuple(lines),
        help=(
            f"add a migration after the merge that reconciles {conflict.object}"
            if forced
            else _REFUSE_HINT
        ),
        extra={"kind": conflict.kind, "object": conflict.object, "revisions": conflict.revisions},
    )


def _multiple_heads(plan: Plan) -> Finding:
    action = (
        "resolve the conflicts below, then run `flask db auto-merge-heads`"
        if plan.conflicts
        else "run `flask db auto-merge-heads` to write the merge revision"
    )
    return Finding(
        rule="multiple-heads",
        severity=Severity.ERROR,
        message=(
            f"The history has {len(plan.heads)} heads ({', '.join(plan.heads)});"
            " `flask db upgrade` needs exactly one."
        ),
        help=action,
        extra={"revisions": list(plan.heads)},
    )
