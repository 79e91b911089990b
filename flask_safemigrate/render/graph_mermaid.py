"""``flask db graph --format mermaid``: a Mermaid flowchart, which GitHub renders in pull
requests, issues and READMEs (inside a fenced block marked ``mermaid``).

Bottom to top, as the history grows: each edge points from a revision to the one that needs
it. Node ids are ours (``r0``, ``r1``...); every text from a script is a quoted label in which
each character outside a small safe set is written as Mermaid's entity code (``#60;`` for
``<``), so no message can close the label, start Markdown (a backtick), add a statement
(``-->``, a newline, ``;``, ``%%``) or an HTML tag.
"""

from __future__ import annotations

import re

from flask_safemigrate.graph.model import HistoryGraph, Node
from flask_safemigrate.render.graph_words import duration, marks, message, summary, title

__all__ = ["mermaid_label", "render_graph_mermaid"]

_SAFE = re.compile(r"[A-Za-z0-9 ._,:/()+=-]")

#: Mermaid classes, one per mark a node can carry (the last one given wins a style).
CLASSES = {
    "collapsed": "fill:#fff,stroke:#57606a,stroke-dasharray:4 3,color:#57606a",
    "merge": "fill:#f3e8ff,stroke:#8250df",
    "head": "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px",
    "pending": "fill:#fff8c5,stroke:#bf8700,stroke-dasharray:4 3",
    "current": "fill:#ffebe9,stroke:#cf222e,stroke-width:3px",
}


def mermaid_label(text: str) -> str:
    """``text`` for inside ``"..."``: unsafe characters as Mermaid entity codes."""
    return "".join(char if _SAFE.fullmatch(char) else f"#{ord(char)};" for char in text)


def _label(node: Node) -> str:
    first = " ".join([title(node), *(f"({mark})" for mark in marks(node))])
    rest = [part for part in (message(node), duration(node)) if part is not None]
    lines = [mermaid_label(first)]
    if rest:
        lines.append(mermaid_label(" · ".join(rest)))
    return "<br>".join(lines)


def _classes(node: Node) -> list[str]:
    found = []
    if node.collapsed:
        found.append("collapsed")
    if node.merge:
        found.append("merge")
    if node.head:
        found.append("head")
    if node.pending:
        found.append("pending")
    if node.current:
        found.append("current")
    return found


def render_graph_mermaid(model: HistoryGraph) -> str:
    """The flowchart's source text (without the Markdown fence)."""
    ids = {key: f"r{index}" for index, key in enumerate(model.nodes)}
    lines = [f"%% {line}" for line in summary(model)]  # printable: one line each
    lines.append("flowchart BT")
    for key, node in model.nodes.items():
        opening, closing = ('(["', '"])') if node.collapsed else ('["', '"]')
        lines.append(f"  {ids[key]}{opening}{_label(node)}{closing}")
    for edge in model.edges:
        arrow = "-.->" if edge.pending else "-->"
        if edge.depends:
            arrow = "-. depends_on .->"
        lines.append(f"  {ids[edge.parent]} {arrow} {ids[edge.child]}")
    for name, style in CLASSES.items():
        lines.append(f"  classDef {name} {style}")
        members = [ids[key] for key, node in model.nodes.items() if name in _classes(node)]
        if members:
            lines.append(f"  class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"
