"""SM301 missing-downgrade."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.history import is_empty_body
from flask_safemigrate.lint.helpers.functions import FunctionNode
from flask_safemigrate.lint.inline import migration_direction, multidb_shape
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


@register
class MissingDowngrade(Rule):
    """The script cannot be downgraded: no `downgrade()`, or an empty one after a real upgrade.

    ## What it does
    Reports a revision script without a `downgrade()` function, and a `downgrade()` whose
    body is only `pass`, `...` or a docstring while `upgrade()` does work. Multi-database
    scripts are checked per bind (`upgrade_<bind>` against `downgrade_<bind>`). A downgrade
    that raises on purpose, such as `raise NotImplementedError("irreversible: ...")`, is an
    explicit decision and is not reported.

    ## Why it matters
    An empty downgrade looks reversible but is not: `flask db downgrade` moves the version
    table back while the schema stays as it is, so the next upgrade fails on objects that
    already exist, and a rollback during an incident silently does nothing. A missing
    function makes the downgrade crash half-way through a multi-revision rollback.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120), nullable=True))


    def downgrade():
        pass
    ```

    ## Use instead
    ```python
    def downgrade():
        op.drop_column("users", "email")


    # or, when the change really cannot be undone, say so:
    def downgrade():
        raise NotImplementedError("irreversible: the old values were discarded")
    ```
    """

    code = "SM301"
    name = "missing-downgrade"
    severity = Severity.ERROR
    fix = "write a downgrade() that undoes upgrade(), or raise NotImplementedError if it cannot"

    def check(self, migration: Migration) -> Iterator[Violation]:
        info = migration.info
        if (
            info is not None
            and info.has_downgrade
            and not info.downgrade_is_empty
            and not multidb_shape(migration.tree)
        ):
            # What the history read of the script settles the usual one: its (last)
            # downgrade() has a body and upgrade() is the only migration function to pair.
            return
        functions: dict[str, FunctionNode] = {}
        for node in migration.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[node.name] = node
        multidb = multidb_shape(migration.tree)
        upgrades = [name for name in functions if migration_direction(name, multidb) == "upgrade"]
        if not upgrades and migration.info is None:
            return  # not a revision script
        if "downgrade" not in functions:
            yield Violation(
                "the script has no downgrade() function, so `flask db downgrade` past this "
                "revision fails",
                line=1,
                col=1,
            )
        for name in upgrades:
            counterpart = "down" + name[2:]
            upgrade, downgrade = functions[name], functions.get(counterpart)
            if downgrade is None:
                if counterpart != "downgrade":
                    yield Violation(
                        f"{name}() has no matching {counterpart}(), so downgrading that "
                        "database fails",
                        line=1,
                        col=1,
                    )
                continue
            if is_empty_body(downgrade.body) and not is_empty_body(upgrade.body):
                yield Violation(
                    f"{counterpart}() is empty while {name}() changes the database; a "
                    "downgrade would move the version back and leave the changes in place",
                    node=downgrade,
                )
