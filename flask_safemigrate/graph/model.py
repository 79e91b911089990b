"""The revision graph as a picture's data: nodes with their marks, and the edges between them.

:class:`~flask_safemigrate.history.RevisionGraph` answers questions about the history
(heads, ancestry, paths); a picture needs every revision once, with what makes it worth a
look (head, merge, branch point, label, where the database stands, pending, how long it
took), and a place for a run of plain revisions folded into one node
(:mod:`flask_safemigrate.graph.collapse`). Nothing here reads files or databases: the marks
arrive as :class:`DatabaseMarks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_safemigrate import history

__all__ = ["DatabaseMarks", "Edge", "HistoryGraph", "Node", "build_model"]


@dataclass(frozen=True)
class DatabaseMarks:
    """What the database says about the history, or why it said nothing.

    ``connected`` False: ``note`` says why ("not connected (--no-db)", or the one-line reason
    with the password masked) and no revision is marked current or pending.
    """

    connected: bool
    note: str
    current: tuple[str, ...] = ()
    #: Milliseconds of each revision's last successful upgrade, from the ledger.
    durations: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    """One row of the picture: a revision, or a run of plain revisions folded into one."""

    key: str
    revisions: tuple[str, ...]
    message: str | None = None
    labels: tuple[str, ...] = ()
    head: bool = False
    merge: bool = False
    branch_point: bool = False
    root: bool = False
    current: bool = False
    #: True: not applied to the database yet; False: applied; None: unknown (not connected).
    pending: bool | None = None
    duration_ms: int | None = None

    @property
    def collapsed(self) -> bool:
        return len(self.revisions) > 1

    @property
    def plain(self) -> bool:
        """Nothing to mark: such revisions can be folded into a run."""
        return not (
            self.head or self.merge or self.branch_point or self.root or self.current or self.labels
        )


@dataclass(frozen=True)
class Edge:
    """``child`` needs ``parent`` first: a ``down_revision`` or, ``depends``, a ``depends_on``."""

    child: str
    parent: str
    depends: bool = False
    pending: bool = False


@dataclass(frozen=True)
class HistoryGraph:
    """Nodes keyed by :attr:`Node.key` (in the history's discovery order) and their edges."""

    nodes: Mapping[str, Node]
    edges: tuple[Edge, ...]
    database: DatabaseMarks
    #: How many revisions are folded into collapsed nodes (0: the full graph).
    hidden: int = 0
    #: The history's problems worth a line beside the picture (a script that does not parse
    #: is missing from it, a parent that no script has is not drawn).
    notes: tuple[str, ...] = ()

    @property
    def revision_count(self) -> int:
        return sum(len(node.revisions) for node in self.nodes.values())


def _applied(graph: history.RevisionGraph, current: tuple[str, ...]) -> set[str]:
    """The current revisions and their ancestors; every revision when one is unknown."""
    if any(revision not in graph.scripts for revision in current):
        return set(graph.scripts)
    applied = set(current)
    for revision in current:
        applied |= graph.ancestors(revision)
    return applied


def build_model(graph: history.RevisionGraph, marks: DatabaseMarks) -> HistoryGraph:
    """Every revision of ``graph`` as a node with its marks, every resolvable edge.

    A ``down_revision`` or ``depends_on`` naming no script is left out (verify reports it as
    ``missing-parent``); a ``depends_on`` that repeats a ``down_revision`` is drawn once.
    """
    applied = _applied(graph, marks.current) if marks.connected else None
    current = set(marks.current)
    heads, merges = set(graph.heads), set(graph.merge_points)
    branch_points = set(graph.branch_points)
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for revision, script in graph.scripts.items():
        pending = None if applied is None else revision not in applied
        nodes[revision] = Node(
            key=revision,
            revisions=(revision,),
            message=script.message,
            labels=script.branch_labels,
            head=revision in heads,
            merge=revision in merges,
            branch_point=revision in branch_points,
            root=not script.down_revisions,
            current=revision in current,
            pending=pending,
            duration_ms=marks.durations.get(revision),
        )
        parents = [p for p in script.down_revisions if p in graph.scripts]
        for parent in dict.fromkeys(parents):
            edges.append(Edge(revision, parent, pending=bool(pending)))
        for dependency in script.depends_on:
            target = dependency if dependency in graph.scripts else graph.labels.get(dependency)
            if target is not None and target not in parents and target != revision:
                edges.append(Edge(revision, target, depends=True, pending=bool(pending)))
                parents.append(target)
    return HistoryGraph(nodes, tuple(edges), marks)
