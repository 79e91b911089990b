"""SM108 drop-database: DROP DATABASE in a migration."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.index import EXECUTE, op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, execute_sql, ident, sql_statements

_DROP_DATABASE = compiled_later(rf"^DROP DATABASE (?:IF EXISTS )?({QNAME})", re.IGNORECASE)


@register
class DropDatabase(Rule):
    """A migration that drops a database.

    ## What it does
    Flags `DROP DATABASE` in literal SQL, in `upgrade()` and `downgrade()` alike.

    ## Why it matters
    A migration runs against every environment the project is deployed to, production
    included, with the application's credentials. A dropped database loses every table in it
    at once, and on MySQL `DROP DATABASE` is the same statement as `DROP SCHEMA`. No downgrade
    restores it.

    ## Example
    ```python
    def upgrade():
        op.execute("DROP DATABASE IF EXISTS legacy_reports")
    ```

    ## Use instead
    Drop databases by hand or in infrastructure code, after a backup, never in the schema
    history; in a migration, drop the tables you own (`op.drop_table`) in a later release.
    """

    code = "SM108"
    name = "drop-database"
    fix = "drop databases outside the migration history (by hand or infrastructure code)"

    requires = (op_facts("execute", receivers=EXECUTE),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement in sql_statements(execute_sql(call) or ""):
                match = _DROP_DATABASE.match(statement)
                if match is not None:
                    yield Violation(
                        f"drops database {ident(match.group(1))}, losing every table in it",
                        node=call.node,
                    )
