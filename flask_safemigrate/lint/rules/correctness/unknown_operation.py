"""SM324 unknown-operation: an ``op.*`` or ``batch_op.*`` call Alembic has no operation for."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.op_receivers import signatures_of
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register

#: How close a name must be to an operation to be read as its typo. High on purpose: an
#: operation a library registers (alembic_utils' ``op.create_entity``) is not near any of
#: Alembic's, and is left alone.
_CUTOFF = 0.85


@register
class UnknownOperation(Rule):
    """A call to an `op.*` or `batch_op.*` operation that Alembic does not have, spelt like one
    it does: a typo that fails only when the migration runs.

    ## What it does
    Compares the name of each `op.*` and `batch_op.*` call with the operations of the
    installed Alembic (the table `unknown-op-keyword` reads), and reports a name that is not
    one of them but is close to one (`create_indx`, `add_colum`, `excute`). A name near none
    of them is left alone: it may be an operation a library registers with
    `Operations.register_operation` (alembic_utils' `op.create_entity`).

    ## Why it matters
    The script imports and lints cleanly, then `AttributeError: module 'alembic.op' has no
    attribute 'create_indx'` stops the deploy at that line, after the revisions before it
    were applied. Seen in review it is a one-letter fix.

    ## Example
    ```python
    def upgrade():
        op.create_indx("ix_posts_user_id", "posts", ["user_id"])
    ```

    ## Use instead
    ```python
    def upgrade():
        op.create_index("ix_posts_user_id", "posts", ["user_id"])
    ```
    """

    code = "SM324"
    name = "unknown-operation"
    fix = "use the name of Alembic's operation (see the suggestion or Alembic's docs)"

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            known = signatures_of(call.receiver)
            if known is None or call.name in known:
                continue
            close = difflib.get_close_matches(call.name, sorted(known), n=1, cutoff=_CUTOFF)
            if not close:
                continue
            yield Violation(
                f"{call.receiver}.{call.name}() is not an Alembic operation (did you mean"
                f" {call.receiver}.{close[0]}()?): the migration fails with AttributeError"
                " when it runs",
                node=call.node,
                help=f"use {call.receiver}.{close[0]}()",
            )
