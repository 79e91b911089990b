"""Lint rules over the revision graph as a whole (5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from flask_safemigrate import history
from flask_safemigrate.lint.engine import Rule, Violation
from flask_safemigrate.lint.rules import register


class _GraphProblemRule(Rule):
    """Shared body: report the history module's problems of one kind."""

    check_name: ClassVar[str]

    def check_graph(self, graph: history.RevisionGraph) -> Iterator[Violation]:
        for problem in graph.problems:
            if problem.check == self.check_name:
                yield Violation(
                    problem.message,
                    line=problem.line or 1,
                    col=1,
                    path=problem.path,
                    help=problem.hint,
                )


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
    Merge the heads into one revision (`flask db merge heads`, or `flask db auto-merge-heads`,
    which also checks that the branches do not conflict).
    """

    code = "SM501"
    name = "multiple-heads"
    fix = "merge the heads: `flask db merge heads` (or `flask db auto-merge-heads`)"

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


@register
class DuplicateRevision(_GraphProblemRule):
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


@register
class MissingParent(_GraphProblemRule):
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


@register
class RevisionCycle(_GraphProblemRule):
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
