"""SM504 revision-cycle: The revision graph contains a cycle."""

from __future__ import annotations

from flask_safemigrate.lint.helpers.graph import GraphProblemRule
from flask_safemigrate.lint.registry import register


@register
class RevisionCycle(GraphProblemRule):
    """The revision graph contains a cycle.

    ## What it does
    Finds revisions that are, through `down_revision` or `depends_on`, their own ancestors.

    ## Why it matters
    There is no order in which to apply them; Alembic fails on every command.

    ## Example
    ```python
    # a.py
    revision, down_revision = "a", "b"
    # b.py
    revision, down_revision = "b", "a"
    ```

    ## Use instead
    Break the cycle: one of the scripts must descend from a revision outside it (or be the
    root, with `down_revision = None`).
    """

    code = "SM504"
    name = "revision-cycle"
    check_name = "revision-cycle"
    fix = "make one revision of the cycle descend from a revision outside it"
