"""SM502 duplicate-revision: Two scripts declare the same revision id."""

from __future__ import annotations

from flask_safemigrate.lint.helpers.graph import GraphProblemRule
from flask_safemigrate.lint.registry import register


@register
class DuplicateRevision(GraphProblemRule):
    """Two scripts declare the same revision id.

    ## What it does
    Finds revision ids that appear in more than one script, typically a copied file.

    ## Why it matters
    Alembic keeps one of them and ignores the other, so a migration silently never runs.

    ## Example
    ```python
    # 2024_01_02_a1b2c3_add_email.py and its copy, both with
    revision = "a1b2c3"
    ```

    ## Use instead
    Give the copy a new id (`flask db revision` generates one) and point its `down_revision`
    at the right parent.
    """

    code = "SM502"
    name = "duplicate-revision"
    check_name = "duplicate-revision"
    fix = "give one of the scripts a new revision id"
