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
    """Draw ``char``; a vertical line wins over a horizontal one where they cross."""
    if line[column] in (" ", "-") or (line[column] in "\\/" and char == "|"):
        line[column] = char


def _between(line: list[str], start: int, end: int) -> None:
    """An edge moving from lane ``start`` to lane ``end`` within one gap line."""
    if start == end:
        _put(line, 2 * start, "|")
    elif end > start:
        for column in range(2 * start + 1, 2 * end - 1):
            _put(line, column, "-")
        _put(line, 2 * end - 1, "\\")
    else:
        for column in range(2 * end + 2, 2 * start):
            _put(line, column, "-")
        _put(line, 2 * end + 1, "/")


def _gap(layout: Layout, routes: list[Route], row: int) -> str:
    """The line between ``row`` and the next one."""
    line = [" "] * (2 * layout.lanes)
    for route in routes:
        assert route.lane is not None
        if not route.child.row <= row < route.parent.row:
            continue
        start = route.child.lane if row == route.child.row else route.lane
        end = route.parent.lane if row + 1 == route.parent.row else route.lane
        _between(line, start, end)
    return "".join(line).rstrip()


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
    lane_routes = [r for r in layout.routes if r.lane is not None]
    lines = [*summary(model), *(f"note: {printable(n)}" for n in model.notes), ""]
    for cell in layout.cells:
        node = model.nodes[cell.key]
        art = [" "] * (2 * layout.lanes)
        for route in lane_routes:
            if route.child.row < cell.row < route.parent.row:
                assert route.lane is not None
                art[2 * route.lane] = "|"
        art[2 * cell.lane] = _symbol(node)
        depends = [
            r.edge.parent for r in layout.routes if r.lane is None and r.edge.child == node.key
        ]
        lines.append(f"{''.join(art)} {_describe(model, node, depends)}".rstrip())
        if cell.row + 1 < len(layout.cells):
            gap = _gap(layout, lane_routes, cell.row)
            if gap.strip(" |"):  # a line of only verticals says nothing the rows do not
                lines.append(gap)
    return "\n".join(lines)
