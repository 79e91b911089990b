"""SM321 enum-value-appended: ADD VALUE without BEFORE/AFTER puts the value last."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import execute_sql
from flask_safemigrate.report import Severity

_ADD_VALUE = compiled_later(
    r"\bALTER\s+TYPE\s+(\S+)\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'((?:[^']|'')*)'"
    r"(\s+(?:BEFORE|AFTER)\b)?",
    re.IGNORECASE,
)


@register
class EnumValueAppended(Rule):
    """A value added to a PostgreSQL enum without `BEFORE`/`AFTER` sorts after all the others.

    ## What it does
    Flags `ALTER TYPE ... ADD VALUE '...'` in literal SQL without a `BEFORE` or `AFTER`
    clause. Information only: where the order of the values means nothing, appending is right.

    ## Why it matters
    PostgreSQL orders enum values by their position in the type, not alphabetically:
    `ORDER BY status` and comparisons such as `status < 'shipped'` use that order. A value
    appended to an ordered enum (`draft`, `review`, `published`) sorts after the last one, and
    queries that rely on the order silently return the wrong rows.

    ## Example
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE article_stage ADD VALUE 'approved'")
    ```

    ## Use instead
    Say where the value belongs:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE article_stage ADD VALUE 'approved' AFTER 'review'")
    ```
    """

    code = "SM321"
    name = "enum-value-appended"
    severity = Severity.INFO
    dialects = POSTGRESQL
    fix = "add BEFORE '...' or AFTER '...' if the order of the enum's values matters"

    requires = (ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.upgrade_calls:
            if call.name != "execute":
                continue
            for match in _ADD_VALUE.finditer(execute_sql(call) or ""):
                if match.group(3) is None:
                    value = match.group(2).replace("''", "'")
                    yield Violation(
                        f"appends {value!r} to enum {match.group(1)}: it sorts after every other"
                        " value (ORDER BY, <, >)",
                        node=call.node,
                    )
