"""SM110 rename-enum-value: ALTER TYPE ... RENAME VALUE breaks the running release."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.facts import POSTGRESQL, UP_EXECUTE
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import execute_sql

# Read from the raw SQL: the values are string literals, which sql_statements() empties.
_RENAME_VALUE = compiled_later(
    r"\bALTER\s+TYPE\s+(\S+)\s+RENAME\s+VALUE\s+'((?:[^']|'')*)'\s+TO\s+'((?:[^']|'')*)'",
    re.IGNORECASE,
)


@register
class RenameEnumValue(Rule):
    """Renaming a PostgreSQL enum value breaks every server still running the previous release.

    ## What it does
    Flags `ALTER TYPE ... RENAME VALUE 'old' TO 'new'` in literal SQL inside `upgrade()`.

    ## Why it matters
    The rename is instant, and every row changes with it; but while the deploy rolls out,
    servers running the previous release still write `'old'`, which the type no longer has
    ("invalid input value for enum"), and read rows back as a value their code does not know.
    A rollback of the code meets the same error the other way round.

    ## Example
    ```python
    def upgrade():
        op.execute("ALTER TYPE order_status RENAME VALUE 'canceled' TO 'cancelled'")
    ```

    ## Use instead
    Expand and contract: add the new value (in an autocommit block), ship code that writes the
    new value and reads both, migrate the rows in batches, and stop accepting the old value in
    a later release:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'cancelled'")
    ```
    """

    code = "SM110"
    name = "rename-enum-value"
    dialects = POSTGRESQL
    fix = "add the new value, move code and rows over, and retire the old value in a later release"

    requires = (UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.upgrade_calls:
            if call.name != "execute":
                continue
            for match in _RENAME_VALUE.finditer(execute_sql(call) or ""):
                old, new = (v.replace("''", "'") for v in match.group(2, 3))
                yield Violation(
                    f"renames value {old!r} of enum {match.group(1)} to {new!r}, which servers"
                    " still running the previous release fail to write",
                    node=call.node,
                )
