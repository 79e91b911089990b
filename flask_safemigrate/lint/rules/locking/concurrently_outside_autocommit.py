"""SM205 concurrently-outside-autocommit."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.env_script import TransactionMode, transaction_mode
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import execute_sql, sql_statements
from flask_safemigrate.report import Severity

_CONCURRENT_SQL = compiled_later(
    r"^(?:CREATE (?:UNIQUE )?INDEX CONCURRENTLY|DROP INDEX CONCURRENTLY"
    r"|REINDEX\b.*?\bCONCURRENTLY|ALTER TABLE\b.*?\bDETACH PARTITION\b.*?\bCONCURRENTLY)\b",
    re.IGNORECASE,
)


@register
class ConcurrentlyOutsideAutocommit(Rule):
    """A CONCURRENTLY operation inside the migration's transaction fails on PostgreSQL.

    ## What it does
    Flags `create_index`/`drop_index` with `postgresql_concurrently=True`, and
    `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY` and
    `DETACH PARTITION ... CONCURRENTLY` in literal SQL, that are not inside
    `with op.get_context().autocommit_block():`. Nothing is reported for a history whose
    `env.py` (in the migrations folder) runs the migrations on an AUTOCOMMIT connection
    (`isolation_level="AUTOCOMMIT"`): there is no transaction to refuse the statement. An
    `env.py` that never calls `context.run_migrations()` itself, but hands the work to a
    function of the project, is not followed: whether that function opens a transaction is
    unknown, and the finding is a warning that says so.

    ## Why it matters
    Alembic runs each migration in a transaction on PostgreSQL, and these statements refuse
    to run in one ("cannot run inside a transaction block"): the migration fails at deploy
    time, after the statements before it.

    ## Example
    ```python
    def upgrade():
        op.create_index(
            "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
        )
    ```

    ## Use instead
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
            )
    ```
    Keep the autocommit block to the concurrent statement alone, and make it safe to re-run
    (`if_not_exists=True`): if it fails, nothing rolls it back.
    """

    code = "SM205"
    name = "concurrently-outside-autocommit"
    dialects = POSTGRESQL
    fix = "wrap the statement in `with op.get_context().autocommit_block():`"

    requires = (
        op_facts("create_index", "drop_index") | ANY_EXECUTE,
        ANY_EXECUTE | {"postgresql_concurrently=True"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        mode: TransactionMode | None = None
        for call in migration.calls:
            if call.autocommit:
                continue
            for violation in _concurrent(call):
                if mode is None:  # read env.py only for a script with a finding
                    mode = transaction_mode(migration.path)
                if mode == "autocommit":
                    return  # env.py runs every revision without a transaction
                if mode == "unknown":
                    violation = dataclasses.replace(
                        violation,
                        message=f"{violation.message}, unless the code env.py hands the"
                        " migrations to runs them without a transaction (env.py does not call"
                        " context.run_migrations() itself)",
                        at_most=Severity.WARNING,
                    )
                yield violation


def _concurrent(call: Call) -> Iterator[Violation]:
    """What ``call`` runs concurrently, as it would be reported inside a transaction."""
    if call.name in {"create_index", "drop_index"} and call.flag("postgresql_concurrently"):
        verb = "creates" if call.name == "create_index" else "drops"
        yield Violation(
            f"{verb} an index on {table_label(call)} concurrently inside the migration's"
            " transaction, which PostgreSQL refuses",
            node=call.node,
        )
    elif call.name == "execute":
        for statement in sql_statements(execute_sql(call) or ""):
            match = _CONCURRENT_SQL.match(statement)
            if match is not None:
                what = match.group(0).upper()
                what = what if len(what) <= 40 else what[:37] + "..."
                yield Violation(
                    f"runs {what} inside the migration's transaction, which PostgreSQL refuses",
                    node=call.node,
                )
