"""What rules and the engine share: a rule, its findings, the parsed script, the options.

Rule modules import this (and :mod:`registry`), never :mod:`engine`, so the engine can load the
rules without an import cycle.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

from flask_safemigrate import history
from flask_safemigrate.lint.calls import ALL_DIALECTS as ALL_DIALECTS
from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.index import ScriptIndex, build_index
from flask_safemigrate.report import Severity

_T = TypeVar("_T")

#: The values of the ``releases`` lint option (:attr:`LintConfig.releases`).
RELEASE_SOURCES = ("off", "git-tags")


#: The ``extra`` key of a finding whose existing values may not survive the change (SM105's
#: narrowing): the live gate keeps it at a warning on a small table with rows.
VALUES_AT_RISK = "values_at_risk"


@dataclass(frozen=True, init=False)
class Violation:
    """What a rule reports; the engine adds the rule's code, name, severity and path.

    Its ``__init__`` fills the instance's dictionary at once: the frozen dataclass's own sets
    each field through ``object.__setattr__``, three times slower, for thousands of violations
    per history.
    """

    message: str
    node: ast.AST | None = None
    line: int | None = None
    col: int | None = None
    help: str | None = None
    path: Path | None = None  # for history rules, which point at other files
    # The dialects the finding is about, when narrower than the rule's (``None``: the rule's).
    dialects: frozenset[str] | None = None
    # The highest severity this finding may have (``None``: the rule's): a problem that only
    # appears under a condition the project does not meet yet (a SQLAlchemy it does not run).
    at_most: Severity | None = None
    # Facts the finding carries for its readers (JSON keys, the live gate's judgement), such
    # as SM105's ``values_at_risk``; JSON-serialisable values only (lint's cache keeps them).
    facts: Mapping[str, object] | None = None

    def __init__(
        self,
        message: str,
        node: ast.AST | None = None,
        line: int | None = None,
        col: int | None = None,
        help: str | None = None,
        path: Path | None = None,
        dialects: frozenset[str] | None = None,
        at_most: Severity | None = None,
        facts: Mapping[str, object] | None = None,
    ) -> None:
        object.__setattr__(self, "__dict__", {"message": message, "node": node, "line": line,
            "col": col, "help": help, "path": path, "dialects": dialects, "at_most": at_most,
            "facts": facts})  # fmt: skip


@dataclass(frozen=True)
class LintConfig:
    """Resolved lint options: CLI over Flask config over ``[tool.safemigrate.lint]``."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    fail_on: Severity = Severity.ERROR
    dialect: str = "auto"
    exclude: tuple[str, ...] = ()
    #: The project names its tables in the plural (``singular-table-name`` applies); ``None``
    #: (unset): as most of the app's models' tables are named, when ``mapped`` says, else not.
    plural_tables: bool | None = None
    schema: str | None = None
    report_unused_ignores: bool = False
    # The project's SQLAlchemy, "major.minor"; ``None``: the installed one.
    sqlalchemy: str | None = None
    #: Findings this file records are not reported (``lint --baseline``); ``None``: no baseline.
    baseline: Path | None = None
    #: Where each script's release comes from (``lint --releases``): ``"off"`` (each script is
    #: judged alone, but for the set ``--since``/``--pending`` deploys together) or
    #: ``"git-tags"`` (the earliest git tag holding the commit that added it;
    #: :mod:`~flask_safemigrate.lint.release_groups`).
    releases: str = "off"
    #: The app's current models (``flask db lint``): table name -> the columns they map;
    #: ``None`` when lint runs without the app (``safemigrate lint``).
    mapped: Mapping[str, frozenset[str]] | None = None

    @property
    def dialects(self) -> frozenset[str]:
        """The dialects dialect-specific rules fire for; all of them when unknown."""
        return ALL_DIALECTS if self.dialect == "auto" else frozenset({self.dialect})

    @property
    def dialect_known(self) -> bool:
        return self.dialect != "auto"

    @property
    def sqlalchemy_version(self) -> tuple[int, int]:
        """The SQLAlchemy the project's migrations run on: the setting, else the installed one."""
        if self.sqlalchemy is not None:
            return sqlalchemy_version(self.sqlalchemy) or INSTALLED_UNKNOWN
        return installed_sqlalchemy()


#: Assumed when SQLAlchemy is not installed where lint runs: the current major version.
INSTALLED_UNKNOWN = (2, 0)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\w+)*")


def sqlalchemy_version(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` of ``"1.4"`` or ``"1.4.52"``; ``None`` when it is not a version."""
    match = _VERSION.fullmatch(text.strip())
    return (int(match[1]), int(match[2])) if match else None


@functools.cache
def installed_sqlalchemy() -> tuple[int, int]:
    """The installed SQLAlchemy's ``(major, minor)``, read from its metadata: lint never
    imports SQLAlchemy (it starts faster without it). The version is read from the name of
    its ``.dist-info`` folder where that is plain (:func:`listed_sqlalchemy`); else
    ``importlib.metadata`` answers, imported only then: it brings in email, zipfile and csv,
    20 ms or more of a lint's start-up (and every ``safemigrate lint`` needs the version: the
    results cache is keyed by it)."""
    listed = listed_sqlalchemy()
    if listed is not None:
        return sqlalchemy_version(listed) or INSTALLED_UNKNOWN
    import importlib.metadata

    try:
        found = sqlalchemy_version(importlib.metadata.version("sqlalchemy"))
    except importlib.metadata.PackageNotFoundError:
        found = None
    return found or INSTALLED_UNKNOWN


_DIST_INFO = re.compile(r"sqlalchemy-([0-9][^-]*)\.dist-info", re.IGNORECASE)


def listed_sqlalchemy() -> str | None:
    """The version in the name of the first ``sqlalchemy-<version>.dist-info`` folder along
    ``sys.path`` (where ``importlib.metadata`` finds it first); ``None`` when the first
    candidate is anything else (an ``.egg-info``, a zip archive on the path): ask
    ``importlib.metadata`` then."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")  # noqa: PTH208 -- names only, no Path each
        except NotADirectoryError:
            return None  # a zip archive: importlib.metadata reads inside it
        except OSError:
            continue
        for name in names:
            if name[:11].lower() == "sqlalchemy-" and name.lower().endswith(("-info", ".egg")):
                match = _DIST_INFO.fullmatch(name)
                return match[1] if match else None
    return None


class Rule:
    """Base class of a lint rule. The class docstring is its documentation.

    The docstring has the sections ``What it does``, ``Why it matters``, ``Example`` and
    ``Use instead``; ``docs/rules.md`` is generated from it.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    dialects: ClassVar[frozenset[str]] = ALL_DIALECTS
    default_enabled: ClassVar[bool] = True
    fix: ClassVar[str] = ""  # one line: what to do instead (the text output's `help:`)
    # Facts (see :attr:`index.ScriptIndex.facts`) without which the rule cannot report: one
    # of each set must hold, or the engine does not run it on the script. Only a shortcut:
    # ``check`` gives the same findings without it.
    requires: ClassVar[tuple[frozenset[str], ...]] = ()

    def check(self, migration: Migration) -> Iterator[Violation]:
        """Findings for one script."""
        return iter(())

    def check_graph(self, graph: history.RevisionGraph) -> Iterator[Violation]:
        """Findings for the whole revision graph (history rules)."""
        return iter(())


@dataclass
class Migration:
    """One parsed script and what rules ask about it."""

    path: Path
    source: str
    tree: ast.Module
    calls: list[Call]
    info: history.Script | None
    config: LintConfig
    # Built with the calls by parse(); built on first use for a Migration made by hand.
    _index: ScriptIndex | None = field(default=None, repr=False, compare=False)

    @property
    def index(self) -> ScriptIndex:
        """The script's index (one walk shared by every rule)."""
        if self._index is None:
            self._index = build_index(self.tree)
        return self._index

    @property
    def own_index(self) -> bool:
        """Whether :attr:`calls` are the index's own calls (not a list given by hand)."""
        return self.calls is self.index.calls

    @property
    def upgrade_calls(self) -> list[Call]:
        if self.own_index:
            return self.index.upgrade_calls
        return [c for c in self.calls if c.direction == "upgrade"]

    @property
    def downgrade_calls(self) -> list[Call]:
        if self.own_index:
            return self.index.downgrade_calls
        return [c for c in self.calls if c.direction == "downgrade"]

    def shared(self, key: str, build: Callable[[], _T]) -> _T:
        """``build()``, computed once per script for every rule that asks for ``key``
        (each time for a Migration whose calls were given by hand)."""
        index = self.index
        if self.calls is not index.calls:
            return build()
        cache = index.cache
        if key not in cache:
            cache[key] = build()
        value: _T = cache[key]
        return value

    def mentions(self, pattern: re.Pattern[str], *words: str) -> bool:
        """Whether the source matches ``pattern``, where ``words`` (lower case) are what the
        pattern needs: one of them must occur, ignoring case. A plain substring test settles
        most scripts; an ASCII-only source without any of the words cannot match."""
        if self.source.isascii():
            lowered = self.lowered
            for word in words:  # a loop, not any(...): many rules ask, of every script
                if word in lowered:
                    break
            else:
                return False
        return pattern.search(self.source) is not None

    @property
    def lowered(self) -> str:
        """The source in lower case (computed once)."""
        cache = self.index.cache
        if "lowered" not in cache:
            cache["lowered"] = self.source.lower()
        lowered: str = cache["lowered"]
        return lowered

    def created_before(self, call: Call, table: str | None = None) -> bool:
        """Whether ``table`` was created earlier in the same function: it holds no rows yet."""
        table = table if table is not None else call.table
        if table is None:
            return False
        for other in self.calls:
            if other is call:
                return False
            if (
                other.direction == call.direction
                and other.name == "create_table"
                and other.table == table
            ):
                return True
        return False

    def function(self, name: str) -> ast.FunctionDef | None:
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        return None


def rule_docs(rule: type[Rule]) -> str:
    """The rule's docstring, dedented: its documentation."""
    return inspect.cleandoc(rule.__doc__ or "")
