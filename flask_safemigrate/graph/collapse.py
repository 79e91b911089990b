"""Fold long runs of plain revisions into one node, so a long history stays readable.

A history of 300 revisions is mostly straight lines between the revisions worth a look
(heads, merges, forks, labels, where the database stands). Each run of at least
``min_run`` plain revisions, one after the other with nothing joining or leaving in between,
becomes one node ("… 42 revisions …") that keeps the ids of its ends, whether it is pending,
and its total duration. ``flask db graph --full`` skips this step.
"""

from __future__ import annotations

from collections import Counter

from flask_safemigrate.graph.model import Edge, HistoryGraph, Node

__all__ = ["DEFAULT_MIN_RUN", "collapse_runs"]

#: The shortest run that is folded: a run of two saves one row and hides two ids.
DEFAULT_MIN_RUN = 3


def _foldable(model: HistoryGraph) -> set[str]:
    """Plain nodes with one ``down_revision`` parent, one child and no ``depends_on`` edge."""
    parents = Counter(e.child for e in model.edges)
    children = Counter(e.parent for e in model.edges)
    depends = {key for e in model.edges if e.depends for key in (e.child, e.parent)}
    return {
        key
        for key, node in model.nodes.items()
        if node.plain
        and not node.collapsed
        and parents[key] == 1
        and children[key] == 1
        and key not in depends
    }


def _runs(model: HistoryGraph, foldable: set[str]) -> list[list[str]]:
    """Maximal chains of foldable nodes, each oldest first."""
    parent_of = {e.child: e.parent for e in model.edges if e.child in foldable}
    child_of = {e.parent: e.child for e in model.edges if e.parent in foldable}
    runs = []
    for key in model.nodes:
        if key not in foldable or parent_of[key] in foldable:
            continue  # not the oldest of its run
        run = [key]
        while child_of[run[-1]] in foldable:
            run.append(child_of[run[-1]])
        runs.append(run)
    return runs


def _folded(model: HistoryGraph, run: list[str]) -> Node:
    members = [model.nodes[key] for key in run]
    durations = [n.duration_ms for n in members if n.duration_ms is not None]
    return Node(
        key=f"{run[0]}..{run[-1]}",
        revisions=tuple(rev for node in members for rev in node.revisions),
        pending=members[0].pending,
        duration_ms=sum(durations) if durations else None,
    )


def collapse_runs(model: HistoryGraph, min_run: int = DEFAULT_MIN_RUN) -> HistoryGraph:
    """``model`` with every run of at least ``min_run`` (two or more) plain revisions folded
    into one node."""
    runs = [run for run in _runs(model, _foldable(model)) if len(run) >= max(min_run, 2)]
    if not runs:
        return model
    folded_into: dict[str, Node] = {}
    for run in runs:
        node = _folded(model, run)
        for key in run:
            folded_into[key] = node
    nodes: dict[str, Node] = {}
    for key, node in model.nodes.items():
        replacement = folded_into.get(key, node)
        nodes.setdefault(replacement.key, replacement)
    edges: list[Edge] = []
    for edge in model.edges:
        child = folded_into[edge.child].key if edge.child in folded_into else edge.child
        parent = folded_into[edge.parent].key if edge.parent in folded_into else edge.parent
        if child != parent:
            edges.append(Edge(child, parent, depends=edge.depends, pending=edge.pending))
    hidden = sum(len(run) for run in runs)
    return HistoryGraph(
        nodes, tuple(edges), model.database, hidden=model.hidden + hidden, notes=model.notes
    )
