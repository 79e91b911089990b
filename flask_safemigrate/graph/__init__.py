"""``flask db graph``: the revision history as a picture's data.

:mod:`.model` turns the static :class:`~flask_safemigrate.history.RevisionGraph` and the
database's marks into nodes and edges, :mod:`.collapse` folds long runs of plain revisions,
:mod:`.layout` gives rows and lanes, and :mod:`.command` is the command's function. The
renderers (SVG, Mermaid, DOT, text) live at the CLI edge, in ``render/``.
"""

from __future__ import annotations

from flask_safemigrate.graph.collapse import DEFAULT_MIN_RUN, collapse_runs
from flask_safemigrate.graph.command import NO_DB_NOTE, history_graph, read_marks
from flask_safemigrate.graph.layout import Layout, Placed, Route, lay_out, row_order
from flask_safemigrate.graph.model import DatabaseMarks, Edge, HistoryGraph, Node, build_model

__all__ = [
    "DEFAULT_MIN_RUN",
    "NO_DB_NOTE",
    "DatabaseMarks",
    "Edge",
    "HistoryGraph",
    "Layout",
    "Node",
    "Placed",
    "Route",
    "build_model",
    "collapse_runs",
    "history_graph",
    "lay_out",
    "read_marks",
    "row_order",
]
