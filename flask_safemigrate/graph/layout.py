"""Rows and lanes, as ``git log --graph`` draws a history: the layout every picture shares.

Rows run from the newest revisions to the oldest, every revision above its parents. The order
is Kahn's algorithm with a stack (``git log --topo-order``'s idea): after a revision comes its
first parent whenever nothing else still waits to be shown above that parent, so a branch is
drawn as one unbroken stretch instead of interleaved with its neighbour.

Lanes are columns. A revision takes the lane of the first line waiting for it (or a free one:
a head starts a lane); its first parent continues in that lane, a merge's other parents open
lanes of their own, and when a parent is already awaited in a lane, the line joins that lane.
Each ``down_revision`` edge is routed: it leaves its child, travels down its lane, and enters
its parent. ``depends_on`` edges take no lane (they are drawn across, dashed).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_safemigrate.graph.model import Edge, HistoryGraph

__all__ = ["Layout", "Placed", "Route", "lay_out", "row_order"]


@dataclass(frozen=True)
class Placed:
    """Where a node is drawn: its row (0 at the top) and its lane (0 at the left)."""

    key: str
    row: int
    lane: int


@dataclass(frozen=True)
class Route:
    """Where an edge runs: from its child's cell, down ``lane``, into its parent's cell.

    ``lane`` is ``None`` for a ``depends_on`` edge (no lane of its own)."""

    edge: Edge
    child: Placed
    parent: Placed
    lane: int | None


@dataclass(frozen=True)
class Layout:
    """Every node's cell, every edge's route, and how many lanes the widest row needs."""

    cells: tuple[Placed, ...]  # one per row, newest first
    routes: tuple[Route, ...]
    lanes: int


def row_order(model: HistoryGraph) -> list[str]:
    """Every node once, each above its parents; a branch's revisions kept together.

    Nodes a cycle keeps from ever being ready come last, in the history's order (the command
    refuses a cyclic history; a picture of one still shows every node).
    """
    waiting = dict.fromkeys(model.nodes, 0)
    down: dict[str, list[str]] = {key: [] for key in model.nodes}
    depends: dict[str, list[str]] = {key: [] for key in model.nodes}
    for edge in model.edges:
        waiting[edge.parent] += 1
        (depends if edge.depends else down)[edge.child].append(edge.parent)
    parents = {key: down[key] + depends[key] for key in model.nodes}
    stack = [key for key in reversed(list(model.nodes)) if waiting[key] == 0]
    order: list[str] = []
    while stack:
        key = stack.pop()
        order.append(key)
        for parent in reversed(parents[key]):
            waiting[parent] -= 1
            if waiting[parent] == 0:
                stack.append(parent)
    seen = set(order)
    order.extend(key for key in model.nodes if key not in seen)
    return order


def _free(lanes: list[str | None]) -> int:
    for index, expected in enumerate(lanes):
        if expected is None:
            return index
    lanes.append(None)
    return len(lanes) - 1


def lay_out(model: HistoryGraph) -> Layout:
    """Rows and lanes for every node, and the route of every edge."""
    lanes: list[str | None] = []
    cells: dict[str, Placed] = {}
    travel: dict[tuple[str, str], int] = {}
    width = 0
    down: dict[str, list[Edge]] = {key: [] for key in model.nodes}
    for edge in model.edges:
        if not edge.depends:
            down[edge.child].append(edge)
    for row, key in enumerate(row_order(model)):
        waiting = [index for index, expected in enumerate(lanes) if expected == key]
        lane = waiting[0] if waiting else _free(lanes)
        for index in waiting:
            lanes[index] = None
        cells[key] = Placed(key, row, lane)
        for number, edge in enumerate(down[key]):
            if edge.parent in lanes:
                chosen = lanes.index(edge.parent)
            elif number == 0 and lanes[lane] is None:
                chosen = lane
            else:
                chosen = _free(lanes)
            lanes[chosen] = edge.parent
            travel[(edge.child, edge.parent)] = chosen
        width = max(width, len(lanes))
        while lanes and lanes[-1] is None:
            lanes.pop()
    routes = tuple(
        Route(
            edge,
            cells[edge.child],
            cells[edge.parent],
            None if edge.depends else travel.get((edge.child, edge.parent)),
        )
        for edge in model.edges
    )
    ordered = tuple(sorted(cells.values(), key=lambda cell: cell.row))
    return Layout(ordered, routes, max(width, 1))
