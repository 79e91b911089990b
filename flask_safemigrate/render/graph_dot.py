"""``flask db graph --format dot``: Graphviz's DOT language, for ``dot -Tpng`` and the tools
that read it.

Node ids are ours (``n0``, ``n1``...); texts from scripts live only in double-quoted labels,
where a backslash and a double quote are escaped and control characters were already made
printable, so no message can end the string or add a statement.
"""

from __future__ import annotations

from flask_safemigrate.graph.model import HistoryGraph, Node
from flask_safemigrate.render.graph_words import duration, marks, message, summary, title

__all__ = ["dot_string", "render_graph_dot"]


def dot_string(text: str) -> str:
    """``text`` as a DOT double-quoted string (the quotes included)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attributes(node: Node) -> str:
    first = " ".join([title(node), *(f"({mark})" for mark in marks(node))])
    rest = [part for part in (message(node), duration(node)) if part is not None]
    label = dot_string(first + "".join(f"\n{part}" for part in rest)).replace("\n", "\\n")
    attrs = [f"label={label}"]
    if node.collapsed:
        attrs.append('style="rounded,dashed,filled"')
    if node.head and not node.current:
        attrs.append("penwidth=2")
    if node.merge:
        attrs.append("shape=hexagon")
    if node.pending:
        attrs.append('fillcolor="#fff8c5"')
    if node.current:
        attrs.append('color="#cf222e", penwidth=3')  # wider than a head's 2
    return ", ".join(attrs)


def render_graph_dot(model: HistoryGraph) -> str:
    """The ``digraph`` text."""
    ids = {key: f"n{index}" for index, key in enumerate(model.nodes)}
    lines = [f"// {line}" for line in summary(model)]
    lines += [
        "digraph revisions {",
        "  rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="monospace"];',
    ]
    for key, node in model.nodes.items():
        lines.append(f"  {ids[key]} [{_attributes(node)}];")
    for edge in model.edges:
        style = []
        if edge.pending or edge.depends:
            style.append("style=dashed")
        if edge.depends:
            style.append('label="depends_on"')
        suffix = f" [{', '.join(style)}]" if style else ""
        lines.append(f"  {ids[edge.parent]} -> {ids[edge.child]}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"
