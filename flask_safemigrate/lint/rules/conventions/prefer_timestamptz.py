"""SM407 prefer-timestamptz: a PostgreSQL timestamp column without a time zone."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.column_types import type_flag, typed_columns
from flask_safemigrate.lint.helpers.facts import POSTGRESQL, UP_EXECUTE
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_SQLALCHEMY_TYPES = frozenset({"DateTime", "TIMESTAMP", "DATETIME"})


@register
class PreferTimestamptz(Rule):
    """A PostgreSQL column is a `timestamp without time zone`.

    ## What it does
    Reports `sa.DateTime`, `sa.TIMESTAMP` and `postgresql.TIMESTAMP` without
    `timezone=True`, and `TIMESTAMP` / `TIMESTAMP WITHOUT TIME ZONE` in literal SQL, for
    columns `upgrade()` creates, adds or retypes. Information only, PostgreSQL only, and off
    by default (select it with `--select prefer-timestamptz`): `db.DateTime` is what most
    models use, and an application that stores UTC everywhere is consistent without it.

    ## Why it matters
    A `timestamp without time zone` stores wall-clock digits with no offset: the same value
    means different instants for servers, sessions or drivers in different zones, and
    arithmetic across a daylight-saving change is off by an hour. `timestamptz` stores an
    instant (in UTC) in the same 8 bytes and converts on the way out. Converting a filled
    column later rewrites the table under an exclusive lock (unless the session time zone
    is UTC, PostgreSQL 12+).

    ## Example
    ```python
    def upgrade():
        op.add_column("orders", sa.Column("shipped_at", sa.DateTime()))
    ```

    ## Use instead
    ```python
    def upgrade():
        op.add_column("orders", sa.Column("shipped_at", sa.DateTime(timezone=True)))
    ```
    """

    code = "SM407"
    name = "prefer-timestamptz"
    severity = Severity.INFO
    default_enabled = False
    dialects = POSTGRESQL
    fix = "use sa.DateTime(timezone=True) (timestamptz)"

    requires = (
        op_facts("create_table", "add_column", "alter_column", upgrade=True) | UP_EXECUTE,
        UP_EXECUTE | _SQLALCHEMY_TYPES,
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for column in typed_columns(migration):
            if column.type_node is not None:
                if column.type_name not in _SQLALCHEMY_TYPES:
                    continue
                if type_flag(column.type_node, "timezone"):
                    continue
                kind = column.type_name
            else:
                sql_type = column.sql_type
                if not (sql_type == "TIMESTAMP" or sql_type.startswith("TIMESTAMP WITHOUT")):
                    continue
                kind = "TIMESTAMP"
            yield Violation(
                f"makes {column.label} a {kind} without time zone: its values carry no offset;"
                " timestamptz stores an instant in the same 8 bytes",
                node=column.call.node,
            )
