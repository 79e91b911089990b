"""SM501 multiple-heads: The revision graph has more than one head."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate import history
from flask_safemigrate.lint.model import Rule, Violation
from flask_safemigrate.lint.registry import register


@register
class MultipleHeads(Rule):
    """The revision graph has more than one head.

    ## What it does
    Finds a history whose scripts end in two or more heads, usually because two branches each
    added a migration on top of the same revision.

    ## Why it matters
    `flask db upgrade` refuses to run ("Multiple head revisions are present"), so the deploy
    stops at the migration step; and the two branches were never checked against each other.

    ## Example
    ```python
    # a1b2c3_add_email.py
    down_revision = "f00d"
    # d4e5f6_add_phone.py
    down_revision = "f00d"
    ```

    ## Use instead
    Merge the heads into one revision with `flask db auto-merge-heads`, which first checks that
    the branches do not change the same thing (`flask db merge heads` joins them blindly).
    """

    code = "SM501"
    name = "multiple-heads"
    fix = (
        "merge the heads: `flask db auto-merge-heads` (checks the branches do not conflict;"
        " `flask db merge heads` does not)"
    )

    def check_graph(self, graph: history.RevisionGraph) -> Iterator[Violation]:
        # One finding per head, at its `revision =` line, so each branch's author sees it.
        if len(graph.heads) < 2:
            return
        for head in graph.heads:
            script = graph.scripts[head]
            others = ", ".join(h for h in graph.heads if h != head)
            yield Violation(
                f"revision {head} is one of {len(graph.heads)} heads (also: {others})",
                line=script.line,
                col=1,
                path=script.path,
            )
