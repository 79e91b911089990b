"""Conflicts between heads: objects two branches both create, change or drop since their fork."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from flask_safemigrate import history
from flask_safemigrate.merge.touches import RevisionTouches, Touch, read_revision
from flask_safemigrate.text import display_path

__all__ = ["Change", "Conflict", "Side", "branch_labels", "closure", "find_conflicts"]


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
    touches: dict[tuple[str, tuple[str, ...]], list[Touch]] = field(default_factory=dict)

    def roles(self, kind: str, key: tuple[str, ...]) -> set[str]:
        return {t.mention.role for t in self.touches.get((kind, key), ())}


def closure(graph: history.RevisionGraph, revision: str) -> set[str]:
    return graph.ancestors(revision) | {revision}


def branch_labels(graph: history.RevisionGraph, revisions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({label for rev in revisions for label in graph.scripts[rev].branch_labels}))


def _branch(
    graph: history.RevisionGraph,
    head: str,
    revisions: set[str],
    read: Mapping[str, RevisionTouches],
) -> _Branch:
    branch = _Branch(head, revisions, branch_labels(graph, revisions))
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
    closures = {head: closure(graph, head) for head in heads}
    involved: set[str] = set()
    pairs: list[tuple[str, str, set[str], set[str]]] = []
    for left, right in combinations(heads, 2):
        only_left = closures[left] - closures[right]
        only_right = closures[right] - closures[left]
        pairs.append((left, right, only_left, only_right))
        involved |= only_left | only_right
    read = {revision: read_revision(graph.scripts[revision]) for revision in sorted(involved)}
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
