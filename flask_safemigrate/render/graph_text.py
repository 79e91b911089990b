"""``flask db graph --format text``: the history drawn with characters, as ``git log --graph``.

One line per node (``*`` a revision, ``o`` a pending one, ``@`` where the database stands,
``:`` a folded run) after the lines that pass it (``|``), and between two rows a line with
the edges that change lane (``\\`` a merge's other parent opening a lane, ``/`` a line
joining its parent's lane).
"""

from __future__ import annotations

from flask_safemigrate.graph.layout import Layout, Route, lay_out
from flask_safemigrate.graph.model import HistoryGraph, Node
from flask_safemigrate.render.graph_words import duration, marks, message, summary, title
from flask_safemigrate.safe_text import printable

__all__ = ["render_graph_text"]


def _symbol(node: Node) -> str:
    if node.current:
        return "@"
    if node.collapsed:
        return ":"
    return "o" if node.pending else "*"


def _put(line: list[str], column: int, char: str) -> None:
    """Draw ``char``; a vertical line wins where lines cross."""
    if line[column] == " " or char == "|":
        line[column] = char


def _steps(start: int, end: int, count: int) -> list[int]:
    """Lane positions over ``count`` gap lines, one lane per line toward ``end``."""
    positions = [start]
    for _ in range(count):
        here = positions[-1]
        positions.append(here + (end > here) - (end < here))
    return positions


def _by_row(layout: Layout) -> tuple[list[list[Route]], dict[str, list[str]]]:
    """The lane routes passing each gap (gap ``r``: between rows ``r`` and ``r + 1``), and
    each node's ``depends_on`` targets; one pass over the routes, not one per row."""
    gaps: list[list[Route]] = [[] for _ in layout.cells]
    depends: dict[str, list[str]] = {}
    for route in layout.routes:
        if route.lane is None:
            depends.setdefault(route.edge.child, []).append(route.edge.parent)
            continue
        for row in range(route.child.row, route.parent.row):
            gaps[row].append(route)
    return gaps, depends


def _gaps(layout: Layout, routes: list[Route], row: int) -> list[str]:
    """The lines between ``row`` and the next one: one, or one per lane a line must cross
    (an edge moves one lane per line, as ``git log --graph`` draws it)."""
    moves = []
    for route in routes:
        assert route.lane is not None
        start = route.child.lane if row == route.child.row else route.lane
        end = route.parent.lane if row + 1 == route.parent.row else route.lane
        moves.append((start, end))
    count = max([1, *(abs(end - start) for start, end in moves)])
    lines = []
    for step in range(count):
        line = [" "] * (2 * layout.lanes)
        for start, end in moves:
            here, there = _steps(start, end, count)[step : step + 2]
            if here == there:
                _put(line, 2 * here, "|")
            elif there > here:
                _put(line, 2 * here + 1, "\\")
            else:
                _put(line, 2 * here - 1, "/")
        lines.append("".join(line).rstrip())
    return lines


def _describe(model: HistoryGraph, node: Node, depends: list[str]) -> str:
    parts = [title(node)]
    parts.extend(f"({mark})" for mark in marks(node))
    text = message(node)
    if text is not None:
        parts.append(f'"{text}"')
    took = duration(node)
    if took is not None:
        parts.append(took)
    if depends:
        parts.append(f"(depends on {', '.join(title(model.nodes[d]) for d in depends)})")
    return " ".join(parts)


def render_graph_text(model: HistoryGraph) -> str:
    """The picture as lines of text, after the summary (newest revisions first)."""
    layout = lay_out(model)
    gaps, depends = _by_row(layout)
    lines = [*summary(model), *(f"note: {printable(n)}" for n in model.notes), ""]
    for cell in layout.cells:
        node = model.nodes[cell.key]
        art = [" "] * (2 * layout.lanes)
        if cell.row:  # the lines passing this row: in the gaps above and below it
            for route in gaps[cell.row - 1]:
                if route.parent.row > cell.row:
                    assert route.lane is not None
                    art[2 * route.lane] = "|"
        art[2 * cell.lane] = _symbol(node)
        described = _describe(model, node, depends.get(node.key, []))
        lines.append(f"{''.join(art)} {described}".rstrip())
        if cell.row + 1 < len(layout.cells):
            for gap in _gaps(layout, gaps[cell.row], cell.row):
                if gap.strip(" |"):  # a line of only verticals says nothing the rows do not
                    lines.append(gap)
    return "\n".join(lines)
