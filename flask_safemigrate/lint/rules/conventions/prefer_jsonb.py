"""SM408 prefer-jsonb: a PostgreSQL column of type json rather than jsonb."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.column_types import typed_columns
from flask_safemigrate.lint.helpers.facts import POSTGRESQL, UP_EXECUTE
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


@register
class PreferJsonb(Rule):
    """A PostgreSQL column is `json` rather than `jsonb`.

    ## What it does
    Reports `sa.JSON` and `postgresql.JSON` (not `JSONB`), and `JSON` in literal SQL, for
    columns `upgrade()` creates, adds or retypes. Information only, PostgreSQL only, and off
    by default (select it with `--select prefer-jsonb`): `json` keeps key order and
    duplicate keys, which a few applications want.

    ## Why it matters
    `json` stores the text as given and parses it again on every access; it has no equality
    operator, so `SELECT DISTINCT`, `GROUP BY` and `UNION` on it fail, and it cannot be
    indexed with GIN. `jsonb` is parsed once, compares, and indexes. Converting a filled
    column later rewrites the table under an exclusive lock.

    ## Example
    ```python
    def upgrade():
        op.add_column("events", sa.Column("payload", sa.JSON()))
    ```

    ## Use instead
    ```python
    from sqlalchemy.dialects import postgresql

    def upgrade():
        op.add_column("events", sa.Column("payload", postgresql.JSONB()))
    ```
    (or `sa.JSON().with_variant(postgresql.JSONB(), "postgresql")` for a portable model).
    """

    code = "SM408"
    name = "prefer-jsonb"
    severity = Severity.INFO
    default_enabled = False
    dialects = POSTGRESQL
    fix = "use postgresql.JSONB (jsonb)"

    requires = (
        op_facts("create_table", "add_column", "alter_column", upgrade=True) | UP_EXECUTE,
        UP_EXECUTE | {"JSON"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for column in typed_columns(migration):
            kind = column.type_name if column.type_node is not None else column.sql_type
            if kind.upper() != "JSON":
                continue
            yield Violation(
                f"makes {column.label} a json column: stored as text and parsed on every read,"
                " no equality or GIN index; jsonb has both",
                node=column.call.node,
            )
