"""SM503 missing-parent: A script names a parent (or dependency) that no script declares."""

from __future__ import annotations

from flask_safemigrate.lint.helpers.graph import GraphProblemRule
from flask_safemigrate.lint.registry import register


@register
class MissingParent(GraphProblemRule):
    """A script names a parent (or dependency) that no script declares.

    ## What it does
    Finds `down_revision` and `depends_on` values that match no revision in the versions
    directories.

    ## Why it matters
    Alembic cannot build the history and every command fails, including the upgrade during a
    deploy.

    ## Example
    ```python
    revision = "b2"
    down_revision = "deleted0"  # that script was removed
    ```

    ## Use instead
    Restore the missing script, or point `down_revision` at the revision that really comes
    before this one.
    """

    code = "SM503"
    name = "missing-parent"
    check_name = "missing-parent"
    fix = "restore the missing script or fix down_revision"
