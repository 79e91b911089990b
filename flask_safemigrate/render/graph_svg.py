"""``flask db graph --format svg``: the history as a self-contained SVG picture.

Drawn from :func:`flask_safemigrate.graph.lay_out`'s rows and lanes by this module alone (no
Graphviz, no font files, no script): one row per node, a coloured line per lane, the marks as
small badges beside the id. Every text from a script (ids, messages, labels) is made
printable and XML-escaped, so a message with ``<``, ``&`` or quotes stays text.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from flask_safemigrate.graph.layout import Layout, Placed, Route, lay_out
from flask_safemigrate.graph.model import HistoryGraph, Node
from flask_safemigrate.render.graph_words import duration, marks, message, summary, title
from flask_safemigrate.safe_text import printable

__all__ = ["render_graph_svg"]

ROW = 26
LANE = 18
LEFT = 16
TOP = 64
FONT = 12
#: The width of one character of the monospace font at :data:`FONT` pixels (DejaVu Sans
#: Mono, Menlo and Consolas are all within a few per cent): text widths are estimated.
CHAR = 0.61 * FONT
BADGE_FONT = 10
BADGE_CHAR = 0.61 * BADGE_FONT
PALETTE = ("#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BADGE_COLOURS = {
    "head": "#2ca02c",
    "merge": "#9467bd",
    "branch point": "#7f7f7f",
    "database": "#d62728",
    "pending": "#ff7f0e",
}
LABEL_COLOUR = "#1f77b4"
STYLE = (
    "text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;"
    f"font-size:{FONT}px;fill:#24292f}}"
    ".message{fill:#57606a}.took{fill:#8250df}.head{font-weight:bold}"
    f".badge{{font-size:{BADGE_FONT}px;fill:#fff}}.title{{font-size:14px;font-weight:bold}}"
    ".summary{fill:#57606a}.lane{fill:none;stroke-width:2}.pending{stroke-dasharray:4 3}"
    ".depends{fill:none;stroke:#8c959f;stroke-width:1.2;stroke-dasharray:2 3}"
)


def _x(lane: int) -> float:
    return LEFT + lane * LANE + LANE / 2


def _y(row: int) -> float:
    return TOP + row * ROW + ROW / 2


def _colour(lane: int) -> str:
    return PALETTE[lane % len(PALETTE)]


def _route_path(route: Route) -> str:
    """Leave the child, run down the lane, enter the parent (curves where the lane changes)."""
    assert route.lane is not None
    child, parent, lane = route.child, route.parent, route.lane
    xc, yc, xp, yp, xl = _x(child.lane), _y(child.row), _x(parent.lane), _y(parent.row), _x(lane)
    half = ROW / 2
    if parent.row == child.row + 1 and (child.lane != lane or parent.lane != lane):
        return f"M{xc},{yc} C{xc},{yc + half} {xp},{yp - half} {xp},{yp}"
    path = f"M{xc},{yc}"
    top = yc
    if child.lane != lane:
        top = yc + ROW
        path += f" C{xc},{yc + half} {xl},{top - half} {xl},{top}"
    bottom = yp - ROW if parent.lane != lane else yp
    if bottom > top:
        path += f" L{xl},{bottom}"
    if parent.lane != lane:
        path += f" C{xl},{bottom + half} {xp},{yp - half} {xp},{yp}"
    return path


def _depends_path(route: Route) -> str:
    xc, yc, xp, yp = (
        _x(route.child.lane),
        _y(route.child.row),
        _x(route.parent.lane),
        _y(route.parent.row),
    )
    bend = LEFT / 2 + 2
    return f"M{xc},{yc} C{bend},{yc + ROW} {bend},{yp - ROW} {xp},{yp}"


def _text(x: float, y: float, text: str, css: str | None = None) -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{klass}>{escape(text)}</text>'


def _badge(x: float, y: float, text: str) -> tuple[str, float]:
    colour = BADGE_COLOURS.get(text, LABEL_COLOUR)
    width = len(text) * BADGE_CHAR + 8
    shape = (
        f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="{width:.1f}" height="15" rx="7"'
        f' fill="{colour}"/>' + _text(x + 4, y + 3.5, text, "badge")
    )
    return shape, width


def _marker(node: Node, cell: Placed) -> list[str]:
    x, y, colour = _x(cell.lane), _y(cell.row), _colour(cell.lane)
    shapes = []
    if node.current:
        shapes.append(
            f'<circle cx="{x}" cy="{y}" r="8.5" fill="none" stroke="#d62728" stroke-width="2.5"/>'
        )
    if node.collapsed:
        shapes.append(
            f'<rect x="{x - 5}" y="{y - 9}" width="10" height="18" rx="5" fill="#fff"'
            f' stroke="{colour}" stroke-width="2" stroke-dasharray="3 2"/>'
        )
    elif node.pending:
        shapes.append(
            f'<circle cx="{x}" cy="{y}" r="5" fill="#fff" stroke="{colour}" stroke-width="2"/>'
        )
    else:
        shapes.append(f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"/>')
    return shapes


def _row(model: HistoryGraph, node: Node, cell: Placed, text_x: float) -> tuple[list[str], float]:
    """The row's words; returns the elements and where the row's text ends."""
    y = _y(cell.row)
    hover = "\n".join(printable(r) for r in node.revisions[:50])
    parts = [f"<g><title>{escape(hover)}</title>"]
    name = title(node)
    parts.append(_text(text_x, y + 4, name, "head" if node.head else None))
    x = text_x + len(name) * CHAR + 8
    for mark in marks(node):
        shape, width = _badge(x, y, mark)
        parts.append(shape)
        x += width + 5
    said = message(node)
    if said is not None:
        parts.append(_text(x + 4, y + 4, said, "message"))
        x += 4 + len(said) * CHAR
    took = duration(node)
    if took is not None:
        parts.append(_text(x + 10, y + 4, took, "took"))
        x += 10 + len(took) * CHAR
    parts.append("</g>")
    return parts, x


def _stripes(layout: Layout, width: float) -> list[str]:
    return [
        f'<rect x="0" y="{TOP + cell.row * ROW}" width="{width:.0f}" height="{ROW}"'
        ' fill="#f6f8fa"/>'
        for cell in layout.cells
        if cell.row % 2
    ]


def render_graph_svg(model: HistoryGraph) -> str:
    """The SVG document (UTF-8 text, one ``<svg>`` element with its own styles)."""
    layout = lay_out(model)
    text_x = LEFT + layout.lanes * LANE + 10
    rows: list[str] = []
    right = 0.0
    for cell in layout.cells:
        node = model.nodes[cell.key]
        parts, end = _row(model, node, cell, text_x)
        rows.extend(parts)
        right = max(right, end)
    header = summary(model)
    notes = [printable(n) for n in model.notes]
    legend = (
        "● applied  ○ pending  ◎ the database is here  ▯ folded run  ┄ depends_on"
        if model.database.connected
        else "● revision  ▯ folded run  ┄ depends_on"
    )
    lines = [f"{' ' * 18}{header[0]}", header[1], legend, *notes]
    width = max(right, text_x, *(len(line) * CHAR + LEFT for line in lines)) + LEFT
    bottom = TOP + len(layout.cells) * ROW + 12 + 18 * len(notes)
    edges = []
    for route in layout.routes:
        if route.lane is None:
            edges.append(f'<path class="depends" d="{_depends_path(route)}"/>')
            continue
        dashed = " pending" if route.edge.pending else ""
        edges.append(
            f'<path class="lane{dashed}" stroke="{_colour(route.lane)}" d="{_route_path(route)}"/>'
        )
    markers = [shape for cell in layout.cells for shape in _marker(model.nodes[cell.key], cell)]
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{bottom:.0f}"'
        f' viewBox="0 0 {width:.0f} {bottom:.0f}" role="img"'
        f" aria-label={quoteattr('Revision graph: ' + header[0])}>",
        f"<style>{STYLE}</style>",
        f'<rect width="{width:.0f}" height="{bottom:.0f}" fill="#fff"/>',
        _text(LEFT, 20, "Revision graph", "title"),
        _text(LEFT + 130, 20, header[0], "summary"),
        _text(LEFT, 38, header[1], "summary"),
        _text(LEFT, 54, legend, "summary"),
        *_stripes(layout, width),
        *edges,
        *markers,
        *rows,
        *(
            _text(LEFT, TOP + len(layout.cells) * ROW + 16 + 18 * index, f"note: {note}", "summary")
            for index, note in enumerate(notes)
        ),
        "</svg>",
    ]
    return "\n".join(body) + "\n"
