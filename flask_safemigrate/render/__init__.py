"""How a :class:`~flask_safemigrate.report.Report` is shown: the CLI's renderers.

The report is data (:mod:`flask_safemigrate.report`); only the commands pick a renderer and
print: :mod:`.text` (the human layout, ANSI colour on a terminal), :mod:`.document`
(``--format json``), :mod:`.github` (workflow annotations), :mod:`.sarif` (code scanning), and
:mod:`.markdown` / :mod:`.markdown_plan` (``--format markdown``: a pull-request comment).
"""

from __future__ import annotations

from flask_safemigrate.render.document import render_json
from flask_safemigrate.render.github import render_github
from flask_safemigrate.render.sarif import render_sarif
from flask_safemigrate.render.text import (
    lint_summary_lines,
    render_finding,
    render_lint_text,
    render_text,
    should_color,
    summary_line,
)

__all__ = [
    "lint_summary_lines",
    "render_finding",
    "render_github",
    "render_json",
    "render_lint_text",
    "render_sarif",
    "render_text",
    "should_color",
    "summary_line",
]
