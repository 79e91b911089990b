"""SM505 invalid-revision-id: A revision id or branch label Alembic refuses or cannot store."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate import history, revision_ids
from flask_safemigrate.lint.helpers.graph import GraphProblemRule
from flask_safemigrate.lint.model import Violation
from flask_safemigrate.lint.registry import register


@register
class InvalidRevisionId(GraphProblemRule):
    """A revision id or branch label Alembic refuses, or that does not fit its version column.

    ## What it does
    Checks every `revision`, `down_revision`, `depends_on` and `branch_labels` value: ids may
    hold ASCII letters, digits, `_` and `.`; labels also `-` (not before a digit), and a
    `revision` may be at most 32 characters long, the width of the version column Alembic
    creates.

    ## Why it matters
    Alembic writes the id into its version-table SQL as a quoted literal: an id with a quote
    changes that SQL (`b2'; DROP TABLE users; ...` drops the table). It refuses `@ - + :` only
    when it loads the script, after a dry run said yes, and an id longer than the column fails
    after the revision's DDL ran, which MariaDB cannot roll back. `flask db verify` and
    `safe-upgrade` refuse such ids too (they read the real column width from the database).

    ## Example
    ```python
    revision = "2024-05-14-add-email"
    down_revision = "b2'; DROP TABLE users; --"
    ```

    ## Use instead
    ```python
    revision = "2024_05_14_add_email"
    down_revision = "b2c3d4e5f6a7"
    ```
    If you widened `alembic_version.version_num` for longer ids, silence a length finding
    with `# safemigrate: ignore[invalid-revision-id] -- version_num is VARCHAR(64)` on the
    `revision =` line.
    """

    code = "SM505"
    name = "invalid-revision-id"
    check_name = "invalid-revision-id"
    fix = "rename the revision to plain letters, digits and `_` (and every reference to it)"

    def check_graph(self, graph: history.RevisionGraph) -> Iterator[Violation]:
        yield from super().check_graph(graph)
        for problem in history.overlong_ids(
            graph.scripts.values(), revision_ids.STOCK_VERSION_WIDTH
        ):
            yield Violation(
                f"{problem.message} (as Alembic creates it)",
                line=problem.line or 1,
                col=1,
                path=problem.path,
                help=problem.hint,
            )
