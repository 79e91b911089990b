"""The words every picture of the history uses: a node's title, its marks, the summary line.

The four renderers (:mod:`.graph_text`, :mod:`.graph_svg`, :mod:`.graph_mermaid`,
:mod:`.graph_dot`) say the same things in their own syntax; the text here is made printable
(no control character survives), and each renderer escapes it for its own format.
"""

from __future__ import annotations

from flask_safemigrate.graph.model import HistoryGraph, Node
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural

__all__ = ["MESSAGE_LIMIT", "NOTE_LIMIT", "duration", "marks", "message", "summary", "title"]

#: A message longer than this is cut (the full text is in the script).
MESSAGE_LIMIT = 60
#: The header's database line is cut there (``flask db verify`` gives the whole reason).
NOTE_LIMIT = 180
#: Of a cut note, what is kept of its start (what was read: the URL); the rest of
#: :data:`NOTE_LIMIT` keeps its end, the reason (``Access denied for user ... (error 1045)``).
NOTE_HEAD = 80


def title(node: Node) -> str:
    """The revision id, or what a folded run holds: ``… 42 revisions (a1 … b2) …``."""
    if not node.collapsed:
        return printable(node.revisions[0])
    first, last = printable(node.revisions[0]), printable(node.revisions[-1])
    return f"… {len(node.revisions)} revisions ({first} … {last}) …"


def message(node: Node) -> str | None:
    """The script's message on one line, cut to :data:`MESSAGE_LIMIT` characters."""
    if node.message is None or node.collapsed:
        return None
    text = printable(" ".join(node.message.split()))
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def marks(node: Node) -> list[str]:
    """The node's marks in a stable order: ``head``, ``merge``, ``branch point``,
    ``[label]``, ``database``, ``pending``."""
    found = []
    if node.head:
        found.append("head")
    if node.merge:
        found.append("merge")
    if node.branch_point:
        found.append("branch point")
    found.extend(f"[{printable(label)}]" for label in node.labels)
    if node.current:
        found.append("database")
    if node.pending:
        found.append("pending")
    return found


def duration(node: Node) -> str | None:
    """The ledger's duration (a folded run's total), ``340 ms`` or ``12.5 s``."""
    if node.duration_ms is None:
        return None
    if node.duration_ms < 1000:
        return f"{node.duration_ms} ms"
    return f"{node.duration_ms / 1000:.1f} s"


def summary(model: HistoryGraph) -> list[str]:
    """Two lines: what the history holds (and what is folded), and where the database stands."""
    nodes = list(model.nodes.values())
    heads = sum(1 for n in nodes if n.head)
    merges = sum(1 for n in nodes if n.merge)
    first = (
        f"{plural(model.revision_count, 'revision')}, {plural(heads, 'head')},"
        f" {plural(merges, 'merge')}"
    )
    if model.hidden:
        runs = sum(1 for n in nodes if n.collapsed)
        first += (
            f"; {plural(model.hidden, 'revision')} folded into {plural(runs, 'run')}"
            " (--full shows every revision)"
        )
    second = printable(model.database.note)
    if not model.database.connected:
        # why a database was not read, said quietly: the picture is not as wide as an error;
        # cut in the middle, as the reason ("Connection refused") ends the line
        second = " ".join(second.split())
        if len(second) > NOTE_LIMIT:
            second = f"{second[:NOTE_HEAD]} … {second[-(NOTE_LIMIT - NOTE_HEAD - 3) :]}"
    else:
        current = ", ".join(printable(r) for r in model.database.current) or "empty (base)"
        pending = sum(len(n.revisions) for n in nodes if n.pending)
        second += f"; at {current}; {plural(pending, 'revision')} pending"
    return [first, second]
