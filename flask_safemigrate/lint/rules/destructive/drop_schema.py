"""SM107 drop-schema: DROP SCHEMA in an upgrade loses every table in it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, execute_sql, ident, split_top_level, sql_statements

_CREATE_SCHEMA = compiled_later(rf"^CREATE SCHEMA (?:IF NOT EXISTS )?({QNAME})", re.IGNORECASE)
_DROP_SCHEMA = compiled_later(
    rf"^DROP SCHEMA (?:IF EXISTS )?({QNAME}(?:\s*,\s*{QNAME})*)(.*)$", re.IGNORECASE
)


@register
class DropSchema(Rule):
    """Dropping a schema in an upgrade loses every table in it.

    ## What it does
    Flags `DROP SCHEMA` in literal SQL inside `upgrade()`, unless the same `upgrade()`
    created that schema earlier. `downgrade()` dropping what the upgrade created is the
    normal reverse and is not flagged.

    ## Why it matters
    With `CASCADE`, every table, view, sequence and function in the schema goes with it, and no
    downgrade brings the rows back; without it, the statement fails as soon as the schema holds
    anything, half-way through the deploy. Either way the running release loses its objects.

    ## Example
    ```python
    def upgrade():
        op.execute("DROP SCHEMA reporting CASCADE")
    ```

    ## Use instead
    Move what must survive out first, ship code that no longer uses the schema, and drop it in
    a later release once a backup is verified; or rename it and drop the renamed schema later:
    ```python
    def upgrade():
        op.execute("ALTER SCHEMA reporting RENAME TO reporting_retired_2024_06")
    ```
    """

    code = "SM107"
    name = "drop-schema"
    fix = "ship code that no longer uses the schema, back it up, and drop it in a later release"

    requires = (UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        created: set[str] = set()
        for call in migration.upgrade_calls:
            if call.name != "execute":
                continue
            for statement in sql_statements(execute_sql(call) or ""):
                made = _CREATE_SCHEMA.match(statement)
                if made is not None:
                    created.add(ident(made.group(1)))
                    continue
                match = _DROP_SCHEMA.match(statement)
                if match is None:
                    continue
                lost = [n for n in map(ident, split_top_level(match.group(1))) if n not in created]
                if lost:
                    cascade = (
                        " with everything in it" if "CASCADE" in match.group(2).upper() else ""
                    )
                    yield Violation(
                        f"drops schema {', '.join(lost)}{cascade}; its tables' rows cannot be"
                        " restored by a downgrade",
                        node=call.node,
                    )
